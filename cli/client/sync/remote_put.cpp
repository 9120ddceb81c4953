// `cairn put` (remote_copy.h): uploads outside any working copy.

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include "cli/client/net/config.h"
#include "cli/client/progress.h"
#include "cli/client/state/put_cache.h"
#include "cli/client/sync/remote_copy.h"
#include "cli/client/sync/upload_pipeline.h"
#include "cli/client/tree/file_hasher.h"
#include "cli/client/tree/scanner.h"
#include "common/hash.h"
#include "common/paths.h"
#include "common/remote_path.h"

namespace cairn::client {
namespace {

namespace fs = std::filesystem;
using protocol::Entry;
using protocol::NodeKind;

// A local path as given, made absolute, without the trailing '/' that names no segment.
std::string clean_local(const std::string& path) {
  std::string abs = fs::absolute(path).lexically_normal().string();
  while (abs.size() > 1 && abs.back() == '/') abs.pop_back();
  return abs;
}

std::string local_base_name(const std::string& path) {
  return fs::path(clean_local(path)).filename().string();
}

// Where pack files wait while they are sent: tmp/ in the cache folder; "" (in memory) if it
// cannot be made.
std::string spill_dir() {
  const std::string base = cache_dir();
  if (base.empty()) return "";
  const std::string dir = base + "/tmp";
  std::error_code ec;
  fs::create_directories(dir, ec);
  return ec ? "" : dir;
}

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int default_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 2 : static_cast<int>(n);
}

// One local entry and the remote path it goes to.
struct PutItem {
  LocalEntry local;       // `path`: relative to the source ("" for the source itself).
  std::string abs;        // Where it is here.
  std::string remote;     // Canonical.
  const Entry* existing;  // What the server has there now (null: nothing).
  size_t source = 0;      // Which source (and destination) it belongs to.
  HashedFile hashed;      // Files, once hashed.
  bool hashed_ok = false;
};

// One source's destination: everything under it is published in one step.
struct Destination {
  std::string remote;  // Canonical.
  std::string group;   // The upload sessions staged for it.
  std::vector<protocol::FileUpload> staged;
  std::vector<std::string> changed;  // Paths whose content or mode differ from the server's.
  uint64_t deletions = 0;            // With --delete: what the server has and the source not.
  uint64_t existing_files = 0;
};

class Putter {
 public:
  Putter(const ServerEndpoint& endpoint, const CopyOptions& options, Printer& printer)
      : options_(options), printer_(printer), api_(endpoint), device_(endpoint.device) {}

  Result<SyncReport> run(const std::vector<std::string>& sources, const std::string& dest);

 private:
  // Adds what `source` holds, to go to destination `index`.
  Result<void> gather(const std::string& source, size_t index);
  // Hashes every file and uploads the chunks the server lacks.
  Result<void> send_chunks();
  // Takes a file's manifest from the cache, if it vouches for it; false if the file must be read.
  bool recall(PutItem& item);
  void hash(PutItem& item, UploadPipeline& pipeline, HashPool& pool, Progress& progress);
  // What each destination stages: what differs from the server (with --delete, everything,
  // since what is not staged goes).
  void plan();
  Result<void> guard_deletions() const;
  // Stages each destination's group, then publishes them all in one commit.
  Result<void> publish();

  const CopyOptions& options_;
  Printer& printer_;
  ApiClient api_;
  const std::string device_;
  protocol::ServerConfig config_;
  SyncReport report_;
  // What the server holds under each destination, by path; owns the entries items point to.
  std::vector<std::vector<Entry>> listed_;
  std::map<std::string, const Entry*> existing_;
  std::vector<Destination> destinations_;
  std::vector<PutItem> folders_;
  std::vector<PutItem> files_;  // Files and symlinks.
  std::mutex mu_;               // report_ and failed_ while threads run.
  std::unordered_set<Digest> failed_;
  std::unique_ptr<PutCache> cache_;  // Null: none.
};

Result<SyncReport> Putter::run(const std::vector<std::string>& sources, const std::string& dest) {
  const auto started = std::chrono::steady_clock::now();
  report_.command = "put";
  CAIRN_ASSIGN_OR_RETURN(const std::string remote_dest, normalize_remote_path(dest));
  CAIRN_ASSIGN_OR_RETURN(auto names, copy_targets(sources, dest, &local_base_name));
  CAIRN_ASSIGN_OR_RETURN(config_, api_.config());
  CAIRN_RETURN_IF_ERROR(config_.chunking.validate());
  cache_ = PutCache::open(PutCache::default_path());
  for (size_t i = 0; i < sources.size(); ++i) {
    Destination d;
    d.remote = remote_dest;
    if (!names[i].empty()) {
      CAIRN_ASSIGN_OR_RETURN(auto name, normalize_remote_name(names[i]));
      d.remote = join_remote_path(remote_dest, name);
    }
    for (const auto& other : destinations_) {
      if (overlaps(other.remote, d.remote)) {
        return make_error(
            ErrorCode::kInvalidArgument,
            "two sources go to " + other.remote + " and " + d.remote + ", one inside the other");
      }
    }
    d.group = to_hex(secure_random(16));
    destinations_.push_back(std::move(d));
    CAIRN_RETURN_IF_ERROR(gather(sources[i], i));
  }
  CAIRN_RETURN_IF_ERROR(send_chunks());
  plan();
  CAIRN_RETURN_IF_ERROR(guard_deletions());
  CAIRN_RETURN_IF_ERROR(publish());
  report_.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - started)
                           .count();
  return std::move(report_);
}

