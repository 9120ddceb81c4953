#include "common/protocol/protocol.h"

#include <gtest/gtest.h>

namespace cairn::protocol {
namespace {

TEST(ProtocolTest, InitUploadsRoundTrip) {
  InitUploadsRequest req;
  FileUpload f;
  f.path = "/a/b.txt";
  f.chunks = {{sha256(as_bytes("x")), 10}, {sha256(as_bytes("y")), 20}};
  f.mode = 0750;
  f.mtime_ns = 1234567890123;
  f.base_version = 3;
  req.files.push_back(f);
  FileUpload link;
  link.path = "/l";
  link.kind = NodeKind::kSymlink;
  link.symlink_target = "../target";
  req.files.push_back(link);

  auto back = decode_json<InitUploadsRequest>(encode_json(req));
  ASSERT_TRUE(back.has_value()) << back.error().message();
  ASSERT_EQ(back->files.size(), 2u);
  EXPECT_EQ(back->files[0].chunks, f.chunks);
  EXPECT_EQ(back->files[0].mode, 0750u);
  EXPECT_EQ(back->files[0].base_version, 3);
  EXPECT_EQ(back->files[0].mtime_ns, 1234567890123);
  EXPECT_EQ(back->files[1].kind, NodeKind::kSymlink);
  EXPECT_EQ(back->files[1].symlink_target, "../target");
  EXPECT_FALSE(back->files[1].base_version.has_value());
}

TEST(ProtocolTest, CommitRoundTrip) {
  CommitRequest req;
  req.device = "laptop";
  req.ops.push_back(CommitOp::put_upload("u1"));
  req.ops.push_back(CommitOp::mkdir("/empty"));
  req.ops.push_back(CommitOp::remove("/gone", 7));
  auto back = decode_json<CommitRequest>(encode_json(req));
  ASSERT_TRUE(back.has_value()) << back.error().message();
  ASSERT_EQ(back->ops.size(), 3u);
  EXPECT_EQ(back->ops[0].upload_id, "u1");
  EXPECT_EQ(back->ops[1].kind, OpKind::kMkdir);
  EXPECT_EQ(back->ops[2].base_version, 7);
  EXPECT_FALSE(back->ops[0].file.has_value());
  EXPECT_FALSE(back->cursor.has_value());  // Not asked.

  // An empty cursor is still a cursor (a working copy that has read nothing yet).
  req.cursor = "";
  back = decode_json<CommitRequest>(encode_json(req));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->cursor, std::optional<std::string>(""));
  CommitResponse resp;
  EXPECT_FALSE(decode_json<CommitResponse>(encode_json(resp))->cursor.has_value());
  resp.cursor = "c2.0:17";
  EXPECT_EQ(decode_json<CommitResponse>(encode_json(resp))->cursor, resp.cursor);
}

TEST(ProtocolTest, ModesTravelAsPermissionBitsAndOldPeersGetDefaults) {
  // A peer from before modes travelled sends only "executable": files get 0755 or 0644.
  auto old = decode_json<CommitRequest>(
      R"({"ops": [{"op": "put", "file": {"path": "/x", "kind": "file", "chunks": [],
                                         "executable": true}},
                  {"op": "put", "file": {"path": "/y", "kind": "file", "chunks": []}},
                  {"op": "mkdir", "path": "/d"}]})");
  ASSERT_TRUE(old.has_value()) << old.error().message();
  EXPECT_EQ(old->ops[0].file->mode, 0755u);
  EXPECT_EQ(old->ops[1].file->mode, 0644u);
  EXPECT_FALSE(old->ops[2].mode.has_value());  // An existing folder keeps its own.

  // Both words go out, so that an older peer still sees the executable bit.
  Entry e;
  e.mode = 0700;
  const std::string listed = encode_json(ListResponse{"/", {e}});
  EXPECT_NE(listed.find("\"mode\":448"), std::string::npos) << listed;
  EXPECT_NE(listed.find("\"executable\":true"), std::string::npos) << listed;

  CommitRequest req;
  req.ops.push_back(CommitOp::mkdir("/private", 0700));
  auto back = decode_json<CommitRequest>(encode_json(req));
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(back->ops[0].mode, std::optional<uint32_t>(0700));

  // Only permission bits: setuid (04755), a negative or a fractional mode is refused.
  for (const char* text : {R"({"ops": [{"op": "mkdir", "path": "/d", "mode": 2541}]})",
                           R"({"ops": [{"op": "mkdir", "path": "/d", "mode": -1}]})",
                           R"({"ops": [{"op": "put", "file": {"path": "/a", "kind": "file",
                                "chunks": [], "mode": 420.5}}]})"}) {
    auto r = decode_json<CommitRequest>(text);
    ASSERT_FALSE(r.has_value()) << text;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << text;
    EXPECT_NE(r.error().message().find("mode"), std::string::npos) << r.error().message();
  }
}

