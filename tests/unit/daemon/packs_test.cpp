// Packs through the services, on every blob backend: upload (through the daemon on local disk,
// straight to the bucket and confirmed on S3), locate, read back and verify; and what a bad or
// damaged pack does.

#include <curl/curl.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <random>
#include <set>
#include <thread>

#include "common/pack.h"
#include "daemon/service/services.h"
#include "daemon/store/local_blob_store.h"
#include "daemon/store/s3/s3_blob_store.h"
#include "daemon/store/sql_metadata_store.h"
#include "tests/unit/daemon/backends.h"
#include "tests/unit/daemon/service_test_support.h"
#include "tests/unit/daemon/test_dir.h"

namespace cairn::service {
namespace {

using testing::Backend;
using testing::backend_name;

using testing::drain;
using testing::ManualClock;
using testing::query_of;

std::string hex_of_url(const std::string& url, const std::string& prefix) {
  const size_t at = url.find(prefix) + prefix.size();
  return url.substr(at, 64);
}

// One HTTP request to a pre-signed URL, as a client would send it.
struct HttpResult {
  long status = 0;
  std::string body;
};

size_t append_body(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

HttpResult http(const std::string& method, const std::string& url,
                const std::vector<std::pair<std::string, std::string>>& headers, ByteView body) {
  HttpResult out;
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &append_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out.body);
  // A body without a Content-Type would be sent as a form, which moto tries to parse.
  struct curl_slist* list = curl_slist_append(nullptr, "Expect:");
  list = curl_slist_append(list, "Content-Type: application/octet-stream");
  std::vector<std::string> lines;
  lines.reserve(headers.size());
  for (const auto& [k, v] : headers) {
    lines.push_back(k + ": " + v);
    list = curl_slist_append(list, lines.back().c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  if (method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  if (curl_easy_perform(curl) == CURLE_OK) {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out.status);
  }
  curl_slist_free_all(list);
  curl_easy_cleanup(curl);
  return out;
}

Bytes text_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s;
  while (s.size() < n) s += "line " + std::to_string(rng() % 1000) + " of the sample\n";
  s.resize(n);
  const ByteView v = as_bytes(s);
  return Bytes(v.begin(), v.end());
}

Bytes random_bytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out(n);
  for (auto& b : out) b = static_cast<std::byte>(rng());
  return out;
}

// A real blob store with a hook that runs before each removal: the moment between gc's sweep
// and its deletion of an object, which a re-upload of the same chunk must not cross.
class HookedBlobStore final : public store::BlobStore {
 public:
  explicit HookedBlobStore(std::unique_ptr<store::BlobStore> inner) : inner_(std::move(inner)) {}

  std::function<void(const store::ObjectId&)> before_remove;

  using store::BlobStore::read_info;
  Result<std::unique_ptr<store::BlobWriter>> begin_put(const store::ObjectId& id,
                                                       uint64_t size) override {
    return inner_->begin_put(id, size);
  }
  Result<Bytes> get(const store::ObjectId& id) override { return inner_->get(id); }
  Result<Bytes> get_range(const store::ObjectId& id, store::ByteRange range) override {
    return inner_->get_range(id, range);
  }
  Result<store::BlobReadInfo> read_info(const store::ObjectId& id,
                                        const std::optional<store::ByteRange>& range) override {
    return inner_->read_info(id, range);
  }
  Result<std::optional<uint64_t>> stat(const store::ObjectId& id) override {
    return inner_->stat(id);
  }
  Result<void> remove(const store::ObjectId& id) override {
    if (before_remove) before_remove(id);
    return inner_->remove(id);
  }
  Result<void> quarantine(const store::ObjectId& id) override { return inner_->quarantine(id); }
  bool takes_direct_uploads() const override { return inner_->takes_direct_uploads(); }
  std::optional<store::DirectRequest> direct_upload(int64_t user_id, const store::ObjectId& id,
                                                    uint64_t size, int64_t ttl_seconds) override {
    return inner_->direct_upload(user_id, id, size, ttl_seconds);
  }
  Result<bool> adopt_direct_upload(int64_t user_id, const store::ObjectId& id,
                                   uint64_t size) override {
    return inner_->adopt_direct_upload(user_id, id, size);
  }
  Result<void> discard_direct_upload(int64_t user_id, const store::ObjectId& id) override {
    return inner_->discard_direct_upload(user_id, id);
  }
  std::string describe() const override { return inner_->describe(); }
  store::BlobStore& inner() { return *inner_; }

 private:
  std::unique_ptr<store::BlobStore> inner_;
};

class PackServiceTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    std::string url = dir_.path() + "/blobs";
    if (!GetParam().requires_server.empty()) {
      CAIRN_REQUIRE_BACKEND(GetParam().requires_server);
      bucket_.emplace();
      url = bucket_->url();
    }
    std::string metadata = dir_.path() + "/m.db";
    if (direct()) {
      // The two configurations a daemon runs in: SQLite and local disk, PostgreSQL and S3.
      CAIRN_REQUIRE_BACKEND("postgres");
      postgres_.emplace();
      metadata = postgres_->url();
    }
    auto blobs = store::open_blob_store(url);
    ASSERT_TRUE(blobs.has_value()) << blobs.error().message();
    blobs_ = std::make_unique<HookedBlobStore>(std::move(*blobs));
    auto opened = store::open_metadata_store(metadata, true);
    ASSERT_TRUE(opened.has_value()) << opened.error().message();
    metadata_ = std::move(*opened);
    ServiceConfig config;
    config.packs.chunk_limit = 1 << 20;
    services_ =
        std::make_unique<Services>(*metadata_, *blobs_, config, Bytes(32, std::byte{1}), clock_);
    alice_ = context("alice");
    bob_ = context("bob");
  }

