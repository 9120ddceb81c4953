#include "cli/client/net/fetch_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "common/file_io.h"
#include "common/hash.h"
#include "common/manifest.h"
#include "common/pack.h"

namespace cairn::client {
namespace {

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

Result<void> read_chunks(ApiClient& api, const std::vector<ChunkRef>& wanted,
                         const std::vector<Digest>& manifests, size_t batch,
                         const std::function<Result<void>(const Digest&, ByteView)>& deliver,
                         std::unordered_set<Digest>& corrupt, uint64_t& received) {
  Bytes stored;
  Bytes plain;
  for (size_t begin = 0; begin < wanted.size(); begin += batch) {
    protocol::CheckChunksRequest req;
    req.chunks.assign(wanted.begin() + static_cast<long>(begin),
                      wanted.begin() + static_cast<long>(std::min(wanted.size(), begin + batch)));
    req.manifests = manifests;
    std::unordered_set<Digest> pending;
    for (const auto& c : req.chunks) pending.insert(c.hash);
    CAIRN_ASSIGN_OR_RETURN(auto located, api.locate(req));
    for (const auto& read : located.reads) {
      CAIRN_RETURN_IF_ERROR(api.read_into(read, stored));
      for (const auto& part : read.parts) {
        if (pending.count(part.hash) == 0) continue;  // Not asked for, or already delivered.
        pending.erase(part.hash);
        if (part.offset > stored.size() || part.stored_length > stored.size() - part.offset ||
            !decode_chunk(part.codec, ByteView(stored).subspan(part.offset, part.stored_length),
                          part.length, plain) ||
            sha256(plain) != part.hash) {
          corrupt.insert(part.hash);
          continue;
        }
        received += plain.size();
        CAIRN_RETURN_IF_ERROR(deliver(part.hash, plain));
      }
    }
  }
  return {};
}

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
  std::unordered_set<Digest> delivered;
  std::unordered_set<Digest> corrupt;
  uint64_t received = 0;
  CAIRN_RETURN_IF_ERROR(read_chunks(
      api, distinct, {*address}, 1000,
      [&](const Digest& hash, ByteView chunk) -> Result<void> {
        delivered.insert(hash);
        for (const uint64_t at : offsets[hash]) {
          if (auto written = pwrite_full(temp.fd, chunk, at); !written) return written;
        }
        return {};
      },
      corrupt, received));
  if (!corrupt.empty()) {
    return make_error(ErrorCode::kCorrupt,
                      "chunk " + corrupt.begin()->hex() + " failed verification");
  }
  if (delivered.size() < distinct.size()) {
    return make_error(ErrorCode::kNotFound,
                      "some chunks of this version are not available on the server");
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