TEST(ProtocolTest, AFolderListingSaysWhoMadeEachHead) {
  Entry a, b;
  a.path = "/a.txt";
  b.path = "/d";
  b.kind = NodeKind::kFolder;
  ListResponse listed{"/", {a, b}, {{"alice", "laptop"}, {"", ""}}};
  const std::string text = encode_json(listed);
  EXPECT_NE(text.find(R"("author":"alice","device":"laptop")"), std::string::npos) << text;
  auto back = decode_json<ListResponse>(text);
  ASSERT_TRUE(back.has_value());
  ASSERT_EQ(back->attributions.size(), 2u);
  EXPECT_EQ(back->attributions[0].author, "alice");
  EXPECT_EQ(back->attributions[0].device, "laptop");
  EXPECT_EQ(back->attributions[1].author, "");
  // Without attributions (a recursive listing) the JSON has none, and none come back.
  auto plain = decode_json<ListResponse>(encode_json(ListResponse{"/", {a}}));
  ASSERT_TRUE(plain.has_value());
  EXPECT_TRUE(plain->attributions.empty());
}

TEST(ProtocolTest, AnEntrysManifestTravelsAsHexAndIsCheckedOnArrival) {
  Entry e;
  e.node_id = 7;
  e.path = "/a.txt";
  e.manifest = sha256(as_bytes("manifest body"));
  auto back = decode_json<ListResponse>(encode_json(ListResponse{"/", {e}}));
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(back->entries.at(0).manifest, e.manifest);

  Entry folder;
  folder.kind = NodeKind::kFolder;
  folder.path = "/d";
  auto listed = decode_json<ListResponse>(encode_json(ListResponse{"/", {folder}}));
  ASSERT_TRUE(listed.has_value());
  EXPECT_FALSE(listed->entries.at(0).manifest.has_value());

  // A server that sends a bad address gets a clear refusal, not a file that cannot be fetched.
  for (const char* bad : {R"("abc")", R"("zz")", "12"}) {
    const std::string text = std::string(R"({"path": "/", "entries": [{"node_id": 1, "path": "/a",
        "kind": "file", "manifest": )") +
                             bad + "}]}";
    auto r = decode_json<ListResponse>(text);
    ASSERT_FALSE(r.has_value()) << text;
    EXPECT_NE(r.error().message().find("manifest"), std::string::npos) << r.error().message();
  }
}

TEST(ProtocolTest, CommitCarriesAFileWithoutAnUploadSession) {
  FileUpload f;
  f.path = "/src/a.txt";
  f.mode = 0600;
  f.mtime_ns = 42;
  f.base_version = 2;
  f.chunks = {{sha256(as_bytes("x")), 1}};
  CommitRequest req;
  req.ops.push_back(CommitOp::put_file(f));
  auto back = decode_json<CommitRequest>(encode_json(req));
  ASSERT_TRUE(back.has_value()) << back.error().message();
  ASSERT_EQ(back->ops.size(), 1u);
  ASSERT_TRUE(back->ops[0].file.has_value());
  EXPECT_EQ(back->ops[0].kind, OpKind::kPut);
  EXPECT_EQ(back->ops[0].upload_id, "");
  EXPECT_EQ(back->ops[0].file->path, "/src/a.txt");
  EXPECT_EQ(back->ops[0].file->chunks, f.chunks);
  EXPECT_EQ(back->ops[0].file->mode, 0600u);
  EXPECT_EQ(back->ops[0].file->base_version, 2);

  // One or the other: a put naming both, or a file that is not an object, is refused.
  for (
      const char* text :
      {R"({"ops": [{"op": "put", "upload_id": "u", "file": {"path": "/a", "kind": "file", "chunks": []}}]})",
       R"({"ops": [{"op": "put", "file": 7}]})", R"({"ops": [{"op": "put"}]})"}) {
    auto r = decode_json<CommitRequest>(text);
    ASSERT_FALSE(r.has_value()) << text;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << text;
  }
}

