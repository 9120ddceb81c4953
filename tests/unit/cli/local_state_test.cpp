#include "cli/client/state/local_state.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "lib/sqlite/sqlite.h"
#include "tests/unit/daemon/test_dir.h"

namespace cairn::client {
namespace {

// Statements whose text is built per batch come and go; one still being stepped stays.
TEST(SqliteDatabaseTest, TheStatementCacheStaysBoundedAndKeepsWhatIsInUse) {
  testing::TempDir dir;
  auto db = sqlite::Database::open(dir.path() + "/t.db", true, false);
  ASSERT_TRUE(db.has_value()) << db.error().message();
  sqlite::Database& d = **db;
  ASSERT_TRUE(d.exec("CREATE TABLE t(x INTEGER); INSERT INTO t VALUES (1), (2), (3);"));
  auto first = d.query("SELECT x FROM t ORDER BY x");
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(*(*first)->step());
  EXPECT_EQ((*first)->get_int(0), 1);
  for (int i = 0; i < 300; ++i) {
    auto q = d.query("SELECT " + std::to_string(i) + " + ?1", int64_t{1});
    ASSERT_TRUE(q.has_value());
    ASSERT_TRUE(*(*q)->step());
    ASSERT_EQ((*q)->get_int(0), i + 1);
    if (i % 10 == 9) {
      // Between operations: what is not in use may go; `first` is in use until the end.
      auto again = d.query("SELECT x FROM t ORDER BY x");
      ASSERT_EQ(*again, *first);
      ASSERT_TRUE(*(*first)->step());
      ASSERT_EQ((*first)->get_int(0), 1);
    }
  }
  d.reset_all();
  for (int i = 0; i < 300; ++i) {
    ASSERT_TRUE(d.query("SELECT " + std::to_string(i) + " * 2"));
    d.reset_all();
  }
  EXPECT_LE(d.cached_statements(), 128u);
  auto reused = d.query("SELECT x FROM t ORDER BY x");
  ASSERT_TRUE(reused.has_value());
  ASSERT_TRUE(*(*reused)->step());
  EXPECT_EQ((*reused)->get_int(0), 1);
  d.reset_all();
}

TEST(LocalStateTest, CreateOpenFindAndUpdate) {
  testing::TempDir dir;
  const std::string root = dir.path() + "/wc";
  auto state = LocalState::create(root, "http://h:1", "/docs");
  ASSERT_TRUE(state.has_value()) << state.error().message();
  EXPECT_EQ(LocalState::create(root, "http://h:1", "/docs").error().code(),
            ErrorCode::kAlreadyExists);
  std::filesystem::create_directories(root + "/deep/er");
  EXPECT_EQ(*LocalState::find_root(root + "/deep/er"), root);
  EXPECT_EQ(LocalState::find_root(dir.path()).error().code(), ErrorCode::kNotFound);

  EXPECT_EQ(*(*state)->setting("remote_root"), "/docs");
  EXPECT_EQ(*(*state)->setting("cursor", "none"), "none");
  ASSERT_TRUE((*state)->set_setting("cursor", "c1.1.5"));

  BaseRecord b;
  b.path = "deep/er/file.txt";
  b.size = 42;
  b.mtime_ns = 123456789012345;
  b.inode = 77;
  b.mode = 0755;
  b.xxh3 = 0xFFFFFFFFFFFFFFFFull;  // Full 64 bits survive SQLite's signed integers.
  b.version = 3;
  b.node_id = 9;
  Manifest m;
  m.add({sha256(as_bytes("c1")), 2});
  m.add({sha256(as_bytes("c2")), 3});
  b.manifest = m.address();
  ASSERT_TRUE((*state)->update({b}, {}, {{b.path, m}}));

  auto reopened = LocalState::open(root);
  ASSERT_TRUE(reopened.has_value());
  EXPECT_EQ(*(*reopened)->setting("cursor"), "c1.1.5");
  auto base = (*reopened)->load_base();
  ASSERT_TRUE(base.has_value());
  ASSERT_EQ(base->size(), 1u);
  const BaseRecord& got = base->begin()->second;
  EXPECT_EQ(got.size, 42u);
  EXPECT_EQ(got.mtime_ns, 123456789012345);
  EXPECT_EQ(got.xxh3, 0xFFFFFFFFFFFFFFFFull);
  EXPECT_EQ(got.mode, 0755u);
  EXPECT_EQ(got.version, 3);
  EXPECT_EQ(got.manifest, m.address());  // Stored as hex, read back as the address.

  // Every chunk asked for at once: those recorded come back with where they lie, the
  // others are left out.
  auto locator = ChunkLocator::open(root);
  ASSERT_TRUE(locator.has_value());
  const Digest c1 = sha256(as_bytes("c1"));
  const Digest c2 = sha256(as_bytes("c2"));
  auto found = (*locator)->find_all({c2, sha256(as_bytes("never recorded")), c1});
  ASSERT_TRUE(found.has_value()) << found.error().message();
  ASSERT_EQ(found->size(), 2u);
  EXPECT_EQ(found->at(c1).path, b.path);
  EXPECT_EQ(found->at(c1).offset, 0u);
  EXPECT_EQ(found->at(c1).length, 2u);
  EXPECT_EQ(found->at(c2).path, b.path);
  EXPECT_EQ(found->at(c2).offset, 2u);
  EXPECT_EQ(found->at(c2).length, 3u);
  EXPECT_TRUE((*locator)->find_all({})->empty());

  // Recording a path again replaces every field of its record (an update in place, which writes
  // fewer pages than deleting the row and inserting it anew), and keeps one record.
  BaseRecord again;
  again.path = b.path;
  again.kind = protocol::NodeKind::kSymlink;
  again.size = 7;
  again.mtime_ns = 5;
  again.inode = 8;
  again.mode = 0600;
  again.xxh3 = 11;
  again.target = "elsewhere";
  again.version = 4;
  again.node_id = 12;
  ASSERT_TRUE((*reopened)->update({again}, {}, {}));
  base = (*reopened)->load_base();
  ASSERT_TRUE(base.has_value());
  ASSERT_EQ(base->size(), 1u);
  const BaseRecord& replaced = base->begin()->second;
  EXPECT_EQ(replaced.kind, protocol::NodeKind::kSymlink);
  EXPECT_EQ(replaced.size, 7u);
  EXPECT_EQ(replaced.mtime_ns, 5);
  EXPECT_EQ(replaced.inode, 8u);
  EXPECT_EQ(replaced.mode, 0600u);
  EXPECT_EQ(replaced.xxh3, 11u);
  EXPECT_EQ(replaced.target, "elsewhere");
  EXPECT_EQ(replaced.version, 4);
  EXPECT_EQ(replaced.node_id, 12);
  EXPECT_FALSE(replaced.manifest.has_value());

  ASSERT_TRUE((*reopened)->update({}, {b.path}, {}));
  EXPECT_TRUE((*reopened)->load_base()->empty());
  EXPECT_TRUE((*locator)->find_all({c1, c2})->empty());
}

// A folder's subtree, whatever sorts between the folder and its children.
TEST(LocalStateTest, SubtreePathsSkipNeighboursThatSortInBetween) {
  std::map<std::string, BaseRecord> base;
  for (const char* p : {"a", "a b", "a b/c", "a-z", "a.txt", "a/x", "a/y/z", "ab", "b"}) {
    base[p].path = p;
  }
  EXPECT_EQ(subtree_paths(base, "a"), (std::vector<std::string>{"a", "a/x", "a/y/z"}));
  EXPECT_EQ(subtree_paths(base, "a b"), (std::vector<std::string>{"a b", "a b/c"}));
  EXPECT_EQ(subtree_paths(base, "a/y"), std::vector<std::string>{"a/y/z"});
  EXPECT_TRUE(subtree_paths(base, "c").empty());
}

}  // namespace
}  // namespace cairn::client

namespace cairn::client {
namespace {

TEST(LocalStateTest, WritersExcludeEachOtherAndClearPartialDownloads) {
  testing::TempDir dir;
  const std::string root = dir.path() + "/wc";
  auto first = LocalState::create(root, "http://h:1", "/");
  ASSERT_TRUE(first.has_value());
  const std::string leftover = root + "/.cairn/tmp/abandoned.part";
  std::ofstream(leftover) << "half a file";
  ASSERT_TRUE((*first)->lock_for_writing());
  EXPECT_FALSE(std::filesystem::exists(leftover));
  auto second = LocalState::open(root);
  ASSERT_TRUE(second.has_value());
  auto blocked = (*second)->lock_for_writing();
  ASSERT_FALSE(blocked.has_value());
  EXPECT_EQ(blocked.error().code(), ErrorCode::kUnavailable);
  first->reset();  // Releases the lock.
  EXPECT_TRUE((*second)->lock_for_writing());
}

}  // namespace
}  // namespace cairn::client
