#pragma once

// Writing POSIX tar (ustar, with pax extended headers for long names and large files), for
// folder links: GNU tar, bsdtar and Python's tarfile read it.

#include <cstdint>
#include <string>

#include "common/bytes.h"
#include "common/protocol/protocol.h"

namespace cairn::service {

struct TarMember {
  std::string path;  // Relative, '/'-separated; a folder's without a trailing slash.
  protocol::NodeKind kind = protocol::NodeKind::kFile;
  uint64_t size = 0;                                                  // Files only.
  uint32_t mode = protocol::default_mode(protocol::NodeKind::kFile);  // Permission bits.
  int64_t mtime_seconds = 0;
  std::string link_target;  // Symlinks only.
};

// The header block(s) that go before a member's content: a pax header first when the path, the
// link target or the size does not fit ustar's fields. Always a multiple of 512 bytes.
Bytes tar_header(const TarMember& member);

// Zero bytes that pad `content_size` bytes of content to a whole block.
uint64_t tar_padding(uint64_t content_size);

// The two zero blocks that end an archive.
constexpr uint64_t kTarTrailerBytes = 1024;

}  // namespace cairn::service
