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
#include "cli/client/sync/remote_copy.h"
#include "cli/client/sync/upload_pipeline.h"
#include "cli/client/tree/file_hasher.h"
#include "cli/client/tree/scanner.h"
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

// Where pack files wait while they are sent: $XDG_CACHE_HOME/cairn/tmp (~/.cache/cairn/tmp);
// "" (in memory) if it cannot be made.
std::string spill_dir() {
  std::string base;
  if (auto xdg = env("XDG_CACHE_HOME")) {
    base = *xdg;
  } else if (auto home = env("HOME")) {
    base = *home + "/.cache";
  } else {
    return "";
  }
  const std::string dir = base + "/cairn/tmp";
  std::error_code ec;
  fs::create_directories(dir, ec);
  return ec ? "" : dir;
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
  HashedFile hashed;      // Files, once hashed.
  bool hashed_ok = false;
};

class Putter {
 public:
  Putter(const ServerEndpoint& endpoint, const CopyOptions& options, Printer& printer)
      : options_(options), printer_(printer), api_(endpoint), device_(endpoint.device) {}

  Result<SyncReport> run(const std::vector<std::string>& sources, const std::string& dest);

 private:
  // Adds what `source` holds, to go to `remote`.
  Result<void> gather(const std::string& source, const std::string& remote);
  Result<void> make_folders();
  Result<void> send_files();
  void hash(PutItem& item, UploadPipeline& pipeline, HashPool& pool, Progress& progress);
  Result<void> commit(std::vector<protocol::CommitOp> ops,
                      const std::function<void(size_t, const protocol::CommitResult&)>& each);

  const CopyOptions& options_;
  Printer& printer_;
  ApiClient api_;
  const std::string device_;
  protocol::ServerConfig config_;
  SyncReport report_;
  // What the server holds under each destination, by path; owns the entries items point to.
  std::vector<std::vector<Entry>> listed_;
  std::map<std::string, const Entry*> existing_;
  std::vector<PutItem> folders_;
  std::vector<PutItem> files_;  // Files and symlinks.
  std::mutex mu_;               // report_ and failed_ while threads run.
  std::unordered_set<Digest> failed_;
};

Result<SyncReport> Putter::run(const std::vector<std::string>& sources, const std::string& dest) {
  const auto started = std::chrono::steady_clock::now();
  report_.command = "put";
  CAIRN_ASSIGN_OR_RETURN(const std::string remote_dest, normalize_remote_path(dest));
  CAIRN_ASSIGN_OR_RETURN(auto names, copy_targets(sources, dest, &local_base_name));
  CAIRN_ASSIGN_OR_RETURN(config_, api_.config());
  CAIRN_RETURN_IF_ERROR(config_.chunking.validate());
  for (size_t i = 0; i < sources.size(); ++i) {
    std::string remote = remote_dest;
    if (!names[i].empty()) {
      CAIRN_ASSIGN_OR_RETURN(auto name, normalize_remote_name(names[i]));
      remote = join_remote_path(remote_dest, name);
    }
    CAIRN_RETURN_IF_ERROR(gather(sources[i], remote));
  }
  CAIRN_RETURN_IF_ERROR(make_folders());
  CAIRN_RETURN_IF_ERROR(send_files());
  report_.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::steady_clock::now() - started)
                           .count();
  return std::move(report_);
}

Result<void> Putter::gather(const std::string& source, const std::string& remote) {
  // A source named on the command line is followed if it is a symlink (the user named what it
  // points to); inside a folder, symlinks are put as symlinks.
  std::error_code ec;
  const fs::path real = fs::canonical(clean_local(source), ec);
  if (ec) return make_error(ErrorCode::kNotFound, source + ": " + ec.message());
  auto listed = list_remote_tree(api_, remote);
  if (listed) {
    listed_.push_back(std::move(*listed));
    for (const auto& e : listed_.back()) existing_[e.path] = &e;
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

// Sends `ops` in batches of max_batch; `each(i, result)` hears op i's result.
Result<void> Putter::commit(
    std::vector<protocol::CommitOp> ops,
    const std::function<void(size_t, const protocol::CommitResult&)>& each) {
  const size_t batch = std::max<uint32_t>(1, config_.max_batch);
  for (size_t i = 0; i < ops.size(); i += batch) {
    protocol::CommitRequest req;
    req.device = device_;
    const size_t end = std::min(ops.size(), i + batch);
    for (size_t j = i; j < end; ++j) req.ops.push_back(std::move(ops[j]));
    CAIRN_ASSIGN_OR_RETURN(auto resp, api_.commit(req));
    for (size_t j = i; j < end && j - i < resp.results.size(); ++j) each(j, resp.results[j - i]);
  }
  return {};
}

// Folders first, parents before children: the ones the server lacks, or has with another mode.
Result<void> Putter::make_folders() {
  std::vector<protocol::CommitOp> ops;
  for (const auto& f : folders_) {
    const uint32_t mode = f.local.mode & protocol::kPermissionBits;
    if (f.existing != nullptr && f.existing->kind == NodeKind::kFolder &&
        (f.local.path.empty() || same_permissions(f.existing->mode, mode))) {
      continue;  // There already (an existing destination keeps its own mode).
    }
    ops.push_back(protocol::CommitOp::mkdir(f.remote, mode));
  }
  std::sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.path < b.path; });
  return commit(std::move(ops), [&](size_t, const protocol::CommitResult& r) {
    if (r.status == protocol::OpStatus::kOk) {
      ++report_.folders_created;
    } else if (r.status != protocol::OpStatus::kUnchanged) {
      report_.errors.push_back(r.path + ": " + r.message);
    }
  });
}

