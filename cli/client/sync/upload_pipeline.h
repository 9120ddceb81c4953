#pragma once

// Push's upload pipeline: finds out which chunks the server lacks and sends them (large ones one
// PUT each, small ones in packs) while the files are still being hashed.

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "cli/client/net/api_client.h"
#include "cli/client/progress.h"
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
// submit chunks as they are cut; a checker thread batches them into /v1/chunks/check calls; upload
// threads PUT each missing chunk. Large chunks are re-read from their file by the uploader (so
// queues hold no large buffers); small ones keep the bytes they were hashed from and each
// uploader bundles them into a pack (compressed where that pays) that it sends with one PUT once
// it reaches the server's target size. The bytes held for packing are bounded: hashing waits
// while too many are queued. Each chunk is checked once per push, however many files contain it.
class UploadPipeline {
 public:
  // Called, from pipeline threads and never under its lock, with chunks that are now on the
  // server (ok) or that could not be uploaded (not ok). Every submitted chunk is settled once.
  using SettledFn = std::function<void(const std::vector<Digest>& chunks, bool ok)>;

  UploadPipeline(const ApiClient& prototype, int uploaders, uint32_t batch,
                 std::optional<protocol::PackConfig> packs, Progress& progress, SettledFn settled)
      : batch_(batch), packs_(packs), progress_(progress), settled_(std::move(settled)) {
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

  // Chunks put straight into the blob store are reported to the server in batches of this many,
  // so that an interrupted push loses at most one batch of that knowledge.
  static constexpr size_t kConfirmBatch = 64;
  // The most chunk bytes held in queues for packing.
  static constexpr uint64_t kMaxHeldBytes = 16 * 1024 * 1024;

  void release(uint64_t bytes);

  void fail(Error e);

  void checker_loop(ApiClient& client);

  // Tells the server about chunks this uploader put straight into the blob store.
  bool confirm(ApiClient& client, std::vector<ChunkRef>& done);

  // Sends a finished pack: one grant, one PUT, and, for a pack put straight into the blob store,
  // one confirmation.
  bool send_pack(ApiClient& client, PackBuilder& builder);

  void uploader_loop(ApiClient& client);

  static bool read_at(const std::string& path, uint64_t offset, Bytes& out);

  const uint32_t batch_;
  const std::optional<protocol::PackConfig> packs_;
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
  std::optional<Error> fatal_;
  std::vector<std::thread> threads_;
};

}  // namespace cairn::client
