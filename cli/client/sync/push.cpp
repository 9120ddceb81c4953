#include "cli/client/sync/push.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "cli/client/progress.h"
#include "cli/client/sync/committer.h"
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

using protocol::NodeKind;

// A rename or move made in the working copy, to repeat on the server.
struct LocalMove {
  std::string from;
  std::string to;
  int64_t node_id = 0;
  bool folder = false;
};

// Moves the base records at `from` and under it to `to`. By value: callers pass keys of `base`,
// which this erases.
void rebase(std::map<std::string, BaseRecord>& base, const std::string from, const std::string to) {
  std::vector<BaseRecord> moved;
  for (const auto& old : subtree_paths(base, from)) {
    auto it = base.find(old);
    BaseRecord b = std::move(it->second);
    b.path = to + old.substr(from.size());
    moved.push_back(std::move(b));
    base.erase(it);
  }
  for (auto& b : moved) base[b.path] = std::move(b);
}

// Finds synced paths that now live elsewhere: the base path is gone and a path the base does not
// know holds the same inode, kind, size and modification time (a rename), or the same bytes
// (same size and whole-file fingerprint: a copy and a delete, or a rename that touched it).
// An inode alone is not enough: a file deleted and another created may share one. A folder
// matches by inode when a file of it is found inside the new folder under the same inode (or it
// held no files). Folders first, one at a time, shallowest first, since a folder's move carries
// its subtree; then files. `base` is rewritten as the moves say.
std::vector<LocalMove> find_local_moves(const std::string& root, const ScanResult& scan,
                                        std::map<std::string, BaseRecord>& base) {
  std::vector<LocalMove> moves;
  std::unordered_map<std::string, const LocalEntry*> here;
  for (const auto& e : scan.entries) here.emplace(e.path, &e);
  auto fresh_by_inode = [&] {
    std::unordered_map<uint64_t, const LocalEntry*> by_inode;
    std::unordered_set<uint64_t> shared;  // Hard links: ambiguous, never matched.
    for (const auto& e : scan.entries) {
      if (base.count(e.path) != 0) continue;
      if (!by_inode.emplace(e.inode, &e).second) shared.insert(e.inode);
    }
    for (uint64_t i : shared) by_inode.erase(i);
    return by_inode;
  };
  // Folders.
  for (bool again = true; again;) {
    again = false;
    auto by_inode = fresh_by_inode();
    for (const auto& [path, b] : base) {
      if (b.kind != NodeKind::kFolder || b.node_id == 0 || here.count(path) != 0) continue;
      auto match = by_inode.find(b.inode);
      if (match == by_inode.end() || match->second->kind != NodeKind::kFolder ||
          is_below(match->second->path, path)) {
        continue;
      }
      bool files = false;
      bool witness = false;
      for (const auto& inside : subtree_paths(base, path)) {
        const BaseRecord& child = base.at(inside);
        if (inside == path || child.kind == NodeKind::kFolder) continue;
        files = true;
        auto moved = here.find(match->second->path + inside.substr(path.size()));
        if (moved != here.end() && moved->second->inode == child.inode) {
          witness = true;
          break;
        }
      }
      if (files && !witness) continue;
      moves.push_back({path, match->second->path, b.node_id, true});
      rebase(base, path, match->second->path);
      again = true;
      break;
    }
  }
  // Files and symlinks.
  auto by_inode = fresh_by_inode();
  std::unordered_set<std::string> taken;
  std::vector<std::pair<std::string, std::string>> found;
  std::vector<const BaseRecord*> unmatched;
  for (const auto& [path, b] : base) {
    if (b.kind == NodeKind::kFolder || b.node_id == 0 || here.count(path) != 0) continue;
    auto match = by_inode.find(b.inode);
    // The same inode, kind, size and mtime. A record made while its file was racily clean
    // (scanner.h) holds no mtime: the same inode then counts if the content is the same.
    auto same_file = [&](const LocalEntry& e) {
      if (e.kind != b.kind || e.size != b.size || e.target != b.target) return false;
      if (e.mtime_ns == b.mtime_ns) return true;
      if (b.mtime_ns != 0) return false;
      if (b.kind != NodeKind::kFile || b.xxh3 == 0) return b.kind != NodeKind::kFile;
      auto fp = fingerprint_file(root + "/" + e.path);
      return fp && *fp == b.xxh3;
    };
    if (match != by_inode.end() && same_file(*match->second) &&
        taken.insert(match->second->path).second) {
      found.emplace_back(path, match->second->path);
    } else if (b.kind == NodeKind::kFile && b.xxh3 != 0) {
      unmatched.push_back(&b);
    }
  }
  // By content: the new file of the same size and fingerprint (read only for size matches).
  std::unordered_map<uint64_t, std::vector<const LocalEntry*>> fresh_by_size;
  for (const auto& e : scan.entries) {
    if (e.kind == NodeKind::kFile && base.count(e.path) == 0 && taken.count(e.path) == 0) {
      fresh_by_size[e.size].push_back(&e);
    }
  }
  for (const BaseRecord* b : unmatched) {
    auto same_size = fresh_by_size.find(b->size);
    if (same_size == fresh_by_size.end()) continue;
    for (const LocalEntry* e : same_size->second) {
      if (taken.count(e->path) != 0) continue;
      auto fp = fingerprint_file(root + "/" + e->path);
      if (fp && *fp == b->xxh3) {
        taken.insert(e->path);
        found.emplace_back(b->path, e->path);
        break;
      }
    }
  }
  for (const auto& [from, to] : found) {
    const int64_t node = base.at(from).node_id;
    moves.push_back({from, to, node, false});
    rebase(base, from, to);
  }
  return moves;
}