  RequestContext context(const std::string& name) {
    auto user = services_->identity().add_user(name);
    return {user->first, "d", clock_.now};
  }

  bool direct() const { return !GetParam().requires_server.empty(); }

  // Uploads a built pack the way a client does; returns the chunks recorded, or the error.
  Result<uint32_t> upload(const RequestContext& ctx, const PackBuilder::Built& pack) {
    CAIRN_ASSIGN_OR_RETURN(auto grant,
                           services_->chunks().pack_upload(ctx, {pack.digest, pack.bytes.size()}));
    if (grant.url.rfind("/v1/packs/", 0) == 0) {
      CAIRN_ASSIGN_OR_RETURN(auto put_grant,
                             services_->chunks().authorize_pack_put(
                                 hex_of_url(grant.url, "/v1/packs/"), query_of(grant.url)));
      CAIRN_ASSIGN_OR_RETURN(auto receiver, services_->chunks().begin_pack_put(put_grant));
      // In pieces, as a socket delivers them.
      const ByteView bytes = pack.bytes;
      for (size_t at = 0; at < bytes.size(); at += 7000) {
        CAIRN_RETURN_IF_ERROR(
            receiver->write(bytes.subspan(at, std::min<size_t>(7000, bytes.size() - at))));
      }
      CAIRN_ASSIGN_OR_RETURN(auto stored, receiver->finish());
      return stored.chunks;
    }
    auto put = http("PUT", grant.url, grant.headers, pack.bytes);
    if (put.status != 200) {
      return make_error(ErrorCode::kUnavailable,
                        "PUT to the bucket: " + std::to_string(put.status));
    }
    CAIRN_ASSIGN_OR_RETURN(auto stored, services_->chunks().confirm_pack(
                                            ctx, {pack.digest, pack.bytes.size(), pack.entries}));
    return stored.chunks;
  }

  // Performs a read from locate_chunks as a client does.
  Result<Bytes> perform(const protocol::ChunkRead& read, const RequestContext& ctx) {
    const bool chunk = read.url.rfind("/v1/chunks/", 0) == 0;
    if (chunk || read.url.rfind("/v1/packs/", 0) == 0) {
      ChunkBody body;
      if (chunk) {
        CAIRN_ASSIGN_OR_RETURN(
            body, services_->chunks().chunk_read(ctx, hex_of_url(read.url, "/v1/chunks/"),
                                                 query_of(read.url)));
      } else {
        CAIRN_ASSIGN_OR_RETURN(body, services_->chunks().pack_range_read(
                                         hex_of_url(read.url, "/v1/packs/"), query_of(read.url)));
      }
      return drain(body);
    }
    auto got = http("GET", read.url, read.headers, {});
    if (got.status != 200 && got.status != 206) {
      return make_error(ErrorCode::kUnavailable, "GET: " + std::to_string(got.status));
    }
    const ByteView v = as_bytes(got.body);
    return Bytes(v.begin(), v.end());
  }

  // Locates and reads every chunk; returns them by hash, verified.
  std::map<Digest, Bytes> read_back(const RequestContext& ctx, const std::vector<Bytes>& chunks,
                                    size_t* reads = nullptr) {
    protocol::CheckChunksRequest req;
    for (const auto& c : chunks) req.chunks.push_back({sha256(c), static_cast<uint32_t>(c.size())});
    auto located = services_->chunks().locate_chunks(ctx, req);
    EXPECT_TRUE(located.has_value()) << located.error().message();
    std::map<Digest, Bytes> out;
    if (!located) return out;
    if (reads != nullptr) *reads = located->reads.size();
    for (const auto& read : located->reads) {
      auto bytes = perform(read, ctx);
      EXPECT_TRUE(bytes.has_value()) << bytes.error().message();
      if (!bytes) continue;
      EXPECT_EQ(bytes->size(), read.length);
      for (const auto& part : read.parts) {
        Bytes raw;
        auto decoded =
            decode_chunk(part.codec, ByteView(*bytes).subspan(part.offset, part.stored_length),
                         part.length, raw);
        // A damaged chunk may fail to decode or to verify; either way it is not returned.
        if (decoded && sha256(raw) == part.hash) out[part.hash] = std::move(raw);
      }
    }
    return out;
  }

  // Uploads one chunk as a client does: asks which are missing, puts it to the URL it gets (the
  // daemon's, or the bucket's, then confirmed).
  Result<void> upload_chunk(const RequestContext& ctx, const Bytes& bytes) {
    const ChunkRef ref{sha256(bytes), static_cast<uint32_t>(bytes.size())};
    CAIRN_ASSIGN_OR_RETURN(auto check, services_->chunks().check_chunks(ctx, {{ref}, {}, {}}));
    for (const auto& m : check.missing) {
      if (m.url.rfind("/v1/chunks/", 0) == 0) {
        CAIRN_ASSIGN_OR_RETURN(
            auto grant, services_->chunks().authorize_chunk_put(m.hash.hex(), query_of(m.url)));
        CAIRN_ASSIGN_OR_RETURN(auto writer, services_->chunks().begin_chunk_put(grant));
        CAIRN_RETURN_IF_ERROR(writer->write(bytes));
        CAIRN_RETURN_IF_ERROR(services_->chunks().finish_chunk_put(grant, *writer));
        continue;
      }
      if (http("PUT", m.url, m.headers, bytes).status != 200) {
        return make_error(ErrorCode::kUnavailable, "PUT to the bucket failed");
      }
      CAIRN_ASSIGN_OR_RETURN(auto left, services_->chunks().confirm_chunks(ctx, {{ref}, {}, {}}));
      if (!left.missing.empty()) return make_error(ErrorCode::kNotFound, "not adopted");
    }
    return {};
  }

