#pragma once

// Writing ZIP archives as a stream, for folders downloaded from the web page: stored entries
// (no compression: what people keep is mostly compressed already, and the archive's length is
// then known before its first byte, for Content-Length), a data descriptor after each file so
// that its CRC-32 is computed as its bytes pass, ZIP64 records wherever a size, an offset or the
// number of entries needs them, and UTF-8 names. unzip, bsdtar, 7-Zip, Python's zipfile and
// the desktops' archive tools read it.

#include <cstdint>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "daemon/service/tar.h"

namespace cairn::service {

// The CRC-32 (ZIP's, zlib's) of `data`, continuing from `crc` (0 to start).
uint32_t crc32_update(uint32_t crc, ByteView data);

// Where everything of an archive of `members` goes, worked out from their sizes alone. The
// members are those of a tar (TarMember); a symlink is stored as a file whose content is its
// target, with the link's type in its Unix attributes, as Info-ZIP does.
class ZipLayout {
 public:
  explicit ZipLayout(std::vector<TarMember> members);

  // The archive's length in bytes.
  uint64_t size() const { return size_; }
  // What goes before member `i`'s content: its local header (and, for a symlink, its target,
  // which is all its content).
  Bytes header(size_t i) const;
  // What goes right after file `i`'s content, whose CRC-32 is `crc`: its data descriptor. The
  // CRC is kept for the central directory.
  Bytes descriptor(size_t i, uint32_t crc);
  // The central directory and the end records, after every member.
  Bytes trailer() const;

 private:
  struct Placed {
    TarMember member;
    std::string name;     // The path, with '/' after a folder's.
    uint64_t offset = 0;  // Of its local header.
    uint32_t crc = 0;
  };
  Bytes central_directory() const;

  std::vector<Placed> members_;
  uint64_t directory_offset_ = 0;
  uint64_t directory_size_ = 0;
  uint64_t size_ = 0;
};

}  // namespace cairn::service