// The folders (and files) of this working copy that others share with us (relative paths; ""
// for the whole working copy). What is in them is charged to their owners' quotas.
struct SharedHere {
  std::vector<std::pair<std::string, std::string>> read_only;  // As a viewer, with what to say.
  std::vector<std::string> all;
};

Result<SharedHere> shared_here(ApiClient& api, const Session& session) {
  SharedHere out;
  CAIRN_ASSIGN_OR_RETURN(auto shares, api.shares(""));
  if (shares.shares.empty()) return out;
  CAIRN_ASSIGN_OR_RETURN(auto me, api.whoami());
  for (const auto& s : shares.shares) {
    if (s.owner == me.user) continue;
    std::optional<std::string> rel;
    if (s.path == session.remote_root || is_below(session.remote_root, s.path)) {
      rel = "";
    } else {
      rel = session.to_local(s.path);
    }
    if (!rel) continue;
    out.all.push_back(*rel);
    if (s.role == "viewer") {
      out.read_only.emplace_back(*rel, s.owner + " shares " + s.path + " with you as a viewer");
    }
  }
  return out;
}

int default_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 2 : static_cast<int>(n);
}

}  // namespace

Result<SyncReport> push(Session& session, const PushOptions& options, Printer& printer) {
  const auto started = std::chrono::steady_clock::now();
  SyncReport report;
  report.command = "push";
  CAIRN_RETURN_IF_ERROR(session.state->lock_for_writing());
  ApiClient api(session.endpoint);
  CAIRN_ASSIGN_OR_RETURN(const auto config, api.config());
  CAIRN_RETURN_IF_ERROR(config.chunking.validate());

  CAIRN_ASSIGN_OR_RETURN(auto scan, scan_tree(session.root));
  CAIRN_ASSIGN_OR_RETURN(auto detached, session.state->detached());
  if (set_aside_detached(scan, detached)) {
    CAIRN_RETURN_IF_ERROR(session.state->set_detached(detached));
  }
  CAIRN_ASSIGN_OR_RETURN(auto synced, session.state->load_base());
  // A synced path that a .cairnignore now excludes is left as it is on the server: ignoring is
  // not deleting. Its record stays; this push just does not see it.
  forget_ignored(session.root, synced);
  report.skipped = scan.skipped;
  BaseChanges changes;  // In order: for each path the last change wins.
  const std::string device = session.endpoint.device;
  const size_t batch = std::max<uint32_t>(1, config.max_batch);

  // Folders shared with us as a viewer: what changed in them stays here, reported, never sent.
  CAIRN_ASSIGN_OR_RETURN(auto shared, shared_here(api, session));
  auto& read_only = shared.read_only;
  auto refused_at = [&](const std::string& rel) -> const std::string* {
    for (const auto& [folder, why] : read_only) {
      if (folder.empty() || rel == folder || is_below(rel, folder)) return &why;
    }
    return nullptr;
  };
  auto keep_here = [&](const std::string& rel, const std::string& why) {
    ++report.changes_unsent;
    report.skipped.push_back(rel + ": not pushed: " + why + "; the change stays here");
  };

  // Renames and moves made here: planned on a copy of the base, so that the mass-delete guard
  // below counts what would really be deleted.
  auto planned = synced;
  std::vector<LocalMove> moves = find_local_moves(session.root, scan, planned);
  // A viewer may move the shared folder (or file) itself: the mount is theirs. Nothing inside it
  // moves, and nothing moves in.
  auto is_mount = [&](const std::string& rel) {
    return std::any_of(read_only.begin(), read_only.end(),
                       [&](const auto& r) { return !r.first.empty() && r.first == rel; });
  };
  std::erase_if(moves, [&](const LocalMove& m) {
    if (is_mount(m.from)) return refused_at(m.to) != nullptr;
    return refused_at(m.from) != nullptr || refused_at(m.to) != nullptr;
  });
  {
    std::set<std::string> here;
    for (const auto& e : scan.entries) here.insert(e.path);
    uint64_t files = 0;
    uint64_t doomed = 0;
    for (const auto& [path, b] : planned) {
      if (b.kind == NodeKind::kFolder) continue;
      ++files;
      if (here.count(path) == 0) ++doomed;
    }
    if (!options.allow_mass_delete &&
        (doomed > kMassDeleteLimit || (doomed > 1 && doomed * 2 > files))) {
      return make_error(ErrorCode::kInvalidArgument,
                        "this push would delete " + std::to_string(doomed) + " of " +
                            std::to_string(files) +
                            " synced files on the server; nothing was sent. If that is what you "
                            "want, push again with --allow-mass-delete (deleted files stay in "
                            "the server's trash)");
    }
  }

  // The moves go first, in order (a move inside a moved folder names its new path). One that
  // the server refuses is undone here: its old path then counts as deleted and its new one as
  // new, as if the move had not been seen, and nothing is lost either way.
  std::map<std::string, BaseRecord> base = synced;
  for (size_t i = 0; i < moves.size(); i += batch) {
    protocol::CommitRequest req;
    req.device = device;
    const size_t end = std::min(moves.size(), i + batch);
    for (size_t j = i; j < end; ++j) {
      req.ops.push_back(protocol::CommitOp::move(session.to_remote(moves[j].from),
                                                 session.to_remote(moves[j].to), moves[j].node_id));
    }
    CAIRN_ASSIGN_OR_RETURN(auto resp, api.commit(req));
    for (size_t j = i; j < end && j - i < resp.results.size(); ++j) {
      const auto& r = resp.results[j - i];
      const LocalMove& m = moves[j];
      if (r.status != protocol::OpStatus::kOk && r.status != protocol::OpStatus::kUnchanged) {
        report.skipped.push_back(m.from + " -> " + m.to + ": not moved on the server (" +
                                 r.message + "); sent as a delete and a new file instead");
        continue;
      }
      for (const auto& old : subtree_paths(base, m.from)) changes.drop(old);
      rebase(base, m.from, m.to);
      // A shared folder that moved (itself, or with a folder that holds it) is read-only at
      // its new place.
      for (auto& [folder, why] : read_only) {
        if (!folder.empty() && (folder == m.from || is_below(folder, m.from))) {
          folder = m.to + folder.substr(m.from.size());
        }
      }
      for (auto& folder : shared.all) {
        if (!folder.empty() && (folder == m.from || is_below(folder, m.from))) {
          folder = m.to + folder.substr(m.from.size());
        }
      }
      for (const auto& now : subtree_paths(base, m.to)) changes.put(base.at(now));
      report.moved.push_back(m.from + " -> " + m.to);
    }
  }

  // Classify by stat alone: a file whose size, mtime, inode and mode match its base record is
  // not opened.
  const int64_t settled_before = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count() -
                                 options.settle_ms * int64_t{1'000'000};
  std::vector<PendingPut> candidates;
  std::vector<BaseRecord> refreshed;  // Stat changed, bytes did not.
  std::vector<const LocalEntry*> new_folders;
  std::vector<const BaseRecord*> replaced;
  std::set<std::string> local_paths;
  for (const auto& e : scan.entries) {
    local_paths.insert(e.path);
    auto it = base.find(e.path);
    const BaseRecord* b = it == base.end() ? nullptr : &it->second;
    if (e.kind != NodeKind::kFolder) ++report.files_scanned;
    if (b != nullptr && same_stat(e, *b)) {
      continue;
    }
    if (const std::string* why = refused_at(e.path)) {
      // Only a real change is kept here: a file whose stat moved but whose bytes did not (a
      // folder above it renamed, a touch) has nothing to send.
      if (e.kind == NodeKind::kFile && b != nullptr && b->kind == NodeKind::kFile &&
          b->size == e.size && b->xxh3 != 0 && same_permissions(b->mode, e.mode)) {
        auto fp = fingerprint_file(session.root + "/" + e.path);
        if (fp && *fp == b->xxh3) {
          BaseRecord same = *b;
          same.mtime_ns = base_from_stat(e, 0, 0).mtime_ns;
          same.inode = e.inode;
          same.mode = e.mode;
          refreshed.push_back(std::move(same));
          continue;
        }
      }
      if (e.kind != NodeKind::kFolder || b == nullptr) keep_here(e.path, *why);
      continue;
    }
    // A path that turned from file to folder or back: its old node must go before the new
    // one can take the name.
    if (b != nullptr && b->kind != e.kind &&
        (b->kind == NodeKind::kFolder || e.kind == NodeKind::kFolder)) {
      replaced.push_back(b);
    }
    if (e.kind == NodeKind::kFolder) {
      // A new folder, or one whose mode changed here: a mkdir with its mode makes or updates it.
      if (b == nullptr || b->kind != NodeKind::kFolder || !same_permissions(b->mode, e.mode)) {
        new_folders.push_back(&e);
      }
      continue;
    }
    if (options.settle_ms > 0 && e.kind == NodeKind::kFile && e.mtime_ns > settled_before) {
      // Modified a moment ago: perhaps still being written. The next round sends it.
      ++report.files_deferred;
      report.skipped.push_back(e.path + ": modified less than " +
                               std::to_string(options.settle_ms) + " ms ago; sent once it settles");
      continue;
    }
    candidates.push_back({&e, b, {}});
  }
  // Deleted locally: delete remotely, deepest first, guarded by the version we last saw.
  std::vector<const BaseRecord*> deletions;
  for (const auto& [path, b] : base) {
    if (local_paths.count(path) != 0) continue;
    if (const std::string* why = refused_at(path)) {
      keep_here(path + " (deleted here)", *why);
      continue;
    }
    deletions.push_back(&b);
  }
  std::sort(deletions.begin(), deletions.end(),
            [](const BaseRecord* a, const BaseRecord* b) { return a->path > b->path; });

  // Quota: what the files to send add to ours (files in folders others share with us count
  // against theirs). The server refuses, before a byte travels, what could not be committed.
  uint64_t growth = 0;
  for (const auto& c : candidates) {
    const std::string& rel = c.entry->path;
    const bool theirs = std::any_of(shared.all.begin(), shared.all.end(), [&](const auto& f) {
      return f.empty() || rel == f || is_below(rel, f);
    });
    if (theirs || c.entry->kind != NodeKind::kFile) continue;
    const uint64_t before = c.base != nullptr && c.base->kind == NodeKind::kFile ? c.base->size : 0;
    if (c.entry->size > before) growth += c.entry->size - before;
  }
  if (growth != 0) {
    protocol::CheckChunksRequest ask;
    ask.commit_bytes = growth;
    CAIRN_RETURN_IF_ERROR(api.check_chunks(ask));
  }

  // Deletions on the server, in batches, each named by its node and (a file) the version this
  // copy last saw: an edit made elsewhere, a node that took the name meanwhile, or a file added
  // to a deleted folder is kept there (a conflict here; pull brings it back).
  auto delete_on_server = [&](const std::vector<const BaseRecord*>& doomed) -> Result<void> {
    for (size_t i = 0; i < doomed.size(); i += batch) {
      const size_t end = std::min(doomed.size(), i + batch);
      protocol::CommitRequest req;
      req.device = device;
      for (size_t j = i; j < end; ++j) {
        const BaseRecord& b = *doomed[j];
        std::optional<int64_t> guard;
        if (b.kind != NodeKind::kFolder && b.version > 0) guard = b.version;
        req.ops.push_back(protocol::CommitOp::remove(session.to_remote(b.path), guard, b.node_id));
      }
      CAIRN_ASSIGN_OR_RETURN(auto resp, api.commit(req));
      for (size_t j = i; j < end && j - i < resp.results.size(); ++j) {
        const auto& r = resp.results[j - i];
        const BaseRecord& b = *doomed[j];
        if (r.status == protocol::OpStatus::kOk || r.status == protocol::OpStatus::kUnchanged) {
          changes.drop(b.path);
          if (r.status == protocol::OpStatus::kOk && b.kind != NodeKind::kFolder) {
            ++report.files_deleted;
            report.deleted.push_back(b.path);
          }
        } else if (r.status == protocol::OpStatus::kConflict) {
          report.conflicts.push_back(b.path + ": deleted here, but not on the server: " +
                                     r.message + " (pull brings it back)");
        } else {
          report.errors.push_back(b.path + ": " + r.message);
        }
      }
    }
    return {};
  };

  // Replaced kinds first (their old nodes must go before new ones take the names), then new
  // folders (so that empty ones exist), then files as their chunks arrive, then deletions. A
  // folder that became a file takes what this copy knew inside it along first, so that the
  // folder itself goes only if nothing else is in it.
  if (!replaced.empty()) {
    std::vector<const BaseRecord*> first;
    for (const BaseRecord* b : replaced) {
      if (b->kind == NodeKind::kFolder) {
        for (const BaseRecord* d : deletions) {
          if (is_below(d->path, b->path)) first.push_back(d);
        }
        std::erase_if(deletions, [&](const BaseRecord* d) { return is_below(d->path, b->path); });
      }
      first.push_back(b);
    }
    CAIRN_RETURN_IF_ERROR(delete_on_server(first));
  }
  for (size_t i = 0; i < new_folders.size(); i += batch) {
    protocol::CommitRequest req;
    req.device = device;
    const size_t end = std::min(new_folders.size(), i + batch);
    for (size_t j = i; j < end; ++j) {
      req.ops.push_back(
          protocol::CommitOp::mkdir(session.to_remote(new_folders[j]->path),
                                    new_folders[j]->mode & protocol::kPermissionBits));
    }
    CAIRN_ASSIGN_OR_RETURN(auto resp, api.commit(req));
    for (size_t j = i; j < end && j - i < resp.results.size(); ++j) {
      const auto& r = resp.results[j - i];
      if (r.status == protocol::OpStatus::kOk || r.status == protocol::OpStatus::kUnchanged) {
        const auto was = base.find(new_folders[j]->path);
        const bool known = was != base.end() && was->second.kind == NodeKind::kFolder;
        if (r.status == protocol::OpStatus::kOk && !known) ++report.folders_created;
        if (r.status == protocol::OpStatus::kOk && known) {
          ++report.files_changed;  // Its mode.
          report.changed.push_back(new_folders[j]->path + "/");
        }
        changes.put(base_from(*new_folders[j], nullptr, 0, r.node_id));
      } else {
        report.errors.push_back(new_folders[j]->path + ": " + r.message);
      }
    }
  }

  // Hash changed files on every core while the pipeline checks and uploads their chunks.
  Progress progress("push", printer);
  for (const auto& c : candidates) progress.bytes_total += c.entry->size;
  progress.files_total = candidates.size();
  progress.start();

  std::mutex results_mu;
  CommitOutcome outcome;
  {
    // Files are committed as soon as their chunks are on the server, while others still hash
    // and upload.
    Committer committer(session, api, config.max_batch);
    const int threads = options.hash_threads > 0 ? options.hash_threads : default_threads();
    HashPool hash_pool(threads);
    UploadPipeline pipeline(
        api, std::max(1, options.transfer_threads), std::min<uint32_t>(config.max_batch, 256),
        config.packs, progress,
        [&](const std::vector<Digest>& chunks, bool ok) { committer.settled(chunks, ok); });
    std::atomic<size_t> next{0};
    std::vector<std::thread> hashers;
    for (int t = 0; t < threads; ++t) {
      hashers.emplace_back([&] {
        while (true) {
          const size_t i = next.fetch_add(1);
          if (i >= candidates.size()) return;
          PendingPut put = candidates[i];
          const LocalEntry& e = *put.entry;
          const std::string abs = session.root + "/" + e.path;
          if (e.kind == NodeKind::kFile) {
            // Same size as the base: compare a fast whole-file fingerprint before cutting and
            // hashing, so a touched or rewritten-but-identical file costs one cheap read.
            if (put.base != nullptr && put.base->kind == NodeKind::kFile &&
                put.base->size == e.size && put.base->xxh3 != 0) {
              auto fp = fingerprint_file(abs);
              if (fp && *fp == put.base->xxh3) {
                BaseRecord b = *put.base;
                b.mtime_ns = base_from_stat(e, 0, 0).mtime_ns;  // 0 while racily clean.
                b.inode = e.inode;
                b.mode = e.mode;
                if (same_permissions(b.mode, put.base->mode)) {
                  std::lock_guard lock(results_mu);
                  refreshed.push_back(std::move(b));
                  progress.files_done.fetch_add(1);
                  progress.bytes_done.fetch_add(e.size);
                  continue;
                }
              }
            }
            auto hashed = hash_file(
                abs, config.chunking,
                [&](const ChunkRef& c, uint64_t off, ByteView bytes) {
                  progress.bytes_done.fetch_add(c.length, std::memory_order_relaxed);
                  pipeline.submit({c.hash, c.length, abs, off, {}}, bytes);
                },
                &hash_pool);
            if (!hashed) {
              std::lock_guard lock(results_mu);
              report.errors.push_back(e.path + ": " + hashed.error().message());
              continue;
            }
            // A file still being written is not uploaded half-way: if it changed while we read
            // it, leave it for the next push.
            auto after = stat_entry(session.root, e.path);
            if (!after || !same_stat(*after, e) || hashed->size != e.size) {
              std::lock_guard lock(results_mu);
              report.skipped.push_back(e.path + ": changed while being read; try again");
              ++report.files_deferred;
              continue;
            }
            put.hashed = std::move(*hashed);
          }
          progress.files_done.fetch_add(1);
          {
            std::lock_guard lock(results_mu);
            report.chunks_total += put.hashed.manifest.chunks().size();
            report.bytes_total += put.hashed.size;
          }
          committer.add(std::move(put));
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
  report.chunks_sent = progress.chunks_sent.load();
  report.bytes_sent = progress.bytes_sent.load();
  report.bytes_uploaded = progress.bytes_on_wire.load();
  report.packs_sent = progress.packs_sent.load();
  report.bytes_deduplicated =
      report.bytes_total > report.bytes_sent ? report.bytes_total - report.bytes_sent : 0;
  for (auto& u : outcome.upserts) changes.put(std::move(u));
  for (auto& r : outcome.removals) changes.drop(std::move(r));
  std::vector<std::pair<std::string, Manifest>> chunk_maps = std::move(outcome.chunk_maps);
  report.files_changed += outcome.files_changed;
  auto append = [](std::vector<std::string>& to, std::vector<std::string>& from) {
    std::sort(from.begin(), from.end());
    to.insert(to.end(), from.begin(), from.end());
  };
  append(report.changed, outcome.changed);
  append(report.conflicts, outcome.conflicts);
  append(report.errors, outcome.errors);
  append(report.skipped, outcome.skipped);
  report.files_deferred += outcome.files_deferred;
  for (auto& r : refreshed) changes.put(std::move(r));

  CAIRN_RETURN_IF_ERROR(delete_on_server(deletions));

  CAIRN_RETURN_IF_ERROR(session.state->update(changes, chunk_maps));

  // What the server lost and this working copy still has goes back to it.
  auto repaired = repair_lost_chunks(session, api, config.chunking);
  if (repaired) {
    report.chunks_repaired = repaired->chunks_repaired;
    append(report.errors, repaired->errors);
  } else {
    report.errors.push_back("repair of the server's lost chunks: " + repaired.error().message());
  }
  report.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
  return report;
}

}  // namespace cairn::client