  testing::TempDir dir_;
  ManualClock clock_;
  std::optional<testing::ScratchBucket> bucket_;
  std::optional<testing::ScratchPostgres> postgres_;
  std::unique_ptr<HookedBlobStore> blobs_;
  std::unique_ptr<store::MetadataStore> metadata_;
  std::unique_ptr<Services> services_;
  RequestContext alice_;
  RequestContext bob_;
};

std::vector<Bytes> sample_chunks() {
  return {text_bytes(200000, 1), random_bytes(30000, 2), text_bytes(500, 3), random_bytes(7, 4)};
}

PackBuilder::Built build(const std::vector<Bytes>& chunks) {
  PackBuilder builder;
  for (const auto& c : chunks) builder.add(sha256(c), c);
  return builder.finish().value();
}

TEST_P(PackServiceTest, APackRoundTripsInOneRead) {
  const auto chunks = sample_chunks();
  const auto pack = build(chunks);
  auto recorded = upload(alice_, pack);
  ASSERT_TRUE(recorded.has_value()) << recorded.error().message();
  EXPECT_EQ(*recorded, chunks.size());

  // Alice now holds every chunk: nothing left to upload.
  protocol::CheckChunksRequest check;
  for (const auto& c : chunks) check.chunks.push_back({sha256(c), static_cast<uint32_t>(c.size())});
  EXPECT_TRUE(services_->chunks().check_chunks(alice_, check)->missing.empty());

  size_t reads = 0;
  auto back = read_back(alice_, chunks, &reads);
  EXPECT_EQ(reads, 1u);  // Back to back in one pack: one read.
  ASSERT_EQ(back.size(), chunks.size());
  for (const auto& c : chunks) EXPECT_EQ(back[sha256(c)], c);

  // The single-chunk endpoint decodes a packed chunk too.
  auto one = services_->chunks().chunk_read(alice_, sha256(chunks[0]).hex());
  ASSERT_TRUE(one.has_value()) << one.error().message();
  ASSERT_TRUE(one->bytes.has_value());
  EXPECT_EQ(*one->bytes, chunks[0]);
}

TEST_P(PackServiceTest, OnlyTheChunksAskedForAreGivenOut) {
  const auto chunks = sample_chunks();
  ASSERT_TRUE(upload(alice_, build(chunks)));
  // Asking for the first and third chunk: two reads, never one spanning the second.
  auto back = read_back(alice_, {chunks[0], chunks[2]});
  EXPECT_EQ(back.size(), 2u);
  protocol::CheckChunksRequest req{{{sha256(chunks[0]), 200000}, {sha256(chunks[2]), 500}}, {}, {}};
  auto located = services_->chunks().locate_chunks(alice_, req);
  ASSERT_TRUE(located.has_value());
  ASSERT_EQ(located->reads.size(), 2u);
  for (const auto& read : located->reads) EXPECT_EQ(read.parts.size(), 1u);
}

TEST_P(PackServiceTest, AStrangerLearnsNothingAndReadsNothing) {
  const auto chunks = sample_chunks();
  ASSERT_TRUE(upload(alice_, build(chunks)));
  protocol::CheckChunksRequest req;
  for (const auto& c : chunks) req.chunks.push_back({sha256(c), static_cast<uint32_t>(c.size())});
  EXPECT_EQ(services_->chunks().check_chunks(bob_, req)->missing.size(), chunks.size());
  EXPECT_TRUE(services_->chunks().locate_chunks(bob_, req)->reads.empty());
  EXPECT_EQ(services_->chunks().chunk_read(bob_, sha256(chunks[0]).hex()).error().code(),
            ErrorCode::kNotFound);
}

TEST_P(PackServiceTest, EachUploaderReadsItsOwnCopyWhenTheDaemonCouldNotVerify) {
  const auto chunks = sample_chunks();
  ASSERT_TRUE(upload(alice_, build(chunks)));
  // Bob uploads the same chunks plus one more, in a pack of his own.
  auto bobs = chunks;
  bobs.push_back(text_bytes(999, 9));
  const auto bob_pack = build(bobs);
  ASSERT_TRUE(upload(bob_, bob_pack));
  EXPECT_EQ(read_back(bob_, bobs).size(), bobs.size());
  EXPECT_EQ(read_back(alice_, chunks).size(), chunks.size());
  if (direct()) {
    // Unverified packs serve their uploader only: Alice is never sent to Bob's pack.
    protocol::CheckChunksRequest req{{{sha256(chunks[0]), 200000}}, {}, {}};
    auto located = services_->chunks().locate_chunks(alice_, req);
    ASSERT_EQ(located->reads.size(), 1u);
    EXPECT_EQ(located->reads[0].url.find(bob_pack.digest.hex()), std::string::npos);
  }
}

