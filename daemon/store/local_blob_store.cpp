#include "daemon/store/local_blob_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>

#include "common/file_io.h"

namespace cairn::store {
namespace {

namespace fs = std::filesystem;

Result<void> fsync_dir(const std::string& dir) { return fsync_path(dir); }

// mkdir that tolerates a concurrent creator and makes the new entry durable in its parent.
Result<void> ensure_dir(const std::string& dir, const std::string& parent) {
  if (::mkdir(dir.c_str(), 0755) == 0) return fsync_dir(parent);
  if (errno == EEXIST) return {};
  return errno_error("mkdir " + dir, errno);
}

std::string temp_name() {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng(std::random_device{}());
  return std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1)) + "-" +
         std::to_string(rng() & 0xFFFFFFFF) + ".tmp";
}

class LocalBlobWriter final : public BlobWriter {
 public:
  LocalBlobWriter(const LocalBlobStore& store, ObjectId id, uint64_t size, std::string temp_path,
                  int fd)
      : store_(store), id_(id), size_(size), temp_path_(std::move(temp_path)), fd_(fd) {}

  ~LocalBlobWriter() override {
    if (fd_ >= 0) ::close(fd_);
    ::unlink(temp_path_.c_str());  // Committed or not: a commit publishes a link of its own.
  }

  Result<void> write(ByteView bytes) override {
    if (sealed_) return make_error(ErrorCode::kInternal, "write after seal: " + id_.describe());
    if (written_ + bytes.size() > size_) {
      return make_error(ErrorCode::kTooLarge,
                        (id_.kind == ObjectKind::kPack ? "pack" : "chunk") +
                            std::string(" body longer than its declared size"));
    }
    hasher_.update(bytes);
    const auto* p = bytes.data();
    size_t left = bytes.size();
    while (left > 0) {
      const ssize_t n = ::write(fd_, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_error("write " + id_.describe(), errno);
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
    written_ += bytes.size();
    return {};
  }

  Result<void> seal() override {
    if (sealed_) return {};
    const Digest& digest = id_.digest;
    if (written_ != size_) {
      return make_error(ErrorCode::kCorrupt, id_.describe() + " body is " +
                                                 std::to_string(written_) + " bytes, expected " +
                                                 std::to_string(size_));
    }
    const Digest actual = hasher_.finish();
    if (actual != digest) {
      return make_error(ErrorCode::kCorrupt,
                        "body hashes to " + actual.hex() + ", not " + id_.describe());
    }
    // fsync before the rename: otherwise a crash can leave a renamed file with missing data.
    if (::fsync(fd_) != 0) return errno_error("fsync " + id_.describe(), errno);
    ::close(fd_);
    fd_ = -1;
    sealed_ = true;
    return {};
  }

  Result<void> commit() override {
    CAIRN_RETURN_IF_ERROR(seal());
    // Create the fan-out folders below the kind's folder, each made durable in its parent.
    const std::string final_path = store_.path_for(id_);
    const std::string leaf_dir = final_path.substr(0, final_path.rfind('/'));
    std::string dir = store_.root() + (id_.kind == ObjectKind::kPack ? "/packs" : "/chunks");
    while (dir.size() < leaf_dir.size()) {
      const std::string parent = dir;
      const size_t next = leaf_dir.find('/', dir.size() + 1);
      dir = leaf_dir.substr(0, next);
      CAIRN_RETURN_IF_ERROR(ensure_dir(dir, parent));
    }
    // A fresh hard link of the sealed file is renamed into place, so that the sealed file stays
    // for another commit: a metadata transaction that publishes the object and is retried
    // publishes it again, even if gc removed the first copy in between. Rename, so readers never
    // see half an object; then fsync the directory: without it a crash can lose the rename even
    // though the data reached the disk. Renaming over an existing copy is harmless (and repairs
    // a damaged one): both should hold the same verified bytes.
    const std::string link_path = temp_path_ + ".link";
    ::unlink(link_path.c_str());
    if (::link(temp_path_.c_str(), link_path.c_str()) != 0) {
      return errno_error("link " + id_.describe(), errno);
    }
    if (::rename(link_path.c_str(), final_path.c_str()) != 0) {
      const int err = errno;
      ::unlink(link_path.c_str());
      return errno_error("rename " + id_.describe() + " into place", err);
    }
    return fsync_dir(leaf_dir);
  }

 private:
  const LocalBlobStore& store_;
  ObjectId id_;
  uint64_t size_;
  std::string temp_path_;
  int fd_;
  uint64_t written_ = 0;
  Sha256 hasher_;
  bool sealed_ = false;
};

}  // namespace

Result<std::unique_ptr<LocalBlobStore>> LocalBlobStore::open(const std::string& root) {
  std::error_code ec;
  for (const char* sub : {"/chunks", "/packs", "/tmp"}) {
    fs::create_directories(root + sub, ec);
    if (ec) return make_error(ErrorCode::kIo, "create " + root + sub + ": " + ec.message());
  }
  // Temporary files an hour old belong to writers that died with a previous process. Younger
  // ones may be another process's uploads in flight: an admin command (cairnd gc) opens the
  // store while serve runs.
  const auto stale = fs::file_time_type::clock::now() - std::chrono::hours(1);
  for (const auto& entry : fs::directory_iterator(root + "/tmp", ec)) {
    std::error_code age_ec;
    const auto written = fs::last_write_time(entry.path(), age_ec);
    if (!age_ec && written < stale) fs::remove(entry.path(), ec);
  }
  return std::unique_ptr<LocalBlobStore>(new LocalBlobStore(root));
}

std::string LocalBlobStore::path_for(const ObjectId& id) const {
  const std::string hex = id.digest.hex();
  if (id.kind == ObjectKind::kPack) return root_ + "/packs/" + hex.substr(0, 2) + "/" + hex;
  return root_ + "/chunks/" + hex.substr(0, 2) + "/" + hex.substr(2, 2) + "/" + hex;
}

Result<std::unique_ptr<BlobWriter>> LocalBlobStore::begin_put(const ObjectId& id, uint64_t size) {
  std::string temp_path = root_ + "/tmp/" + temp_name();
  const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return errno_error("create temporary file", errno);
  return std::unique_ptr<BlobWriter>(
      new LocalBlobWriter(*this, id, size, std::move(temp_path), fd));
}

namespace {

// Reads `out.size()` bytes at `offset` of the object's file.
Result<void> read_exactly(const std::string& path, const ObjectId& id, uint64_t offset, Bytes& out,
                          bool whole_file) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return make_error(ErrorCode::kNotFound, id.describe());
    return errno_error("open " + id.describe(), errno);
  }
  if (whole_file) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      return errno_error("stat " + id.describe(), err);
    }
    out.resize(static_cast<size_t>(st.st_size));
  }
  auto got = pread_full(fd, out.data(), out.size(), offset);
  ::close(fd);
  if (!got) return std::move(got).error().with_context(id.describe());
  if (*got != out.size()) {
    return make_error(ErrorCode::kCorrupt, "stored " + id.describe() + " is shorter than expected");
  }
  return {};
}

}  // namespace

