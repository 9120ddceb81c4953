// .cairnignore rules, read from real files in a temporary working copy.

#include "cli/client/tree/ignore.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli/client/tree/scanner.h"
#include "tests/unit/daemon/test_dir.h"

namespace cairn::client {
namespace {

namespace fs = std::filesystem;

class IgnoreTest : public ::testing::Test {
 protected:
  void write(const std::string& rel, const std::string& text) {
    const fs::path p = fs::path(dir_.path()) / rel;
    fs::create_directories(p.parent_path());
    std::ofstream(p) << text;
  }
  bool ignored(const std::string& rel, bool folder = false) {
    IgnoreRules rules(dir_.path());
    return rules.ignored(rel, folder);
  }

  testing::TempDir dir_;
};

TEST_F(IgnoreTest, GitignoreSyntax) {
  write(".cairnignore",
        "# build output\n"
        "\n"
        "*.o\n"
        "build/\n"
        "/top-only.txt\n"
        "docs/*.tmp\n"
        "**/cache/**\n"
        "logs/**/debug.log\n"
        "\\#literal\n"
        "trailing-space.txt   \n"
        "escaped\\ \n"
        "data[0-9].bin\n"
        "!keep.o\n");
  // A name anywhere below.
  EXPECT_TRUE(ignored("main.o"));
  EXPECT_TRUE(ignored("src/deep/x.o"));
  EXPECT_FALSE(ignored("main.c"));
  // Negation: the later rule re-includes.
  EXPECT_FALSE(ignored("keep.o"));
  EXPECT_FALSE(ignored("src/keep.o"));
  // Folders only, and everything below them.
  EXPECT_TRUE(ignored("build", true));
  EXPECT_TRUE(ignored("src/build", true));
  EXPECT_FALSE(ignored("build"));  // A file named build is not a folder.
  EXPECT_TRUE(ignored("build/out/a.txt"));
  // Anchored to the folder of the .cairnignore.
  EXPECT_TRUE(ignored("top-only.txt"));
  EXPECT_FALSE(ignored("sub/top-only.txt"));
  EXPECT_TRUE(ignored("docs/a.tmp"));
  EXPECT_FALSE(ignored("docs/sub/a.tmp"));  // '*' stays within one name.
  EXPECT_FALSE(ignored("other/docs/a.tmp"));
  // '**' spans folders.
  EXPECT_TRUE(ignored("cache/x"));
  EXPECT_TRUE(ignored("a/b/cache/c/d"));
  EXPECT_FALSE(ignored("a/cache", true));  // "cache/**" is what is inside, not the folder.
  EXPECT_TRUE(ignored("logs/debug.log"));
  EXPECT_TRUE(ignored("logs/a/b/debug.log"));
  EXPECT_FALSE(ignored("logs/a/b/info.log"));
  // Escapes, spaces, classes.
  EXPECT_TRUE(ignored("#literal"));
  EXPECT_TRUE(ignored("trailing-space.txt"));
  EXPECT_TRUE(ignored("escaped "));
  EXPECT_FALSE(ignored("escaped"));
  EXPECT_TRUE(ignored("data7.bin"));
  EXPECT_FALSE(ignored("dataX.bin"));
  // The .cairnignore itself is synced.
  EXPECT_FALSE(ignored(".cairnignore"));
}

TEST_F(IgnoreTest, DeeperFilesOverrideAndIgnoredFoldersStayIgnored) {
  write(".cairnignore", "*.log\nvendor/\n");
  write("app/.cairnignore", "!important.log\n/local.txt\n");
  EXPECT_TRUE(ignored("x.log"));
  EXPECT_TRUE(ignored("app/x.log"));
  EXPECT_FALSE(ignored("app/important.log"));
  EXPECT_TRUE(ignored("important.log"));  // The re-include applies below app/ only.
  EXPECT_TRUE(ignored("app/local.txt"));
  EXPECT_FALSE(ignored("local.txt"));
  // Nothing below an ignored folder comes back, whatever a deeper rule says.
  write("vendor/.cairnignore", "!*\n");
  EXPECT_TRUE(ignored("vendor/lib/a.c"));

  IgnoreRules rules(dir_.path());
  auto why = rules.explain("vendor/lib/a.c", false);
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(why->via, "vendor");
  EXPECT_EQ(why->source, ".cairnignore");
  EXPECT_EQ(why->line, 2);
  auto kept = rules.explain("app/important.log", false);
  ASSERT_TRUE(kept.has_value());
  EXPECT_TRUE(kept->negated);
  EXPECT_EQ(kept->source, "app/.cairnignore");
  EXPECT_FALSE(rules.explain("src/main.c", false).has_value());
}

// Rules reach only below the folder of their .cairnignore, however the questions come: one
// IgnoreRules answers for the whole tree (as a scan asks), its answers cached per folder.
TEST_F(IgnoreTest, ADeepCairnignoreReachesOnlyBelowItsFolder) {
  write(".cairnignore", "# only a comment\n\n");
  write("a/b/.cairnignore", "*.log\n/top.txt\n");
  IgnoreRules rules(dir_.path());
  EXPECT_FALSE(rules.ignored("x.log", false));
  EXPECT_FALSE(rules.ignored("a/x.log", false));
  EXPECT_TRUE(rules.ignored("a/b/x.log", false));
  EXPECT_TRUE(rules.ignored("a/b/c/d/x.log", false));
  EXPECT_FALSE(rules.ignored("a/c/x.log", false));
  EXPECT_TRUE(rules.ignored("a/b/top.txt", false));
  EXPECT_FALSE(rules.ignored("a/b/c/top.txt", false));
  EXPECT_FALSE(rules.ignored("a/top.txt", false));
  auto why = rules.explain("a/b/c/x.log", false);
  ASSERT_TRUE(why.has_value());
  EXPECT_EQ(why->source, "a/b/.cairnignore");
  EXPECT_FALSE(rules.explain("a/x.log", false).has_value());
}

TEST_F(IgnoreTest, TheScannerLeavesIgnoredPathsOut) {
  write(".cairnignore", "node_modules/\n*.tmp\n");
  write("node_modules/pkg/index.js", "x");
  write("a.tmp", "x");
  write("src/a.c", "x");
  auto scan = scan_tree(dir_.path());
  ASSERT_TRUE(scan.has_value());
  std::vector<std::string> paths;
  for (const auto& e : scan->entries) paths.push_back(e.path);
  EXPECT_EQ(paths, (std::vector<std::string>{".cairnignore", "src", "src/a.c"}));
  EXPECT_EQ(scan->ignored, 2u);  // node_modules (not descended into) and a.tmp.
}

}  // namespace
}  // namespace cairn::client
