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
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "cli/client/progress.h"
#include "cli/client/sync/downloader.h"
#include "cli/client/sync/pull_plan.h"
#include "cli/client/sync/transfer_pool.h"
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

// Files downloaded together. A pull holds the downloader's bookkeeping (a job per file, a slot
// per distinct chunk) for one window at a time, so that its memory does not grow with the tree;
// a chunk an earlier window brought is copied from the file it went into, not fetched again.
constexpr size_t kDownloadWindow = 4096;

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

// Renames the local `rel` to a free conflicted-copy name beside it; returns that name.
// A name is free if nothing is there, this copy has no record of it, and nothing of this pull
// arrives there (`arriving`): another device's conflicted copy may carry the very same name
// (devices that share a name, edits in the same second), and must not be set aside in turn.
Result<std::string> set_aside(Session& session, LocalTree& tree, const std::string& rel,
                              const LocalEntry& local,
                              const std::map<std::string, BaseRecord>& base,
                              const PathHashes& arriving) {
  const size_t slash = rel.rfind('/');
  const std::string folder = slash == std::string::npos ? "" : rel.substr(0, slash + 1);
  const std::string name = slash == std::string::npos ? rel : rel.substr(slash + 1);
  for (int n = 1; n <= 100; ++n) {
    const std::string copy =
        folder + conflicted_copy_name(name, session.endpoint.device, local.mtime_ns, n);
    const std::string abs = session.root + "/" + copy;
    struct stat st {};
    if (::lstat(abs.c_str(), &st) == 0 || base.count(copy) != 0 || arriving.contains(copy)) {
      continue;
    }
    auto renamed = tree.rename(rel, copy);
    if (!renamed && renamed.error().code() == ErrorCode::kAlreadyExists) continue;
    if (!renamed) return std::move(renamed).error().with_context("cannot rename");
    return copy;
  }
  return make_error(ErrorCode::kAlreadyExists, "too many conflicted copies");
}

// The working copy as the planner sees it: the disk, through `tree` for writability, and the
// server's chunking (fetched once, only if a local file must be hashed).
class DiskView final : public LocalView {
 public:
  DiskView(const Session& session, LocalTree& tree, ApiClient& api)
      : session_(session), tree_(tree), api_(api) {}

  Result<LocalEntry> stat(const std::string& rel) override {
    // A clone or a pull of a new folder plans thousands of files in folders not made yet.
    if (tree_.known_missing(rel)) return make_error(ErrorCode::kNotFound, rel + ": not here");
    return stat_entry(session_.root, rel);
  }
  bool unchanged_since(const LocalEntry& now, const BaseRecord& b) override {
    return client::unchanged_since(session_.root, now, b);
  }
  Result<bool> same_content(const std::string& rel, const Entry& e, Manifest& manifest) override {
    if (!config_) {
      CAIRN_ASSIGN_OR_RETURN(auto fetched, api_.config());
      config_ = std::move(fetched);
    }
    auto hashed = hash_file(session_.root + "/" + rel, config_->chunking);
    if (!hashed || hashed->manifest.address() != e.manifest) return false;
    manifest = hashed->manifest;
    return true;
  }
  Result<void> writable(const std::string& rel) override { return tree_.check_parents(rel); }

 private:
  const Session& session_;
  LocalTree& tree_;
  ApiClient& api_;
  std::optional<protocol::ServerConfig> config_;
};

// One pull: gathers the feed, makes the server's moves here, plans with pull_plan.h and acts.
class Pull {
 public:
  Pull(Session& session, const PullOptions& options, Printer& printer, const std::string& command)
      : session_(session),
        options_(options),
        printer_(printer),
        command_(command),
        api_(session.endpoint),
        tree_(session.root),
        view_(session, tree_, api_) {}

  Result<SyncReport> run();

 private:
  Result<void> gather();
  // Drops (and reports, when `report`) what the server sent under a path that is not canonical.
  void drop_invalid_paths(bool report);
  void settle_arrival(ArrivalStep&& step);
  void make_folders();
  void download();
  void make_symlinks();
  void set_folder_modes();
  // Records `changes_` (then empties it) and `chunk_maps` in the local state, once what they
  // say is on disk.
  Result<void> record(const std::vector<std::pair<std::string, Manifest>>& chunk_maps);

