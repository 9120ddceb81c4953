#pragma once

// Pull's downloader: puts the files a pull planned in place, each distinct chunk crossing the
// wire at most once, every chunk verified, each file renamed into place only if the local file
// did not change meanwhile (pull.cpp plans; this executes).

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "cli/client/net/api_client.h"
#include "cli/client/progress.h"
#include "cli/client/state/local_state.h"
#include "cli/client/state/session.h"
#include "cli/client/sync/transfer_pool.h"
#include "cli/client/tree/local_tree.h"
#include "cli/client/tree/scanner.h"
#include "common/manifest.h"

namespace cairn::client {

// One file to download: what the plan saw, and what the downloader fills in. A pull makes them
// a window of files at a time (pull.cpp): all at once, a clone of 60,000 files held 24 MB of
// them at 400 bytes each.
struct DownloadJob {
  std::string rel;
  const protocol::Entry* entry = nullptr;  // The pull's, which outlives the download.
  std::unique_ptr<LocalEntry> expected;    // The local entry as planned over (null: absent).
  // Filled in by the downloader:
  Manifest manifest;
  uint64_t temp = 0;  // Its temporary file's number (temp_path); 0 before it has one.
  std::atomic<size_t> remaining{0};
  std::atomic<bool> failed{false};
  std::string error;      // The first failure (under the downloader's lock while it runs).
  bool corrupt = false;   // The error is data that failed verification.
  bool no_space = false;  // The error is a full disk.
  bool conflict = false;
  bool done = false;
  // A file of one chunk (or none) is written whole when its chunk arrives: one open with its
  // final mode and times, instead of creating, sizing and reopening it.
  bool whole = false;
  LocalEntry final_stat;
};

// Makes the folders under `state_dir`/tmp that downloads are written in.
Result<void> make_temp_shards(const std::string& state_dir);

// A fresh number for a temporary file, never 0.
uint64_t next_temp_number();

// The temporary path numbered `n` for a download into the working copy whose state lives in
// `state_dir`; without `n`, a fresh one.
std::string temp_path(const std::string& state_dir, uint64_t n);
std::string temp_path(const std::string& state_dir);

// Downloads files in phases so that each distinct chunk crosses the wire at most once per pull:
// (1) fetch every manifest and create the temporary files, (2) group chunk slots by hash,
// (3) copy each chunk a local file already has, (4) ask the server where the rest are, which
// answers with reads that return many neighbouring chunks of a pack at once, and (5) perform those
// reads in parallel, decoding and verifying every chunk and writing it into every slot that
// needs it. A file is renamed into place when its last slot is written. Temporary files are
// opened per write, so thousands of files sharing one chunk never exhaust file descriptors.
class Downloader {
 public:
  // `tree` is used under the downloader's lock while it runs, and by nobody else meanwhile.
  Downloader(Session& session, LocalTree& tree, std::vector<std::unique_ptr<DownloadJob>>& jobs,
             Progress& progress)
      : session_(session), tree_(tree), jobs_(jobs), progress_(progress) {
    auto locator = ChunkLocator::open(session.root);
    if (locator && !(*locator)->empty()) locator_ = std::move(*locator);
  }

  void run(TransferPool& pool, uint32_t max_batch);

  uint64_t reused() const { return reused_.load(); }
  uint64_t received() const { return received_.load(); }
  uint64_t received_bytes() const { return received_bytes_.load(); }

 private:
  struct Target {
    DownloadJob* job;
    uint64_t offset;
  };
  struct Slot {
    Slot(ChunkRef c, std::vector<Target> t) : chunk(c), targets(std::move(t)) {}
    Slot(Slot&& other) noexcept
        : chunk(other.chunk),
          targets(std::move(other.targets)),
          delivered(other.delivered.load()) {}
    ChunkRef chunk;
    std::vector<Target> targets;
    std::atomic<bool> delivered{false};
  };

  // Records the job's first error; `code` says what kind (kCorrupt, kStorageFull, ...).
  void fail(DownloadJob& job, const std::string& message, ErrorCode code = ErrorCode::kIo);

  // The job's temporary file.
  std::string temp_of(const DownloadJob& job) const;

  void prepare(DownloadJob& job);

  // Reads `chunk` from where a local file held it, if it still hashes right.
  bool reuse_local(const ChunkRef& chunk, const ChunkLocation& at, Bytes& buffer);

  // Rounds of relocate() one read may take: each sets aside at least the damaged chunk that
  // stopped it, so a range with this many damaged chunks still delivers the rest.
  static constexpr int kRelocations = 8;

  // Performs one read and hands each chunk in it, decoded and verified, to its slot.
  void fetch(ApiClient& client, const protocol::ChunkRead& read, int relocations = kRelocations);

  // After a read of several chunks failed: the server refuses a read that holds a chunk it found
  // damaged (and sets that chunk aside), so the others are located again and read once more,
  // without it (and again, `relocations` more times, if another damaged one stops that read).
  // False if even locating fails (the read's own error then stands).
  bool relocate(ApiClient& client, const protocol::ChunkRead& failed, int relocations);

  // Writes a chunk's bytes into every slot that needs it, or fails them all with `error`.
  void deliver(Slot& slot, ByteView bytes, const std::string& error, bool corrupt);

  static Result<void> write_at(const std::string& path, uint64_t offset, ByteView bytes);

  // Creates the job's temporary file with its final mode, writes all of it and sets its times.
  Result<void> write_whole(const DownloadJob& job, ByteView bytes) const;

  // Writes `bytes` at `offset`, then sets the modification time if `times` is given, then closes.
  static Result<void> write_and_close(int fd, uint64_t offset, ByteView bytes,
                                      const struct timespec* times);

  // The server's permission bits, exactly: a 600 file stays private whatever the umask here.
  static mode_t file_mode(const DownloadJob& job);

  // The access time left alone, the modification time the server recorded; false if none.
  static bool file_times(const DownloadJob& job, struct timespec (&times)[2]);

  void abandon(DownloadJob& job, const std::string& message, ErrorCode code = ErrorCode::kIo);

  void finalize(DownloadJob& job);

 public:
  // Puts every file written so far in place. The bytes are made durable first, all at once:
  // a rename that reached the disk before the data would leave an empty or short file where a
  // good one was, which the next push would send as a new version. One syncfs(2) for a batch of
  // files costs what one fsync does, where an fsync per file made a pull of many small files
  // several times slower.
  void put_in_place();

 private:
  static constexpr size_t kDurableBatchFiles = 2000;
  static constexpr uint64_t kDurableBatchBytes = 256u << 20;

  void put_in_place_locked();

  // Under rename_mu_.
  void place(DownloadJob& job, const std::string* not_durable);

  Session& session_;
  LocalTree& tree_;  // Under rename_mu_.
  std::vector<std::unique_ptr<DownloadJob>>& jobs_;
  Progress& progress_;
  std::unique_ptr<ChunkLocator> locator_;
  std::vector<Slot> slots_;
  std::unordered_map<Digest, size_t> index_;
  std::unordered_map<Digest, Bytes> manifests_;  // Filled before the parallel phases read it.
  std::string manifest_error_;
  std::mutex rename_mu_;
  std::mutex errors_mu_;  // Guards each job's error while downloads run.
  std::vector<DownloadJob*>
      written_;                 // Complete in .cairn/tmp, not in place yet. Under rename_mu_.
  uint64_t written_bytes_ = 0;  // Their size. Under rename_mu_.
  std::atomic<uint64_t> reused_{0};
  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> received_bytes_{0};
};

}  // namespace cairn::client