TEST(ProtocolTest, GroupsAndPublishesRoundTrip) {
  InitUploadsRequest stage;
  stage.group = "0123456789abcdef";
  FileUpload folder;
  folder.path = "/ci/empty";
  folder.kind = NodeKind::kFolder;
  folder.mode = 0750;
  stage.files.push_back(folder);
  auto staged = decode_json<InitUploadsRequest>(encode_json(stage));
  ASSERT_TRUE(staged.has_value()) << staged.error().message();
  EXPECT_EQ(staged->group, stage.group);
  EXPECT_EQ(staged->files.at(0).kind, NodeKind::kFolder);
  EXPECT_EQ(staged->files.at(0).mode, 0750u);

  CommitRequest req;
  req.ops.push_back(CommitOp::publish("0123456789abcdef", "/ci/42", true));
  auto back = decode_json<CommitRequest>(encode_json(req));
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(back->ops.at(0).kind, OpKind::kPublish);
  EXPECT_EQ(back->ops.at(0).group, "0123456789abcdef");
  EXPECT_EQ(back->ops.at(0).path, "/ci/42");
  EXPECT_TRUE(back->ops.at(0).mirror);
  auto missing = decode_json<CommitRequest>(R"({"ops": [{"op": "publish", "path": "/ci"}]})");
  ASSERT_FALSE(missing.has_value());
  EXPECT_EQ(missing.error().code(), ErrorCode::kInvalidArgument);

  CommitResponse resp;
  CommitResult published;
  published.path = "/ci/42";
  published.published = 2000;
  published.changed = 3;
  published.deleted = 1;
  resp.results.push_back(published);
  auto answer = decode_json<CommitResponse>(encode_json(resp));
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->results.at(0).published, 2000);
  EXPECT_EQ(answer->results.at(0).changed, 3);
  EXPECT_EQ(answer->results.at(0).deleted, 1);
}

TEST(ProtocolTest, TreeOpsAndTheirAnswersRoundTrip) {
  FileUpload f;
  f.path = "/a.txt";
  f.node_id = 12;
  f.base_version = 1;
  CommitRequest req;
  req.ops.push_back(CommitOp::move("/a", "/b/c", 5));
  req.ops.push_back(CommitOp::restore("/r.txt", 3));
  req.ops.push_back(CommitOp::undelete(9, "/elsewhere"));
  req.ops.push_back(CommitOp::undelete(10));
  req.ops.push_back(CommitOp::put_file(f));
  auto back = decode_json<CommitRequest>(encode_json(req));
  ASSERT_TRUE(back.has_value()) << back.error().message();
  ASSERT_EQ(back->ops.size(), 5u);
  EXPECT_EQ(back->ops[0].kind, OpKind::kMove);
  EXPECT_EQ(back->ops[0].path, "/a");
  EXPECT_EQ(back->ops[0].to, "/b/c");
  EXPECT_EQ(back->ops[0].node_id, 5);
  EXPECT_EQ(back->ops[1].kind, OpKind::kRestore);
  EXPECT_EQ(back->ops[1].version, 3);
  EXPECT_EQ(back->ops[2].kind, OpKind::kUndelete);
  EXPECT_EQ(back->ops[2].node_id, 9);
  EXPECT_EQ(back->ops[2].to, "/elsewhere");
  EXPECT_EQ(back->ops[3].to, "");
  EXPECT_EQ(back->ops[4].file->node_id, 12);
  for (const char* text : {R"({"ops": [{"op": "move", "path": "/a"}]})",
                           R"({"ops": [{"op": "restore", "path": "/a", "version": 0}]})",
                           R"({"ops": [{"op": "undelete"}]})", R"({"ops": [{"op": "rename"}]})"}) {
    auto r = decode_json<CommitRequest>(text);
    ASSERT_FALSE(r.has_value()) << text;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << text;
  }

  CommitResponse resp;
  CommitResult copied;
  copied.status = OpStatus::kCopied;
  copied.path = "/a.txt";
  copied.copy = "/a (conflicted copy from x 2026-11-26 081503).txt";
  copied.node_id = 4;
  copied.version = 1;
  resp.results.push_back(copied);
  auto answer = decode_json<CommitResponse>(encode_json(resp));
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->results[0].status, OpStatus::kCopied);
  EXPECT_EQ(answer->results[0].copy, copied.copy);

  QuotaResponse unlimited;
  unlimited.used = 5;
  EXPECT_EQ(encode_json(unlimited), R"({"limit":null,"used":5})");
  auto q = decode_json<QuotaResponse>(R"({"used": 7, "limit": 100})");
  ASSERT_TRUE(q.has_value());
  EXPECT_EQ(q->limit, std::optional<uint64_t>(100));

  TrashResponse bin;
  bin.entries.push_back({9, "/old", NodeKind::kFolder, 1795680903, 0, 5000, 12});
  auto trash = decode_json<TrashResponse>(encode_json(bin));
  ASSERT_TRUE(trash.has_value());
  EXPECT_EQ(trash->entries.at(0).files, 12u);
  EXPECT_EQ(trash->entries.at(0).kind, NodeKind::kFolder);

  HistoryResponse h;
  h.node_id = 3;
  h.path = "/a.txt";
  VersionInfo v;
  v.version = 2;
  v.size = 10;
  v.manifest = std::string(64, 'a');
  v.author = "alice";
  v.device = "laptop";
  h.versions.push_back(v);
  auto history = decode_json<HistoryResponse>(encode_json(h));
  ASSERT_TRUE(history.has_value());
  EXPECT_EQ(history->versions.at(0).author, "alice");
  EXPECT_EQ(history->versions.at(0).manifest, v.manifest);
}