TEST_P(PackServiceTest, ADamagedPackIsCaughtOnReadAndNamed) {
  const auto chunks = sample_chunks();
  const auto pack = build(chunks);
  ASSERT_TRUE(upload(alice_, pack));
  // Flip one byte inside the first chunk's stored bytes, behind the daemon's back.
  Bytes damaged = pack.bytes;
  damaged[pack.entries[0].offset + 10] ^= std::byte{0x40};
  const auto id = store::ObjectId::pack(pack.digest);
  if (direct()) {
    auto& s3 = static_cast<store::S3BlobStore&>(blobs_->inner());
    auto r = s3.client().send("PUT", store::S3BlobStore::key_for(id), {}, {}, damaged);
    ASSERT_TRUE(r.has_value());
  } else {
    std::ofstream(
        dir_.path() + "/blobs/packs/" + pack.digest.hex().substr(0, 2) + "/" + pack.digest.hex(),
        std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(damaged.data()),
               static_cast<std::streamsize>(damaged.size()));
  }
  auto read = services_->chunks().chunk_read(alice_, sha256(chunks[0]).hex());
  ASSERT_FALSE(read.has_value());
  EXPECT_EQ(read.error().code(), ErrorCode::kCorrupt);
  EXPECT_NE(read.error().message().find(sha256(chunks[0]).hex()), std::string::npos);
  EXPECT_NE(read.error().message().find(pack.digest.hex()), std::string::npos);
  // The other chunks in it still read fine.
  auto other = services_->chunks().chunk_read(alice_, sha256(chunks[1]).hex());
  ASSERT_TRUE(other.has_value()) << other.error().message();
  EXPECT_EQ(*other->bytes, chunks[1]);
  // A client reading the damaged range finds the chunk that fails.
  auto back = read_back(alice_, chunks);
  EXPECT_EQ(back.count(sha256(chunks[0])), 0u);
  EXPECT_EQ(back.size(), chunks.size() - 1);
}

TEST_P(PackServiceTest, PackGrantsAreBounded) {
  auto too_big = services_->chunks().pack_upload(alice_, {sha256(as_bytes("x")), 65 * 1024 * 1024});
  ASSERT_FALSE(too_big.has_value());
  EXPECT_EQ(too_big.error().code(), ErrorCode::kTooLarge);
  EXPECT_FALSE(services_->chunks().pack_upload(alice_, {sha256(as_bytes("x")), 0}).has_value());
}

// Stages and commits one file made of `chunks`, which the user must hold already.
void commit_file(Services& services, const RequestContext& ctx, const std::string& path,
                 const std::vector<Bytes>& chunks) {
  protocol::FileUpload f;
  f.path = path;
  for (const auto& c : chunks) f.chunks.push_back({sha256(c), static_cast<uint32_t>(c.size())});
  auto staged = services.files().init_uploads(ctx, {{f}, ""});
  ASSERT_TRUE(staged.has_value()) << staged.error().message();
  ASSERT_TRUE(staged->missing.empty());
  auto done = services.files().commit(
      ctx, {"d", {protocol::CommitOp::put_upload(staged->uploads[0].upload_id)}});
  ASSERT_TRUE(done.has_value());
  ASSERT_EQ(done->results[0].status, protocol::OpStatus::kOk) << done->results[0].message;
}

TEST_P(PackServiceTest, GcDeletesOnlyWhatNothingReferencesAndRewritesMostlyDeadPacks) {
  // One pack: two chunks a file will use, and garbage three times their size that nothing will.
  const std::vector<Bytes> kept = {random_bytes(20000, 11), text_bytes(5000, 12)};
  std::vector<Bytes> garbage;
  for (int i = 0; i < 6; ++i) garbage.push_back(random_bytes(12000, 20 + i));
  std::vector<Bytes> all = kept;
  all.insert(all.end(), garbage.begin(), garbage.end());
  const auto pack = build(all);
  ASSERT_TRUE(upload(alice_, pack));
  commit_file(*services_, alice_, "/kept.bin", kept);
  // A pending push: a chunk uploaded and staged but not committed yet.
  const std::vector<Bytes> pending = {text_bytes(3000, 30)};
  const auto pending_pack = build(pending);
  ASSERT_TRUE(upload(alice_, pending_pack));
  protocol::FileUpload staged_file;
  staged_file.path = "/pending.txt";
  staged_file.chunks = {{sha256(pending[0]), 3000}};
  ASSERT_TRUE(services_->files().init_uploads(alice_, {{staged_file}, ""}));

  GcOptions options;
  options.grace_seconds = 3600;
  // Everything is younger than the grace period: nothing goes.
  auto first = services_->maintenance().collect_garbage(options);
  ASSERT_TRUE(first.has_value()) << first.error().message();
  EXPECT_EQ(first->chunks_deleted, 0);
  EXPECT_EQ(first->packs_rewritten, 0);

  clock_.now += 7200;
  auto second = services_->maintenance().collect_garbage(options);
  ASSERT_TRUE(second.has_value()) << second.error().message();
  EXPECT_EQ(second->chunks_deleted, static_cast<int64_t>(garbage.size()));
  // Two live chunks of eight (a fifth of the bytes), merged with the small pending pack.
  EXPECT_EQ(second->packs_rewritten, 2);
  EXPECT_EQ(second->packs_written, 1);
  EXPECT_EQ(second->chunks_moved, 3);
  EXPECT_EQ(second->packs_deleted, 0);  // The old pack is retired, not deleted yet.
  EXPECT_TRUE(second->problems.empty());
  EXPECT_TRUE(*blobs_->contains(store::ObjectId::pack(pack.digest)));

  // The file's chunks read back from the new pack; the garbage is forgotten, claims included.
  auto ctx = alice_;
  ctx.now = clock_.now;
  auto back = read_back(ctx, kept);
  ASSERT_EQ(back.size(), kept.size());
  for (const auto& c : kept) EXPECT_EQ(back[sha256(c)], c);
  protocol::CheckChunksRequest check;
  for (const auto& g : garbage) check.chunks.push_back({sha256(g), 12000});
  EXPECT_EQ(services_->chunks().check_chunks(ctx, check)->missing.size(), garbage.size());
  // The staged upload still protects its chunk.
  EXPECT_EQ(read_back(ctx, pending).size(), 1u);

  clock_.now += 7200;
  auto third = services_->maintenance().collect_garbage(options);
  ASSERT_TRUE(third.has_value()) << third.error().message();
  EXPECT_EQ(third->packs_deleted, 2);
  EXPECT_EQ(third->bytes_freed, pack.bytes.size() + pending_pack.bytes.size());
  EXPECT_EQ(third->packs_rewritten, 0);  // What the second run made is left as it is.
  EXPECT_FALSE(*blobs_->contains(store::ObjectId::pack(pack.digest)));
  ctx.now = clock_.now;
  EXPECT_EQ(read_back(ctx, kept).size(), kept.size());
}

