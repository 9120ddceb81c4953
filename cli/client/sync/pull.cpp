#include "cli/client/sync/pull.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <ctime>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "cli/client/progress.h"
#include "cli/client/sync/downloader.h"
#include "cli/client/tree/file_hasher.h"
#include "cli/client/tree/ignore.h"
#include "cli/client/tree/local_tree.h"
#include "cli/client/tree/scanner.h"
#include "common/conflict_name.h"
#include "common/pack.h"
#include "common/paths.h"
#include "common/remote_path.h"

namespace cairn::client {
namespace {

namespace fs = std::filesystem;
using protocol::Entry;
using protocol::NodeKind;

// Chunks located per request; the server's max_batch is at least this.
constexpr uint32_t kLocateBatch = 1000;

BaseRecord base_for(const std::string& root, const std::string& rel, const Entry& e,
                    const LocalEntry& st) {
  BaseRecord b = base_from_stat(st, e.version, e.node_id);
  b.path = rel;
  b.kind = e.kind;
  b.manifest = e.manifest;
  b.target = e.symlink_target;
  if (b.kind == NodeKind::kFile && b.mtime_ns == 0) {
    // Racily clean (scanner.h): its content is what later looks compare.
    if (auto fp = fingerprint_file(root + "/" + rel)) b.xxh3 = *fp;
  }
  return b;
}

// Moves files to the trash and removes folders once empty, deepest first.
void move_to_trash(LocalTree& tree, const std::string& trash,
                   std::vector<const BaseRecord*> records, BaseChanges& changes,
                   SyncReport& report) {
  std::sort(records.begin(), records.end(),
            [](const BaseRecord* a, const BaseRecord* b) { return a->path > b->path; });
  for (const BaseRecord* b : records) {
    if (b->kind == NodeKind::kFolder) {
      // Its node left this path either way. A folder that cannot go (it holds what was edited
      // or made here) stays as this copy's own, unsynced folder, which the next push sends.
      (void)tree.remove_folder(b->path);
      changes.drop(b->path);
      continue;
    }
    std::error_code ec;
    const std::string dest = trash + "/" + b->path;
    fs::create_directories(fs::path(dest).parent_path(), ec);
    if (ec) {
      report.errors.push_back(b->path + ": cannot move to trash: " + ec.message());
      continue;
    }
    if (auto moved = tree.move_out(b->path, dest); !moved) {
      report.errors.push_back(b->path + ": cannot move to trash: " + moved.error().message());
      continue;
    }
    changes.drop(b->path);
    ++report.files_deleted;
    report.deleted.push_back(b->path);
  }
}

std::string trash_folder(const std::string& state_dir) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d-%H%M%S", &tm);
  return state_dir + "/trash/" + buf;
}

size_t depth_of(const std::string& rel) {
  return static_cast<size_t>(std::count(rel.begin(), rel.end(), '/'));
}

// Renames local paths for nodes the server moved, shallowest target first, and rewrites their
// base records (and those of everything under a moved folder). A move that cannot be done here
// (the old path is gone, the new one is taken) is left to the plan: the node is then fetched at
// its new path like a new file, and what is in the way is handled as a conflict.
//
// A node whose old local path is gone (deleted here) has its records moved all the same: this
// copy still knows it, now at its new path, and the next push deletes it there. Returns the
// remote paths of the folders that could not be moved here (their new path is taken): they are
// fetched anew, like folders moved in from outside.
std::vector<std::string> apply_moves(Session& session, LocalTree& tree,
                                     const std::map<int64_t, Entry>& changed,
                                     std::map<std::string, BaseRecord>& base, BaseChanges& changes,
                                     SyncReport& report) {
  std::vector<std::string> unmoved;
  std::map<int64_t, std::string> path_of;
  for (const auto& [path, b] : base) {
    if (b.node_id != 0) path_of[b.node_id] = path;
  }
  std::set<int64_t> given_up;  // Moves that cannot be made here: not tried again.
  // In rounds, until every node the feed names is where it says: a folder's move takes all it
  // holds along, and what the feed places elsewhere is moved again in the next round (a file
  // that stayed while its old folder moved away, a folder moved out of one that moved).
  for (int round = 0; round < 8; ++round) {
    std::vector<std::pair<std::string, int64_t>> moves;
    for (const auto& [node, e] : changed) {
      if (e.deleted || given_up.count(node) != 0) continue;
      auto rel = session.to_local(e.path);
      auto known = path_of.find(node);
      if (!rel || rel->empty() || known == path_of.end() || known->second == *rel) continue;
      moves.emplace_back(*rel, node);
    }
    if (moves.empty()) break;
    std::sort(moves.begin(), moves.end(), [](const auto& a, const auto& b) {
      return std::make_pair(depth_of(a.first), a.first) <
             std::make_pair(depth_of(b.first), b.first);
    });
    size_t applied = 0;
    std::vector<int64_t> into_itself;
    for (const auto& [to, node] : moves) {
      const std::string from = path_of[node];
      if (from == to) continue;
      if (is_below(to, from)) {
        // Into itself, as things are here: what is inside moves out first, and this one in a
        // later round. (A folder swapped with one it held never gets there: fetched anew.)
        into_itself.push_back(node);
        continue;
      }
      ++applied;
      const bool folder = base.at(from).kind == NodeKind::kFolder;
      struct stat st {};
      const bool here = ::lstat((session.root + "/" + from).c_str(), &st) == 0;
      if (here) {
        // Only if the new path is free (the rename refuses to replace).
        if (!tree.rename(from, to)) {
          given_up.insert(node);
          if (folder) unmoved.push_back(changed.at(node).path);
          continue;
        }
        report.moved.push_back(from + " -> " + to);
      } else if (base.count(to) != 0 || !subtree_paths(base, to).empty()) {
        given_up.insert(node);
        continue;  // Another node's records are there: the plan sorts it out.
      }
      std::vector<std::pair<std::string, BaseRecord>> moved;
      for (const auto& old : subtree_paths(base, from)) {
        auto it = base.find(old);
        BaseRecord b = std::move(it->second);
        b.path = to + old.substr(from.size());
        changes.drop(old);
        moved.emplace_back(b.path, std::move(b));
        base.erase(it);
      }
      for (auto& [path, b] : moved) {
        if (b.node_id != 0) path_of[b.node_id] = path;
        changes.put(b);
        base[path] = std::move(b);
      }
    }
    if (applied == 0 || round == 7) {
      for (const int64_t node : into_itself) {
        if (base.at(path_of[node]).kind == NodeKind::kFolder) {
          unmoved.push_back(changed.at(node).path);
        }
      }
      break;
    }
  }
  return unmoved;
}

// Adds what the remote `folders` hold, listed from the server, to `changed`: a folder that
// arrives as one entry of the feed (moved in), or one whose move could not be made here.
Result<void> list_into(ApiClient& api, std::vector<std::string> folders,
                       std::map<int64_t, Entry>& changed) {
  while (!folders.empty()) {
    const std::string folder = std::move(folders.back());
    folders.pop_back();
    CAIRN_ASSIGN_OR_RETURN(auto listing, api.list(folder));
    for (auto& e : listing.entries) {
      if (e.kind == NodeKind::kFolder) folders.push_back(e.path);
      changed.try_emplace(e.node_id, std::move(e));
    }
  }
  return {};
}

// A folder moved into this working copy's folder from outside it arrives as one entry (its
// own): adds what it holds, listed from the server, to `changed`.
Result<void> list_moved_in(ApiClient& api, const Session& session,
                           const std::map<std::string, BaseRecord>& base,
                           std::map<int64_t, Entry>& changed) {
  std::set<int64_t> known;
  for (const auto& [path, b] : base) known.insert(b.node_id);
  std::vector<std::string> folders;
  for (const auto& [node, e] : changed) {
    auto rel = session.to_local(e.path);
    if (e.change == "move" && e.kind == NodeKind::kFolder && !e.deleted && rel && !rel->empty() &&
        known.count(node) == 0) {
      folders.push_back(e.path);
    }
  }
  return list_into(api, std::move(folders), changed);
}

// Renames the local `rel` to a free conflicted-copy name beside it; returns that name.
// A name is free if nothing is there, this copy has no record of it, and nothing of this pull
// arrives there (`arriving`): another device's conflicted copy may carry the very same name
// (devices that share a name, edits in the same second), and must not be set aside in turn.
Result<std::string> set_aside(Session& session, LocalTree& tree, const std::string& rel,
                              const LocalEntry& local,
                              const std::map<std::string, BaseRecord>& base,
                              const std::unordered_set<std::string>& arriving) {
  const size_t slash = rel.rfind('/');
  const std::string folder = slash == std::string::npos ? "" : rel.substr(0, slash + 1);
  const std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
  for (int n = 1; n <= 100; ++n) {
    const std::string copy =
        folder + conflicted_copy_name(name, session.endpoint.device, local.mtime_ns, n);
    const std::string abs = session.root + "/" + copy;
    struct stat st {};
    if (::lstat(abs.c_str(), &st) == 0 || base.count(copy) != 0 || arriving.count(copy) != 0) {
      continue;
    }
    auto renamed = tree.rename(rel, copy);
    if (!renamed && renamed.error().code() == ErrorCode::kAlreadyExists) continue;
    if (!renamed) return std::move(renamed).error().with_context("cannot rename");
    return copy;
  }
  return make_error(ErrorCode::kAlreadyExists, "too many conflicted copies");
}

}  // namespace