TEST(ProtocolTest, SharesAndTheirMarksRoundTrip) {
  ShareRequest req{"/proj", "bob", "editor"};
  auto r = decode_json<ShareRequest>(encode_json(req));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->user, "bob");
  EXPECT_EQ(r->role, "editor");
  EXPECT_EQ(decode_json<ShareRequest>(R"({"path":"/p","user":"bob"})")->role, "viewer");

  SharesResponse all;
  all.shares.push_back({4, "/proj", "alice", "bob", "viewer", 1795680903});
  auto back = decode_json<SharesResponse>(encode_json(all));
  ASSERT_TRUE(back.has_value());
  ASSERT_EQ(back->shares.size(), 1u);
  EXPECT_EQ(back->shares[0].share_id, 4);
  EXPECT_EQ(back->shares[0].owner, "alice");
  EXPECT_EQ(back->shares[0].created_at, 1795680903);

  // A mount in a listing carries the role and the owner; other entries carry nothing.
  ListResponse l;
  l.path = "/Shared";
  Entry mount;
  mount.node_id = 8;
  mount.path = "/Shared/proj";
  mount.kind = NodeKind::kFolder;
  mount.share_role = "viewer";
  mount.shared_by = "alice";
  l.entries.push_back(mount);
  Entry plain = mount;
  plain.share_role.clear();
  plain.shared_by.clear();
  l.entries.push_back(plain);
  const std::string text = encode_json(l);
  EXPECT_NE(text.find(R"("share":{"owner":"alice","role":"viewer"})"), std::string::npos) << text;
  auto listed = decode_json<ListResponse>(text);
  ASSERT_TRUE(listed.has_value());
  EXPECT_EQ(listed->entries[0].shared_by, "alice");
  EXPECT_TRUE(listed->entries[1].share_role.empty());

  // Locate may name the manifests its chunks are read for; check never needs them.
  const Digest m = sha256(as_bytes(std::string("manifest")));
  CheckChunksRequest locate{{{sha256(as_bytes(std::string("c"))), 1}}, {m}, {}};
  auto located = decode_json<CheckChunksRequest>(encode_json(locate));
  ASSERT_TRUE(located.has_value());
  EXPECT_EQ(located->manifests, std::vector<Digest>{m});
  EXPECT_EQ(encode_json(CheckChunksRequest{{}, {}, {}}), R"({"chunks":[]})");
  EXPECT_FALSE(decode_json<CheckChunksRequest>(R"({"chunks":[],"manifests":["zz"]})"));
}

TEST(ProtocolTest, RejectsMalformedRequests) {
  const char* bad[] = {
      "",
      "not json",
      "[]",
      "{}",
      R"({"files": 3})",
      R"({"files": [{"path": "/a", "kind": "file", "chunks": [{"hash": "zz", "len": 1}]}]})",
      R"({"files": [{"path": "/a", "kind": "file", "chunks": [{"hash": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "len": 0}]}]})",
      R"({"files": [{"path": "/a", "kind": "pipe"}]})",
      R"({"files": [{"path": 5, "kind": "file", "chunks": []}]})",
  };
  for (const char* text : bad) {
    auto r = decode_json<InitUploadsRequest>(text);
    ASSERT_FALSE(r.has_value()) << text;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << text;
  }
  auto op = decode_json<CommitRequest>(R"({"ops": [{"op": "explode"}]})");
  ASSERT_FALSE(op.has_value());
  EXPECT_NE(op.error().message().find("unknown op"), std::string::npos);
}

