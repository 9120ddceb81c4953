#include "cli/client/sync/push.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "cli/client/progress.h"
#include "cli/client/sync/committer.h"
#include "cli/client/sync/push_plan.h"
#include "cli/client/sync/repair.h"
#include "cli/client/sync/upload_pipeline.h"
#include "cli/client/tree/file_hasher.h"
#include "cli/client/tree/ignore.h"
#include "cli/client/tree/local_tree.h"
#include "cli/client/tree/scanner.h"
#include "common/pack.h"
#include "common/paths.h"

namespace cairn::client {
namespace {

// The folders (and files) of this working copy that others share with us.
Result<SharedAreas> shared_here(ApiClient& api, const Session& session) {
  SharedAreas out;
  CAIRN_ASSIGN_OR_RETURN(auto shares, api.shares(""));
  if (shares.shares.empty()) return out;
  CAIRN_ASSIGN_OR_RETURN(auto me, api.whoami());
  for (const auto& s : shares.shares) {
    if (s.owner == me.user) continue;
    std::optional<std::string> rel;
    if (is_within(session.remote_root, s.path)) {
      rel = "";
    } else {
      rel = session.to_local(s.path);
    }
    if (!rel) continue;
    out.add(*rel, s.role == "viewer", s.owner + " shares " + s.path + " with you as a viewer");
  }
  return out;
}

int default_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 2 : static_cast<int>(n);
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool applied(const protocol::CommitResult& r) {
  return r.status == protocol::OpStatus::kOk || r.status == protocol::OpStatus::kUnchanged;
}

// Sends `ops` in batches of `batch`, each one request; `each(i, result)` hears op i's result.
Result<void> commit_in_batches(
    ApiClient& api, const std::string& device, std::vector<protocol::CommitOp> ops, size_t batch,
    FeedChain& chain, const std::function<void(size_t, const protocol::CommitResult&)>& each) {
  for (size_t i = 0; i < ops.size(); i += batch) {
    protocol::CommitRequest req;
    req.device = device;
    const size_t end = std::min(ops.size(), i + batch);
    for (size_t j = i; j < end; ++j) req.ops.push_back(std::move(ops[j]));
    CAIRN_ASSIGN_OR_RETURN(auto resp, chain.commit(api, req));
    for (size_t j = i; j < end && j - i < resp.results.size(); ++j) each(j, resp.results[j - i]);
  }
  return {};
}

template <typename T>
void append_sorted(std::vector<T>& to, std::vector<T>& from) {
  std::sort(from.begin(), from.end());
  to.insert(to.end(), from.begin(), from.end());
}

// One push: plans with push_plan.h, then acts on the server and the working copy's state.
class Push {
 public:
  Push(Session& session, const PushOptions& options, Printer& printer)
      : session_(session), options_(options), printer_(printer), api_(session.endpoint) {}

  Result<SyncReport> run();

 private:
  Result<void> send_moves(const std::vector<LocalMove>& moves);
  Result<void> delete_on_server(const std::vector<const BaseRecord*>& doomed);
  Result<void> make_folders(const std::vector<const LocalEntry*>& folders);
  Result<void> send_files(const std::vector<PendingPut>& candidates);
  // Hashes one candidate on a hasher thread and hands it to the committer (or settles it here).
  void hash_candidate(PendingPut put, UploadPipeline& pipeline, Committer& committer,
                      HashPool& pool, Progress& progress);

