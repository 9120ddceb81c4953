#include "cli/client/sync/committer.h"

#include <algorithm>
#include <chrono>

#include "cli/client/reports.h"
#include "cli/client/tree/local_tree.h"

namespace cairn::client {

using protocol::NodeKind;

BaseRecord base_from(const LocalEntry& e, const PendingPut* put, int64_t version, int64_t node) {
  BaseRecord b = base_from_stat(e, version, node);
  if (put != nullptr && e.kind == NodeKind::kFile) {
    b.manifest = put->hashed.manifest.address();
    b.xxh3 = put->hashed.xxh3;
  }
  return b;
}

Committer::~Committer() {
  if (thread_.joinable()) (void)finish();
}

void Committer::add(PendingPut put) {
  std::lock_guard lock(mu_);
  const size_t index = added_++;
  Waiting w{std::move(put), 0, false};
  for (const auto& c : w.put.hashed.manifest.chunks()) {
    if (failed_.count(c.hash) != 0) w.failed = true;
    if (done_.count(c.hash) != 0) continue;
    waiters_[c.hash].push_back(index);
    ++w.outstanding;
  }
  if (w.outstanding == 0) {
    make_ready(std::move(w));
  } else {
    waiting_.emplace(index, std::move(w));
  }
}

void Committer::settled(const std::vector<Digest>& chunks, bool ok) {
  std::lock_guard lock(mu_);
  for (const auto& d : chunks) {
    (ok ? done_ : failed_).insert(d);
    auto it = waiters_.find(d);
    if (it == waiters_.end()) continue;
    for (size_t index : it->second) {
      auto w = waiting_.find(index);
      if (w == waiting_.end()) continue;  // Cannot happen: a waiter is waiting until here.
      if (!ok) w->second.failed = true;
      if (--w->second.outstanding == 0) {
        make_ready(std::move(w->second));
        waiting_.erase(w);
      }
    }
    waiters_.erase(it);
  }
}

Result<CommitOutcome> Committer::finish() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  thread_.join();
  if (fatal_) return *fatal_;
  for (const auto& [index, w] : waiting_) {
    out_.errors.push_back(w.put.entry->path + ": some chunks did not reach the server");
  }
  return std::move(out_);
}

void Committer::make_ready(Waiting w) {
  if (w.failed) {
    out_.skipped.push_back(w.put.entry->path + ": changed while being uploaded; try again");
    ++out_.files_deferred;
    return;
  }
  ready_.push_back(std::move(w.put));
  if (ready_.size() >= batch_) cv_.notify_one();
}

void Committer::loop() {
  // A partial batch goes once nothing has become ready for this long.
  constexpr auto kLinger = std::chrono::milliseconds(100);
  while (true) {
    std::vector<PendingPut> batch;
    {
      std::unique_lock lock(mu_);
      const size_t before = ready_.size();
      cv_.wait_for(lock, kLinger, [&] { return closing_ || ready_.size() >= batch_; });
      if (ready_.empty()) {
        if (closing_) return;
        continue;
      }
      const bool quiet = ready_.size() == before;
      if (ready_.size() < batch_ && !closing_ && !quiet) continue;
      // A commit carries every chunk reference of its files: big files make a batch smaller,
      // so that the request stays far below the server's JSON limit (32 MiB; a reference is
      // about 90 bytes of JSON).
      constexpr size_t kMaxChunksPerCommit = 100000;
      size_t chunks = 0;
      while (!ready_.empty() && batch.size() < batch_ &&
             (batch.empty() ||
              chunks + ready_.front().hashed.manifest.chunks().size() <= kMaxChunksPerCommit)) {
        chunks += ready_.front().hashed.manifest.chunks().size();
        batch.push_back(std::move(ready_.front()));
        ready_.pop_front();
      }
    }
    auto committed = commit(batch);
    if (!committed) {
      std::lock_guard lock(mu_);
      fatal_ = std::move(committed).error();
      return;
    }
  }
}

