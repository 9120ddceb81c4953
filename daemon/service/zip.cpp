#include "daemon/service/zip.h"

#include <zlib.h>

#include <algorithm>
#include <ctime>
#include <utility>

namespace cairn::service {
namespace {

using protocol::NodeKind;

constexpr uint32_t kLocalHeader = 0x04034b50;
constexpr uint32_t kDataDescriptor = 0x08074b50;
constexpr uint32_t kCentralHeader = 0x02014b50;
constexpr uint32_t kZip64End = 0x06064b50;
constexpr uint32_t kZip64Locator = 0x07064b50;
constexpr uint32_t kEnd = 0x06054b50;
constexpr uint32_t kMax32 = 0xffffffff;
constexpr uint16_t kMax16 = 0xffff;
constexpr uint16_t kFlagDescriptor = 0x0008;  // CRC and sizes follow the content.
constexpr uint16_t kFlagUtf8 = 0x0800;
constexpr uint16_t kVersion = 20;         // 2.0: folders, stored entries.
constexpr uint16_t kVersionZip64 = 45;    // 4.5: ZIP64 records.
constexpr uint16_t kMadeByUnix = 3 << 8;  // Attributes are Unix modes.
constexpr uint16_t kExtraZip64 = 0x0001;
constexpr uint16_t kExtraTime = 0x5455;  // Info-ZIP's Unix modification time.
constexpr size_t kLocalFixed = 30;
constexpr size_t kCentralFixed = 46;
constexpr size_t kTimeExtra = 9;
constexpr size_t kEndFixed = 22;
constexpr size_t kZip64EndBytes = 56 + 20;  // The ZIP64 end record and its locator.

void put16(Bytes& out, uint64_t v) {
  for (int i = 0; i < 2; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
}
void put32(Bytes& out, uint64_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
}
void put64(Bytes& out, uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>((v >> (8 * i)) & 0xff));
}
void put_text(Bytes& out, const std::string& s) {
  const auto bytes = as_bytes(s);
  out.insert(out.end(), bytes.begin(), bytes.end());
}

// A file too large for the 32-bit size fields: its sizes live in a ZIP64 extra field and its
// descriptor carries 64-bit sizes.
bool large(const TarMember& m) { return m.size >= kMax32; }

// The content stored for a member: a file's bytes, a symlink's target, nothing for a folder.
uint64_t content_size(const TarMember& m) {
  switch (m.kind) {
    case NodeKind::kFile:
      return m.size;
    case NodeKind::kSymlink:
      return m.link_target.size();
    case NodeKind::kFolder:
      return 0;
  }
  return 0;
}

// MS-DOS date and time (UTC; the time extra field holds the exact second for those who read
// it), clamped to what the format can say: 1980 to 2107.
std::pair<uint16_t, uint16_t> dos_time(int64_t seconds) {
  std::tm tm{};
  const auto t = static_cast<std::time_t>(std::clamp<int64_t>(seconds, 315532800, 4354819198));
  gmtime_r(&t, &tm);
  const auto time = static_cast<uint16_t>(tm.tm_hour << 11 | tm.tm_min << 5 | tm.tm_sec / 2);
  const auto date =
      static_cast<uint16_t>((tm.tm_year - 80) << 9 | (tm.tm_mon + 1) << 5 | tm.tm_mday);
  return {time, date};
}

void put_time_extra(Bytes& out, int64_t seconds) {
  put16(out, kExtraTime);
  put16(out, 5);
  out.push_back(std::byte{1});  // The modification time is there.
  put32(out, static_cast<uint32_t>(std::clamp<int64_t>(seconds, 0, 0x7fffffff)));
}

uint32_t unix_attributes(const TarMember& m) {
  const uint32_t type = m.kind == NodeKind::kFolder    ? 0040000
                        : m.kind == NodeKind::kSymlink ? 0120000
                                                       : 0100000;
  const uint32_t mode = m.kind == NodeKind::kSymlink ? 0777 : (m.mode & 0777);
  return (type | mode) << 16 | (m.kind == NodeKind::kFolder ? 0x10 : 0);
}

size_t local_header_size(const TarMember& m, const std::string& name) {
  return kLocalFixed + name.size() + kTimeExtra + (large(m) ? 20 : 0);
}

size_t central_header_size(const TarMember& m, const std::string& name, uint64_t offset) {
  const size_t fields = (large(m) ? 2 : 0) + (offset >= kMax32 ? 1 : 0);
  return kCentralFixed + name.size() + kTimeExtra + (fields ? 4 + 8 * fields : 0);
}

}  // namespace

uint32_t crc32_update(uint32_t crc, ByteView data) {
  // zlib's crc32 takes lengths as uInt: feed it at most 1 GiB at a time.
  while (!data.empty()) {
    const size_t n = std::min<size_t>(data.size(), size_t{1} << 30);
    crc = static_cast<uint32_t>(
        ::crc32(crc, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(n)));
    data = data.subspan(n);
  }
  return crc;
}

ZipLayout::ZipLayout(std::vector<TarMember> members) {
  uint64_t at = 0;
  for (auto& m : members) {
    Placed p;
    p.name = m.kind == NodeKind::kFolder ? m.path + "/" : m.path;
    p.offset = at;
    if (m.kind == NodeKind::kSymlink) {
      p.crc = crc32_update(0, as_bytes(m.link_target));
    }
    at += local_header_size(m, p.name) + content_size(m);
    if (m.kind == NodeKind::kFile) at += large(m) ? 24 : 16;
    directory_size_ += central_header_size(m, p.name, p.offset);
    p.member = std::move(m);
    members_.push_back(std::move(p));
  }
  directory_offset_ = at;
  const bool zip64 =
      members_.size() >= kMax16 || directory_offset_ >= kMax32 || directory_size_ >= kMax32;
  size_ = directory_offset_ + directory_size_ + (zip64 ? kZip64EndBytes : 0) + kEndFixed;
}

Bytes ZipLayout::header(size_t i) const {
  const Placed& p = members_.at(i);
  const TarMember& m = p.member;
  const bool file = m.kind == NodeKind::kFile;
  const auto [time, date] = dos_time(m.mtime_seconds);
  Bytes out;
  out.reserve(local_header_size(m, p.name) + m.link_target.size());
  put32(out, kLocalHeader);
  put16(out, large(m) ? kVersionZip64 : kVersion);
  put16(out, kFlagUtf8 | (file ? kFlagDescriptor : 0));
  put16(out, 0);  // Stored.
  put16(out, time);
  put16(out, date);
  // A file's CRC and sizes come in its descriptor; a folder's and a symlink's are known.
  put32(out, file ? 0 : p.crc);
  const uint64_t size = file ? 0 : content_size(m);
  put32(out, large(m) ? kMax32 : size);
  put32(out, large(m) ? kMax32 : size);
  put16(out, p.name.size());
  put16(out, kTimeExtra + (large(m) ? 20 : 0));
  put_text(out, p.name);
  put_time_extra(out, m.mtime_seconds);
  if (large(m)) {
    put16(out, kExtraZip64);
    put16(out, 16);
    put64(out, 0);
    put64(out, 0);
  }
  if (m.kind == NodeKind::kSymlink) put_text(out, m.link_target);
  return out;
}

Bytes ZipLayout::descriptor(size_t i, uint32_t crc) {
  Placed& p = members_.at(i);
  p.crc = crc;
  Bytes out;
  put32(out, kDataDescriptor);
  put32(out, crc);
  if (large(p.member)) {
    put64(out, p.member.size);
    put64(out, p.member.size);
  } else {
    put32(out, p.member.size);
    put32(out, p.member.size);
  }
  return out;
}

Bytes ZipLayout::central_directory() const {
  Bytes out;
  out.reserve(directory_size_);
  for (const Placed& p : members_) {
    const TarMember& m = p.member;
    const bool file = m.kind == NodeKind::kFile;
    const bool far = p.offset >= kMax32;
    const auto [time, date] = dos_time(m.mtime_seconds);
    const uint64_t size = content_size(m);
    const size_t fields = (large(m) ? 2 : 0) + (far ? 1 : 0);
    const uint16_t version = large(m) || far ? kVersionZip64 : kVersion;
    put32(out, kCentralHeader);
    put16(out, kMadeByUnix | version);
    put16(out, version);
    put16(out, kFlagUtf8 | (file ? kFlagDescriptor : 0));
    put16(out, 0);
    put16(out, time);
    put16(out, date);
    put32(out, p.crc);
    put32(out, large(m) ? kMax32 : size);
    put32(out, large(m) ? kMax32 : size);
    put16(out, p.name.size());
    put16(out, kTimeExtra + (fields ? 4 + 8 * fields : 0));
    put16(out, 0);  // No comment.
    put16(out, 0);  // Disk 0.
    put16(out, 0);  // Internal attributes.
    put32(out, unix_attributes(m));
    put32(out, far ? kMax32 : p.offset);
    put_text(out, p.name);
    put_time_extra(out, m.mtime_seconds);
    if (fields) {
      put16(out, kExtraZip64);
      put16(out, 8 * fields);
      if (large(m)) {
        put64(out, size);
        put64(out, size);
      }
      if (far) put64(out, p.offset);
    }
  }
  return out;
}

Bytes ZipLayout::trailer() const {
  Bytes out = central_directory();
  const uint64_t count = members_.size();
  const bool zip64 = count >= kMax16 || directory_offset_ >= kMax32 || directory_size_ >= kMax32;
  if (zip64) {
    const uint64_t end64 = directory_offset_ + directory_size_;
    put32(out, kZip64End);
    put64(out, 44);  // The record's size after this field.
    put16(out, kMadeByUnix | kVersionZip64);
    put16(out, kVersionZip64);
    put32(out, 0);
    put32(out, 0);
    put64(out, count);
    put64(out, count);
    put64(out, directory_size_);
    put64(out, directory_offset_);
    put32(out, kZip64Locator);
    put32(out, 0);
    put64(out, end64);
    put32(out, 1);  // One disk.
  }
  put32(out, kEnd);
  put16(out, 0);
  put16(out, 0);
  put16(out, zip64 ? kMax16 : count);
  put16(out, zip64 ? kMax16 : count);
  put32(out, zip64 ? kMax32 : directory_size_);
  put32(out, zip64 ? kMax32 : directory_offset_);
  put16(out, 0);  // No comment.
  return out;
}

}  // namespace cairn::service
