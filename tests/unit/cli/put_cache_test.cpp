#include "cli/client/state/put_cache.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/hash.h"
#include "tests/unit/daemon/test_dir.h"

namespace cairn::client {
namespace {

Manifest manifest_of(uint32_t length, char fill) {
  return Manifest({ChunkRef{sha256(as_bytes(std::string(1, fill))), length}});
}

TEST(PutCacheTest, AFileIsKnownWhileItsStampAndChunkingStayTheSame) {
  cairn::testing::TempDir dir;
  const std::string path = dir.path() + "/cache/put.db";
  const FileStamp stamp{100, 1'700'000'000'000'000'000, 42, 0644};
  const ChunkerParams params;
  {
    auto cache = PutCache::open(path);
    ASSERT_NE(cache, nullptr);
    EXPECT_FALSE(cache->find("/src/a", stamp, params).has_value());
    cache->remember("/src/a", stamp, params, manifest_of(100, 'a'));
    EXPECT_FALSE(cache->find("/src/a", stamp, params).has_value());  // Not flushed yet.
    cache->flush();
  }
  auto cache = PutCache::open(path);  // Kept across runs.
  ASSERT_NE(cache, nullptr);
  auto found = cache->find("/src/a", stamp, params);
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->address(), manifest_of(100, 'a').address());
  // Any change of the stamp, or other chunking, and it is not known.
  for (FileStamp other :
       {FileStamp{101, stamp.mtime_ns, 42, 0644}, FileStamp{100, stamp.mtime_ns + 1, 42, 0644},
        FileStamp{100, stamp.mtime_ns, 43, 0644}, FileStamp{100, stamp.mtime_ns, 42, 0755}}) {
    EXPECT_FALSE(cache->find("/src/a", other, params).has_value());
  }
  ChunkerParams other_chunking;
  other_chunking.avg_size *= 2;
  EXPECT_FALSE(cache->find("/src/a", stamp, other_chunking).has_value());
  EXPECT_FALSE(cache->find("/src/b", stamp, params).has_value());
  // A record made again replaces the old one.
  const FileStamp edited{100, stamp.mtime_ns + 5, 42, 0644};
  cache->remember("/src/a", edited, params, manifest_of(100, 'b'));
  cache->flush();
  EXPECT_FALSE(cache->find("/src/a", stamp, params).has_value());
  EXPECT_EQ(cache->find("/src/a", edited, params)->address(), manifest_of(100, 'b').address());
}

TEST(PutCacheTest, AnUnusableCacheIsNone) {
  cairn::testing::TempDir dir;
  const std::string path = dir.path() + "/put.db";
  std::ofstream(path) << "this is not a database";
  EXPECT_EQ(PutCache::open(path), nullptr);
  EXPECT_EQ(PutCache::open(""), nullptr);
}

}  // namespace
}  // namespace cairn::client
