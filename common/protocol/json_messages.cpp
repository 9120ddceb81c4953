// Each message of the /v1 API to and from JSON (docs/protocol.md).

#include <algorithm>

#include "common/protocol/json_codec.h"

namespace cairn::protocol::wire {

json to_json_value(const ServerConfig& c) {
  json j{{"protocol_version", c.protocol_version},
         {"chunking",
          {{"min_size", c.chunking.min_size},
           {"avg_size", c.chunking.avg_size},
           {"max_size", c.chunking.max_size}}},
         {"max_batch", c.max_batch},
         {"max_json_body_bytes", c.max_json_body_bytes},
         {"server_version", c.server_version}};
  if (c.packs) {
    j["packs"] = {{"chunk_limit", c.packs->chunk_limit},
                  {"target_size", c.packs->target_size},
                  {"max_size", c.packs->max_size},
                  {"max_chunks", c.packs->max_chunks}};
  }
  return j;
}
void from_json_value(const json& j, ServerConfig& c) {
  c.protocol_version = j.at("protocol_version").get<int>();
  const auto& ch = j.at("chunking");
  c.chunking.min_size = ch.at("min_size").get<uint32_t>();
  c.chunking.avg_size = ch.at("avg_size").get<uint32_t>();
  c.chunking.max_size = ch.at("max_size").get<uint32_t>();
  c.max_batch = j.at("max_batch").get<uint32_t>();
  c.max_json_body_bytes = j.at("max_json_body_bytes").get<uint64_t>();
  c.server_version = get_or<std::string>(j, "server_version", "");
  if (auto it = j.find("packs"); it != j.end() && it->is_object()) {
    PackConfig p;
    p.chunk_limit = it->at("chunk_limit").get<uint32_t>();
    p.target_size = it->at("target_size").get<uint64_t>();
    p.max_size = it->at("max_size").get<uint64_t>();
    p.max_chunks = it->at("max_chunks").get<uint32_t>();
    c.packs = p;
  }
}

json to_json_value(const ChunkUpload& u) { return uploads_json({u}).at(0); }
void from_json_value(const json& j, ChunkUpload& u) { u = uploads_from(json::array({j})).at(0); }

json to_json_value(const PackUploadRequest& r) {
  return {{"pack", r.pack.hex()}, {"size", r.size}};
}
void from_json_value(const json& j, PackUploadRequest& r) {
  r.pack = digest_from(j, "pack");
  r.size = j.at("size").get<uint64_t>();
}

json to_json_value(const ConfirmPackRequest& r) {
  return {{"pack", r.pack.hex()}, {"size", r.size}, {"entries", pack_entries_json(r.entries)}};
}
void from_json_value(const json& j, ConfirmPackRequest& r) {
  r.pack = digest_from(j, "pack");
  r.size = j.at("size").get<uint64_t>();
  r.entries = pack_entries_from(j.at("entries"));
}

json to_json_value(const PackStored& r) { return {{"stored", true}, {"chunks", r.chunks}}; }
void from_json_value(const json& j, PackStored& r) { r.chunks = j.at("chunks").get<uint32_t>(); }

json to_json_value(const ManifestsRequest& r) { return {{"manifests", digests_json(r.manifests)}}; }
void from_json_value(const json& j, ManifestsRequest& r) {
  r.manifests = digests_from(j.at("manifests"), "manifests");
}

json to_json_value(const ManifestsResponse& r) {
  json a = json::array();
  for (const auto& [d, body] : r.manifests)
    a.push_back({{"hash", d.hex()}, {"body", to_hex(body)}});
  return {{"manifests", std::move(a)}};
}
void from_json_value(const json& j, ManifestsResponse& r) {
  const auto& list = j.at("manifests");
  if (!list.is_array()) fail("manifests must be an array");
  for (const auto& one : list) {
    auto body = from_hex(one.at("body").get<std::string>());
    if (!body) fail("manifest body must be hex");
    r.manifests.emplace_back(digest_from(one, "hash"), std::move(*body));
  }
}

json to_json_value(const LocateResponse& r) {
  json reads = json::array();
  for (const auto& read : r.reads) {
    json one{{"url", read.url}, {"length", read.length}, {"parts", pack_entries_json(read.parts)}};
    if (!read.headers.empty()) one["headers"] = headers_json(read.headers);
    reads.push_back(std::move(one));
  }
  return {{"reads", std::move(reads)}};
}
void from_json_value(const json& j, LocateResponse& r) {
  const auto& reads = j.at("reads");
  if (!reads.is_array()) fail("reads must be an array");
  for (const auto& one : reads) {
    ChunkRead read;
    read.url = one.at("url").get<std::string>();
    read.length = one.at("length").get<uint64_t>();
    read.parts = pack_entries_from(one.at("parts"));
    if (one.contains("headers")) read.headers = headers_from(one.at("headers"));
    r.reads.push_back(std::move(read));
  }
}

json to_json_value(const WhoAmI& w) { return {{"user", w.user}, {"user_id", w.user_id}}; }
void from_json_value(const json& j, WhoAmI& w) {
  w.user = j.at("user").get<std::string>();
  w.user_id = j.at("user_id").get<int64_t>();
}

json to_json_value(const CheckChunksRequest& r) {
  json j{{"chunks", chunk_list_json(r.chunks)}};
  if (!r.manifests.empty()) j["manifests"] = digests_json(r.manifests);
  if (r.commit_bytes) j["commit_bytes"] = *r.commit_bytes;
  return j;
}
void from_json_value(const json& j, CheckChunksRequest& r) {
  r.chunks = chunk_list_from(j.at("chunks"));
  if (auto m = j.find("manifests"); m != j.end()) r.manifests = digests_from(*m, "manifests");
  if (auto c = j.find("commit_bytes"); c != j.end() && !c->is_null()) {
    r.commit_bytes = c->get<uint64_t>();
  }
}

json to_json_value(const CheckChunksResponse& r) {
  json j{{"missing", uploads_json(r.missing)}};
  if (r.quota_left) j["quota_left"] = *r.quota_left;
  return j;
}
void from_json_value(const json& j, CheckChunksResponse& r) {
  r.missing = uploads_from(j.at("missing"));
  if (auto q = j.find("quota_left"); q != j.end() && !q->is_null()) {
    r.quota_left = q->get<uint64_t>();
  }
}

json to_json_value(const InitUploadsRequest& r) {
  json files = json::array();
  for (const auto& f : r.files) files.push_back(file_upload_json(f));
  json j{{"files", std::move(files)}};
  if (!r.group.empty()) j["group"] = r.group;
  return j;
}
void from_json_value(const json& j, InitUploadsRequest& r) {
  const auto& files = j.at("files");
  if (!files.is_array()) fail("files must be an array");
  for (const auto& jf : files) r.files.push_back(file_upload_from(jf));
  r.group = get_or<std::string>(j, "group", "");
}

json to_json_value(const InitUploadsResponse& r) {
  json uploads = json::array();
  for (const auto& u : r.uploads) {
    uploads.push_back({{"upload_id", u.upload_id}, {"path", u.path}, {"manifest", u.manifest}});
  }
  return {{"uploads", std::move(uploads)},
          {"missing", uploads_json(r.missing)},
          {"expires_at", r.expires_at}};
}
void from_json_value(const json& j, InitUploadsResponse& r) {
  for (const auto& u : j.at("uploads")) {
    r.uploads.push_back({u.at("upload_id").get<std::string>(), u.at("path").get<std::string>(),
                         get_or<std::string>(u, "manifest", "")});
  }
  r.missing = uploads_from(j.at("missing"));
  r.expires_at = get_or<int64_t>(j, "expires_at", 0);
}

json to_json_value(const CommitRequest& r) {
  json ops = json::array();
  for (const auto& op : r.ops) {
    switch (op.kind) {
      case OpKind::kPut:
        if (op.file) {
          ops.push_back({{"op", "put"}, {"file", file_upload_json(*op.file)}});
        } else {
          ops.push_back({{"op", "put"}, {"upload_id", op.upload_id}});
        }
        break;
      case OpKind::kMkdir: {
        json m{{"op", "mkdir"}, {"path", op.path}};
        if (op.mode) m["mode"] = *op.mode;
        ops.push_back(std::move(m));
        break;
      }
      case OpKind::kDelete: {
        json d{{"op", "delete"}, {"path", op.path}};
        put_optional(d, "base_version", op.base_version);
        if (op.node_id != 0) d["node_id"] = op.node_id;
        ops.push_back(std::move(d));
        break;
      }
      case OpKind::kMove: {
        json m{{"op", "move"}, {"path", op.path}, {"to", op.to}};
        if (op.node_id != 0) m["node_id"] = op.node_id;
        ops.push_back(std::move(m));
        break;
      }
      case OpKind::kRestore: {
        json back{{"op", "restore"}, {"path", op.path}, {"version", op.version}};
        if (op.node_id != 0) back["node_id"] = op.node_id;
        ops.push_back(std::move(back));
        break;
      }
      case OpKind::kUndelete: {
        json u{{"op", "undelete"}, {"node_id", op.node_id}};
        if (!op.to.empty()) u["to"] = op.to;
        ops.push_back(std::move(u));
        break;
      }
      case OpKind::kPublish:
        ops.push_back(
            {{"op", "publish"}, {"group", op.group}, {"path", op.path}, {"mirror", op.mirror}});
        break;
      case OpKind::kRestoreAt:
        ops.push_back({{"op", "restore_at"}, {"path", op.path}, {"at_ms", op.at_ms}});
        break;
    }
  }
  json j{{"device", r.device}, {"ops", std::move(ops)}};
  if (r.cursor) j["cursor"] = *r.cursor;
  if (!r.request_id.empty()) j["request_id"] = r.request_id;
  return j;
}
void from_json_value(const json& j, CommitRequest& r) {
  r.device = get_or<std::string>(j, "device", "");
  r.request_id = get_or<std::string>(j, "request_id", "");
  if (auto c = j.find("cursor"); c != j.end() && !c->is_null()) r.cursor = c->get<std::string>();
  const auto& ops = j.at("ops");
  if (!ops.is_array()) fail("ops must be an array");
  for (const auto& jo : ops) {
    CommitOp op;
    const auto name = jo.at("op").get<std::string>();
    if (name == "put") {
      op.kind = OpKind::kPut;
      if (jo.contains("file")) {
        if (jo.contains("upload_id")) fail("a put names an upload_id or a file, not both");
        op.file = file_upload_from(jo.at("file"));
      } else {
        op.upload_id = jo.at("upload_id").get<std::string>();
      }
    } else if (name == "mkdir") {
      op.kind = OpKind::kMkdir;
      op.path = jo.at("path").get<std::string>();
      if (jo.contains("mode") && !jo.at("mode").is_null()) {
        op.mode = mode_from(jo, NodeKind::kFolder);
      }
    } else if (name == "delete") {
      op.kind = OpKind::kDelete;
      op.path = jo.at("path").get<std::string>();
      op.base_version = get_optional_int(jo, "base_version");
      op.node_id = get_or<int64_t>(jo, "node_id", 0);
    } else if (name == "move") {
      op.kind = OpKind::kMove;
      op.path = jo.at("path").get<std::string>();
      op.to = jo.at("to").get<std::string>();
      op.node_id = get_or<int64_t>(jo, "node_id", 0);
    } else if (name == "restore") {
      op.kind = OpKind::kRestore;
      op.path = jo.at("path").get<std::string>();
      op.version = jo.at("version").get<int64_t>();
      if (op.version < 1) fail("version must be 1 or more");
      op.node_id = get_or<int64_t>(jo, "node_id", 0);
    } else if (name == "undelete") {
      op.kind = OpKind::kUndelete;
      op.node_id = jo.at("node_id").get<int64_t>();
      op.to = get_or<std::string>(jo, "to", "");
    } else if (name == "publish") {
      op.kind = OpKind::kPublish;
      op.group = jo.at("group").get<std::string>();
      op.path = jo.at("path").get<std::string>();
      op.mirror = get_or<bool>(jo, "mirror", false);
    } else if (name == "restore_at") {
      op.kind = OpKind::kRestoreAt;
      op.path = jo.at("path").get<std::string>();
      op.at_ms = jo.at("at_ms").get<int64_t>();
      if (op.at_ms < 0) fail("at_ms must be 0 or more");
    } else {
      fail("unknown op '" + name +
           "' (expected put, mkdir, delete, move, restore, restore_at, undelete or publish)");
    }
    r.ops.push_back(std::move(op));
  }
}

json to_json_value(const CommitResponse& r) {
  json results = json::array();
  for (const auto& res : r.results) {
    json jr{{"status", op_status_name(res.status)},
            {"path", res.path},
            {"node_id", res.node_id},
            {"version", res.version}};
    if (!res.copy.empty()) jr["copy"] = res.copy;
    if (res.published != 0) {
      jr["published"] = res.published;
      jr["changed"] = res.changed;
      jr["deleted"] = res.deleted;
    }
    if (!res.error_code.empty()) jr["error"] = {{"code", res.error_code}, {"message", res.message}};
    results.push_back(std::move(jr));
  }
  json j{{"results", std::move(results)}};
  if (r.cursor) j["cursor"] = *r.cursor;
  return j;
}
void from_json_value(const json& j, CommitResponse& r) {
  if (auto c = j.find("cursor"); c != j.end() && !c->is_null()) r.cursor = c->get<std::string>();
  for (const auto& jr : j.at("results")) {
    CommitResult res;
    const auto status = jr.at("status").get<std::string>();
    if (status == "ok") {
      res.status = OpStatus::kOk;
    } else if (status == "unchanged") {
      res.status = OpStatus::kUnchanged;
    } else if (status == "conflict") {
      res.status = OpStatus::kConflict;
    } else if (status == "copied") {
      res.status = OpStatus::kCopied;
    } else {
      res.status = OpStatus::kError;
    }
    res.path = get_or<std::string>(jr, "path", "");
    res.node_id = get_or<int64_t>(jr, "node_id", 0);
    res.version = get_or<int64_t>(jr, "version", 0);
    res.copy = get_or<std::string>(jr, "copy", "");
    res.published = get_or<int64_t>(jr, "published", 0);
    res.changed = get_or<int64_t>(jr, "changed", 0);
    res.deleted = get_or<int64_t>(jr, "deleted", 0);
    if (auto it = jr.find("error"); it != jr.end()) {
      res.error_code = get_or<std::string>(*it, "code", "");
      res.message = get_or<std::string>(*it, "message", "");
    }
    r.results.push_back(std::move(res));
  }
}

json to_json_value(const HistoryResponse& r) {
  json versions = json::array();
  for (const auto& v : r.versions) {
    json jv{{"version", v.version},
            {"kind", node_kind_name(v.kind)},
            {"size", v.size},
            {"mtime_ns", v.mtime_ns},
            {"author", v.author},
            {"device", v.device},
            {"created_at", v.created_at}};
    put_mode(jv, v.mode);
    if (!v.manifest.empty()) jv["manifest"] = v.manifest;
    if (v.kind == NodeKind::kSymlink) jv["target"] = v.symlink_target;
    versions.push_back(std::move(jv));
  }
  json out{{"node_id", r.node_id}, {"path", r.path}, {"versions", std::move(versions)}};
  if (r.deleted) out["deleted"] = true;
  return out;
}
void from_json_value(const json& j, HistoryResponse& r) {
  r.node_id = j.at("node_id").get<int64_t>();
  r.path = j.at("path").get<std::string>();
  r.deleted = get_or<bool>(j, "deleted", false);
  for (const auto& jv : j.at("versions")) {
    VersionInfo v;
    v.version = jv.at("version").get<int64_t>();
    v.kind = kind_from(jv);
    v.size = get_or<uint64_t>(jv, "size", 0);
    v.mode = mode_from(jv, v.kind);
    v.mtime_ns = get_or<int64_t>(jv, "mtime_ns", 0);
    v.manifest = get_or<std::string>(jv, "manifest", "");
    v.symlink_target = get_or<std::string>(jv, "target", "");
    v.author = get_or<std::string>(jv, "author", "");
    v.device = get_or<std::string>(jv, "device", "");
    v.created_at = get_or<int64_t>(jv, "created_at", 0);
    r.versions.push_back(std::move(v));
  }
}

json to_json_value(const LogResponse& r) {
  json entries = json::array();
  for (const auto& e : r.entries) {
    json je{{"seq", e.seq},
            {"at_ms", e.at_ms},
            {"op", e.op},
            {"path", e.path},
            {"kind", node_kind_name(e.kind)},
            {"version", e.version},
            {"author", e.author},
            {"device", e.device}};
    if (!e.from.empty()) je["from"] = e.from;
    entries.push_back(std::move(je));
  }
  return json{{"entries", std::move(entries)}, {"next_before", r.next_before}};
}
void from_json_value(const json& j, LogResponse& r) {
  for (const auto& je : j.at("entries")) {
    LogEntry e;
    e.seq = je.at("seq").get<int64_t>();
    e.at_ms = je.at("at_ms").get<int64_t>();
    e.op = je.at("op").get<std::string>();
    e.path = je.at("path").get<std::string>();
    e.from = get_or<std::string>(je, "from", "");
    e.kind = kind_from(je);
    e.version = get_or<int64_t>(je, "version", 0);
    e.author = get_or<std::string>(je, "author", "");
    e.device = get_or<std::string>(je, "device", "");
    r.entries.push_back(std::move(e));
  }
  r.next_before = get_or<int64_t>(j, "next_before", 0);
}

json to_json_value(const TrashResponse& r) {
  json entries = json::array();
  for (const auto& e : r.entries) {
    entries.push_back({{"node_id", e.node_id},
                       {"path", e.path},
                       {"kind", node_kind_name(e.kind)},
                       {"deleted_at", e.deleted_at},
                       {"version", e.version},
                       {"size", e.size},
                       {"files", e.files}});
  }
  return {{"entries", std::move(entries)}};
}
void from_json_value(const json& j, TrashResponse& r) {
  for (const auto& je : j.at("entries")) {
    TrashEntry e;
    e.node_id = je.at("node_id").get<int64_t>();
    e.path = je.at("path").get<std::string>();
    e.kind = kind_from(je);
    e.deleted_at = get_or<int64_t>(je, "deleted_at", 0);
    e.version = get_or<int64_t>(je, "version", 0);
    e.size = get_or<uint64_t>(je, "size", 0);
    e.files = get_or<uint64_t>(je, "files", 0);
    r.entries.push_back(std::move(e));
  }
}

json to_json_value(const EmptyTrashResponse& r) { return {{"nodes", r.nodes}, {"bytes", r.bytes}}; }
void from_json_value(const json& j, EmptyTrashResponse& r) {
  r.nodes = j.at("nodes").get<uint64_t>();
  r.bytes = j.at("bytes").get<uint64_t>();
}

json to_json_value(const ShareRequest& r) {
  return {{"path", r.path}, {"user", r.user}, {"role", r.role}};
}
void from_json_value(const json& j, ShareRequest& r) {
  r.path = j.at("path").get<std::string>();
  r.user = j.at("user").get<std::string>();
  r.role = get_or<std::string>(j, "role", "viewer");
}

json to_json_value(const ShareInfo& r) {
  return {{"share_id", r.share_id}, {"path", r.path}, {"owner", r.owner},
          {"user", r.user},         {"role", r.role}, {"created_at", r.created_at}};
}
void from_json_value(const json& j, ShareInfo& r) {
  r.share_id = j.at("share_id").get<int64_t>();
  r.path = j.at("path").get<std::string>();
  r.owner = j.at("owner").get<std::string>();
  r.user = j.at("user").get<std::string>();
  r.role = j.at("role").get<std::string>();
  r.created_at = get_or<int64_t>(j, "created_at", 0);
}

json to_json_value(const SharesResponse& r) {
  json a = json::array();
  for (const auto& one : r.shares) a.push_back(to_json_value(one));
  return {{"shares", std::move(a)}};
}
void from_json_value(const json& j, SharesResponse& r) {
  const auto& list = j.at("shares");
  if (!list.is_array()) fail("shares must be an array");
  for (const auto& one : list) {
    ShareInfo info;
    from_json_value(one, info);
    r.shares.push_back(std::move(info));
  }
}

json to_json_value(const LinkRequest& r) {
  json j{{"path", r.path}};
  put_optional(j, "expires_in", r.expires_in);
  return j;
}
void from_json_value(const json& j, LinkRequest& r) {
  r.path = j.at("path").get<std::string>();
  r.expires_in = get_optional_int(j, "expires_in");
}

json to_json_value(const LinkInfo& r) {
  json j{{"link_id", r.link_id},
         {"path", r.path},
         {"created_at", r.created_at},
         {"revoked", r.revoked}};
  if (!r.url.empty()) j["url"] = r.url;
  if (!r.created_by.empty()) j["created_by"] = r.created_by;
  put_optional(j, "expires_at", r.expires_at);
  return j;
}
void from_json_value(const json& j, LinkInfo& r) {
  r.link_id = j.at("link_id").get<int64_t>();
  r.path = j.at("path").get<std::string>();
  r.url = get_or<std::string>(j, "url", "");
  r.created_at = get_or<int64_t>(j, "created_at", 0);
  r.expires_at = get_optional_int(j, "expires_at");
  r.revoked = get_or<bool>(j, "revoked", false);
  r.created_by = get_or<std::string>(j, "created_by", "");
}

json to_json_value(const LinksResponse& r) {
  json a = json::array();
  for (const auto& one : r.links) a.push_back(to_json_value(one));
  return {{"links", std::move(a)}};
}
void from_json_value(const json& j, LinksResponse& r) {
  const auto& list = j.at("links");
  if (!list.is_array()) fail("links must be an array");
  for (const auto& one : list) {
    LinkInfo info;
    from_json_value(one, info);
    r.links.push_back(std::move(info));
  }
}

json to_json_value(const QuotaResponse& r) {
  json out{{"used", r.used}, {"limit", nullptr}};
  if (r.limit) out["limit"] = *r.limit;
  return out;
}
void from_json_value(const json& j, QuotaResponse& r) {
  r.used = j.at("used").get<uint64_t>();
  if (auto it = j.find("limit"); it != j.end() && !it->is_null()) r.limit = it->get<uint64_t>();
}

json to_json_value(const RepairsResponse& r) {
  json files = json::array();
  for (const auto& f : r.files) {
    files.push_back({{"path", f.path},
                     {"node_id", f.node_id},
                     {"version", f.version},
                     {"chunks", chunk_list_json(f.chunks)}});
  }
  return {{"files", std::move(files)}};
}
void from_json_value(const json& j, RepairsResponse& r) {
  for (const auto& one : j.at("files")) {
    FileRepair f;
    f.path = one.at("path").get<std::string>();
    f.node_id = one.at("node_id").get<int64_t>();
    f.version = one.at("version").get<int64_t>();
    f.chunks = chunk_list_from(one.at("chunks"));
    r.files.push_back(std::move(f));
  }
}

json to_json_value(const CheckResult& r) {
  json damaged = json::array();
  for (const auto& d : r.damaged) {
    json needs = json::array();
    for (const auto& n : d.needed_by) {
      needs.push_back({{"owner", n.owner},
                       {"path", n.path},
                       {"node_id", n.node_id},
                       {"version", n.version},
                       {"head", n.head},
                       {"deleted", n.deleted}});
    }
    damaged.push_back({{"hash", d.hash.hex()},
                       {"size", d.size},
                       {"found_at", d.found_at},
                       {"detail", d.detail},
                       {"needed_by", std::move(needs)}});
  }
  return {{"clean", r.clean},
          {"seconds", r.seconds},
          {"versions", r.versions},
          {"manifests", r.manifests},
          {"chunks", r.chunks},
          {"objects", r.objects},
          {"objects_read", r.objects_read},
          {"bytes_read", r.bytes_read},
          {"copies_set_aside", r.copies_set_aside},
          {"problems", r.problems},
          {"damaged", std::move(damaged)}};
}
void from_json_value(const json& j, CheckResult& r) {
  r.clean = j.at("clean").get<bool>();
  r.seconds = j.at("seconds").get<double>();
  r.versions = j.at("versions").get<int64_t>();
  r.manifests = j.at("manifests").get<int64_t>();
  r.chunks = j.at("chunks").get<int64_t>();
  r.objects = j.at("objects").get<uint64_t>();
  r.objects_read = j.at("objects_read").get<uint64_t>();
  r.bytes_read = j.at("bytes_read").get<uint64_t>();
  r.copies_set_aside = j.at("copies_set_aside").get<int64_t>();
  r.problems = j.at("problems").get<std::vector<std::string>>();
  for (const auto& one : j.at("damaged")) {
    CheckDamage d;
    d.hash = digest_from(one, "hash");
    d.size = one.at("size").get<uint64_t>();
    d.found_at = one.at("found_at").get<int64_t>();
    d.detail = one.at("detail").get<std::string>();
    for (const auto& n : one.at("needed_by")) {
      d.needed_by.push_back({n.at("owner").get<std::string>(), n.at("path").get<std::string>(),
                             n.at("node_id").get<int64_t>(), n.at("version").get<int64_t>(),
                             n.at("head").get<bool>(), n.at("deleted").get<bool>()});
    }
    r.damaged.push_back(std::move(d));
  }
}

json to_json_value(const ListResponse& r) {
  json entries = json::array();
  const bool attributed = r.attributions.size() == r.entries.size();
  for (size_t i = 0; i < r.entries.size(); ++i) {
    entries.push_back(entry_json(r.entries[i]));
    if (attributed && !r.attributions[i].author.empty()) {
      entries.back()["author"] = r.attributions[i].author;
      entries.back()["device"] = r.attributions[i].device;
    }
  }
  return {{"path", r.path}, {"entries", std::move(entries)}};
}
void from_json_value(const json& j, ListResponse& r) {
  r.path = j.at("path").get<std::string>();
  bool attributed = false;
  for (const auto& e : j.at("entries")) {
    r.entries.push_back(entry_from(e));
    Attribution a{get_or<std::string>(e, "author", ""), get_or<std::string>(e, "device", "")};
    attributed = attributed || !a.author.empty();
    r.attributions.push_back(std::move(a));
  }
  if (!attributed) r.attributions.clear();
}

json to_json_value(const WebSignInResponse& r) {
  return {{"url", r.url}, {"expires_at", r.expires_at}};
}
void from_json_value(const json& j, WebSignInResponse& r) {
  r.url = j.at("url").get<std::string>();
  r.expires_at = j.at("expires_at").get<int64_t>();
}

json to_json_value(const ChangesResponse& r) {
  json changes = json::array();
  for (const auto& e : r.changes) changes.push_back(entry_json(e));
  return {{"changes", std::move(changes)},
          {"cursor", r.cursor},
          {"has_more", r.has_more},
          {"reset", r.reset}};
}
void from_json_value(const json& j, ChangesResponse& r) {
  for (const auto& e : j.at("changes")) r.changes.push_back(entry_from(e));
  r.cursor = j.at("cursor").get<std::string>();
  r.has_more = get_or<bool>(j, "has_more", false);
  r.reset = get_or<bool>(j, "reset", false);
}

json to_json_value(const ErrorBody& e) {
  return {{"error", {{"code", e.code}, {"message", e.message}}}};
}
void from_json_value(const json& j, ErrorBody& e) {
  const auto& err = j.at("error");
  e.code = err.at("code").get<std::string>();
  e.message = get_or<std::string>(err, "message", "");
}

}  // namespace cairn::protocol::wire