  Session& session_;
  const PullOptions& options_;
  Printer& printer_;
  const std::string& command_;
  ApiClient api_;
  // Made for the first window of downloads and kept for the others: its threads keep their
  // connections and buffers.
  std::unique_ptr<TransferPool> transfers_;
  // Every write goes through `tree_`: never outside the working copy, never through a symlink
  // in it.
  LocalTree tree_;
  DiskView view_;
  SyncReport report_;
  std::string cursor_;
  Changes changed_;
  std::map<std::string, BaseRecord> base_;
  BaseChanges changes_;  // In order: for each path the last change wins.
  std::vector<std::pair<std::string, Manifest>> chunk_maps_;
  PathHashes arriving_;
  std::vector<std::pair<std::string, Entry>> folders_;
  std::vector<std::pair<std::string, const Entry*>> folder_modes_;
  // A file to download, as planned: the downloader's job for it is made in its window.
  struct PlannedDownload {
    std::string rel;
    const Entry* entry;
    std::unique_ptr<LocalEntry> expected;  // The local entry planned over (null: absent).
  };
  void download_window(std::vector<std::unique_ptr<DownloadJob>>& jobs, Progress& progress);

  std::vector<PlannedDownload> downloads_;
  std::vector<std::pair<std::string, Entry>> symlinks_;
};

Result<SyncReport> Pull::run() {
  const auto started = std::chrono::steady_clock::now();
  report_.command = command_;
  CAIRN_RETURN_IF_ERROR(session_.state->lock_for_writing());
  CAIRN_RETURN_IF_ERROR(make_temp_shards(session_.state->state_dir()));
  CAIRN_RETURN_IF_ERROR(gather());

  // Moves on the server become moves here, before anything else: a folder takes its whole
  // subtree along, and a file keeps its bytes (edited here or not), so nothing is downloaded
  // again and no local edit is left behind. A folder that could not be moved here is fetched at
  // its new path, whole; what is left at its old path is handled like anything that left it.
  auto unmoved = apply_moves(session_, tree_, changed_, base_, changes_, report_);
  CAIRN_RETURN_IF_ERROR(list_into(api_, unmoved, changed_));
  drop_invalid_paths(false);

  // Departures. Files deleted on the server go to the trash after the downloads, so that their
  // chunks can still be reused; but if a new node takes over a vacated path (a file that became
  // a folder or the reverse), the old one has to make room first.
  CAIRN_ASSIGN_OR_RETURN(auto detached, session_.state->detached());
  Departures departures = plan_departures(session_, changed_, base_, std::move(detached), view_);
  for (const auto& path : departures.forget) changes_.drop(path);
  report_.skipped.insert(report_.skipped.end(), departures.skipped.begin(),
                         departures.skipped.end());
  report_.shares_ended = departures.shares_ended;
  const std::string trash = trash_folder(session_.state->state_dir());
  if (departures.make_room) {
    move_to_trash(tree_, trash, departures.to_trash, changes_, report_);
    departures.to_trash.clear();
  }

  // Arrivals: the current state of every live node. The plan (a step per node) goes once
  // settled, before the downloads start.
  {
    CAIRN_ASSIGN_OR_RETURN(auto arrivals, plan_arrivals(departures, base_, view_));
    report_.errors.insert(report_.errors.end(), arrivals.errors.begin(), arrivals.errors.end());
    arriving_ = std::move(arrivals.arriving);
    for (auto& step : arrivals.steps) settle_arrival(std::move(step));
    // Conflicts in feed order: those the planner found and those of setting a copy aside.
    report_.conflicts.insert(report_.conflicts.begin(), arrivals.conflicts.begin(),
                             arrivals.conflicts.end());
  }

  // Folders, then files (in parallel), then symlinks; deletions last, so that their chunks could
  // still be reused; folders' modes at the very end.
  make_folders();
  download();
  make_symlinks();
  move_to_trash(tree_, trash, departures.to_trash, changes_, report_);
  set_folder_modes();
  CAIRN_RETURN_IF_ERROR(record(chunk_maps_));
  if (departures.detached_changed) {
    CAIRN_RETURN_IF_ERROR(session_.state->set_detached(departures.detached));
  }
  // Errors mean some changes were not applied: keep the old cursor so the next pull retries
  // them. Conflicts are settled by the user's next push, so the cursor may move past them.
  if (report_.errors.empty()) CAIRN_RETURN_IF_ERROR(session_.state->set_setting("cursor", cursor_));
  report_.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - started)
                           .count();
  return std::move(report_);
}

// Everything that changed since the cursor, each node once, in its latest state, less what a
// .cairnignore excludes here, plus what folders moved in from outside hold.
Result<void> Pull::gather() {
  CAIRN_ASSIGN_OR_RETURN(cursor_, session_.state->setting("cursor"));
  CAIRN_ASSIGN_OR_RETURN(cursor_, read_feed(api_, cursor_, changed_));
  CAIRN_ASSIGN_OR_RETURN(base_, session_.state->load_base());
  // What a .cairnignore here excludes is not pulled either, nor touched if it is here.
  {
    IgnoreRules ignore(session_.root);
    std::erase_if(changed_, [&](const auto& item) {
      auto rel = session_.to_local(item.second.path);
      return rel && !rel->empty() && ignore.ignored(*rel, item.second.kind == NodeKind::kFolder);
    });
  }
  forget_ignored(session_.root, base_);
  CAIRN_RETURN_IF_ERROR(list_moved_in(api_, session_, base_, changed_));
  drop_invalid_paths(true);
  return {};
}

