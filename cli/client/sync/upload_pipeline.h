#pragma once

// Push's upload pipeline: finds out which chunks the server lacks and sends them (large ones one
// PUT each, small ones in packs) while the files are still being hashed.

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cli/client/net/api_client.h"
#include "cli/client/progress.h"
#include "cli/client/tree/file_hasher.h"
#include "common/pack.h"

namespace cairn::client {

// A chunk seen while hashing, and where to read it back from for its upload.
struct ChunkTask {
  Digest hash;
  uint32_t length = 0;
  std::string path;  // Absolute.
  uint64_t offset = 0;
  Bytes data;  // Chunks that travel in packs: their bytes, kept from hashing (they are small).
};

// Overlaps "which chunks does the server lack?" and the uploads with hashing. Hashing threads
// submit chunks as they are cut; a checker thread batches them into /v1/chunks/check calls;
// upload threads send each missing chunk. Small chunks keep the bytes they were hashed from;
// large ones are re-read from their file by the uploader (so queues hold no large buffers).
// Every chunk is compressed by its uploader (in parallel); small ones, and large ones that
// compress, go into the push's one open pack, sent with one PUT once it reaches the server's
// target size; a large chunk that does not compress is sent raw with a PUT of its own. The bytes
// held are bounded whatever the tree: hashing waits while too many small chunks are queued, at
// most kLargeSlots large chunks are read and compressed at once, and at most kPacksInFlight
// finished packs wait while they are sent (in files of their own, not in memory, where a spill
// folder is given). Each chunk is checked once per push, however many files contain it.
class UploadPipeline {
 public:
  // Called, from pipeline threads and never under its lock, with chunks that are now on the
  // server (ok) or that could not be uploaded (not ok). Every submitted chunk is settled once.
  using SettledFn = std::function<void(const std::vector<Digest>& chunks, bool ok)>;

  // Packs fill and wait while they are sent in unnamed files in `spill_dir` (in memory if it is
  // empty or a file cannot be made there).
  UploadPipeline(const ApiClient& prototype, int uploaders, uint32_t batch,
                 std::optional<protocol::PackConfig> packs, std::string spill_dir,
                 Progress& progress, SettledFn settled)
      : batch_(batch),
        packs_(packs),
        spill_dir_(std::move(spill_dir)),
        progress_(progress),
        settled_(std::move(settled)),
        uploaders_running_(uploaders) {
    threads_.emplace_back([this, client = prototype.clone()] { checker_loop(*client); });
    for (int i = 0; i < uploaders; ++i) {
      threads_.emplace_back([this, client = prototype.clone()] { uploader_loop(*client); });
    }
  }

  ~UploadPipeline();

  // Whether a chunk of this length travels in a pack.
  bool packable(uint32_t length) const { return packs_ && length < packs_->chunk_limit; }

  // `bytes` are the chunk's, valid during the call; kept only for chunks that travel in packs.
  void submit(ChunkTask task, ByteView bytes);

  // Waits for every submitted chunk to be checked and, if missing, uploaded.
  Result<void> finish();

 private:
  struct UploadTask {
    ChunkTask chunk;
    protocol::ChunkUpload grant;
  };

  // What a large chunk is read into and compressed with; each grows to the largest chunk (4 MiB
  // by default) and is kept for the next one.
  struct LargeSlot {
    Bytes buffer;
    Compressor compressor;
  };

  // Chunks put straight into the blob store are reported to the server in batches of this many,
  // so that an interrupted push loses at most one batch of that knowledge.
  static constexpr size_t kConfirmBatch = 64;
  // The memory budget (docs/decisions.md, "The push pipeline's memory budget"). The most chunk
  // bytes held in queues for packing:
  static constexpr uint64_t kMaxHeldBytes = 4 * 1024 * 1024;
  // The most finished packs held while they are sent (besides the one being filled):
  static constexpr int kPacksInFlight = 1;
  // The most large chunks read and compressed at once (compressing is what takes the time, and
  // two of them keep two cores busy beside the hashers):
  static constexpr size_t kLargeSlots = 2;

  void release(uint64_t bytes);

  void fail(Error e);

  void checker_loop(ApiClient& client);

  // Tells the server about chunks this uploader put straight into the blob store.
  bool confirm(ApiClient& client, std::vector<ChunkRef>& done);

  // Sends a finished pack: one grant, one PUT, and, for a pack put straight into the blob store,
  // one confirmation.
  bool send_pack(ApiClient& client, PackBuilder& builder);

  // Adds an encoded chunk to the open pack. If that fills it, `full` receives it, for the caller
  // to send with send_full once it has let go of its buffers. False if the push must stop.
  bool add_to_pack(const Digest& hash, uint32_t length, Codec codec, ByteView stored,
                   std::unique_ptr<PackBuilder>& full);

  // Sends a pack add_to_pack filled (nothing if null) and lets the next one be filled.
  bool send_full(ApiClient& client, std::unique_ptr<PackBuilder> full);

  // A new open pack, its buffer reserved so that it never grows by copying.
  std::unique_ptr<PackBuilder> new_pack() const;

  // Waits for a free large slot (nullptr if the push is stopping).
  std::unique_ptr<LargeSlot> take_large_slot();
  void return_large_slot(std::unique_ptr<LargeSlot> slot);

  // Sends the open pack, however small (the last uploader to finish does).
  bool flush_pack(ApiClient& client);

  // Sends a chunk too large for a pack: compressed in the open pack if that pays, else raw with
  // a PUT of its own. False if the push must stop.
  bool upload_large(ApiClient& client, const UploadTask& task, std::vector<ChunkRef>& to_confirm);

  void uploader_loop(ApiClient& client);

  static bool read_at(const std::string& path, uint64_t offset, Bytes& out);

  const uint32_t batch_;
  const std::optional<protocol::PackConfig> packs_;
  const std::string spill_dir_;
  Progress& progress_;
  const SettledFn settled_;
  std::mutex mu_;
  std::condition_variable check_cv_;
  std::condition_variable upload_cv_;
  std::condition_variable held_cv_;
  uint64_t held_bytes_ = 0;
  std::deque<ChunkTask> check_queue_;
  std::deque<UploadTask> upload_queue_;
  std::unordered_set<Digest> seen_;
  bool closing_ = false;
  bool checker_done_ = false;
  int uploaders_running_;
  std::optional<Error> fatal_;

  std::mutex pack_mu_;  // Never taken while holding mu_, nor mu_ while holding it.
  std::condition_variable pack_cv_;
  std::unique_ptr<PackBuilder> pack_ = new_pack();
  int packs_in_flight_ = 0;
  bool pack_failed_ = false;
  std::vector<std::unique_ptr<LargeSlot>> large_slots_;  // Free ones; guarded by pack_mu_.
  size_t large_slots_made_ = 0;

  std::vector<std::thread> threads_;
};

// Cuts and hashes the file at `path` (absolute) on `pool`, handing each chunk to `pipeline` as
// soon as it is hashed and counting its bytes in progress.bytes_done.
Result<HashedFile> hash_and_submit(const std::string& path, const ChunkerParams& params,
                                   UploadPipeline& pipeline, HashPool& pool, Progress& progress);

}  // namespace cairn::client