Result<SyncReport> pull(Session& session, const PullOptions& options, Printer& printer,
                        const std::string& command) {
  const auto started = std::chrono::steady_clock::now();
  SyncReport report;
  report.command = command;
  CAIRN_RETURN_IF_ERROR(session.state->lock_for_writing());
  CAIRN_RETURN_IF_ERROR(make_temp_shards(session.state->state_dir()));
  ApiClient api(session.endpoint);

  // 1. Everything that changed since the cursor, each node once, in its latest state.
  CAIRN_ASSIGN_OR_RETURN(std::string cursor, session.state->setting("cursor"));
  std::map<int64_t, Entry> changed;
  while (true) {
    CAIRN_ASSIGN_OR_RETURN(auto page, api.changes(cursor, 1000));
    for (auto& e : page.changes) changed[e.node_id] = std::move(e);
    cursor = page.cursor;
    if (!page.has_more) break;
  }

  CAIRN_ASSIGN_OR_RETURN(auto base, session.state->load_base());
  // What a .cairnignore here excludes is not pulled either, nor touched if it is here.
  {
    IgnoreRules ignore(session.root);
    std::erase_if(changed, [&](const auto& item) {
      auto rel = session.to_local(item.second.path);
      return rel && !rel->empty() && ignore.ignored(*rel, item.second.kind == NodeKind::kFolder);
    });
  }
  forget_ignored(session.root, base);
  BaseChanges changes;  // In order: for each path the last change wins.
  CAIRN_RETURN_IF_ERROR(list_moved_in(api, session, base, changed));
  // Every path from the server must already be canonical (common/remote_path.h): one that is
  // not (a "..", a ".cairn", from a broken or hostile server) is reported and left alone, and
  // keeps the cursor where it is.
  std::erase_if(changed, [&](const auto& item) {
    auto canonical = normalize_remote_path(item.second.path);
    if (canonical && *canonical == item.second.path) return false;
    report.errors.push_back(
        "the server sent an invalid path '" + item.second.path.substr(0, 200) + "' (" +
        (canonical ? std::string("not canonical") : canonical.error().message()) + "); ignored");
    return true;
  });
  // Every write below goes through `tree`: never outside the working copy, never through a
  // symlink in it.
  LocalTree tree(session.root);

  // 2. Moves on the server become moves here, before anything else: a folder takes its whole
  // subtree along, and a file keeps its bytes (edited here or not), so nothing is downloaded
  // again and no local edit is left behind.
  auto unmoved = apply_moves(session, tree, changed, base, changes, report);
  // A folder that could not be moved here is fetched at its new path, whole; what is left at
  // its old path is handled like anything that left it (below).
  CAIRN_RETURN_IF_ERROR(list_into(api, unmoved, changed));
  std::erase_if(changed, [&](const auto& item) {
    auto canonical = normalize_remote_path(item.second.path);
    return !canonical || *canonical != item.second.path;
  });

  std::map<int64_t, const BaseRecord*> base_by_node;
  for (const auto& [path, b] : base) {
    if (b.node_id != 0) base_by_node[b.node_id] = &b;
  }

  // 3. Plan each change against the base and the local file.
  std::vector<std::unique_ptr<DownloadJob>> downloads;
  std::vector<std::pair<std::string, Entry>> symlinks;
  std::vector<std::pair<std::string, Entry>> folders;
  std::vector<const BaseRecord*> to_trash;
  std::vector<std::pair<std::string, Manifest>> chunk_maps;

  std::optional<protocol::ServerConfig> config;  // Fetched only if a local file must be hashed.
  // Pass 1: nodes that left their old local path (deleted, or moved).
  std::vector<std::pair<std::string, const Entry*>> live;
  // A base path whose node is no longer there: to the trash if unchanged here.
  std::unordered_set<std::string> left;
  auto leave = [&](const BaseRecord& old) {
    if (!left.insert(old.path).second) return;
    auto local = stat_entry(session.root, old.path);
    if (!local) {
      changes.drop(old.path);
    } else if (old.kind == NodeKind::kFolder) {
      to_trash.push_back(&old);  // Removed later only if empty.
    } else if (unchanged_since(session.root, *local, old)) {
      to_trash.push_back(&old);
    } else {
      // Edited here, deleted there: the edit wins. Forgetting the base makes the next push
      // upload it again.
      changes.drop(old.path);
      report.skipped.push_back(old.path +
                               ": deleted on the server but edited here; kept "
                               "(push to restore it)");
    }
  };
  // Folders (and files) whose share ended: their local copy stays, as the user's own files,
  // no longer synced (push leaves them alone), and the user is told so.
  CAIRN_ASSIGN_OR_RETURN(auto detached, session.state->detached());
  const size_t detached_before = detached.size();
  for (const auto& [node, e] : changed) {
    auto rel_opt = session.to_local(e.path);
    auto by_node = base_by_node.find(node);
    if (e.deleted && e.change == "unshare" && by_node != base_by_node.end()) {
      const std::string top = by_node->second->path;
      for (const auto& inside : subtree_paths(base, top)) changes.drop(inside);
      detached.push_back(top);
      report.shares_ended.push_back(top);
      continue;
    }
    // A folder that left (moved out of this working copy's folder, or deleted where its files
    // have no changes of their own: a shared folder one left) takes all it held.
    auto leave_subtree = [&] {
      const std::string& top = by_node->second->path;
      // A node the feed names alive is placed by its own entry, and so is all that is inside it
      // here: such a node may only seem to be inside the folder that left (a folder swapped with
      // one it held, or another node at the same path).
      auto placed_elsewhere = [&](std::string p) {
        while (p != top && is_below(p, top)) {
          auto it = base.find(p);
          if (it != base.end() && it->second.node_id != 0) {
            auto own = changed.find(it->second.node_id);
            if (own != changed.end() && !own->second.deleted) return true;
          }
          p = p.substr(0, p.rfind('/'));
        }
        return false;
      };
      for (const auto& inside : subtree_paths(base, top)) {
        if (!placed_elsewhere(inside)) leave(base.at(inside));
      }
    };
    if (!rel_opt) {
      if (by_node != base_by_node.end()) leave_subtree();
      continue;
    }
    if (rel_opt->empty()) continue;
    const std::string rel = *rel_opt;
    if (!e.deleted) live.emplace_back(rel, &e);

    // A node that moved or was deleted: its old local path is no longer its home. A folder
    // still at its old path could not be moved here: all it held leaves with it.
    if (by_node != base_by_node.end() && by_node->second->kind == NodeKind::kFolder &&
        (e.deleted || by_node->second->path != rel)) {
      leave_subtree();
    } else if (by_node != base_by_node.end() && (e.deleted || by_node->second->path != rel)) {
      leave(*by_node->second);
    }
  }
  // Something arriving where a detached copy is (the share given again): synced again, and
  // what is here meets it as any unsynced local file would.
  std::erase_if(detached, [&](const std::string& top) {
    return std::any_of(live.begin(), live.end(),
                       [&](const auto& l) { return l.first == top || is_below(l.first, top); });
  });
  const bool detached_changed = detached.size() != detached_before || !report.shares_ended.empty();

  // Files deleted on the server go to the trash after the downloads, so that their chunks can
  // still be reused. But if a new node takes over a vacated path (a file that became a folder or
  // the reverse), the old one has to make room first.
  const std::string trash = trash_folder(session.state->state_dir());
  bool make_room = false;
  for (const auto& [rel, e] : live) {
    for (const BaseRecord* old : to_trash) make_room = make_room || overlaps(rel, old->path);
  }
  if (make_room) {
    move_to_trash(tree, trash, to_trash, changes, report);
    to_trash.clear();
  }

  std::unordered_set<std::string> arriving;  // Every path a live node of the feed takes.
  for (const auto& [rel, e] : live) arriving.insert(rel);

  // Pass 2: the current state of every live node.
  for (const auto& [rel, entry] : live) {
    const Entry& e = *entry;
    auto b_it = base.find(rel);
    const BaseRecord* b = b_it == base.end() ? nullptr : &b_it->second;
    // A symlink (or a file) where the server has a folder: what is below it is not written.
    if (auto way = tree.check_parents(rel); !way) {
      report.errors.push_back(rel + ": " + way.error().message());
      continue;
    }
    auto local = stat_entry(session.root, rel);
    const bool exists = local.has_value();
    if (!exists && local.error().code() != ErrorCode::kNotFound) {
      report.errors.push_back(rel + ": " + local.error().message());
      continue;
    }

    if (e.kind == NodeKind::kFolder) {
      if (exists && local->kind != NodeKind::kFolder) {
        report.conflicts.push_back(rel + ": a folder on the server, a file here");
        continue;
      }
      if (!exists && b != nullptr && b->node_id == e.node_id) {
        // A folder this copy knows (perhaps moved or renamed there) that was deleted here: the
        // delete is the next push's to send, for what this copy held in it.
        continue;
      }
      folders.emplace_back(rel, e);
      continue;
    }
    if (b != nullptr && b->node_id == e.node_id && b->version == e.version &&
        b->manifest == e.manifest && b->target == e.symlink_target && b->kind == e.kind) {
      // The server's version is the one we last synced (often our own push, seen again in the
      // feed): nothing new from there. Whatever changed here since (an edit, a delete) is a
      // local change for the next push, not a conflict.
      continue;
    }
    const bool modified_here =
        exists && (b == nullptr || !unchanged_since(session.root, *local, *b));
    if (!modified_here && exists && b != nullptr && b->node_id == e.node_id &&
        b->kind == NodeKind::kFile && e.kind == NodeKind::kFile && local->kind == NodeKind::kFile &&
        b->manifest == e.manifest) {
      // A new version of the same bytes: only the mode changed there. Nothing to fetch.
      if (auto set = tree.set_mode(rel, e.mode); !set) {
        report.errors.push_back(rel + ": " + set.error().message());
        continue;
      }
      if (auto st = stat_entry(session.root, rel)) {
        changes.put(base_for(session.root, rel, e, *st));
        ++report.files_changed;
        report.changed.push_back(rel);
      }
      continue;
    }
    if (modified_here) {
      // Same content on both sides is no conflict: adopt the server's version as the base.
      bool same = false;
      if (local->kind == NodeKind::kFile && e.kind == NodeKind::kFile && local->size == e.size) {
        if (!config) {
          auto fetched = api.config();
          if (!fetched) return std::move(fetched).error();
          config = std::move(*fetched);
        }
        auto hashed = hash_file(session.root + "/" + rel, config->chunking);
        same = hashed && hashed->manifest.address().hex() == e.manifest;
        if (same) chunk_maps.emplace_back(rel, hashed->manifest);
      }
      if (local->kind == NodeKind::kSymlink && e.kind == NodeKind::kSymlink) {
        same = local->target == e.symlink_target;
      }
      if (same) {
        BaseRecord adopted = base_for(session.root, rel, e, *local);
        // The same bytes with another mode: this copy's mode is the newer word on it. The base
        // remembers the server's, so that the next push sends ours.
        if (local->kind == NodeKind::kFile) adopted.mode = e.mode;
        changes.put(std::move(adopted));
        continue;
      }
      // Both sides changed it: keep both. The local version steps aside under a conflicted-copy
      // name (this device, its modification time: the name the server gives it if it is pushed
      // first), and the server's version takes the path. The copy is pushed like any new file.
      auto copy = set_aside(session, tree, rel, *local, base, arriving);
      if (!copy) {
        report.conflicts.push_back(rel + ": changed here and on the server (version " +
                                   std::to_string(e.version) + "); kept the local version (" +
                                   copy.error().message() + ")");
        continue;
      }
      report.conflicts.push_back(rel + ": changed here and on the server; yours is now " + *copy);
      if (b != nullptr) changes.drop(rel);
    }
    if (e.kind == NodeKind::kSymlink) {
      symlinks.emplace_back(rel, e);
      continue;
    }
    auto job = std::make_unique<DownloadJob>();
    job->rel = rel;
    job->entry = e;
    if (exists && !modified_here) job->expected = *local;
    downloads.push_back(std::move(job));
  }

  // 4. Folders, then files (in parallel), then symlinks.
  std::sort(folders.begin(), folders.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  // A folder's mode is set last, once what goes into it is there (a folder the server has as
  // 0555 still takes its files). A mode changed here too stays: the next push sends it.
  std::vector<std::pair<std::string, const Entry*>> folder_modes;
  for (const auto& [rel, e] : folders) {
    auto created = tree.make_folders(rel);
    if (!created) {
      report.errors.push_back(rel + ": " + created.error().message());
      continue;
    }
    if (*created) ++report.folders_created;
    auto st = stat_entry(session.root, rel);
    if (!st) continue;
    const auto b = base.find(rel);
    const bool changed_here = !*created && b != base.end() && b->second.kind == NodeKind::kFolder &&
                              !same_permissions(st->mode, b->second.mode);
    if (!changed_here && !same_permissions(st->mode, e.mode)) {
      folder_modes.emplace_back(rel, &e);
      continue;
    }
    BaseRecord record = base_for(session.root, rel, e, *st);
    if (changed_here) record.mode = e.mode;  // The server's: the next push sends ours.
    changes.put(std::move(record));
  }

  Progress progress(command, printer);
  progress.files_total = downloads.size();
  for (const auto& d : downloads) progress.bytes_total += d->entry.size;
  progress.start();
  uint64_t reused = 0;
  {
    Downloader downloader(session, tree, downloads, progress);
    downloader.run(api, std::max(1, options.transfer_threads), kLocateBatch);
    downloader.put_in_place();
    reused = downloader.reused();
    report.chunks_received = downloader.received();
    report.bytes_received = downloader.received_bytes();
  }
  progress.stop();
  report.chunks_reused = reused;

  for (const auto& job : downloads) {
    report.chunks_total += job->manifest.chunks().size();
    report.bytes_total += job->entry.size;
    if (job->done) {
      ++report.files_changed;
      report.changed.push_back(job->rel);
      changes.put(base_for(session.root, job->rel, job->entry, job->final_stat));
      chunk_maps.emplace_back(job->rel, job->manifest);
    } else if (job->conflict) {
      report.conflicts.push_back(job->rel + ": " + job->error);
    } else {
      report.errors.push_back(job->rel + ": " + job->error);
      if (job->corrupt) report.corrupt = true;
    }
  }
  report.bytes_deduplicated =
      report.bytes_total > report.bytes_received ? report.bytes_total - report.bytes_received : 0;

  for (const auto& [rel, e] : symlinks) {
    // Made in .cairn/tmp, then put in place: its target is only ever text to this client.
    const std::string temp = temp_path(session.state->state_dir());
    if (::symlink(e.symlink_target.c_str(), temp.c_str()) != 0) {
      report.errors.push_back(rel + ": cannot create symlink: " + std::strerror(errno));
      continue;
    }
    if (auto placed = tree.place(temp, rel); !placed) {
      ::unlink(temp.c_str());
      report.errors.push_back(rel + ": cannot create symlink: " + placed.error().message());
      continue;
    }
    ++report.files_changed;
    report.changed.push_back(rel);
    auto st = stat_entry(session.root, rel);
    if (st) changes.put(base_for(session.root, rel, e, *st));
  }

  // 5. Deletions last, so their chunks could still be reused above.
  move_to_trash(tree, trash, to_trash, changes, report);

  // 6. Folders' modes, deepest first: a folder that closes to its owner closes after its
  // subfolders got theirs.
  tree.relock();
  std::reverse(folder_modes.begin(), folder_modes.end());
  for (const auto& [rel, e] : folder_modes) {
    if (auto set = tree.set_mode(rel, e->mode); !set) {
      report.errors.push_back(rel + ": " + set.error().message());
      continue;
    }
    if (auto st = stat_entry(session.root, rel)) changes.put(base_for(session.root, rel, *e, *st));
  }

  // What was put in place (renames, new folders, the trash) reaches the disk before the state
  // says so: a record of a rename that a crash undid would make the old file look edited.
  if (!changes.upserts().empty() || !changes.removals().empty()) {
    const int root_fd = ::open(session.root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd >= 0) {
      (void)::syncfs(root_fd);
      ::close(root_fd);
    }
  }
  CAIRN_RETURN_IF_ERROR(session.state->update(changes, chunk_maps));
  if (detached_changed) CAIRN_RETURN_IF_ERROR(session.state->set_detached(detached));
  // Errors mean some changes were not applied: keep the old cursor so the next pull retries
  // them. Conflicts are settled by the user's next push, so the cursor may move past them.
  if (report.errors.empty()) CAIRN_RETURN_IF_ERROR(session.state->set_setting("cursor", cursor));
  report.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
  return report;
}

}  // namespace cairn::client