Result<Bytes> LocalBlobStore::get(const ObjectId& id) {
  Bytes out;
  CAIRN_RETURN_IF_ERROR(read_exactly(path_for(id), id, 0, out, /*whole_file=*/true));
  if (sha256(out) != id.digest) {
    return make_error(ErrorCode::kCorrupt, "stored " + id.describe() + " is damaged");
  }
  return out;
}

Result<Bytes> LocalBlobStore::get_range(const ObjectId& id, ByteRange range) {
  Bytes out(static_cast<size_t>(range.length));
  CAIRN_RETURN_IF_ERROR(read_exactly(path_for(id), id, range.offset, out, /*whole_file=*/false));
  return out;
}

Result<BlobReadInfo> LocalBlobStore::read_info(const ObjectId& id,
                                               const std::optional<ByteRange>& range) {
  BlobReadInfo info;
  info.file_path = path_for(id);
  struct stat st {};
  if (::stat(info.file_path.c_str(), &st) != 0) {
    if (errno == ENOENT) return make_error(ErrorCode::kNotFound, id.describe());
    return errno_error("stat " + id.describe(), errno);
  }
  info.size = static_cast<uint64_t>(st.st_size);
  if (range) {
    if (range->offset > info.size || range->length > info.size - range->offset) {
      return make_error(ErrorCode::kCorrupt,
                        "stored " + id.describe() + " is shorter than the range asked for");
    }
    info.offset = range->offset;
    info.size = range->length;
  }
  return info;
}

Result<std::optional<uint64_t>> LocalBlobStore::stat(const ObjectId& id) {
  struct stat st {};
  if (::stat(path_for(id).c_str(), &st) == 0) {
    return std::optional<uint64_t>(static_cast<uint64_t>(st.st_size));
  }
  if (errno == ENOENT) return std::optional<uint64_t>();
  return errno_error("stat " + id.describe(), errno);
}

Result<void> LocalBlobStore::remove(const ObjectId& id) {
  if (::unlink(path_for(id).c_str()) != 0 && errno != ENOENT) {
    return errno_error("delete " + id.describe(), errno);
  }
  return {};
}

Result<void> LocalBlobStore::quarantine(const ObjectId& id) {
  const std::string aside = root_ + "/quarantine";
  CAIRN_RETURN_IF_ERROR(ensure_dir(aside, root_));
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const std::string name = aside + "/" + (id.kind == ObjectKind::kPack ? "pack-" : "chunk-") +
                           id.digest.hex() + "-" + std::to_string(now);
  if (::rename(path_for(id).c_str(), name.c_str()) != 0) {
    if (errno == ENOENT) return {};
    return errno_error("quarantine " + id.describe(), errno);
  }
  return fsync_dir(aside);
}

}  // namespace cairn::store