  Session& session_;
  const PushOptions& options_;
  Printer& printer_;
  ApiClient api_;
  protocol::ServerConfig config_;
  size_t batch_ = 1;
  SyncReport report_;
  BaseChanges changes_;             // In order: for each path the last change wins.
  std::optional<FeedChain> chain_;  // From run()'s start.
  std::map<std::string, BaseRecord> base_;
  SharedAreas shared_;
  std::mutex results_mu_;  // report_ and refreshed_ while hasher threads run.
  std::vector<BaseRecord> refreshed_;
};

Result<SyncReport> Push::run() {
  const auto started = std::chrono::steady_clock::now();
  report_.command = "push";
  CAIRN_RETURN_IF_ERROR(session_.state->lock_for_writing());
  CAIRN_ASSIGN_OR_RETURN(auto cursor, session_.state->setting("cursor"));
  const std::string cursor_before = cursor;
  chain_.emplace(std::move(cursor));
  CAIRN_ASSIGN_OR_RETURN(config_, api_.config());
  CAIRN_RETURN_IF_ERROR(config_.chunking.validate());
  batch_ = std::max<uint32_t>(1, config_.max_batch);

  // The scan (system calls) runs here while another thread reads what is already known: the
  // state's records (SQLite) and the folders shared here (a round trip). Neither side touches
  // what the other does. A no-change push of a 60,150-file tree took 0.75-0.92 s one after the
  // other, 0.48-0.60 s overlapped.
  struct Known {
    std::vector<std::string> detached;
    std::map<std::string, BaseRecord> synced;
    SharedAreas shared;
  };
  auto known = std::async(std::launch::async, [this]() -> Result<Known> {
    Known k;
    CAIRN_ASSIGN_OR_RETURN(k.detached, session_.state->detached());
    CAIRN_ASSIGN_OR_RETURN(k.synced, session_.state->load_base());
    // A synced path that a .cairnignore now excludes is left as it is on the server: ignoring
    // is not deleting. Its record stays; this push just does not see it.
    forget_ignored(session_.root, k.synced);
    // Folders shared with us as a viewer: what changed in them stays here, reported, never sent.
    CAIRN_ASSIGN_OR_RETURN(k.shared, shared_here(api_, session_));
    return k;
  });
  auto scanned = scan_tree(session_.root);
  auto read = known.get();
  CAIRN_ASSIGN_OR_RETURN(auto scan, std::move(scanned));
  if (!read) return std::move(read).error();
  auto& detached = read->detached;
  auto& synced = read->synced;
  shared_ = std::move(read->shared);
  if (set_aside_detached(scan, detached)) {
    CAIRN_RETURN_IF_ERROR(session_.state->set_detached(detached));
  }
  report_.skipped = scan.skipped;
  const std::string root = session_.root;
  const Fingerprint fingerprint = [root](const std::string& rel) -> std::optional<uint64_t> {
    auto fp = fingerprint_file(root + "/" + rel);
    return fp ? std::optional<uint64_t>(*fp) : std::nullopt;
  };

  // Renames and moves made here: planned on a copy of the base, so that the mass-delete guard
  // counts what would really be deleted. A move needs a path that is gone and one that is new;
  // with the same paths on both sides (no change, or edits only) there is nothing to plan and
  // no copy of the base (tens of MiB for a large tree) is made.
  std::vector<LocalMove> moves;
  std::map<std::string, BaseRecord> moved_base;
  const std::map<std::string, BaseRecord>* planned = &synced;
  if (!same_paths(scan, synced)) {
    moved_base = synced;
    moves = find_local_moves(scan, moved_base, fingerprint);
    drop_refused_moves(moves, shared_);
    planned = &moved_base;
  }
  CAIRN_RETURN_IF_ERROR(
      guard_mass_delete(scan, *planned, kMassDeleteLimit, options_.allow_mass_delete));
  moved_base.clear();
  base_ = std::move(synced);
  CAIRN_RETURN_IF_ERROR(send_moves(moves));

  PushPlan plan = plan_push(scan, base_, shared_, {now_ns(), options_.settle_ms}, fingerprint);
  report_.files_scanned += plan.files_scanned;
  report_.files_deferred += plan.files_deferred;
  report_.changes_unsent += plan.changes_unsent;
  report_.skipped.insert(report_.skipped.end(), plan.skipped.begin(), plan.skipped.end());
  refreshed_ = std::move(plan.refreshed);
  // The server refuses, before a byte travels, what could not be committed.
  if (plan.quota_growth != 0) {
    protocol::CheckChunksRequest ask;
    ask.commit_bytes = plan.quota_growth;
    CAIRN_RETURN_IF_ERROR(api_.check_chunks(ask));
  }

  // Replaced kinds first (their old nodes must go before new ones take the names), then new
  // folders (so that empty ones exist), then files as their chunks arrive, then deletions.
  CAIRN_RETURN_IF_ERROR(delete_on_server(plan.delete_first));
  CAIRN_RETURN_IF_ERROR(make_folders(plan.new_folders));
  // What the server has done so far goes into the state now: files are recorded by the
  // committer as each batch lands, after these.
  CAIRN_RETURN_IF_ERROR(session_.state->update(changes_, {}));
  changes_ = BaseChanges();
  CAIRN_RETURN_IF_ERROR(send_files(plan.candidates));
  for (auto& r : refreshed_) changes_.put(std::move(r));
  CAIRN_RETURN_IF_ERROR(delete_on_server(plan.deletions));
  CAIRN_RETURN_IF_ERROR(session_.state->update(changes_, {}));
  // Past this push's own changes in the feed, now that the state has every one of them.
  if (auto moved = chain_->result(); moved && *moved != cursor_before) {
    CAIRN_RETURN_IF_ERROR(session_.state->set_setting("cursor", *moved));
  }

  // What the server lost and this working copy still has goes back to it.
  auto repaired = repair_lost_chunks(session_, api_, config_.chunking);
  if (repaired) {
    report_.chunks_repaired = repaired->chunks_repaired;
    append_sorted(report_.errors, repaired->errors);
  } else {
    report_.errors.push_back("repair of the server's lost chunks: " + repaired.error().message());
  }
  report_.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - started)
                           .count();
  return std::move(report_);
}

// The moves go first, in order (a move inside a moved folder names its new path). One that the
// server refuses is undone here: its old path then counts as deleted and its new one as new, as
// if the move had not been seen, and nothing is lost either way.
Result<void> Push::send_moves(const std::vector<LocalMove>& moves) {
  std::vector<protocol::CommitOp> ops;
  for (const auto& m : moves) {
    ops.push_back(
        protocol::CommitOp::move(session_.to_remote(m.from), session_.to_remote(m.to), m.node_id));
  }
  return commit_in_batches(
      api_, session_.endpoint.device, std::move(ops), batch_, *chain_,
      [&](size_t i, const protocol::CommitResult& r) {
        const LocalMove& m = moves[i];
        if (!applied(r)) {
          report_.skipped.push_back(m.from + " -> " + m.to + ": not moved on the server (" +
                                    r.message + "); sent as a delete and a new file instead");
          return;
        }
        for (const auto& old : subtree_paths(base_, m.from)) changes_.drop(old);
        rebase(base_, m.from, m.to);
        // A shared folder that moved (itself, or with a folder that holds it) is read-only at
        // its new place.
        shared_.moved(m.from, m.to);
        for (const auto& now : subtree_paths(base_, m.to)) changes_.put(base_.at(now));
        report_.moved.push_back(m.from + " -> " + m.to);
      });
}

// Deletions on the server, in batches, each named by its node and (a file) the version this copy
// last saw: an edit made elsewhere, a node that took the name meanwhile, or a file added to a
// deleted folder is kept there (a conflict here; pull brings it back).
Result<void> Push::delete_on_server(const std::vector<const BaseRecord*>& doomed) {
  std::vector<protocol::CommitOp> ops;
  for (const BaseRecord* b : doomed) {
    std::optional<int64_t> guard;
    if (b->kind != NodeKind::kFolder && b->version > 0) guard = b->version;
    ops.push_back(protocol::CommitOp::remove(session_.to_remote(b->path), guard, b->node_id));
  }
  return commit_in_batches(
      api_, session_.endpoint.device, std::move(ops), batch_, *chain_,
      [&](size_t i, const protocol::CommitResult& r) {
        const BaseRecord& b = *doomed[i];
        if (applied(r)) {
          changes_.drop(b.path);
          if (r.status == protocol::OpStatus::kOk && b.kind != NodeKind::kFolder) {
            ++report_.files_deleted;
            report_.deleted.push_back(b.path);
          }
        } else if (r.status == protocol::OpStatus::kConflict) {
          report_.conflicts.push_back(b.path +
                                      ": deleted here, but not on the "
                                      "server: " +
                                      r.message + " (pull brings it back)");
        } else {
          report_.errors.push_back(b.path + ": " + r.message);
          note_error_kind(report_, r.error_code);
        }
      });
}

Result<void> Push::make_folders(const std::vector<const LocalEntry*>& folders) {
  std::vector<protocol::CommitOp> ops;
  for (const LocalEntry* f : folders) {
    ops.push_back(protocol::CommitOp::mkdir(session_.to_remote(f->path),
                                            f->mode & protocol::kPermissionBits));
  }
  return commit_in_batches(api_, session_.endpoint.device, std::move(ops), batch_, *chain_,
                           [&](size_t i, const protocol::CommitResult& r) {
                             const LocalEntry& f = *folders[i];
                             if (!applied(r)) {
                               report_.errors.push_back(f.path + ": " + r.message);
                               note_error_kind(report_, r.error_code);
                               return;
                             }
                             const auto was = base_.find(f.path);
                             const bool known =
                                 was != base_.end() && was->second.kind == NodeKind::kFolder;
                             if (r.status == protocol::OpStatus::kOk && !known)
                               ++report_.folders_created;
                             if (r.status == protocol::OpStatus::kOk && known) {
                               ++report_.files_changed;  // Its mode.
                               report_.changed.push_back(f.path + "/");
                             }
                             changes_.put(base_from(f, nullptr, 0, r.node_id));
                           });
}

// Hashes changed files on every core while the pipeline checks and uploads their chunks; files
// are committed as soon as their chunks are on the server, while others still hash and upload.
Result<void> Push::send_files(const std::vector<PendingPut>& candidates) {
  Progress progress("push", printer_);
  for (const auto& c : candidates) progress.bytes_total += c.entry->size;
  progress.files_total = candidates.size();
  progress.start();
  CommitOutcome outcome;
  {
    Committer committer(session_, api_, config_.max_batch, *chain_);
    const int threads = options_.hash_threads > 0 ? options_.hash_threads : default_threads();
    HashPool hash_pool(threads);
    UploadPipeline pipeline(
        api_, std::max(1, options_.transfer_threads), std::min<uint32_t>(config_.max_batch, 256),
        config_.packs, session_.state->state_dir(), progress,
        [&](const std::vector<Digest>& chunks, bool ok) { committer.settled(chunks, ok); });
    std::atomic<size_t> next{0};
    std::vector<std::thread> hashers;
    for (int t = 0; t < threads; ++t) {
      hashers.emplace_back([&] {
        for (size_t i = next.fetch_add(1); i < candidates.size(); i = next.fetch_add(1)) {
          hash_candidate(candidates[i], pipeline, committer, hash_pool, progress);
        }
      });
    }
    for (auto& h : hashers) h.join();
    auto finished = pipeline.finish();
    progress.stop();
    auto committed = committer.finish();
    if (!finished) return std::move(finished).error();
    if (!committed) return std::move(committed).error();
    outcome = std::move(*committed);
  }
  report_.chunks_sent = progress.chunks_sent.load();
  report_.bytes_sent = progress.bytes_sent.load();
  report_.bytes_uploaded = progress.bytes_on_wire.load();
  report_.packs_sent = progress.packs_sent.load();
  report_.bytes_deduplicated =
      report_.bytes_total > report_.bytes_sent ? report_.bytes_total - report_.bytes_sent : 0;
  report_.files_changed += outcome.files_changed;
  append_sorted(report_.changed, outcome.changed);
  append_sorted(report_.conflicts, outcome.conflicts);
  append_sorted(report_.errors, outcome.errors);
  report_.no_space = report_.no_space || outcome.no_space;
  append_sorted(report_.skipped, outcome.skipped);
  report_.files_deferred += outcome.files_deferred;
  return {};
}

void Push::hash_candidate(PendingPut put, UploadPipeline& pipeline, Committer& committer,
                          HashPool& pool, Progress& progress) {
  const LocalEntry& e = *put.entry;
  const std::string abs = session_.root + "/" + e.path;
  if (e.kind == NodeKind::kFile) {
    // Same size as the base: compare a fast whole-file fingerprint before cutting and hashing,
    // so a touched or rewritten-but-identical file costs one cheap read.
    if (put.base != nullptr && put.base->kind == NodeKind::kFile && put.base->size == e.size &&
        put.base->xxh3 != 0) {
      auto fp = fingerprint_file(abs);
      if (fp && *fp == put.base->xxh3 && same_permissions(e.mode, put.base->mode)) {
        std::lock_guard lock(results_mu_);
        refreshed_.push_back(refreshed_record(*put.base, e));
        progress.files_done.fetch_add(1);
        progress.bytes_done.fetch_add(e.size);
        return;
      }
    }
    auto hashed = hash_and_submit(abs, config_.chunking, pipeline, pool, progress);
    if (!hashed) {
      std::lock_guard lock(results_mu_);
      report_.errors.push_back(e.path + ": " + hashed.error().message());
      return;
    }
    // A file still being written is not uploaded half-way: if it changed while we read it, leave
    // it for the next push.
    auto after = stat_entry(session_.root, e.path);
    if (!after || !same_stat(*after, e) || hashed->size != e.size) {
      std::lock_guard lock(results_mu_);
      report_.skipped.push_back(e.path + ": changed while being read; try again");
      ++report_.files_deferred;
      return;
    }
    put.hashed = std::move(*hashed);
  }
  progress.files_done.fetch_add(1);
  {
    std::lock_guard lock(results_mu_);
    report_.chunks_total += put.hashed.manifest.chunks().size();
    report_.bytes_total += put.hashed.size;
  }
  committer.add(std::move(put));
}

}  // namespace

Result<SyncReport> push(Session& session, const PushOptions& options, Printer& printer) {
  return Push(session, options, printer).run();
}

}  // namespace cairn::client
