#include "cli/client/tree/ignore.h"

#include <fcntl.h>
#include <fnmatch.h>
#include <unistd.h>

#include <cerrno>
#include <sstream>

#include "common/file_io.h"

namespace cairn::client {
namespace {

std::vector<std::string> split(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t slash = path.find('/', start);
    const size_t end = slash == std::string::npos ? path.size() : slash;
    if (end > start) out.push_back(path.substr(start, end - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return out;
}

// One segment against one name: fnmatch without FNM_PATHNAME (a segment holds no '/'), with
// backslash escapes; a leading '.' is matched by '*' as in gitignore.
bool segment_matches(const std::string& pattern, const std::string& name) {
  return ::fnmatch(pattern.c_str(), name.c_str(), 0) == 0;
}

// Segments [p, end) of a pattern against names [n, end) of a path; "**" matches zero or more.
bool matches(const std::vector<std::string>& pat, size_t p, const std::vector<std::string>& names,
             size_t n) {
  while (p < pat.size()) {
    if (pat[p] == "**") {
      if (p + 1 == pat.size()) return n < names.size();  // "a/**": everything inside a.
      for (size_t skip = n; skip <= names.size(); ++skip) {
        if (matches(pat, p + 1, names, skip)) return true;
      }
      return false;
    }
    if (n >= names.size() || !segment_matches(pat[p], names[n])) return false;
    ++p;
    ++n;
  }
  return n == names.size();
}

std::string rtrim_unescaped(std::string line) {
  while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) {
    if (line.size() >= 2 && line[line.size() - 2] == '\\') {
      line.erase(line.size() - 2, 1);  // "\ " keeps the space.
      break;
    }
    line.pop_back();
  }
  return line;
}

}  // namespace

std::vector<IgnoreRules::Rule> IgnoreRules::parse(const std::string& text) {
  std::vector<Rule> rules;
  std::istringstream in(text);
  std::string raw;
  int number = 0;
  while (std::getline(in, raw)) {
    ++number;
    std::string line = rtrim_unescaped(raw);
    if (line.empty() || line[0] == '#') continue;
    Rule r;
    r.line = number;
    r.text = line;
    if (line[0] == '!') {
      r.negated = true;
      line.erase(0, 1);
    } else if (line.size() >= 2 && line[0] == '\\' && (line[1] == '#' || line[1] == '!')) {
      line.erase(0, 1);
    }
    if (!line.empty() && line.back() == '/') {
      r.folders_only = true;
      line.pop_back();
    }
    if (line.empty()) continue;
    // Anchored to the .cairnignore's folder if a '/' remains anywhere; otherwise any depth.
    const bool anchored = line.find('/') != std::string::npos;
    r.segments = split(line);
    if (r.segments.empty()) continue;
    if (!anchored) r.segments.insert(r.segments.begin(), "**");
    rules.push_back(std::move(r));
  }
  return rules;
}

IgnoreRules::IgnoreRules(std::string root) : root_(std::move(root)) {}

const IgnoreRules::File& IgnoreRules::file_in(const std::string& dir) {
  auto it = files_.find(dir);
  if (it != files_.end()) return it->second;
  File f;
  f.dir = dir;
  // Most folders have none: then a failed open(2) is all this costs (a std::ifstream cost its
  // construction as well, a twentieth of a no-change push of 60,000 files in 3,000 folders).
  const std::string path = root_ + "/" + (dir.empty() ? "" : dir + "/") + kIgnoreFile;
  if (UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC)); fd) {
    std::string text;
    char buffer[8192];
    ssize_t n = 0;
    while ((n = ::read(fd.get(), buffer, sizeof buffer)) > 0 || (n < 0 && errno == EINTR)) {
      if (n > 0) text.append(buffer, static_cast<size_t>(n));
    }
    f.rules = parse(text);
  }
  return files_.emplace(dir, std::move(f)).first->second;
}

bool IgnoreRules::rules_reach(const std::string& dir) {
  auto cached = reach_cache_.find(dir);
  if (cached != reach_cache_.end()) return cached->second;
  bool reach = !file_in(dir).rules.empty();
  if (!reach && !dir.empty()) {
    const size_t slash = dir.rfind('/');
    reach = rules_reach(slash == std::string::npos ? std::string() : dir.substr(0, slash));
  }
  reach_cache_.emplace(dir, reach);
  return reach;
}

std::optional<IgnoreMatch> IgnoreRules::decide(const std::string& rel, bool folder) {
  // Most trees have no .cairnignore above most paths: then nothing is split or matched. (A scan
  // asks about every entry; before this, a no-change push of 60,000 files spent a fifth of its
  // time here.)
  const size_t slash = rel.rfind('/');
  if (!rules_reach(slash == std::string::npos ? std::string() : rel.substr(0, slash))) {
    return std::nullopt;
  }
  const std::vector<std::string> names = split(rel);
  std::optional<IgnoreMatch> last;
  // The .cairnignore files of the root and of each folder above `rel`, shallowest first.
  std::string dir;
  for (size_t depth = 0; depth < names.size(); ++depth) {
    if (depth > 0) dir = dir.empty() ? names[depth - 1] : dir + "/" + names[depth - 1];
    const File& f = file_in(dir);
    for (const Rule& r : f.rules) {
      if (r.folders_only && !folder) continue;
      if (!matches(r.segments, 0, names, depth)) continue;
      last = IgnoreMatch{dir.empty() ? kIgnoreFile : dir + "/" + kIgnoreFile, r.line, r.text,
                         r.negated, ""};
    }
  }
  return last;
}

std::optional<IgnoreMatch> IgnoreRules::explain(const std::string& rel, bool folder) {
  // A folder above that is ignored decides, whatever the rules say of `rel` itself.
  const std::vector<std::string> names = split(rel);
  std::string dir;
  for (size_t i = 0; i + 1 < names.size(); ++i) {
    dir = dir.empty() ? names[i] : dir + "/" + names[i];
    auto m = decide(dir, true);
    if (m && !m->negated) {
      m->via = dir;
      return m;
    }
  }
  return decide(rel, folder);
}

bool IgnoreRules::ignored(const std::string& rel, bool folder) {
  const size_t slash = rel.rfind('/');
  if (slash != std::string::npos) {
    const std::string parent = rel.substr(0, slash);
    auto cached = folder_cache_.find(parent);
    bool parent_ignored = false;
    if (cached != folder_cache_.end()) {
      parent_ignored = cached->second;
    } else {
      parent_ignored = ignored(parent, true);
      folder_cache_.emplace(parent, parent_ignored);
    }
    if (parent_ignored) return true;
  }
  auto m = decide(rel, folder);
  return m && !m->negated;
}

}  // namespace cairn::client
