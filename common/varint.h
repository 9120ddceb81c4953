#pragma once

// Unsigned LEB128 numbers in their shortest form, as the manifest and pack encodings use them:
// 7 bits a byte, least significant group first, high bit set on every byte but the last.

#include <cstdint>
#include <cstring>
#include <string>

#include "common/bytes.h"
#include "common/error.h"

namespace cairn::varint {

// Appends raw bytes. resize + memcpy rather than vector::insert: g++ 12 reports a false
// -Wstringop-overflow for insert of a span at -O2.
inline void put_raw(Bytes& out, ByteView bytes) {
  const size_t at = out.size();
  out.resize(at + bytes.size());
  if (!bytes.empty()) std::memcpy(out.data() + at, bytes.data(), bytes.size());
}

inline void put(Bytes& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<std::byte>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<std::byte>(v));
}

// Why a read stopped: the input ended inside the number, or the number is malformed.
enum class Status { kOk, kTruncated, kMalformed };

// Reads a shortest-form number of at most 64 bits at `pos`; advances `pos` only on kOk.
inline Status get(ByteView in, size_t& pos, uint64_t& value) {
  uint64_t v = 0;
  size_t p = pos;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (p >= in.size()) return Status::kTruncated;
    const auto byte = static_cast<uint8_t>(in[p++]);
    const uint64_t group = byte & 0x7F;
    if (shift == 63 && group > 1) return Status::kMalformed;  // Overflows 64 bits.
    v |= group << shift;
    if ((byte & 0x80) == 0) {
      if (byte == 0 && shift != 0) return Status::kMalformed;  // Not the shortest form.
      pos = p;
      value = v;
      return Status::kOk;
    }
  }
  return Status::kMalformed;  // Longer than 10 bytes.
}

// get() for a complete input: a truncated or malformed number is kCorrupt, named by `what`.
inline Result<uint64_t> get_or_corrupt(ByteView in, size_t& pos, const char* what) {
  uint64_t v = 0;
  switch (get(in, pos, v)) {
    case Status::kOk:
      return v;
    case Status::kTruncated:
      return make_error(ErrorCode::kCorrupt, std::string(what) + " truncated in a number");
    case Status::kMalformed:
      break;
  }
  return make_error(ErrorCode::kCorrupt, std::string(what) + " has a malformed number");
}

}  // namespace cairn::varint
