// Remote paths and names as a request or a server's answer carries them. What normalizes is
// canonical (normalizing it again changes nothing), absolute, free of "." and ".." segments and
// of empty ones, and splits into names that each normalize to themselves.

#include <cctype>

#include "common/remote_path.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cairn;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto name = normalize_remote_name(text)) {
    FUZZ_CHECK(!name->empty());
    FUZZ_CHECK(name->find('/') == std::string::npos);
    FUZZ_CHECK(*name != "." && *name != "..");
    FUZZ_CHECK(normalize_remote_name(*name).value() == *name);
  } else {
    FUZZ_CHECK(name.error().code() == ErrorCode::kInvalidArgument);
  }
  auto path = normalize_remote_path(text);
  if (!path) {
    FUZZ_CHECK(path.error().code() == ErrorCode::kInvalidArgument);
    return 0;
  }
  FUZZ_CHECK(!path->empty() && (*path)[0] == '/');
  FUZZ_CHECK(path->size() <= kMaxPathBytes);
  FUZZ_CHECK(normalize_remote_path(*path).value() == *path);
  std::string rebuilt = "/";
  for (const auto& segment : split_remote_path(*path)) {
    FUZZ_CHECK(normalize_remote_name(segment).value() == segment);
    FUZZ_CHECK(segment.size() <= kMaxNameBytes);
    std::string lower = segment;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    FUZZ_CHECK(lower != ".cairn");  // A working copy's state folder is never a remote name.
    for (const char c : segment) FUZZ_CHECK(static_cast<unsigned char>(c) >= 0x20 && c != 0x7f);
    rebuilt = join_remote_path(rebuilt, segment);
  }
  FUZZ_CHECK(rebuilt == *path);
  if (*path != "/") {
    FUZZ_CHECK(join_remote_path(remote_parent(*path), remote_basename(*path)) == *path);
  }
  return 0;
}