TEST_P(PackServiceTest, GcMergesSmallPacksOnceAndThenSettles) {
  // What sync --watch leaves: many tiny packs, one per round, some with a dead chunk.
  std::vector<Bytes> live;
  std::vector<std::vector<Bytes>> files;
  for (int i = 0; i < 12; ++i) {
    std::vector<Bytes> chunks = {text_bytes(40 + i, 100 + i), random_bytes(3, 200 + i)};
    ASSERT_TRUE(upload(alice_, build(chunks)));
    live.push_back(chunks[0]);
    if (i % 3 != 0) live.push_back(chunks[1]);  // The others' second chunk is garbage.
  }
  commit_file(*services_, alice_, "/all.bin", live);
  GcOptions options;
  options.grace_seconds = 3600;
  clock_.now += 7200;
  auto first = services_->maintenance().collect_garbage(options);
  ASSERT_TRUE(first.has_value()) << first.error().message();
  EXPECT_EQ(first->packs_rewritten, 12);
  EXPECT_EQ(first->packs_written, 1);
  EXPECT_EQ(first->chunks_moved, static_cast<int64_t>(live.size()));

  // Nothing new: nothing is rewritten, however often gc runs.
  for (int run = 0; run < 3; ++run) {
    clock_.now += 7200;
    auto again = services_->maintenance().collect_garbage(options);
    ASSERT_TRUE(again.has_value()) << again.error().message();
    EXPECT_EQ(again->packs_rewritten, 0) << "run " << run;
    EXPECT_EQ(again->packs_written, 0) << "run " << run;
  }
  auto ctx = alice_;
  ctx.now = clock_.now;
  auto back = read_back(ctx, live);
  EXPECT_EQ(back.size(), live.size());
  size_t reads = 0;
  read_back(ctx, live, &reads);
  EXPECT_EQ(reads, 1u);  // One pack now: every chunk in one read.
}

TEST_P(PackServiceTest, GcDeletesUnreferencedChunkObjects) {
  const std::string text(300000, 'z');
  const Digest d = sha256(as_bytes(text));
  ASSERT_TRUE(blobs_->put(d, as_bytes(text)));
  ASSERT_TRUE(metadata_->record_chunk(alice_.user.user_id, d, text.size(), clock_.now));
  GcOptions options;
  options.grace_seconds = 60;
  clock_.now += 61;
  auto r = services_->maintenance().collect_garbage(options);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  EXPECT_EQ(r->chunks_deleted, 1);
  EXPECT_EQ(r->chunk_objects_deleted, 1);
  EXPECT_FALSE(*blobs_->contains(d));
  EXPECT_FALSE(metadata_->user_has_chunks(alice_.user.user_id, {d})->at(0));
}