TEST(ProtocolTest, EncodesInvalidUtf8WithoutThrowing) {
  ErrorBody e{"invalid_argument", "bad name \xff"};
  const std::string text = encode_json(e);
  EXPECT_NE(text.find("invalid_argument"), std::string::npos);
}

}  // namespace
}  // namespace cairn::protocol

namespace cairn::protocol {
namespace {

TEST(ProtocolTest, JsonQuoteEscapes) {
  EXPECT_EQ(json_quote("plain"), "\"plain\"");
  EXPECT_EQ(json_quote("a\"b\\c\n"), "\"a\\\"b\\\\c\\n\"");
  EXPECT_EQ(json_quote("bad \xff"), "\"bad \xEF\xBF\xBD\"");
}

}  // namespace
}  // namespace cairn::protocol

namespace cairn::protocol {
namespace {

TEST(ProtocolTest, PackTypesRoundTrip) {
  const PackEntry e{sha256(as_bytes("x")), Codec::kZstd, 1000, 321, 77};
  ConfirmPackRequest confirm{sha256(as_bytes("pack")), 4096, {e}};
  auto back = decode_json<ConfirmPackRequest>(encode_json(confirm));
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(back->pack, confirm.pack);
  EXPECT_EQ(back->size, 4096u);
  ASSERT_EQ(back->entries.size(), 1u);
  EXPECT_EQ(back->entries[0], e);

  LocateResponse located;
  located.reads.push_back({"http://s3/b/packs/x?sig", {{"range", "bytes=77-397"}}, 321, {e}});
  auto reads = decode_json<LocateResponse>(encode_json(located));
  ASSERT_TRUE(reads.has_value()) << reads.error().message();
  ASSERT_EQ(reads->reads.size(), 1u);
  EXPECT_EQ(reads->reads[0].url, "http://s3/b/packs/x?sig");
  EXPECT_EQ(reads->reads[0].headers, located.reads[0].headers);
  EXPECT_EQ(reads->reads[0].parts[0], e);

  ServerConfig config;
  config.packs = PackConfig{262144, 16 << 20, 64 << 20, 65536};
  auto c = decode_json<ServerConfig>(encode_json(config));
  ASSERT_TRUE(c.has_value() && c->packs.has_value());
  EXPECT_EQ(c->packs->chunk_limit, 262144u);
  EXPECT_FALSE(decode_json<ServerConfig>(encode_json(ServerConfig{}))->packs.has_value());
}

TEST(ProtocolTest, PackEntriesAreChecked) {
  const std::string hash = sha256(as_bytes("x")).hex();
  const std::string bad[] = {
      R"({"pack":")" + hash + R"(","size":1,"entries":[{"hash":")" + hash +
          R"(","len":0,"stored":1,"codec":"raw","offset":0}]})",
      R"({"pack":")" + hash + R"(","size":1,"entries":[{"hash":")" + hash +
          R"(","len":5,"stored":5,"codec":"lz4","offset":0}]})",
      R"({"pack":")" + hash + R"(","size":1,"entries":{}})",
  };
  for (const auto& text : bad) {
    auto r = decode_json<ConfirmPackRequest>(text);
    ASSERT_FALSE(r.has_value()) << text;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  }
}

// POST /v1/chunks/check's body has a decoder of its own (json_check.cpp): it must accept and
// refuse what the generic one does.
const std::string kHashA = sha256(as_bytes("a")).hex();
const std::string kHashB = sha256(as_bytes("b")).hex();

TEST(ProtocolTest, ACheckRequestRoundTripsWithEveryField) {
  CheckChunksRequest req;
  for (int i = 0; i < 300; ++i) {
    req.chunks.push_back({sha256(as_bytes(std::to_string(i))), static_cast<uint32_t>(i + 1)});
  }
  req.manifests = {sha256(as_bytes("m1")), sha256(as_bytes("m2"))};
  req.commit_bytes = 123456789012ull;
  auto back = decode_json<CheckChunksRequest>(encode_json(req));
  ASSERT_TRUE(back.has_value()) << back.error().message();
  EXPECT_EQ(back->chunks, req.chunks);
  EXPECT_EQ(back->manifests, req.manifests);
  EXPECT_EQ(back->commit_bytes, req.commit_bytes);

  auto plain = decode_json<CheckChunksRequest>(encode_json(CheckChunksRequest{}));
  ASSERT_TRUE(plain.has_value()) << plain.error().message();
  EXPECT_TRUE(plain->chunks.empty());
  EXPECT_TRUE(plain->manifests.empty());
  EXPECT_FALSE(plain->commit_bytes.has_value());
}

