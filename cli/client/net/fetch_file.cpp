#include "cli/client/net/fetch_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <unordered_map>

#include "common/file_io.h"
#include "common/manifest.h"
#include "common/pack.h"

namespace cairn::client {
namespace {

Result<void> write_fully(int fd, uint64_t offset, ByteView bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return errno_error("write");
    done += static_cast<size_t>(n);
  }
  return {};
}

// Closes and removes the temporary file unless it was renamed into place.
struct TempFile {
  std::string path;
  int fd = -1;
  bool kept = false;
  ~TempFile() {
    if (fd >= 0) ::close(fd);
    if (!kept) ::unlink(path.c_str());
  }
};

}  // namespace

Result<FetchedFile> fetch_file(ApiClient& api, const std::string& manifest_hex, uint64_t size,
                               uint32_t mode, const std::string& dest) {
  struct stat st {};
  if (::lstat(dest.c_str(), &st) == 0) {
    return make_error(ErrorCode::kAlreadyExists, dest + " exists; choose a path that does not");
  }
  auto address = Digest::from_hex(manifest_hex);
  if (!address) return make_error(ErrorCode::kCorrupt, "server sent a bad manifest address");
  CAIRN_ASSIGN_OR_RETURN(Bytes body, api.manifest(*address));
  CAIRN_ASSIGN_OR_RETURN(Manifest manifest, Manifest::decode(body));
  if (manifest.total_size() != size) {
    return make_error(ErrorCode::kCorrupt, "manifest size does not match the version's size");
  }

  TempFile temp;
  temp.path = dest + ".cairn-partial";
  // Private until written; the version's mode once complete.
  temp.fd = ::open(temp.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (temp.fd < 0) return errno_error("create " + temp.path);

  // Where each distinct chunk goes (a chunk may repeat inside a file).
  std::unordered_map<Digest, std::vector<uint64_t>> offsets;
  std::vector<ChunkRef> distinct;
  uint64_t offset = 0;
  for (const auto& c : manifest.chunks()) {
    auto [it, fresh] = offsets.try_emplace(c.hash);
    if (fresh) distinct.push_back(c);
    it->second.push_back(offset);
    offset += c.length;
  }

  FetchedFile out;
  out.size = size;
  constexpr size_t kBatch = 1000;
  Bytes stored;
  Bytes chunk;
  for (size_t begin = 0; begin < distinct.size(); begin += kBatch) {
    protocol::CheckChunksRequest req;
    req.chunks.assign(
        distinct.begin() + static_cast<long>(begin),
        distinct.begin() + static_cast<long>(std::min(distinct.size(), begin + kBatch)));
    if (auto m = Digest::from_hex(manifest_hex)) req.manifests.push_back(*m);
    CAIRN_ASSIGN_OR_RETURN(auto located, api.locate(req));
    size_t delivered = 0;
    for (const auto& read : located.reads) {
      CAIRN_RETURN_IF_ERROR(api.read_into(read, stored));
      for (const auto& part : read.parts) {
        auto where = offsets.find(part.hash);
        if (where == offsets.end()) continue;
        if (part.offset > stored.size() || part.stored_length > stored.size() - part.offset) {
          return make_error(ErrorCode::kCorrupt,
                            "chunk " + part.hash.hex() + " lies outside what the server sent");
        }
        auto decoded =
            decode_chunk(part.codec, ByteView(stored).subspan(part.offset, part.stored_length),
                         part.length, chunk);
        if (!decoded || sha256(chunk) != part.hash) {
          return make_error(ErrorCode::kCorrupt,
                            "chunk " + part.hash.hex() + " failed verification");
        }
        for (const uint64_t at : where->second)
          CAIRN_RETURN_IF_ERROR(write_fully(temp.fd, at, chunk));
        ++delivered;
      }
    }
    if (delivered < req.chunks.size()) {
      return make_error(ErrorCode::kNotFound,
                        "some chunks of this version are not available on "
                        "the server");
    }
  }
  out.chunks = manifest.chunks().size();
  if (::ftruncate(temp.fd, static_cast<off_t>(size)) != 0) return errno_error("truncate");
  if (::fchmod(temp.fd, static_cast<mode_t>(mode & protocol::kPermissionBits)) != 0) {
    return errno_error("set mode");
  }
  if (::fsync(temp.fd) != 0) return errno_error("fsync");
  if (::close(temp.fd) != 0) {
    temp.fd = -1;
    return errno_error("close");
  }
  temp.fd = -1;
  // link() refuses to replace: a file that appeared at `dest` meanwhile is never overwritten.
  if (::link(temp.path.c_str(), dest.c_str()) != 0) {
    if (errno == EEXIST) {
      return make_error(ErrorCode::kAlreadyExists, dest + " appeared meanwhile; not overwritten");
    }
    return errno_error("create " + dest);
  }
  return out;
}

}  // namespace cairn::client