// gc's sweep forgets an unreferenced chunk; before its object goes, a client uploads the same
// chunk again (check_chunks now says it is missing) and commits a file with it. The object must
// survive: the removal and the re-upload each take the chunk's row (record_chunk).
TEST_P(PackServiceTest, AReuploadDuringGcKeepsItsBytes) {
  std::vector<Bytes> chunks;
  for (int i = 0; i < 3; ++i) chunks.push_back(random_bytes(300000 + i, 40 + i));
  for (const auto& c : chunks) ASSERT_TRUE(upload_chunk(alice_, c));
  clock_.now += 61;
  auto ctx = alice_;
  ctx.now = clock_.now;

  // At the first removal, the re-upload runs beside gc; gc waits for it (as long as it can
  // finish without gc's help) before it removes the object.
  std::thread uploader;
  Result<void> reuploaded = make_error(ErrorCode::kInternal, "the re-upload did not run");
  std::promise<void> finished;
  auto done = finished.get_future();
  std::optional<Digest> raced;
  blobs_->before_remove = [&](const store::ObjectId& id) {
    if (raced || id.kind != store::ObjectKind::kChunk) return;
    raced = id.digest;
    const Bytes& bytes = *std::find_if(chunks.begin(), chunks.end(),
                                       [&](const Bytes& c) { return sha256(c) == id.digest; });
    uploader = std::thread([&, bytes] {
      reuploaded = upload_chunk(ctx, bytes);
      finished.set_value();
    });
    done.wait_for(std::chrono::milliseconds(1500));
  };
  GcOptions options;
  options.grace_seconds = 60;
  auto r = services_->maintenance().collect_garbage(options);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  ASSERT_TRUE(raced.has_value());
  uploader.join();
  ASSERT_TRUE(reuploaded.has_value()) << reuploaded.error().message();
  EXPECT_EQ(r->chunks_deleted, 3);

  // The re-uploaded chunk is held, its bytes are there, and a file of it reads back.
  const Bytes& kept = *std::find_if(chunks.begin(), chunks.end(),
                                    [&](const Bytes& c) { return sha256(c) == *raced; });
  commit_file(*services_, ctx, "/kept.bin", {kept});
  auto back = read_back(ctx, {kept});
  ASSERT_EQ(back.size(), 1u) << "the re-uploaded chunk was lost";
  EXPECT_EQ(back.begin()->second, kept);
  // gc removed all three objects; the re-upload, held back until then, put its own back.
  EXPECT_EQ(r->chunk_objects_deleted, 3);
}

INSTANTIATE_TEST_SUITE_P(All, PackServiceTest,
                         ::testing::Values(Backend{"Local", ""}, Backend{"S3", "s3"}),
                         backend_name);

// --- local disk: the daemon verifies every chunk -----------------------------------------------

using LocalPackTest = PackServiceTest;

TEST_P(LocalPackTest, APackWithOneWrongChunkIsRefusedWhole) {
  const auto chunks = sample_chunks();
  PackBuilder builder;
  builder.add(sha256(chunks[0]), chunks[0]);
  const Digest lie = sha256(as_bytes("not these bytes"));
  builder.add(lie, chunks[1]);  // Listed under a hash its bytes do not have.
  builder.add(sha256(chunks[2]), chunks[2]);
  const auto pack = builder.finish().value();
  auto r = upload(alice_, pack);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kCorrupt);
  EXPECT_NE(r.error().message().find(lie.hex().substr(0, 12)), std::string::npos)
      << r.error().message();
  // Nothing was recorded, not even the good chunks, and no pack file was kept.
  protocol::CheckChunksRequest req{{{sha256(chunks[0]), 200000}, {sha256(chunks[2]), 500}}, {}, {}};
  EXPECT_EQ(services_->chunks().check_chunks(alice_, req)->missing.size(), 2u);
  EXPECT_FALSE(*blobs_->contains(store::ObjectId::pack(pack.digest)));
}

TEST_P(LocalPackTest, AForgedOrStaleReadUrlIsRefused) {
  const auto chunks = sample_chunks();
  ASSERT_TRUE(upload(alice_, build(chunks)));
  protocol::CheckChunksRequest req{{{sha256(chunks[2]), 500}}, {}, {}};
  auto located = services_->chunks().locate_chunks(alice_, req);
  ASSERT_EQ(located->reads.size(), 1u);
  const std::string url = located->reads[0].url;
  const std::string hex = hex_of_url(url, "/v1/packs/");
  const auto q = query_of(url);
  EXPECT_TRUE(services_->chunks().pack_range_read(hex, q).has_value());
  for (const char* field : {"o", "n", "e", "s"}) {
    auto tampered = q;
    tampered[field] = field == std::string("s") ? std::string(64, '0') : "0";
    auto r = services_->chunks().pack_range_read(hex, tampered);
    ASSERT_FALSE(r.has_value()) << field;
    EXPECT_EQ(r.error().code(), ErrorCode::kPermissionDenied) << field;
  }
  clock_.now += 3601;
  EXPECT_EQ(services_->chunks().pack_range_read(hex, q).error().code(),
            ErrorCode::kPermissionDenied);
}

TEST_P(LocalPackTest, ConfirmationIsOnlyForStoresClientsWriteTo) {
  const auto pack = build(sample_chunks());
  auto r = services_->chunks().confirm_pack(alice_, {pack.digest, pack.bytes.size(), pack.entries});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
}

// --- damage: a byte flipped on disk is never served as sound, and a re-upload repairs it ------

// Flips one bit of a file, as a failing disk would.
void flip_byte(const std::string& path, uint64_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  ASSERT_TRUE(f.is_open()) << path;
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x40);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

std::string object_path(HookedBlobStore& blobs, const store::ObjectId& id) {
  return static_cast<store::LocalBlobStore&>(blobs.inner()).path_for(id);
}

bool missing_for(Services& services, const RequestContext& ctx, const Bytes& chunk) {
  protocol::CheckChunksRequest req{{{sha256(chunk), static_cast<uint32_t>(chunk.size())}}, {}, {}};
  auto r = services.chunks().check_chunks(ctx, req);
  return r.has_value() && r->missing.size() == 1;
}