TEST(ProtocolTest, ACheckRequestSkipsUnknownFieldsHoweverDeep) {
  const std::string text = R"({"extra": {"a": [1, {"b": [[], {}]}], "c": "x"}, "chunks": [)"
                           R"({"hash": ")" +
                           kHashA +
                           R"(", "len": 5, "note": {"deep": [1, 2]}},)"
                           R"({"len": 7, "hash": ")" +
                           kHashB +
                           R"("}],)"
                           R"("commit_bytes": null, "later": [{"chunks": 3}]})";
  auto r = decode_json<CheckChunksRequest>(text);
  ASSERT_TRUE(r.has_value()) << r.error().message();
  ASSERT_EQ(r->chunks.size(), 2u);
  EXPECT_EQ(r->chunks[0].hash.hex(), kHashA);
  EXPECT_EQ(r->chunks[0].length, 5u);
  EXPECT_EQ(r->chunks[1].hash.hex(), kHashB);
  EXPECT_EQ(r->chunks[1].length, 7u);
  EXPECT_FALSE(r->commit_bytes.has_value());

  // A key given twice: the last one counts, as the generic decoder's tree keeps it.
  auto twice = decode_json<CheckChunksRequest>(R"({"chunks": [{"hash": ")" + kHashA +
                                               R"(", "len": 1}], "chunks": []})");
  ASSERT_TRUE(twice.has_value()) << twice.error().message();
  EXPECT_TRUE(twice->chunks.empty());
}

TEST(ProtocolTest, ACheckRequestRefusesWhatIsNotOne) {
  const std::string chunk_a = R"({"hash": ")" + kHashA + R"(", "len": 1})";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "malformed JSON"},
      {"not json", "malformed JSON"},
      {"[]", "must be an object"},
      {"5", "must be an object"},
      {"{}", "'chunks' not found"},
      {R"({"manifests": []})", "'chunks' not found"},
      {R"({"chunks": 3})", "chunks must be an array"},
      {R"({"chunks": {}})", "chunks must be an array"},
      {R"({"chunks": [3]})", "each chunk must be an object"},
      {R"({"chunks": [[]]})", "each chunk must be an object"},
      {R"({"chunks": [{"hash": "zz", "len": 1}]})", "64-character hex"},
      {R"({"chunks": [{"hash": 5, "len": 1}]})", "hash must be a hex string"},
      {R"({"chunks": [{"hash": [], "len": 1}]})", "hash must be a hex string"},
      {R"({"chunks": [{"len": 1}]})", "'hash' not found"},
      {R"({"chunks": [{"hash": ")" + kHashA + R"("}]})", "'len' not found"},
      {R"({"chunks": [{"hash": ")" + kHashA + R"(", "len": 0}]})", "out of range"},
      {R"({"chunks": [{"hash": ")" + kHashA + R"(", "len": -1}]})", "len must be a count"},
      {R"({"chunks": [{"hash": ")" + kHashA + R"(", "len": "1"}]})", "len must be a count"},
      {R"({"chunks": [{"hash": ")" + kHashA + R"(", "len": 67108865}]})", "out of range"},
      {R"({"chunks": [)" + chunk_a + R"(], "manifests": 1})", "manifests must be an array"},
      {R"({"chunks": [)" + chunk_a + R"(], "manifests": [1]})", "manifests must be hex strings"},
      {R"({"chunks": [)" + chunk_a + R"(], "manifests": ["ab"]})", "64-character hex"},
      {R"({"chunks": [)" + chunk_a + R"(], "commit_bytes": "x"})", "commit_bytes must be a count"},
      {R"({"chunks": [)" + chunk_a + R"(], "commit_bytes": {}})", "commit_bytes must be a count"},
      {R"({"chunks": [)" + chunk_a + R"(]} trailing)", "malformed JSON"},
      {R"({"chunks": [)" + chunk_a + R"()", "malformed JSON"},
      {R"({"x": )" + std::string(40, '[') + std::string(40, ']') + R"(, "chunks": []})",
       "more than 32 levels"},
  };
  for (const auto& [text, why] : bad) {
    auto r = decode_json<CheckChunksRequest>(text);
    ASSERT_FALSE(r.has_value()) << text;
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument) << text;
    EXPECT_NE(r.error().message().find(why), std::string::npos)
        << text << " -> " << r.error().message();
  }
}

}  // namespace
}  // namespace cairn::protocol