Result<void> Putter::gather(const std::string& source, size_t index) {
  const std::string remote = destinations_[index].remote;
  // A source named on the command line is followed if it is a symlink (the user named what it
  // points to); inside a folder, symlinks are put as symlinks.
  std::error_code ec;
  const fs::path real = fs::canonical(clean_local(source), ec);
  if (ec) return make_error(ErrorCode::kNotFound, source + ": " + ec.message());
  auto listed = list_remote_tree(api_, remote);
  if (listed && listed->front().kind == NodeKind::kFolder && remote != "/") {
    // The folder's own mode is in its parent's listing: a mirror keeps it as it is.
    CAIRN_ASSIGN_OR_RETURN(auto parent, api_.list(remote_parent(remote)));
    for (const auto& e : parent.entries) {
      if (e.path == remote) listed->front().mode = e.mode;
    }
  }
  if (listed) {
    listed_.push_back(std::move(*listed));
    for (const auto& e : listed_.back()) {
      existing_[e.path] = &e;
      if (e.kind != NodeKind::kFolder) ++destinations_[index].existing_files;
    }
  } else if (listed.error().code() != ErrorCode::kNotFound) {
    return std::move(listed).error();
  }
  auto add = [&](LocalEntry local) {
    PutItem item;
    item.remote = remote;
    if (!local.path.empty()) {
      auto canonical = normalize_remote_path(remote + "/" + local.path);
      if (!canonical || *canonical != remote + "/" + local.path) {
        report_.skipped.push_back(
            local.path + ": not a valid remote name (" +
            (canonical ? "not in its canonical form" : canonical.error().message()) + ")");
        return;
      }
      item.remote = *canonical;
    }
    auto known = existing_.find(item.remote);
    item.existing = known == existing_.end() ? nullptr : known->second;
    item.source = index;
    item.abs = local.path.empty() ? real.string() : real.string() + "/" + local.path;
    item.local = std::move(local);
    (item.local.kind == NodeKind::kFolder ? folders_ : files_).push_back(std::move(item));
  };
  if (fs::is_directory(real)) {
    CAIRN_ASSIGN_OR_RETURN(auto scan, scan_tree(real.string()));
    report_.skipped.insert(report_.skipped.end(), scan.skipped.begin(), scan.skipped.end());
    CAIRN_ASSIGN_OR_RETURN(auto top,
                           stat_entry(real.parent_path().string(), real.filename().string()));
    top.path = "";
    add(std::move(top));
    for (auto& e : scan.entries) add(std::move(e));
  } else {
    CAIRN_ASSIGN_OR_RETURN(auto one,
                           stat_entry(real.parent_path().string(), real.filename().string()));
    if (one.kind != NodeKind::kFile) {
      return make_error(ErrorCode::kInvalidArgument, source + " is neither a file nor a folder");
    }
    one.path = "";
    add(std::move(one));
  }
  report_.files_scanned = files_.size();
  return {};
}

void Putter::hash(PutItem& item, UploadPipeline& pipeline, HashPool& pool, Progress& progress) {
  const LocalEntry& e = item.local;
  const std::string& file = item.abs;
  const FileStamp stamp{e.size, e.mtime_ns, e.inode, e.mode};
  auto hashed = hash_and_submit(file, config_.chunking, pipeline, pool, progress);
  progress.files_done.fetch_add(1);
  std::lock_guard lock(mu_);
  if (!hashed) {
    report_.errors.push_back(item.remote + ": " + hashed.error().message());
    return;
  }
  // A file being written while it was read is not uploaded half-way.
  const fs::path p(file);
  auto after = stat_entry(p.parent_path().string(), p.filename().string());
  if (!after || !same_stat(*after, e) || hashed->size != e.size) {
    report_.errors.push_back(item.remote + ": changed while being read; not uploaded");
    return;
  }
  item.hashed = std::move(*hashed);
  item.hashed_ok = true;
  // A file modified just now may change again without its stat showing it (scanner.h): not
  // remembered.
  if (cache_ && e.mtime_ns < now_ns() - kRacyWindowNs) {
    cache_->remember(file, stamp, config_.chunking, item.hashed.manifest);
  }
}

