// The tar producer (folder links) on any member the store can hold: a canonical path, any link
// target without NUL, any size, mode and time. Its headers must read back, with a reader written
// from the POSIX spec here, as exactly that member: whole blocks, valid checksums, the full path
// (ustar prefix/name or a pax record), the link target, the size and the permission bits.

#include <cstring>
#include <map>

#include "common/remote_path.h"
#include "daemon/service/tar.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using namespace cairn;

std::string field(const Bytes& block, size_t offset, size_t width) {
  const char* p = reinterpret_cast<const char*>(block.data()) + offset;
  return std::string(p, strnlen(p, width));
}

uint64_t octal(const Bytes& block, size_t offset, size_t width) {
  uint64_t value = 0;
  for (size_t i = offset; i < offset + width; ++i) {
    const char c = static_cast<char>(block[i]);
    if (c == '\0' || c == ' ') break;
    FUZZ_CHECK(c >= '0' && c <= '7');
    value = value * 8 + static_cast<uint64_t>(c - '0');
  }
  return value;
}

void check_sum(const Bytes& block) {
  uint64_t sum = 0;
  for (size_t i = 0; i < 512; ++i) {
    sum += (i >= 148 && i < 156) ? uint64_t{' '} : static_cast<uint8_t>(block[i]);
  }
  FUZZ_CHECK(octal(block, 148, 8) == sum);
}

std::map<std::string, std::string> pax_records(std::string_view text) {
  std::map<std::string, std::string> out;
  while (!text.empty()) {
    const size_t space = text.find(' ');
    FUZZ_CHECK(space != std::string_view::npos);
    const size_t len = std::stoull(std::string(text.substr(0, space)));
    FUZZ_CHECK(len > space && len <= text.size() && text[len - 1] == '\n');
    const std::string_view record = text.substr(space + 1, len - space - 2);
    const size_t eq = record.find('=');
    FUZZ_CHECK(eq != std::string_view::npos);
    out[std::string(record.substr(0, eq))] = std::string(record.substr(eq + 1));
    text.remove_prefix(len);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using protocol::NodeKind;
  fuzz::Input in(data, size);
  service::TarMember m;
  const uint8_t kind = in.byte();
  m.kind = kind % 3 == 0 ? NodeKind::kFile : kind % 3 == 1 ? NodeKind::kFolder : NodeKind::kSymlink;
  for (int i = 0; i < 8; ++i) m.size = (m.size << 8) | in.byte();
  m.mode = static_cast<uint32_t>(in.byte()) << 8 | in.byte();
  m.mtime_seconds = static_cast<int64_t>(in.byte()) << 24 | static_cast<int64_t>(in.byte()) << 16;
  auto canonical = normalize_remote_path(in.line());
  if (!canonical || *canonical == "/") return 0;
  m.path = canonical->substr(1);
  if (m.kind == NodeKind::kSymlink) {
    m.link_target = std::string(in.rest());
    if (m.link_target.empty() || m.link_target.find('\0') != std::string::npos) return 0;
  }

  const Bytes out = service::tar_header(m);
  FUZZ_CHECK(!out.empty() && out.size() % 512 == 0);
  size_t pos = 0;
  std::map<std::string, std::string> pax;
  Bytes block(out.begin(), out.begin() + 512);
  check_sum(block);
  if (static_cast<char>(block[156]) == 'x') {
    const uint64_t length = octal(block, 124, 12);
    FUZZ_CHECK(512 + length <= out.size());
    pax = pax_records(std::string_view(reinterpret_cast<const char*>(out.data()) + 512, length));
    pos = 512 + length + service::tar_padding(length);
    FUZZ_CHECK(pos + 512 == out.size());
    block.assign(out.begin() + static_cast<std::ptrdiff_t>(pos), out.end());
    check_sum(block);
  }
  FUZZ_CHECK(out.size() == pos + 512);
  const std::string prefix = field(block, 345, 155);
  std::string path = prefix.empty() ? field(block, 0, 100) : prefix + "/" + field(block, 0, 100);
  if (pax.count("path")) path = pax["path"];
  const char type = static_cast<char>(block[156]);
  if (m.kind == NodeKind::kFolder) {
    FUZZ_CHECK(type == '5' && path == m.path + "/");
  } else {
    FUZZ_CHECK(path == m.path);
  }
  if (m.kind == NodeKind::kSymlink) {
    FUZZ_CHECK(type == '2');
    const std::string link = pax.count("linkpath") ? pax["linkpath"] : field(block, 157, 100);
    FUZZ_CHECK(link == m.link_target);
  }
  const uint64_t stored_size = pax.count("size") ? std::stoull(pax["size"]) : octal(block, 124, 12);
  FUZZ_CHECK(stored_size == (m.kind == NodeKind::kFile ? m.size : 0));
  if (m.kind != NodeKind::kSymlink)
    FUZZ_CHECK(octal(block, 100, 8) == (m.mode & protocol::kPermissionBits));
  return 0;
}