void Putter::hash(PutItem& item, UploadPipeline& pipeline, HashPool& pool, Progress& progress) {
  const LocalEntry& e = item.local;
  const std::string& file = item.abs;
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
}

Result<void> Putter::send_files() {
  Progress progress("put", printer_);
  for (const auto& f : files_) progress.bytes_total += f.local.size;
  progress.files_total = files_.size();
  progress.start();
  {
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
        for (size_t i = next.fetch_add(1); i < files_.size(); i = next.fetch_add(1)) {
          if (files_[i].local.kind == NodeKind::kFile) hash(files_[i], pipeline, pool, progress);
        }
      });
    }
    for (auto& h : hashers) h.join();
    auto finished = pipeline.finish();
    progress.stop();
    if (!finished) return std::move(finished).error();
  }
  report_.chunks_sent = progress.chunks_sent.load();
  report_.bytes_sent = progress.bytes_sent.load();
  report_.bytes_uploaded = progress.bytes_on_wire.load();
  report_.packs_sent = progress.packs_sent.load();

  std::vector<const PutItem*> sent;
  std::vector<protocol::CommitOp> ops;
  for (const auto& f : files_) {
    const Entry* was = f.existing;
    const uint32_t mode = f.local.mode & protocol::kPermissionBits;
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
      if (was != nullptr && was->kind == NodeKind::kFile && was->manifest &&
          *was->manifest == f.hashed.manifest.address() && same_permissions(was->mode, mode)) {
        continue;  // The server has it as it is.
      }
    } else if (was != nullptr && was->kind == NodeKind::kSymlink &&
               was->symlink_target == f.local.target) {
      continue;
    }
    protocol::FileUpload up;
    up.path = f.remote;
    up.kind = f.local.kind;
    up.mode = mode;
    up.mtime_ns = f.local.mtime_ns;
    up.symlink_target = f.local.target;
    up.chunks = f.hashed.manifest.chunks();
    // A new version on top of what the server has now: put replaces, as cp does, and the
    // version it replaces stays in the file's history.
    if (was != nullptr && was->kind != NodeKind::kFolder && was->version > 0) {
      up.base_version = was->version;
      up.node_id = was->node_id;
    }
    sent.push_back(&f);
    ops.push_back(protocol::CommitOp::put_file(std::move(up)));
  }
  CAIRN_RETURN_IF_ERROR(commit(std::move(ops), [&](size_t i, const protocol::CommitResult& r) {
    const PutItem& f = *sent[i];
    switch (r.status) {
      case protocol::OpStatus::kOk:
        ++report_.files_changed;
        report_.changed.push_back(f.remote);
        break;
      case protocol::OpStatus::kUnchanged:
        break;
      case protocol::OpStatus::kCopied:
        report_.conflicts.push_back(f.remote +
                                    ": changed on the server while this put ran; "
                                    "this put's version is " +
                                    r.copy);
        break;
      default:
        report_.errors.push_back(f.remote + ": " + r.message);
    }
  }));
  report_.bytes_deduplicated =
      report_.bytes_total > report_.bytes_sent ? report_.bytes_total - report_.bytes_sent : 0;
  return {};
}

}  // namespace

Result<SyncReport> put(const ServerEndpoint& endpoint, const std::vector<std::string>& sources,
                       const std::string& dest, const CopyOptions& options, Printer& printer) {
  return Putter(endpoint, options, printer).run(sources, dest);
}

}  // namespace cairn::client