// Every path from the server must already be canonical (common/remote_path.h): one that is not
// (a "..", a ".cairn", from a broken or hostile server) is reported and left alone, and keeps
// the cursor where it is.
void Pull::drop_invalid_paths(bool report) {
  std::erase_if(changed_, [&](const auto& item) {
    auto canonical = normalize_remote_path(item.second.path);
    if (canonical && *canonical == item.second.path) return false;
    if (report) {
      report_.errors.push_back(
          "the server sent an invalid path '" + item.second.path.substr(0, 200) + "' (" +
          (canonical ? std::string("not canonical") : canonical.error().message()) + "); ignored");
    }
    return true;
  });
}

// Acts on one planned arrival at once (modes, adopted versions, conflicted copies set aside), or
// queues it for the folders, downloads and symlinks that follow.
void Pull::settle_arrival(ArrivalStep&& step) {
  const std::string& rel = step.rel;
  const Entry& e = *step.entry;
  switch (step.action) {
    case Arrival::kFolder:
      folders_.emplace_back(rel, e);
      return;
    case Arrival::kModeOnly: {
      if (auto set = tree_.set_mode(rel, e.mode); !set) {
        report_.errors.push_back(rel + ": " + set.error().message());
        return;
      }
      if (auto st = stat_entry(session_.root, rel)) {
        changes_.put(base_for(session_.root, rel, e, *st));
        ++report_.files_changed;
        report_.changed.push_back(rel);
      }
      return;
    }
    case Arrival::kAdopt: {
      BaseRecord adopted = base_for(session_.root, rel, e, *step.local);
      // The same bytes with another mode: this copy's mode is the newer word on it. The base
      // remembers the server's, so that the next push sends ours.
      if (step.local->kind == NodeKind::kFile) {
        adopted.mode = e.mode;
        chunk_maps_.emplace_back(rel, step.manifest);
      }
      changes_.put(std::move(adopted));
      return;
    }
    case Arrival::kSymlink:
    case Arrival::kDownload:
      break;
  }
  if (step.set_aside_first) {
    // Both sides changed it: keep both. The local version steps aside under a conflicted-copy
    // name (this device, its modification time: the name the server gives it if it is pushed
    // first), and the server's version takes the path. The copy is pushed like any new file.
    auto copy = set_aside(session_, tree_, rel, *step.local, base_, arriving_);
    if (!copy) {
      report_.conflicts.push_back(rel + ": changed here and on the server (version " +
                                  std::to_string(e.version) + "); kept the local version (" +
                                  copy.error().message() + ")");
      return;
    }
    report_.conflicts.push_back(rel + ": changed here and on the server; yours is now " + *copy);
    if (step.had_base) changes_.drop(rel);
  }
  if (step.action == Arrival::kSymlink) {
    symlinks_.emplace_back(rel, e);
    return;
  }
  downloads_.push_back(
      {std::move(step.rel), &e, step.replaces_unchanged ? std::move(step.local) : nullptr});
}

// A folder's mode is set last, once what goes into it is there (a folder the server has as 0555
// still takes its files). A mode changed here too stays: the next push sends it.
void Pull::make_folders() {
  std::sort(folders_.begin(), folders_.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [rel, e] : folders_) {
    auto created = tree_.make_folders(rel);
    if (!created) {
      report_.errors.push_back(rel + ": " + created.error().message());
      continue;
    }
    if (*created) ++report_.folders_created;
    auto st = stat_entry(session_.root, rel);
    if (!st) continue;
    const auto b = base_.find(rel);
    const bool changed_here = !*created && b != base_.end() &&
                              b->second.kind == NodeKind::kFolder &&
                              !same_permissions(st->mode, b->second.mode);
    if (!changed_here && !same_permissions(st->mode, e.mode)) {
      folder_modes_.emplace_back(rel, &e);
      continue;
    }
    BaseRecord record = base_for(session_.root, rel, e, *st);
    if (changed_here) record.mode = e.mode;  // The server's: the next push sends ours.
    changes_.put(std::move(record));
  }
}

