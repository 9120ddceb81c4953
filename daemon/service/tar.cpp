#include "daemon/service/tar.h"

#include <algorithm>
#include <cstdio>
#include <cstring>

namespace cairn::service {
namespace {

constexpr size_t kBlock = 512;
constexpr uint64_t kMaxUstarSize = 077777777777;  // 11 octal digits.

// Writes `value` as zero-padded octal into field [offset, offset + width), NUL-terminated.
void put_octal(Bytes& block, size_t offset, size_t width, uint64_t value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%0*llo", static_cast<int>(width - 1),
                static_cast<unsigned long long>(value));
  std::memcpy(block.data() + offset, text, width - 1);
  block[offset + width - 1] = std::byte{0};
}

void put_text(Bytes& block, size_t offset, size_t width, const std::string& text) {
  std::memcpy(block.data() + offset, text.data(), std::min(width, text.size()));
}

// Splits `path` into ustar's prefix (155) and name (100) fields, if it fits.
bool split_ustar_path(const std::string& path, std::string& prefix, std::string& name) {
  if (path.size() <= 100) {
    prefix.clear();
    name = path;
    return true;
  }
  for (size_t slash = path.find('/'); slash != std::string::npos;
       slash = path.find('/', slash + 1)) {
    if (slash <= 155 && path.size() - slash - 1 <= 100 && slash + 1 < path.size()) {
      prefix = path.substr(0, slash);
      name = path.substr(slash + 1);
      return true;
    }
  }
  return false;
}

// One pax record: "LEN key=value\n", LEN counting itself.
std::string pax_record(const std::string& key, const std::string& value) {
  const size_t body = key.size() + value.size() + 3;  // ' ', '=', '\n'
  size_t len = body + 1;
  while (std::to_string(len).size() + body != len) ++len;
  return std::to_string(len) + " " + key + "=" + value + "\n";
}

Bytes block_of(const std::string& name, char type, uint64_t size, uint32_t mode, int64_t mtime,
               const std::string& link, const std::string& prefix) {
  Bytes block(kBlock, std::byte{0});
  put_text(block, 0, 100, name);
  put_octal(block, 100, 8, mode);
  put_octal(block, 108, 8, 0);  // uid
  put_octal(block, 116, 8, 0);  // gid
  put_octal(block, 124, 12, std::min(size, kMaxUstarSize));
  put_octal(block, 136, 12, static_cast<uint64_t>(std::max<int64_t>(mtime, 0)));
  std::memset(block.data() + 148, ' ', 8);  // The checksum counts itself as spaces.
  block[156] = static_cast<std::byte>(type);
  put_text(block, 157, 100, link);
  put_text(block, 257, 6, std::string("ustar", 6));  // "ustar\0"
  put_text(block, 263, 2, "00");
  put_text(block, 345, 155, prefix);
  uint32_t sum = 0;
  for (const auto b : block) sum += static_cast<uint8_t>(b);
  char text[8];
  std::snprintf(text, sizeof(text), "%06o", sum);
  std::memcpy(block.data() + 148, text, 6);
  block[154] = std::byte{0};
  block[155] = std::byte{' '};
  return block;
}

}  // namespace

uint64_t tar_padding(uint64_t content_size) { return (kBlock - content_size % kBlock) % kBlock; }

Bytes tar_header(const TarMember& m) {
  using protocol::NodeKind;
  const char type = m.kind == NodeKind::kFolder ? '5' : m.kind == NodeKind::kSymlink ? '2' : '0';
  // A symlink's own mode means nothing; tar writes 0777 for one, as GNU tar does.
  const uint32_t mode = m.kind == NodeKind::kSymlink ? 0777 : m.mode & protocol::kPermissionBits;
  const uint64_t size = m.kind == NodeKind::kFile ? m.size : 0;
  const std::string path = m.kind == NodeKind::kFolder ? m.path + "/" : m.path;

  std::string prefix;
  std::string name;
  std::string records;
  if (!split_ustar_path(path, prefix, name)) {
    records += pax_record("path", path);
    prefix.clear();
    name = path.substr(0, 100);
  }
  std::string link = m.link_target;
  if (link.size() > 100) {
    records += pax_record("linkpath", link);
    link = link.substr(0, 100);
  }
  if (size > kMaxUstarSize) records += pax_record("size", std::to_string(size));

  Bytes out;
  if (!records.empty()) {
    // A pax header member ('x') whose content is the records, padded to a block.
    Bytes pax = block_of("PaxHeader", 'x', records.size(), 0644, m.mtime_seconds, "", "");
    out.insert(out.end(), pax.begin(), pax.end());
    const auto* bytes = reinterpret_cast<const std::byte*>(records.data());
    out.insert(out.end(), bytes, bytes + records.size());
    out.resize(out.size() + tar_padding(records.size()), std::byte{0});
  }
  Bytes main = block_of(name, type, size, mode, m.mtime_seconds, link, prefix);
  out.insert(out.end(), main.begin(), main.end());
  return out;
}

}  // namespace cairn::service
