#pragma once

// What every fuzz target shares: its input as bytes and text, and the check that turns a broken
// invariant into a crash libFuzzer reports (and the replay driver fails on).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "common/bytes.h"

#define FUZZ_CHECK(cond)                                                                \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                     \
    }                                                                                   \
  } while (false)

namespace cairn::fuzz {

// Reads an input front to back: lines of text, single bytes, and what is left.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : text_(reinterpret_cast<const char*>(data), size) {}

  bool empty() const { return pos_ >= text_.size(); }
  // The next byte, or 0 past the end.
  uint8_t byte() { return empty() ? 0 : static_cast<uint8_t>(text_[pos_++]); }
  // Up to the next '\n' (not included), or the rest.
  std::string_view line() {
    const size_t end = std::min(text_.find('\n', pos_), text_.size());
    const std::string_view out = text_.substr(pos_, end - pos_);
    pos_ = std::min(end + 1, text_.size());
    return out;
  }
  std::string_view rest() {
    const std::string_view out = text_.substr(std::min(pos_, text_.size()));
    pos_ = text_.size();
    return out;
  }

 private:
  std::string_view text_;
  size_t pos_ = 0;
};

inline ByteView bytes_of(std::string_view text) {
  return {reinterpret_cast<const std::byte*>(text.data()), text.size()};
}

}  // namespace cairn::fuzz