void Pull::download() {
  Progress progress(command_, printer_);
  progress.files_total = downloads_.size();
  for (const auto& d : downloads_) progress.bytes_total += d.entry->size;
  progress.start();
  std::vector<std::unique_ptr<DownloadJob>> jobs;
  for (size_t begin = 0; begin < downloads_.size(); begin += kDownloadWindow) {
    const size_t end = std::min(downloads_.size(), begin + kDownloadWindow);
    for (size_t i = begin; i < end; ++i) {
      auto job = std::make_unique<DownloadJob>();
      job->rel = std::move(downloads_[i].rel);
      job->entry = downloads_[i].entry;
      job->expected = std::move(downloads_[i].expected);
      jobs.push_back(std::move(job));
    }
    download_window(jobs, progress);
    jobs.clear();
  }
  progress.stop();
  downloads_.clear();
  downloads_.shrink_to_fit();
  report_.bytes_deduplicated = report_.bytes_total > report_.bytes_received
                                   ? report_.bytes_total - report_.bytes_received
                                   : 0;
}

void Pull::download_window(std::vector<std::unique_ptr<DownloadJob>>& jobs, Progress& progress) {
  {
    if (!transfers_) {
      transfers_ = std::make_unique<TransferPool>(api_, std::max(1, options_.transfer_threads));
    }
    Downloader downloader(session_, tree_, jobs, progress);
    downloader.run(*transfers_, kLocateBatch);
    downloader.put_in_place();
    report_.chunks_reused += downloader.reused();
    report_.chunks_received += downloader.received();
    report_.bytes_received += downloader.received_bytes();
  }
  std::vector<std::pair<std::string, Manifest>> chunk_maps;
  for (const auto& job : jobs) {
    report_.chunks_total += job->manifest.chunks().size();
    report_.bytes_total += job->entry->size;
    if (job->done) {
      ++report_.files_changed;
      report_.changed.push_back(job->rel);
      changes_.put(base_for(session_.root, job->rel, *job->entry, job->final_stat));
      chunk_maps.emplace_back(job->rel, std::move(job->manifest));
    } else if (job->conflict) {
      report_.conflicts.push_back(job->rel + ": " + job->error);
    } else {
      report_.errors.push_back(job->rel + ": " + job->error);
      if (job->corrupt) report_.corrupt = true;
      if (job->no_space) report_.no_space = true;
    }
  }
  // What is in place so far is recorded now, with where this window's chunks lie (for the
  // windows after it to copy them from): the records of a whole tree are not held until the
  // end. The cursor still moves only once the pull is done, so a pull cut short reads the same
  // changes again and finds these files already as the server has them.
  if (auto saved = record(chunk_maps); !saved) {
    report_.errors.push_back("cannot record the downloaded files: " + saved.error().message());
  }
}

void Pull::make_symlinks() {
  for (const auto& [rel, e] : symlinks_) {
    // Made in .cairn/tmp, then put in place: its target is only ever text to this client.
    const std::string temp = temp_path(session_.state->state_dir());
    if (::symlink(e.symlink_target.c_str(), temp.c_str()) != 0) {
      report_.errors.push_back(rel + ": cannot create symlink: " + std::strerror(errno));
      continue;
    }
    if (auto placed = tree_.place(temp, rel); !placed) {
      ::unlink(temp.c_str());
      report_.errors.push_back(rel + ": cannot create symlink: " + placed.error().message());
      continue;
    }
    ++report_.files_changed;
    report_.changed.push_back(rel);
    auto st = stat_entry(session_.root, rel);
    if (st) changes_.put(base_for(session_.root, rel, e, *st));
  }
}

// Folders' modes, deepest first: a folder that closes to its owner closes after its subfolders
// got theirs.
void Pull::set_folder_modes() {
  tree_.relock();
  std::reverse(folder_modes_.begin(), folder_modes_.end());
  for (const auto& [rel, e] : folder_modes_) {
    if (auto set = tree_.set_mode(rel, e->mode); !set) {
      report_.errors.push_back(rel + ": " + set.error().message());
      continue;
    }
    if (auto st = stat_entry(session_.root, rel)) {
      changes_.put(base_for(session_.root, rel, *e, *st));
    }
  }
}

// What was put in place (renames, new folders, the trash) reaches the disk before the state
// says so: a record of a rename that a crash undid would make the old file look edited.
Result<void> Pull::record(const std::vector<std::pair<std::string, Manifest>>& chunk_maps) {
  if (changes_.empty() && chunk_maps.empty()) return {};
  if (!changes_.empty()) {
    const int root_fd = ::open(session_.root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root_fd >= 0) {
      (void)::syncfs(root_fd);
      ::close(root_fd);
    }
  }
  CAIRN_RETURN_IF_ERROR(session_.state->update(changes_, chunk_maps));
  changes_.clear();
  return {};
}

}  // namespace

Result<SyncReport> pull(Session& session, const PullOptions& options, Printer& printer,
                        const std::string& command) {
  return Pull(session, options, printer, command).run();
}

}  // namespace cairn::client
