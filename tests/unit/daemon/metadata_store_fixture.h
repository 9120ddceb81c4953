#pragma once

// The fixture of the MetadataStore conformance suites (metadata_store_test.cpp, tree_test.cpp):
// a store of the backend under test, Services over it, and user alice.

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/service/services.h"
#include "daemon/store/local_blob_store.h"
#include "daemon/store/metadata_store.h"
#include "daemon/store/sql_metadata_store.h"
#include "tests/unit/daemon/backends.h"
#include "tests/unit/daemon/service_test_support.h"
#include "tests/unit/daemon/test_dir.h"

namespace cairn::store::conformance {

using protocol::CommitOp;
using protocol::OpKind;
using protocol::OpStatus;
using testing::Backend;
using testing::backend_name;
using testing::ManualClock;

class MetadataStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    std::string location = dir_.path() + "/metadata.db";
    if (!GetParam().requires_server.empty()) {
      CAIRN_REQUIRE_BACKEND(GetParam().requires_server);
      postgres_.emplace();
      location = postgres_->url();
    }
    auto opened = open_metadata_store(location, true);
    ASSERT_TRUE(opened.has_value()) << opened.error().message();
    metadata_ = std::move(*opened);
    blobs_ = std::move(*LocalBlobStore::open(dir_.path() + "/blobs"));
    services_ = std::make_unique<service::Services>(*metadata_, *blobs_, service::ServiceConfig{},
                                                    Bytes(32, std::byte{7}), clock_);
    auto made = services_->identity().add_user("alice");
    ASSERT_TRUE(made.has_value()) << made.error().message();
    ctx_ = {made->first, "laptop", clock_.now};
  }

  // Uploads `text` as one chunk for the context's user.
  ChunkRef upload_chunk(const std::string& text, const service::RequestContext& ctx) {
    const ChunkRef ref{sha256(as_bytes(text)), static_cast<uint32_t>(text.size())};
    auto check = services_->chunks().check_chunks(ctx, {{ref}, {}, {}});
    EXPECT_TRUE(check.has_value());
    for (const auto& m : check->missing) {
      const auto q = testing::query_of(m.url);
      auto grant = services_->chunks().authorize_chunk_put(m.hash.hex(), q);
      EXPECT_TRUE(grant.has_value()) << grant.error().message();
      auto writer = services_->chunks().begin_chunk_put(*grant);
      EXPECT_TRUE((*writer)->write(as_bytes(text)));
      EXPECT_TRUE(services_->chunks().finish_chunk_put(*grant, **writer));
    }
    return ref;
  }

  // A file of one chunk, to stage or to carry in a commit. A `base` is a version of the node at
  // `path` in the view of `as` (default: the fixture's user) now.
  protocol::FileUpload file(const std::string& path, const ChunkRef& chunk,
                            std::optional<int64_t> base = std::nullopt,
                            const service::RequestContext* as = nullptr) {
    protocol::FileUpload f;
    f.path = path;
    f.chunks = {chunk};
    f.base_version = base;
    if (base) {
      auto there = services_->files().list(as != nullptr ? *as : ctx_, path);
      if (there && there->entries.size() == 1) f.node_id = there->entries[0].node_id;
    }
    return f;
  }

  // Stages and commits one file; returns the commit result. A `base` is a version of the node
  // at `path` now (a client names the node it saw: the test names the one that is there).
  protocol::CommitResult put_file(const std::string& path, const std::string& text,
                                  std::optional<int64_t> base,
                                  const service::RequestContext* as = nullptr, int64_t node = 0) {
    const auto& ctx = as != nullptr ? *as : ctx_;
    protocol::FileUpload f;
    f.path = path;
    if (!text.empty()) f.chunks = {upload_chunk(text, ctx)};
    f.base_version = base;
    f.node_id = node;
    if (base && node == 0) {
      auto there = services_->files().list(ctx, path);
      if (there && there->entries.size() == 1) f.node_id = there->entries[0].node_id;
    }
    auto staged = services_->files().init_uploads(ctx, {{f}, ""});
    EXPECT_TRUE(staged.has_value()) << staged.error().message();
    EXPECT_TRUE(staged->missing.empty());
    auto committed = services_->files().commit(
        ctx, {"laptop", {CommitOp::put_upload(staged->uploads[0].upload_id)}});
    EXPECT_TRUE(committed.has_value());
    return committed->results.at(0);
  }

  protocol::CommitResult op(OpKind kind, const std::string& path,
                            std::optional<int64_t> base = std::nullopt) {
    CommitOp o;
    o.kind = kind;
    o.path = path;
    o.base_version = base;
    auto r = services_->files().commit(ctx_, {"laptop", {o}});
    EXPECT_TRUE(r.has_value());
    return r->results.at(0);
  }

  std::vector<std::string> names(const std::string& folder) {
    auto l = services_->files().list(ctx_, folder);
    EXPECT_TRUE(l.has_value()) << folder;
    std::vector<std::string> out;
    if (l) {
      for (const auto& e : l->entries) out.push_back(e.path);
    }
    return out;
  }

  testing::TempDir dir_;
  std::optional<testing::ScratchPostgres> postgres_;
  ManualClock clock_;
  std::unique_ptr<MetadataStore> metadata_;
  std::unique_ptr<LocalBlobStore> blobs_;
  std::unique_ptr<service::Services> services_;
  service::RequestContext ctx_;
};

}  // namespace cairn::store::conformance
