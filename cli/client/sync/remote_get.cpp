// `cairn get` and `cat` (remote_copy.h): downloads outside any working copy.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <random>
#include <span>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "cli/client/net/fetch_file.h"
#include "cli/client/progress.h"
#include "cli/client/sync/remote_copy.h"
#include "cli/client/tree/local_tree.h"
#include "common/file_io.h"
#include "common/hash.h"
#include "common/manifest.h"
#include "common/pack.h"
#include "common/paths.h"
#include "common/remote_path.h"

namespace cairn::client {
namespace {

namespace fs = std::filesystem;
using protocol::Entry;
using protocol::NodeKind;

// Files downloaded together by one transfer thread: their manifests in one request, their chunks
// located together. Each holds its window's temporary files open while it writes them, so
// threads x this stays well below the usual limit of 1,024 open files.
constexpr size_t kWindowFiles = 128;
// Files made durable together (one syncfs) and then renamed into place.
constexpr size_t kRoundFiles = 4096;
// Chunks located per request (the server's max_batch is at least this).
constexpr size_t kLocateBatch = 1000;
// What `cat` holds at most: the plain bytes of one window of consecutive chunks.
constexpr uint64_t kCatWindowBytes = 32 << 20;

// The manifest at `address`, checked against the size the listing gave.
Result<Manifest> manifest_of(const std::unordered_map<Digest, Bytes>& fetched,
                             const Digest& address, uint64_t size) {
  auto it = fetched.find(address);
  if (it == fetched.end()) {
    return make_error(ErrorCode::kNotFound, "the server does not give out its manifest");
  }
  CAIRN_ASSIGN_OR_RETURN(Manifest m, Manifest::decode(it->second));
  if (m.total_size() != size) {
    return make_error(ErrorCode::kCorrupt, "its manifest does not add up to its size");
  }
  return m;
}

std::string local_base_name(const std::string& remote) {
  return std::string(remote_basename(remote));
}

// One remote file on its way to a temporary file.
struct GetJob {
  std::string rel;  // In the tree being written.
  const Entry* entry = nullptr;
  Manifest manifest;
  std::string temp;
  UniqueFd fd;
  std::string error;
  bool corrupt = false;
  bool no_space = false;
};

// Downloads the files, folders and symlinks of one remote tree into `tree`: rounds of up to
// kRoundFiles files, each fetched in windows on `threads` transfer threads, made durable with one
// syncfs, then renamed into place.
class Getter {
 public:
  Getter(const ApiClient& api, int threads, LocalTree& tree, std::string temp_dir,
         Progress& progress, SyncReport& report)
      : api_(api),
        threads_(std::max(1, threads)),
        tree_(tree),
        temp_dir_(std::move(temp_dir)),
        progress_(progress),
        report_(report) {}

  // `items`: (relative path in the tree, entry), folders before what they hold.
  void run(const std::vector<std::pair<std::string, const Entry*>>& items);

 private:
  // Fetches `jobs` into temporary files with `api` (one thread's own client).
  void window(ApiClient& api, std::span<GetJob> jobs);
  // Fetches a round on the transfer threads, makes it durable and puts it in place.
  void round(std::span<GetJob> jobs);
  void fail(GetJob& job, const std::string& why, bool corrupt = false) {
    if (job.error.empty()) job.error = why;
    job.corrupt = job.corrupt || corrupt;
  }
  void fail(GetJob& job, const Error& e) {
    fail(job, e.message(), e.code() == ErrorCode::kCorrupt);
    job.no_space = job.no_space || e.code() == ErrorCode::kStorageFull;
  }
  std::string next_temp() { return temp_dir_ + "/" + std::to_string(temps_.fetch_add(1) + 1); }

