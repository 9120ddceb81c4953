#pragma once

// .cairnignore: paths of a working copy that are not synced, in gitignore syntax. Any folder may
// hold a .cairnignore; its rules apply to what lies below that folder. The files themselves are
// synced like any other, so every device of a working copy ignores the same things.
//
// Syntax (as gitignore): one pattern per line; blank lines and lines starting with '#' are
// skipped; trailing spaces are dropped unless escaped with '\'; '!' re-includes what an earlier
// rule ignored; '\#' and '\!' start a pattern with those characters. A trailing '/' matches only
// folders. A pattern with a '/' at its start or in its middle is relative to the .cairnignore's
// folder; otherwise it matches a name at any depth below it. '*' and '?' match within one name,
// '[a-z]' a character class, and '**' as a whole path segment any number of folders ('**/x',
// 'a/**/b', 'a/**'). The last rule that matches decides; rules of a deeper .cairnignore come
// after (and so override) those of shallower ones; nothing below an ignored folder can be
// re-included.
//
// Ignored paths are neither pushed nor pulled. A file already synced that becomes ignored stays
// on the server as it was (ignoring is not deleting).

#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/protocol/protocol.h"

namespace cairn::client {

inline constexpr const char* kIgnoreFile = ".cairnignore";

// The rule that decided about a path.
struct IgnoreMatch {
  std::string source;    // The .cairnignore it comes from, relative to the root.
  int line = 0;          // 1-based.
  std::string pattern;   // As written (without trailing spaces).
  bool negated = false;  // A '!' rule: the path is not ignored.
  std::string via;       // Set when a parent folder is what is ignored: that folder.
};

class IgnoreRules {
 public:
  // Rules of the working copy at `root`, read on demand (a folder's .cairnignore the first time
  // a path below it is asked about) and kept: make a new one to see edited files.
  explicit IgnoreRules(std::string root);

  // Whether `rel` (relative to the root, '/'-separated; `folder`: it is a folder) is ignored:
  // by a rule, or because a folder above it is.
  bool ignored(const std::string& rel, bool folder);
  // The rule that decides `rel`, or nullopt if none matches it or a folder above it.
  std::optional<IgnoreMatch> explain(const std::string& rel, bool folder);
  // Whether any rule can reach a path in `dir`: a .cairnignore with rules in it or above it.
  // When none can, nothing directly in `dir` is ignored unless `dir` itself is; a walk that asks
  // this once per folder spares itself asking ignored() of each entry.
  bool rules_reach(const std::string& dir);

 private:
  struct Rule {
    std::vector<std::string> segments;  // Pattern split at '/'; "**" spans folders.
    bool negated = false;
    bool folders_only = false;
    int line = 0;
    std::string text;
  };
  struct File {
    std::string dir;  // Relative to the root; "" for the root.
    std::vector<Rule> rules;
  };

  static std::vector<Rule> parse(const std::string& text);
  const File& file_in(const std::string& dir);
  // The last rule of any .cairnignore above `rel` that matches it (not its parents).
  std::optional<IgnoreMatch> decide(const std::string& rel, bool folder);

  std::string root_;
  std::unordered_map<std::string, File> files_;         // By folder.
  std::unordered_map<std::string, bool> folder_cache_;  // Folder -> ignored (with parents).
  std::unordered_map<std::string, bool> reach_cache_;   // Folder -> rules_reach.
};

// Drops from `records` (paths relative to `root`) those a .cairnignore excludes.
template <typename Record>
void forget_ignored(const std::string& root, std::map<std::string, Record>& records) {
  IgnoreRules rules(root);
  std::erase_if(records, [&](const auto& item) {
    return rules.ignored(item.first, item.second.kind == protocol::NodeKind::kFolder);
  });
}

}  // namespace cairn::client
