// .cairnignore rules (a file any collaborator can commit) on arbitrary text, asked about paths
// taken from the same input: never a crash or a runaway match (the fuzzer's timeout watches
// patterns like "**/**/**/*a*a*a"), and ignored() agrees with the rule explain() names.

#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <vector>

#include "cli/client/tree/ignore.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

std::string root() {
  static const std::string dir = [] {
    char name[] = "/tmp/cairn-fuzz-ignore-XXXXXX";
    FUZZ_CHECK(::mkdtemp(name) != nullptr);
    return std::string(name);
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cairn;
  const std::string text(reinterpret_cast<const char*>(data), size);
  {
    std::ofstream out(root() + "/.cairnignore", std::ios::binary | std::ios::trunc);
    out << text;
  }
  // Paths to ask about: fixed ones, and each line of the input turned into a relative path.
  std::vector<std::string> paths = {"a", "a/b", "build/x.o", "src/main.cpp", ".cairnignore"};
  fuzz::Input in(data, size);
  while (!in.empty() && paths.size() < 64) {
    std::string rel;
    for (const char c : in.line()) {
      if (c == '\0') continue;
      if (c == '/' && (rel.empty() || rel.back() == '/')) continue;
      rel += c;
    }
    while (!rel.empty() && rel.back() == '/') rel.pop_back();
    if (!rel.empty() && rel != "." && rel != ".." && rel.find("/./") == std::string::npos) {
      paths.push_back(rel);
    }
  }
  client::IgnoreRules rules(root());
  for (const auto& rel : paths) {
    for (const bool folder : {false, true}) {
      const auto why = rules.explain(rel, folder);
      FUZZ_CHECK(rules.ignored(rel, folder) == (why.has_value() && !why->negated));
    }
  }
  return 0;
}