Result<void> Committer::commit(std::vector<PendingPut>& puts) {
  std::sort(puts.begin(), puts.end(),
            [](const PendingPut& a, const PendingPut& b) { return a.entry->path < b.entry->path; });
  protocol::CommitRequest req;
  req.device = session_.endpoint.device;
  for (const auto& p : puts) {
    protocol::FileUpload f;
    f.path = session_.to_remote(p.entry->path);
    f.kind = p.entry->kind;
    f.mode = p.entry->mode & protocol::kPermissionBits;
    f.mtime_ns = p.entry->mtime_ns;
    f.symlink_target = p.entry->target;
    f.chunks = p.hashed.manifest.chunks();
    if (p.base != nullptr && p.base->kind != NodeKind::kFolder && p.base->version > 0) {
      f.base_version = p.base->version;
      f.node_id = p.base->node_id;
    }
    req.ops.push_back(protocol::CommitOp::put_file(std::move(f)));
  }
  if (req.ops.empty()) return {};
  CAIRN_ASSIGN_OR_RETURN(auto resp, chain_.commit(*api_, req));
  BaseChanges records;
  std::vector<std::pair<std::string, Manifest>> chunk_maps;
  for (size_t k = 0; k < puts.size() && k < resp.results.size(); ++k) {
    const auto& p = puts[k];
    const auto& r = resp.results[k];
    switch (r.status) {
      case protocol::OpStatus::kOk:
      case protocol::OpStatus::kUnchanged:
        if (r.status == protocol::OpStatus::kOk) {
          ++out_.files_changed;
          out_.changed.push_back(p.entry->path);
        }
        records.put(base_from(*p.entry, &p, r.version, r.node_id));
        if (p.entry->kind == NodeKind::kFile) {
          chunk_maps.emplace_back(p.entry->path, p.hashed.manifest);
        }
        break;
      case protocol::OpStatus::kConflict:
        out_.conflicts.push_back(p.entry->path + ": " + r.message +
                                 "; pull first, then push again");
        break;
      case protocol::OpStatus::kCopied:
        keep_as_copy(p, r, records, chunk_maps);
        break;
      case protocol::OpStatus::kError:
        out_.errors.push_back(p.entry->path + ": " + r.message);
        note_error_kind(out_, r.error_code);
        break;
    }
  }
  return session_.state->update(records, chunk_maps);
}

void Committer::keep_as_copy(const PendingPut& p, const protocol::CommitResult& r,
                             BaseChanges& records,
                             std::vector<std::pair<std::string, Manifest>>& chunk_maps) {
  auto local = session_.to_local(r.copy);
  std::string note =
      p.entry->path + ": changed here and on the server; your version was saved as " + r.copy;
  if (local && !local->empty()) {
    // Beside the file here, under the copy's name: the server's folder may have moved since
    // this copy last pulled, and a folder made here for the copy would be a second one. The
    // next pull moves the copy along with its folder.
    const size_t slash = p.entry->path.rfind('/');
    const std::string name = local->substr(local->rfind('/') + 1);
    local = slash == std::string::npos ? name : p.entry->path.substr(0, slash + 1) + name;
    auto now = stat_entry(session_.root, p.entry->path);
    LocalTree tree(session_.root);
    // Never over something already at the copy's name, never through a symlink.
    if (now && same_stat(*now, *p.entry) && tree.rename(p.entry->path, *local)) {
      BaseRecord b = base_from(*p.entry, &p, r.version, r.node_id);
      b.path = *local;
      records.drop(p.entry->path);
      records.put(std::move(b));
      if (p.entry->kind == NodeKind::kFile) chunk_maps.emplace_back(*local, p.hashed.manifest);
      note = p.entry->path + ": changed here and on the server; yours is now " + *local +
             " (pull brings the server's version)";
    }
  }
  ++out_.files_changed;
  out_.changed.push_back(local ? *local : r.copy);
  out_.conflicts.push_back(std::move(note));
}

Result<protocol::CommitResponse> FeedChain::commit(ApiClient& api, protocol::CommitRequest& req) {
  {
    std::lock_guard lock(mu_);
    if (intact_) req.cursor = cursor_;
  }
  auto answered = api.commit(req);
  std::lock_guard lock(mu_);
  // Taken whole: an answer per op, and no conflicted copy made on the server (that copy must
  // reach this working copy through the feed).
  const bool whole = answered && answered->results.size() == req.ops.size() &&
                     std::none_of(answered->results.begin(), answered->results.end(),
                                  [](const protocol::CommitResult& r) {
                                    return r.status == protocol::OpStatus::kCopied;
                                  });
  if (intact_ && whole && answered->cursor) {
    cursor_ = *answered->cursor;
  } else {
    intact_ = false;
  }
  return answered;
}

std::optional<std::string> FeedChain::result() const {
  std::lock_guard lock(mu_);
  return intact_ ? std::optional<std::string>(cursor_) : std::nullopt;
}

}  // namespace cairn::client