bool Putter::recall(PutItem& item) {
  // Unchanged since a put hashed it, and the server has that content there: nothing to read.
  // (A record the server does not match proves nothing: the file is hashed.)
  const LocalEntry& e = item.local;
  const Entry* was = item.existing;
  if (!cache_ || e.kind != NodeKind::kFile || was == nullptr || was->kind != NodeKind::kFile ||
      !was->manifest || !same_permissions(was->mode, e.mode)) {
    return false;
  }
  auto known = cache_->find(item.abs, {e.size, e.mtime_ns, e.inode, e.mode}, config_.chunking);
  if (!known || known->address() != *was->manifest) return false;
  item.hashed.manifest = std::move(*known);
  item.hashed.size = e.size;
  item.hashed_ok = true;
  return true;
}

Result<void> Putter::send_chunks() {
  Progress progress("put", printer_);
  for (const auto& f : files_) progress.bytes_total += f.local.size;
  progress.files_total = files_.size();
  // What the cache vouches for first, in one pass and one read transaction; the rest is hashed.
  std::vector<size_t> to_hash;
  if (cache_) {
    auto reading = cache_->reading();
    for (size_t i = 0; i < files_.size(); ++i) {
      if (files_[i].local.kind != NodeKind::kFile) continue;
      if (recall(files_[i])) {
        progress.files_done.fetch_add(1);
        progress.bytes_done.fetch_add(files_[i].local.size);
      } else {
        to_hash.push_back(i);
      }
    }
  } else {
    for (size_t i = 0; i < files_.size(); ++i) {
      if (files_[i].local.kind == NodeKind::kFile) to_hash.push_back(i);
    }
  }
  progress.start();
  const int threads = options_.hash_threads > 0 ? options_.hash_threads : default_threads();
  HashPool pool(threads);
  UploadPipeline pipeline(api_, std::max(1, options_.transfer_threads),
                          std::min<uint32_t>(config_.max_batch, 256), config_.packs, spill_dir(),
                          progress, [&](const std::vector<Digest>& chunks, bool ok) {
                            if (ok) return;
                            std::lock_guard lock(mu_);
                            failed_.insert(chunks.begin(), chunks.end());
                          });
  std::atomic<size_t> next{0};
  std::vector<std::thread> hashers;
  for (int t = 0; t < threads; ++t) {
    hashers.emplace_back([&] {
      for (size_t i = next.fetch_add(1); i < to_hash.size(); i = next.fetch_add(1)) {
        hash(files_[to_hash[i]], pipeline, pool, progress);
      }
    });
  }
  for (auto& h : hashers) h.join();
  auto finished = pipeline.finish();
  progress.stop();
  if (cache_) cache_->flush();
  if (!finished) return std::move(finished).error();
  report_.chunks_sent = progress.chunks_sent.load();
  report_.bytes_sent = progress.bytes_sent.load();
  report_.bytes_uploaded = progress.bytes_on_wire.load();
  report_.packs_sent = progress.packs_sent.load();
  return {};
}

void Putter::plan() {
  const bool all = options_.mirror;
  std::unordered_set<std::string> here;
  for (const auto& f : folders_) {
    here.insert(f.remote);
    const uint32_t mode = f.local.mode & protocol::kPermissionBits;
    const bool there = f.existing != nullptr && f.existing->kind == NodeKind::kFolder;
    // An existing destination keeps its own mode.
    if (!all && there && (f.local.path.empty() || same_permissions(f.existing->mode, mode))) {
      continue;
    }
    if (!there) ++report_.folders_created;
    protocol::FileUpload up;
    up.path = f.remote;
    up.kind = NodeKind::kFolder;
    up.mode = there && f.local.path.empty() ? f.existing->mode : mode;
    destinations_[f.source].staged.push_back(std::move(up));
  }
  for (const auto& f : files_) {
    here.insert(f.remote);
    const Entry* was = f.existing;
    const uint32_t mode = f.local.mode & protocol::kPermissionBits;
    bool same = false;
    if (f.local.kind == NodeKind::kFile) {
      if (!f.hashed_ok) continue;
      report_.chunks_total += f.hashed.manifest.chunks().size();
      report_.bytes_total += f.hashed.size;
      const auto& chunks = f.hashed.manifest.chunks();
      if (std::any_of(chunks.begin(), chunks.end(),
                      [&](const ChunkRef& c) { return failed_.count(c.hash) != 0; })) {
        report_.errors.push_back(f.remote + ": some of its chunks could not be uploaded");
        continue;
      }
      same = was != nullptr && was->kind == NodeKind::kFile && was->manifest &&
             *was->manifest == f.hashed.manifest.address() && same_permissions(was->mode, mode);
    } else {
      same = was != nullptr && was->kind == NodeKind::kSymlink &&
             was->symlink_target == f.local.target;
    }
    if (same && !all) continue;
    Destination& d = destinations_[f.source];
    if (!same) d.changed.push_back(f.remote);
    protocol::FileUpload up;
    up.path = f.remote;
    up.kind = f.local.kind;
    up.mode = mode;
    up.mtime_ns = f.local.mtime_ns;
    up.symlink_target = f.local.target;
    up.chunks = f.hashed.manifest.chunks();
    d.staged.push_back(std::move(up));
  }
  report_.bytes_deduplicated =
      report_.bytes_total > report_.bytes_sent ? report_.bytes_total - report_.bytes_sent : 0;
  if (!all) return;
  for (auto& d : destinations_) {
    for (const auto& [path, e] : existing_) {
      if (is_below(path, d.remote) && e->kind != NodeKind::kFolder && here.count(path) == 0) {
        ++d.deletions;
      }
    }
  }
}