TEST_P(LocalPackTest, AChunkObjectThatNoLongerHashesIsNeverServedWholeAndAReuploadRepairsIt) {
  // Larger than what is checked before the answer starts: the damage is found mid-stream.
  const Bytes chunk = random_bytes(3 << 20, 9);
  ASSERT_TRUE(upload_chunk(alice_, chunk));
  const std::string path = object_path(*blobs_, sha256(chunk));
  flip_byte(path, chunk.size() - 1);  // The last byte: the stream must fail before it sends it.

  auto body = services_->chunks().chunk_read(alice_, sha256(chunk).hex());
  ASSERT_TRUE(body.has_value()) << body.error().message();
  ASSERT_TRUE(body->stream);
  uint64_t sent = 0;
  Result<ByteView> piece = ByteView();
  while ((piece = body->stream->next()) && !piece->empty()) sent += piece->size();
  ASSERT_FALSE(piece.has_value()) << "a damaged chunk was sent whole";
  EXPECT_EQ(piece.error().code(), ErrorCode::kCorrupt);
  EXPECT_LT(sent, chunk.size());

  // Set aside and forgotten: nobody holds it, so the next push of those bytes sends them.
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(std::filesystem::exists(dir_.path() + "/blobs/quarantine"));
  EXPECT_TRUE(missing_for(*services_, alice_, chunk));
  EXPECT_EQ(services_->chunks().chunk_read(alice_, sha256(chunk).hex()).error().code(),
            ErrorCode::kNotFound);
  auto damaged = metadata_->damaged_chunks();
  ASSERT_EQ(damaged->size(), 1u);
  EXPECT_EQ(damaged->front().hash, sha256(chunk));

  // Bob has the same bytes: his upload repairs it for everyone.
  ASSERT_TRUE(upload_chunk(bob_, chunk));
  EXPECT_TRUE(metadata_->damaged_chunks()->empty());
  auto again = services_->chunks().chunk_read(alice_, sha256(chunk).hex());
  ASSERT_TRUE(again.has_value()) << again.error().message();
  auto bytes = drain(*again);
  ASSERT_TRUE(bytes.has_value()) << bytes.error().message();
  EXPECT_EQ(*bytes, chunk);
  EXPECT_FALSE(missing_for(*services_, alice_, chunk));
}

