#pragma once

// Owned and borrowed byte buffers, and hex encoding.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cairn {

using Bytes = std::vector<std::byte>;
using ByteView = std::span<const std::byte>;

inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}
inline std::string_view as_string_view(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// Lower-case hex of `data`.
std::string to_hex(ByteView data);
// Decodes hex (either case); nullopt on odd length or a non-hex character.
std::optional<Bytes> from_hex(std::string_view hex);
// Decodes `hex` into `out`, which it must fill exactly; false (out unspecified) otherwise.
bool from_hex_into(std::string_view hex, std::span<std::byte> out);

// "512 B", "1.5 MiB": binary units, one decimal above bytes.
std::string human_bytes(uint64_t bytes);

}  // namespace cairn