Result<void> Putter::guard_deletions() const {
  if (options_.allow_mass_delete) return {};
  for (const auto& d : destinations_) {
    if (d.deletions > 1000 || (d.deletions > 1 && d.deletions * 2 > d.existing_files)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "--delete would delete " + std::to_string(d.deletions) + " of the " +
                            std::to_string(d.existing_files) + " files under " + d.remote +
                            "; nothing was changed. Check the source, or pass "
                            "--allow-mass-delete");
    }
  }
  return {};
}

Result<void> Putter::publish() {
  // A mirror deletes what is not staged: a file that could not be read here would go too.
  if (options_.mirror && !report_.errors.empty()) {
    return make_error(ErrorCode::kIo,
                      std::to_string(report_.errors.size()) +
                          " files could not be read or uploaded (first: " + report_.errors.front() +
                          "); with --delete nothing was changed");
  }
  protocol::CommitRequest req;
  req.device = device_;
  std::vector<const Destination*> published;  // The destination of each op.
  const size_t batch = std::max<uint32_t>(1, config_.max_batch);
  for (auto& d : destinations_) {
    if (d.staged.empty() && !options_.mirror) continue;
    if (d.staged.empty()) {
      // Nothing here to keep: the mirror empties the destination, which must exist.
      protocol::FileUpload top;
      top.path = d.remote;
      top.kind = NodeKind::kFolder;
      d.staged.push_back(std::move(top));
    }
    for (size_t i = 0; i < d.staged.size(); i += batch) {
      protocol::InitUploadsRequest stage;
      stage.group = d.group;
      const size_t end = std::min(d.staged.size(), i + batch);
      stage.files.assign(std::make_move_iterator(d.staged.begin() + static_cast<long>(i)),
                         std::make_move_iterator(d.staged.begin() + static_cast<long>(end)));
      CAIRN_ASSIGN_OR_RETURN(auto staged, api_.init_uploads(stage));
      if (!staged.missing.empty()) {
        return make_error(ErrorCode::kNotFound,
                          "the server lacks " + std::to_string(staged.missing.size()) +
                              " chunks it had confirmed (collected meanwhile?); run put again");
      }
    }
    d.staged.clear();
    req.ops.push_back(protocol::CommitOp::publish(d.group, d.remote, options_.mirror));
    published.push_back(&d);
  }
  if (req.ops.empty()) return {};
  // One request, one transaction: a reader sees every destination before this put, or after.
  CAIRN_ASSIGN_OR_RETURN(auto resp, api_.commit(req));
  for (size_t i = 0; i < published.size(); ++i) {
    const Destination& d = *published[i];
    if (i >= resp.results.size()) {
      report_.errors.push_back(d.remote + ": the server did not answer for it");
      continue;
    }
    const auto& r = resp.results[i];
    if (r.status != protocol::OpStatus::kOk && r.status != protocol::OpStatus::kUnchanged) {
      report_.errors.push_back(d.remote + ": not published, nothing of it changed: " + r.message);
      note_error_kind(report_, r.error_code);
      continue;
    }
    report_.files_changed += d.changed.size();
    report_.changed.insert(report_.changed.end(), d.changed.begin(), d.changed.end());
    report_.files_deleted += static_cast<uint64_t>(r.deleted);
  }
  return {};
}

}  // namespace

Result<SyncReport> put(const ServerEndpoint& endpoint, const std::vector<std::string>& sources,
                       const std::string& dest, const CopyOptions& options, Printer& printer) {
  return Putter(endpoint, options, printer).run(sources, dest);
}

}  // namespace cairn::client