  const ApiClient& api_;
  const int threads_;
  LocalTree& tree_;
  const std::string temp_dir_;
  Progress& progress_;
  SyncReport& report_;
  std::atomic<uint64_t> temps_{0};
  std::mutex mu_;  // The received counts in report_, while windows run.
};

void Getter::run(const std::vector<std::pair<std::string, const Entry*>>& items) {
  std::vector<std::pair<std::string, const Entry*>> folders;
  std::vector<GetJob> jobs;
  std::vector<std::pair<std::string, const Entry*>> symlinks;
  for (const auto& [rel, e] : items) {
    if (e->kind == NodeKind::kFolder) {
      if (!rel.empty()) {
        auto made = tree_.make_folders(rel);
        if (!made) {
          report_.errors.push_back(rel + ": " + made.error().message());
          continue;
        }
        if (*made) ++report_.folders_created;
      }
      folders.emplace_back(rel, e);
    } else if (e->kind == NodeKind::kSymlink) {
      symlinks.emplace_back(rel, e);
    } else {
      GetJob job;
      job.rel = rel;
      job.entry = e;
      jobs.push_back(std::move(job));
    }
  }
  for (size_t begin = 0; begin < jobs.size(); begin += kRoundFiles) {
    round(std::span(jobs).subspan(begin, std::min(kRoundFiles, jobs.size() - begin)));
  }
  for (const auto& [rel, e] : symlinks) {
    const std::string temp = next_temp();
    if (::symlink(e->symlink_target.c_str(), temp.c_str()) != 0) {
      report_.errors.push_back(rel + ": cannot create symlink: " + std::strerror(errno));
      continue;
    }
    if (auto placed = tree_.place(temp, rel); !placed) {
      ::unlink(temp.c_str());
      report_.errors.push_back(rel + ": " + placed.error().message());
      continue;
    }
    ++report_.files_changed;
    report_.changed.push_back(rel);
  }
  // Folders' modes last, deepest first: a folder the server has as 0555 still took its files.
  tree_.relock();
  for (auto it = folders.rbegin(); it != folders.rend(); ++it) {
    if (it->first.empty()) continue;  // The destination itself is the caller's.
    if (auto set = tree_.set_mode(it->first, it->second->mode); !set) {
      report_.errors.push_back(it->first + ": " + set.error().message());
    }
  }
}

void Getter::round(std::span<GetJob> jobs) {
  std::atomic<size_t> next{0};
  const size_t windows = (jobs.size() + kWindowFiles - 1) / kWindowFiles;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads_ && static_cast<size_t>(t) < windows; ++t) {
    workers.emplace_back([&, api = api_.clone()] {
      for (size_t w = next.fetch_add(1); w < windows; w = next.fetch_add(1)) {
        const size_t begin = w * kWindowFiles;
        window(*api, jobs.subspan(begin, std::min(kWindowFiles, jobs.size() - begin)));
      }
    });
  }
  for (auto& w : workers) w.join();
  // The round's bytes reach the disk before any of its files takes its name: a crash leaves
  // either the old file or the whole new one.
  if (const int dir = ::open(temp_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    (void)::syncfs(dir);
    ::close(dir);
  }
  for (auto& job : jobs) {
    if (job.error.empty()) {
      if (auto placed = tree_.place(job.temp, job.rel); !placed) fail(job, placed.error());
    }
    report_.chunks_total += job.manifest.chunks().size();
    report_.bytes_total += job.entry->size;
    if (!job.error.empty()) {
      if (!job.temp.empty()) ::unlink(job.temp.c_str());
      report_.errors.push_back(job.rel + ": " + job.error);
      report_.corrupt = report_.corrupt || job.corrupt;
      report_.no_space = report_.no_space || job.no_space;
      continue;
    }
    ++report_.files_changed;
    report_.changed.push_back(job.rel);
    job.manifest = Manifest();  // What is kept of a round until the end is small.
  }
}

void Getter::window(ApiClient& api, std::span<GetJob> jobs) {
  std::vector<Digest> addresses;
  {
    std::unordered_set<Digest> seen;
    for (const auto& job : jobs) {
      if (job.entry->manifest && seen.insert(*job.entry->manifest).second) {
        addresses.push_back(*job.entry->manifest);
      }
    }
  }
  auto fetched = api.manifests(addresses);
  // Where each distinct chunk goes: (job, offset) slots.
  std::unordered_map<Digest, std::vector<std::pair<size_t, uint64_t>>> slots;
  std::vector<ChunkRef> wanted;
  for (size_t i = 0; i < jobs.size(); ++i) {
    GetJob& job = jobs[i];
    if (!fetched) {
      fail(job, fetched.error().message());
      continue;
    }
    if (!job.entry->manifest) {
      fail(job, "the server sent no manifest for it", true);
      continue;
    }
    auto m = manifest_of(*fetched, *job.entry->manifest, job.entry->size);
    if (!m) {
      fail(job, m.error().message(), m.error().code() == ErrorCode::kCorrupt);
      continue;
    }
    job.manifest = std::move(*m);
    job.temp = next_temp();
    job.fd = UniqueFd(::open(job.temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!job.fd) {
      fail(job, errno_error("create " + job.temp));
      continue;
    }
    uint64_t offset = 0;
    for (const auto& c : job.manifest.chunks()) {
      auto [it, fresh] = slots.try_emplace(c.hash);
      if (fresh) wanted.push_back(c);
      it->second.emplace_back(i, offset);
      offset += c.length;
    }
  }
  std::unordered_set<Digest> delivered;
  std::unordered_set<Digest> corrupt;
  uint64_t received = 0;
  auto read = read_chunks(
      api, wanted, addresses, kLocateBatch,
      [&](const Digest& hash, ByteView plain) -> Result<void> {
        delivered.insert(hash);
        for (const auto& [i, at] : slots[hash]) {
          GetJob& job = jobs[i];
          if (!job.error.empty()) continue;
          if (auto w = pwrite_full(job.fd.get(), plain, at); !w) {
            fail(job, w.error());
          }
        }
        return {};
      },
      corrupt, received);
  {
    std::lock_guard lock(mu_);
    report_.bytes_received += received;
    report_.chunks_received += delivered.size();
  }
  for (auto& job : jobs) {
    if (!read && job.error.empty()) fail(job, read.error().message());
    if (job.error.empty()) {
      for (const auto& c : job.manifest.chunks()) {
        if (corrupt.count(c.hash) != 0) {
          fail(job, "chunk " + c.hash.hex() + " failed verification", true);
          break;
        }
        if (delivered.count(c.hash) == 0) {
          fail(job, "chunk " + c.hash.hex() + " is not available on the server");
          break;
        }
      }
    }
    if (job.error.empty()) {
      const Entry& e = *job.entry;
      const struct timespec times[2] = {{0, UTIME_OMIT},
                                        {static_cast<time_t>(e.mtime_ns / 1000000000),
                                         static_cast<long>(e.mtime_ns % 1000000000)}};
      if (::ftruncate(job.fd.get(), static_cast<off_t>(e.size)) != 0 ||
          ::fchmod(job.fd.get(), static_cast<mode_t>(e.mode & protocol::kPermissionBits)) != 0 ||
          ::futimens(job.fd.get(), times) != 0) {
        fail(job, errno_error("write " + job.rel));
      }
    }
    job.fd.reset();
    progress_.files_done.fetch_add(1);
    progress_.bytes_done.fetch_add(job.entry->size);
  }
}

// The folder for temporary files inside `root` (so that renames stay on its file system), under
// a name no remote path can take (".cairn" is refused in every remote path).
Result<std::string> make_temp_dir(const std::string& root) {
  std::random_device rd;
  const std::string dir =
      root + "/.cairn-get-" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 100000);
  if (::mkdir(dir.c_str(), 0700) != 0) return errno_error("create " + dir);
  return dir;
}

// Where one remote source is written: the tree to write in and the path of the copy in it.
struct LocalTarget {
  std::string root;  // Absolute; the tree that LocalTree guards.
  std::string rel;   // "" when the copy is the root itself (a folder).
};

Result<LocalTarget> local_target(const std::string& dest, const Entry& top) {
  const fs::path abs = fs::absolute(dest).lexically_normal();
  std::error_code ec;
  if (top.kind == NodeKind::kFolder) {
    if (fs::exists(abs, ec) && !fs::is_directory(abs, ec)) {
      return make_error(ErrorCode::kAlreadyExists,
                        abs.string() + " exists and is not a folder; a folder cannot go there");
    }
    fs::create_directories(abs, ec);
    if (ec)
      return make_error(ErrorCode::kIo, "cannot create " + abs.string() + ": " + ec.message());
    return LocalTarget{abs.string(), ""};
  }
  std::string name = abs.filename().string();
  fs::path parent = abs.parent_path();
  if (name.empty() || name == "." || name == "..") {
    return make_error(ErrorCode::kInvalidArgument, dest + " does not name a file");
  }
  fs::create_directories(parent, ec);
  if (ec)
    return make_error(ErrorCode::kIo, "cannot create " + parent.string() + ": " + ec.message());
  return LocalTarget{parent.string(), name};
}

// Downloads one remote source to `dest`.
Result<void> get_one(ApiClient& api, const CopyOptions& options, const std::string& source,
                     const std::string& dest, Progress& progress, SyncReport& report) {
  const int threads = options.transfer_threads;
  CAIRN_ASSIGN_OR_RETURN(auto entries, list_remote_tree(api, source, options.at_ms));
  CAIRN_ASSIGN_OR_RETURN(auto target, local_target(dest, entries.front()));
  std::vector<std::pair<std::string, const Entry*>> items;
  for (const auto& e : entries) {
    std::string rel = target.rel;
    if (e.path != source) {
      const std::string below = e.path.substr(source == "/" ? 1 : source.size() + 1);
      rel = rel.empty() ? below : rel + "/" + below;
    }
    items.emplace_back(std::move(rel), &e);
    if (e.kind == NodeKind::kFile) progress.bytes_total += e.size;
    if (e.kind != NodeKind::kFolder) ++progress.files_total;
  }
  LocalTree tree(target.root);
  CAIRN_ASSIGN_OR_RETURN(auto temp_dir, make_temp_dir(target.root));
  Getter(api, threads, tree, temp_dir, progress, report).run(items);
  std::error_code ec;
  fs::remove_all(temp_dir, ec);
  // The renames themselves reach the disk before `get` says it is done.
  if (const int dir = ::open(target.root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dir >= 0) {
    (void)::syncfs(dir);
    ::close(dir);
  }
  return {};
}

}  // namespace

Result<std::vector<std::string>> copy_targets(const std::vector<std::string>& sources,
                                              const std::string& dest,
                                              std::string (*base_name)(const std::string&)) {
  const bool inside = sources.size() > 1 || (!dest.empty() && dest.back() == '/');
  std::vector<std::string> out;
  for (const auto& s : sources) {
    if (!inside) {
      out.emplace_back();
      continue;
    }
    std::string name = base_name(s);
    if (name.empty() || name == "." || name == "..") {
      return make_error(ErrorCode::kInvalidArgument,
                        "'" + s + "' has no name of its own to take inside " + dest +
                            "; give the destination without a trailing '/'");
    }
    out.push_back(std::move(name));
  }
  return out;
}

Result<std::vector<Entry>> list_remote_tree(ApiClient& api, const std::string& path,
                                            std::optional<int64_t> at_ms) {
  CAIRN_ASSIGN_OR_RETURN(auto top, api.list_tree(path, at_ms));
  std::vector<Entry> out;
  if (top.entries.size() == 1 && top.entries[0].path == path &&
      top.entries[0].kind != NodeKind::kFolder) {
    out.push_back(std::move(top.entries[0]));
    return out;
  }
  Entry root;
  root.path = path;
  root.kind = NodeKind::kFolder;
  root.mode = protocol::default_mode(NodeKind::kFolder);  // Not listed: its parent's listing says.
  out.push_back(std::move(root));
  // Every entry is checked before it is used: canonical, inside a folder listed before it, and
  // listed once.
  std::unordered_set<std::string> folders{path};
  std::unordered_set<std::string> seen{path};
  std::vector<std::string> mounts;
  for (auto& e : top.entries) {
    auto canonical = normalize_remote_path(e.path);
    if (!canonical || *canonical != e.path || folders.count(remote_parent(e.path)) == 0 ||
        !is_below(e.path, path) || !seen.insert(e.path).second) {
      return make_error(ErrorCode::kCorrupt, "the server listed '" + e.path.substr(0, 200) +
                                                 "' under " + path + "; refusing it");
    }
    if (e.kind == NodeKind::kFolder && e.share_role.empty()) {
      folders.insert(e.path);
    } else if (e.kind == NodeKind::kFolder) {
      mounts.push_back(e.path);  // Shared with us: listed from its owner's tree, on its own.
    }
    out.push_back(std::move(e));
  }
  for (const auto& mount : mounts) {
    auto inside = list_remote_tree(api, mount, at_ms);
    // Its owner deleted it after the first listing: as if that listing came a moment later.
    if (!inside && inside.error().code() == ErrorCode::kNotFound) continue;
    if (!inside) return std::move(inside).error();
    for (size_t i = 1; i < inside->size(); ++i) out.push_back(std::move((*inside)[i]));
  }
  return out;
}

Result<SyncReport> get(const ServerEndpoint& endpoint, const std::vector<std::string>& sources,
                       const std::string& dest, const CopyOptions& options, Printer& printer) {
  const auto started = std::chrono::steady_clock::now();
  SyncReport report;
  report.command = "get";
  std::vector<std::string> remotes;
  for (const auto& s : sources) {
    CAIRN_ASSIGN_OR_RETURN(auto canonical, normalize_remote_path(s));
    remotes.push_back(std::move(canonical));
  }
  CAIRN_ASSIGN_OR_RETURN(auto names, copy_targets(remotes, dest, &local_base_name));
  ApiClient api(endpoint);
  Progress progress("get", printer);
  progress.start();
  for (size_t i = 0; i < remotes.size(); ++i) {
    const std::string to = names[i].empty() ? dest : (fs::path(dest) / names[i]).string();
    auto got = get_one(api, options, remotes[i], to, progress, report);
    if (!got) {
      progress.stop();
      if (remotes.size() == 1) return std::move(got).error();
      report.errors.push_back(remotes[i] + ": " + got.error().message());
    }
  }
  progress.stop();
  report.elapsed_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
  return report;
}

Result<uint64_t> cat(const ServerEndpoint& endpoint, const std::string& path, int fd,
                     std::optional<int64_t> at_ms) {
  CAIRN_ASSIGN_OR_RETURN(auto remote, normalize_remote_path(path));
  ApiClient api(endpoint);
  CAIRN_ASSIGN_OR_RETURN(auto listing, at_ms ? api.list_at(remote, *at_ms) : api.list(remote));
  const auto& entries = listing.entries;
  if (entries.size() != 1 || entries[0].path != remote || entries[0].kind == NodeKind::kFolder) {
    // A folder's listing holds its children; anything else is not an answer to this question.
    for (const auto& e : entries) {
      if (remote_parent(e.path) != remote || e.path == remote) {
        return make_error(ErrorCode::kCorrupt,
                          "the server answered for '" + e.path.substr(0, 200) + "'; refusing it");
      }
    }
    return make_error(ErrorCode::kInvalidArgument,
                      remote + " is a folder; `cairn get " + remote + " DIR` downloads it");
  }
  const Entry& e = listing.entries[0];
  if (e.kind == NodeKind::kSymlink) {
    return make_error(ErrorCode::kInvalidArgument,
                      remote + " is a symlink to '" + e.symlink_target + "', not a file");
  }
  if (!e.manifest) return make_error(ErrorCode::kCorrupt, "the server sent no manifest");
  CAIRN_ASSIGN_OR_RETURN(auto fetched, api.manifests({*e.manifest}));
  CAIRN_ASSIGN_OR_RETURN(auto manifest, manifest_of(fetched, *e.manifest, e.size));
  const auto& chunks = manifest.chunks();
  uint64_t written = 0;
  uint64_t received = 0;
  for (size_t begin = 0; begin < chunks.size();) {
    // One window of consecutive chunks, fetched (each distinct one once), then written in order.
    size_t end = begin;
    uint64_t bytes = 0;
    std::unordered_map<Digest, Bytes> held;
    std::vector<ChunkRef> wanted;
    while (end < chunks.size() && (end == begin || bytes + chunks[end].length <= kCatWindowBytes)) {
      if (held.try_emplace(chunks[end].hash).second) {
        wanted.push_back(chunks[end]);
        bytes += chunks[end].length;
      }
      ++end;
    }
    std::unordered_set<Digest> corrupt;
    CAIRN_RETURN_IF_ERROR(read_chunks(
        api, wanted, {*e.manifest}, kLocateBatch,
        [&](const Digest& hash, ByteView plain) -> Result<void> {
          held[hash].assign(plain.begin(), plain.end());
          return {};
        },
        corrupt, received));
    for (size_t i = begin; i < end; ++i) {
      const Digest& h = chunks[i].hash;
      if (corrupt.count(h) != 0) {
        return make_error(ErrorCode::kCorrupt, "chunk " + h.hex() + " failed verification");
      }
      const Bytes& plain = held[h];
      if (plain.size() != chunks[i].length) {
        return make_error(ErrorCode::kNotFound,
                          "chunk " + h.hex() + " is not available on the server");
      }
      CAIRN_RETURN_IF_ERROR(write_full(fd, plain));
      written += plain.size();
    }
    begin = end;
  }
  return written;
}

}  // namespace cairn::client