TEST_P(LocalPackTest, ASmallDamagedChunkIsAnsweredWithAnErrorBeforeAnyByteIsSent) {
  const Bytes chunk = random_bytes(300000, 10);
  ASSERT_TRUE(upload_chunk(alice_, chunk));
  flip_byte(object_path(*blobs_, sha256(chunk)), 299999);
  auto body = services_->chunks().chunk_read(alice_, sha256(chunk).hex());
  ASSERT_FALSE(body.has_value());
  EXPECT_EQ(body.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(body.error().message().find("damaged"), std::string::npos) << body.error().message();
  EXPECT_TRUE(missing_for(*services_, alice_, chunk));
}

TEST_P(LocalPackTest, ADamagedChunkInAPackFailsItsReadAndOnlyItIsForgotten) {
  const auto chunks = sample_chunks();
  const auto pack = build(chunks);
  ASSERT_TRUE(upload(alice_, pack));
  const PackEntry& victim = pack.entries[1];  // Random bytes: stored raw.
  flip_byte(object_path(*blobs_, store::ObjectId::pack(pack.digest)),
            victim.offset + victim.stored_length / 2);

  protocol::CheckChunksRequest req;
  for (const auto& c : chunks) req.chunks.push_back({sha256(c), static_cast<uint32_t>(c.size())});
  auto located = services_->chunks().locate_chunks(alice_, req);
  ASSERT_EQ(located->reads.size(), 1u);  // One merged read of the whole pack's data.
  const std::string url = located->reads[0].url;
  auto body = services_->chunks().pack_range_read(hex_of_url(url, "/v1/packs/"), query_of(url));
  ASSERT_FALSE(body.has_value()) << "a range holding a damaged chunk was sent";
  EXPECT_EQ(body.error().code(), ErrorCode::kNotFound);

  EXPECT_TRUE(missing_for(*services_, alice_, chunks[1]));
  for (size_t i : {0, 2, 3}) {
    EXPECT_FALSE(missing_for(*services_, alice_, chunks[i])) << i;
  }
  // The others still read, from the same pack.
  auto back = read_back(alice_, {chunks[0], chunks[2], chunks[3]});
  EXPECT_EQ(back.size(), 3u);
  // A new pack with the lost chunk repairs it.
  ASSERT_TRUE(upload(alice_, build({chunks[1]})));
  EXPECT_TRUE(metadata_->damaged_chunks()->empty());
  EXPECT_EQ(read_back(alice_, {chunks[1]}).size(), 1u);
}

TEST_P(LocalPackTest, ASoundCopyIsNeverForgotten) {
  const Bytes chunk = random_bytes(200000, 5);
  ASSERT_TRUE(upload_chunk(alice_, chunk));
  // A report of damage is checked against the bytes: these are fine.
  auto fate =
      services_->chunks().report_damage({sha256(chunk), 200000}, std::nullopt, "a false alarm");
  ASSERT_TRUE(fate.has_value()) << fate.error().message();
  EXPECT_EQ(*fate, store::MetadataStore::CopyFate::kSound);
  EXPECT_FALSE(missing_for(*services_, alice_, chunk));
  EXPECT_TRUE(std::filesystem::exists(object_path(*blobs_, sha256(chunk))));
}

TEST_P(LocalPackTest, CheckFindsWhatIsDamagedOrMissingAndIsCleanOnceRepaired) {
  const auto chunks = sample_chunks();
  const auto pack = build(chunks);
  ASSERT_TRUE(upload(alice_, pack));
  const Bytes big = random_bytes(300000, 11);
  const Bytes gone = random_bytes(250000, 12);
  ASSERT_TRUE(upload_chunk(alice_, big));
  ASSERT_TRUE(upload_chunk(alice_, gone));

  auto clean = services_->maintenance().check({100, 0});
  ASSERT_TRUE(clean.has_value()) << clean.error().message();
  EXPECT_TRUE(clean->clean()) << (clean->problems.empty() ? "" : clean->problems[0]);
  EXPECT_EQ(clean->objects, 3u);
  EXPECT_EQ(clean->objects_read, 3u);

  flip_byte(object_path(*blobs_, sha256(big)), 10);
  std::filesystem::remove(object_path(*blobs_, sha256(gone)));
  const PackEntry& victim = pack.entries[0];
  flip_byte(object_path(*blobs_, store::ObjectId::pack(pack.digest)),
            victim.offset + victim.stored_length / 2);

  // Without reading data, the missing object is found; the damaged bytes are not.
  auto quick = services_->maintenance().check({0, 0});
  ASSERT_TRUE(quick.has_value());
  ASSERT_EQ(quick->damaged.size(), 1u);
  EXPECT_EQ(quick->damaged[0].hash, sha256(gone));
  EXPECT_EQ(quick->objects_read, 0u);

  auto full = services_->maintenance().check({100, 0});
  ASSERT_TRUE(full.has_value()) << full.error().message();
  EXPECT_FALSE(full->clean());
  std::set<Digest> found;
  for (const auto& d : full->damaged) found.insert(d.hash);
  EXPECT_EQ(found, (std::set<Digest>{sha256(big), sha256(gone), sha256(chunks[0])}));
  EXPECT_EQ(full->copies_forgotten, 2);  // The missing one was found by the first run.

  ASSERT_TRUE(upload_chunk(alice_, big));
  ASSERT_TRUE(upload_chunk(alice_, gone));
  ASSERT_TRUE(upload(alice_, build({chunks[0]})));
  auto after = services_->maintenance().check({100, 0});
  ASSERT_TRUE(after.has_value());
  EXPECT_TRUE(after->clean()) << (after->problems.empty() ? "" : after->problems[0]);
}

INSTANTIATE_TEST_SUITE_P(Local, LocalPackTest, ::testing::Values(Backend{"Local", ""}),
                         backend_name);

// --- S3: the daemon never sees the bytes --------------------------------------------------------

using DirectPackTest = PackServiceTest;

TEST_P(DirectPackTest, ConfirmChecksTheUploadAndTheEntries) {
  const auto pack = build(sample_chunks());
  // Not uploaded yet.
  auto early =
      services_->chunks().confirm_pack(alice_, {pack.digest, pack.bytes.size(), pack.entries});
  ASSERT_FALSE(early.has_value());
  EXPECT_EQ(early.error().code(), ErrorCode::kNotFound);

  auto grant = services_->chunks().pack_upload(alice_, {pack.digest, pack.bytes.size()});
  ASSERT_TRUE(grant.has_value());
  EXPECT_NE(grant->url.find("incoming/"), std::string::npos);
  bool signs_checksum = false;
  for (const auto& [k, v] : grant->headers) signs_checksum |= k == "x-amz-checksum-sha256";
  EXPECT_TRUE(signs_checksum);
  ASSERT_EQ(http("PUT", grant->url, grant->headers, pack.bytes).status, 200);

  // Entries that cannot be: outside the pack, overlapping, listed twice.
  auto outside = pack.entries;
  outside.back().offset = pack.bytes.size();
  auto overlapping = pack.entries;
  overlapping[1].offset = overlapping[0].offset;
  auto twice = pack.entries;
  twice[1] = twice[0];
  for (const auto* entries : {&outside, &overlapping, &twice}) {
    auto r = services_->chunks().confirm_pack(alice_, {pack.digest, pack.bytes.size(), *entries});
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << r.error().message();
  }
  // Bob cannot confirm Alice's upload as his.
  EXPECT_EQ(services_->chunks()
                .confirm_pack(bob_, {pack.digest, pack.bytes.size(), pack.entries})
                .error()
                .code(),
            ErrorCode::kNotFound);
  auto ok =
      services_->chunks().confirm_pack(alice_, {pack.digest, pack.bytes.size(), pack.entries});
  ASSERT_TRUE(ok.has_value()) << ok.error().message();
  EXPECT_EQ(ok->chunks, pack.entries.size());

  // The same confirmation again, as a client asks when the answer was lost (found by the crash
  // loop: the daemon died after recording the pack and clearing its upload): done, not "never
  // uploaded". Bob still cannot claim it, nor can a wrong size.
  auto again =
      services_->chunks().confirm_pack(alice_, {pack.digest, pack.bytes.size(), pack.entries});
  ASSERT_TRUE(again.has_value()) << again.error().message();
  EXPECT_EQ(again->chunks, pack.entries.size());
  EXPECT_EQ(services_->chunks()
                .confirm_pack(bob_, {pack.digest, pack.bytes.size(), pack.entries})
                .error()
                .code(),
            ErrorCode::kNotFound);
  EXPECT_FALSE(
      services_->chunks().confirm_pack(alice_, {pack.digest, pack.bytes.size() + 1, pack.entries}));
}

INSTANTIATE_TEST_SUITE_P(S3, DirectPackTest, ::testing::Values(Backend{"S3", "s3"}), backend_name);

}  // namespace
}  // namespace cairn::service
