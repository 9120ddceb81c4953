#pragma once

// Push's committer: commits files in batches as soon as every chunk of each is on the server,
// on its own thread and connection, while the rest of the push still hashes and uploads.

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "cli/client/net/api_client.h"
#include "cli/client/state/local_state.h"
#include "cli/client/state/session.h"
#include "cli/client/tree/file_hasher.h"
#include "cli/client/tree/scanner.h"

namespace cairn::client {

// A file or symlink to stage and commit.
struct PendingPut {
  const LocalEntry* entry = nullptr;
  const BaseRecord* base = nullptr;
  HashedFile hashed;  // Files only.
};

// The base record of `e` as committed at `version` of `node`; a file's manifest and fingerprint
// from `put`.
BaseRecord base_from(const LocalEntry& e, const PendingPut* put, int64_t version, int64_t node);

// What committing files produced, for the report. (What they change in the working copy's
// state is written as each batch commits: see Committer.)
struct CommitOutcome {
  std::vector<std::string> changed;
  std::vector<std::string> conflicts;
  std::vector<std::string> errors;
  std::vector<std::string> skipped;
  uint64_t files_changed = 0;
  uint64_t files_deferred = 0;
  bool no_space = false;  // Some error is the quota or the server's storage (SyncReport's).
};

// Carries the working copy's change-feed cursor across a push's commits: each commit names the
// cursor the one before it left, and the server moves it past that commit's own changes if
// nothing else changed in between (CommitResponse::cursor). Once the push is done, the cursor is
// stored, so that the next status or pull does not read back everything the push wrote (a whole
// tree after a first push). Any commit whose answer the push may not have taken in whole (a
// conflicted copy made on the server, a failed request) breaks the chain: the cursor then stays
// where it was, and the next read of the feed sees everything, as before. Thread-safe.
class FeedChain {
 public:
  explicit FeedChain(std::string cursor) : cursor_(std::move(cursor)) {}

  // Sends a commit with the cursor in it (unless the chain broke) and follows the answer.
  Result<protocol::CommitResponse> commit(ApiClient& api, protocol::CommitRequest& req);
  // The cursor to store, if the chain held.
  std::optional<std::string> result() const;

 private:
  mutable std::mutex mu_;
  std::string cursor_;
  bool intact_ = true;
};

// Stages and commits files while the rest of the push is still hashing and uploading: a file
// becomes ready once every chunk of it is on the server, and ready files are committed in
// batches (of max_batch, or whatever is ready when nothing new has come for a moment) on this
// object's own thread and connection. Each batch's records go into the working copy's state as
// soon as the server has answered, so that memory stays flat in the number of files and an
// interrupted push keeps what it committed. While it runs, nobody else uses session.state.
class Committer {
 public:
  Committer(Session& session, const ApiClient& prototype, uint32_t batch, FeedChain& chain)
      : session_(session),
        api_(prototype.clone()),
        batch_(std::max<uint32_t>(1, batch)),
        chain_(chain) {
    thread_ = std::thread([this] { loop(); });
  }
  ~Committer();

  // A hashed file, or a symlink (no chunks).
  void add(PendingPut put);

  // Chunks the pipeline settled.
  void settled(const std::vector<Digest>& chunks, bool ok);

  // Once the pipeline has finished: commits whatever is still ready, stops the thread, and
  // reports files that could not be committed.
  Result<CommitOutcome> finish();

 private:
  struct Waiting {
    PendingPut put;
    size_t outstanding = 0;
    bool failed = false;  // A chunk of it could not be uploaded.
  };

  // All of `w`'s chunks settled: to the batch being gathered, or (a chunk failed) to the report.
  void make_ready(Waiting w);

  void loop();

  // Commits one batch of files whose chunks are all on the server, in one request that carries
  // the files themselves (no upload sessions). The request is retried after a passing failure:
  // a file whose first commit did land then comes back unchanged, not twice.
  Result<void> commit(std::vector<PendingPut>& puts);

  // The server's head had moved: it kept this edit as a conflicted copy beside the head. The
  // local file takes the copy's name too (unless it changed meanwhile), so that both trees
  // converge, and its old path forgets its base so that the next pull brings the head.
  void keep_as_copy(const PendingPut& p, const protocol::CommitResult& r, BaseChanges& records,
                    std::vector<std::pair<std::string, Manifest>>& chunk_maps);

  Session& session_;
  std::unique_ptr<ApiClient> api_;
  const uint32_t batch_;
  FeedChain& chain_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_set<Digest> done_;
  std::unordered_set<Digest> failed_;
  // Files with chunks still in flight, by the number add() gave them; a file leaves once ready,
  // so that what is held grows with the files in flight, not with the files pushed.
  std::unordered_map<size_t, Waiting> waiting_;
  size_t added_ = 0;
  std::unordered_map<Digest, std::vector<size_t>> waiters_;
  std::deque<PendingPut> ready_;
  bool closing_ = false;
  std::optional<Error> fatal_;
  CommitOutcome out_;  // Written by the committer thread, and under mu_ by make_ready.
  std::thread thread_;
};

}  // namespace cairn::client
