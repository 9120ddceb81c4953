// Field readers and writers shared by the protocol's messages.

#include "common/protocol/json_codec.h"

namespace cairn::protocol::wire {

Digest digest_from(const json& j, const char* field) {
  const auto& v = j.at(field);
  if (!v.is_string()) fail(std::string(field) + " must be a hex string");
  auto d = Digest::from_hex(v.get<std::string>());
  if (!d) fail(std::string(field) + " is not a 64-character hex SHA-256");
  return *d;
}
std::optional<int64_t> get_optional_int(const json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return it->get<int64_t>();
}
void put_optional(json& j, const char* field, const std::optional<int64_t>& v) {
  if (v) j[field] = *v;
}
uint32_t mode_from(const json& j, NodeKind kind) {
  auto it = j.find("mode");
  if (it == j.end() || it->is_null()) {
    return default_mode(kind, get_or<bool>(j, "executable", false));
  }
  if (!it->is_number_unsigned() || it->get<uint64_t>() > kPermissionBits) {
    fail("mode must be permission bits: a number from 0 to 511 (0777)");
  }
  return static_cast<uint32_t>(it->get<uint64_t>());
}
void put_mode(json& j, uint32_t mode) {
  j["mode"] = mode;
  j["executable"] = (mode & 0100) != 0;
}
json chunk_ref_json(const ChunkRef& c) { return json{{"hash", c.hash.hex()}, {"len", c.length}}; }
ChunkRef chunk_ref_from(const json& j) {
  ChunkRef c;
  c.hash = digest_from(j, "hash");
  const auto len = j.at("len").get<uint64_t>();
  if (len == 0 || len > ChunkerParams::kMaxSupportedSize) fail("chunk len out of range");
  c.length = static_cast<uint32_t>(len);
  return c;
}
json chunk_list_json(const std::vector<ChunkRef>& chunks) {
  json a = json::array();
  for (const auto& c : chunks) a.push_back(chunk_ref_json(c));
  return a;
}
std::vector<ChunkRef> chunk_list_from(const json& j) {
  if (!j.is_array()) fail("chunks must be an array");
  std::vector<ChunkRef> out;
  out.reserve(j.size());
  for (const auto& c : j) out.push_back(chunk_ref_from(c));
  return out;
}
json headers_json(const std::vector<std::pair<std::string, std::string>>& headers) {
  json h = json::object();
  for (const auto& [k, val] : headers) h[k] = val;
  return h;
}
std::vector<std::pair<std::string, std::string>> headers_from(const json& j) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!j.is_object()) fail("headers must be an object");
  for (const auto& [k, val] : j.items()) out.emplace_back(k, val.get<std::string>());
  return out;
}
json uploads_json(const std::vector<ChunkUpload>& v) {
  json a = json::array();
  for (const auto& m : v) {
    json one{{"hash", m.hash.hex()}, {"url", m.url}};
    if (!m.headers.empty()) one["headers"] = headers_json(m.headers);
    a.push_back(std::move(one));
  }
  return a;
}
std::vector<ChunkUpload> uploads_from(const json& j) {
  std::vector<ChunkUpload> out;
  for (const auto& m : j) {
    ChunkUpload u{digest_from(m, "hash"), m.at("url").get<std::string>(), {}};
    if (m.contains("headers")) u.headers = headers_from(m.at("headers"));
    out.push_back(std::move(u));
  }
  return out;
}
json pack_entries_json(const std::vector<PackEntry>& entries) {
  json a = json::array();
  for (const auto& e : entries) {
    a.push_back({{"hash", e.hash.hex()},
                 {"len", e.length},
                 {"stored", e.stored_length},
                 {"codec", codec_name(e.codec)},
                 {"offset", e.offset}});
  }
  return a;
}
std::vector<PackEntry> pack_entries_from(const json& j) {
  if (!j.is_array()) fail("entries must be an array");
  std::vector<PackEntry> out;
  out.reserve(j.size());
  for (const auto& one : j) {
    PackEntry e;
    e.hash = digest_from(one, "hash");
    const auto len = one.at("len").get<uint64_t>();
    const auto stored = one.at("stored").get<uint64_t>();
    if (len == 0 || len > ChunkerParams::kMaxSupportedSize) fail("chunk len out of range");
    if (stored == 0 || stored > 2 * uint64_t{ChunkerParams::kMaxSupportedSize}) {
      fail("chunk stored length out of range");
    }
    e.length = static_cast<uint32_t>(len);
    e.stored_length = static_cast<uint32_t>(stored);
    auto codec = codec_from_name(one.at("codec").get<std::string>());
    if (!codec) fail("codec must be raw or zstd");
    e.codec = *codec;
    e.offset = one.at("offset").get<uint64_t>();
    out.push_back(e);
  }
  return out;
}
NodeKind kind_from(const json& j) {
  auto k = node_kind_from_name(j.at("kind").get<std::string>());
  if (!k) fail("kind must be file, folder or symlink");
  return *k;
}
json entry_json(const Entry& e) {
  json j{{"node_id", e.node_id},        {"path", e.path}, {"kind", node_kind_name(e.kind)},
         {"version", e.version},        {"size", e.size}, {"mtime_ns", e.mtime_ns},
         {"modified_at", e.modified_at}};
  put_mode(j, e.mode);
  if (e.deleted) j["deleted"] = true;
  if (!e.change.empty()) j["change"] = e.change;
  if (!e.share_role.empty()) j["share"] = {{"role", e.share_role}, {"owner", e.shared_by}};
  if (e.manifest) j["manifest"] = e.manifest->hex();
  if (e.kind == NodeKind::kSymlink) j["target"] = e.symlink_target;
  return j;
}
Entry entry_from(const json& j) {
  Entry e;
  e.node_id = j.at("node_id").get<int64_t>();
  e.path = j.at("path").get<std::string>();
  e.kind = kind_from(j);
  e.deleted = get_or<bool>(j, "deleted", false);
  e.version = get_or<int64_t>(j, "version", 0);
  e.size = get_or<uint64_t>(j, "size", 0);
  e.mode = mode_from(j, e.kind);
  e.mtime_ns = get_or<int64_t>(j, "mtime_ns", 0);
  e.modified_at = get_or<int64_t>(j, "modified_at", 0);
  if (j.contains("manifest")) e.manifest = digest_from(j, "manifest");
  e.symlink_target = get_or<std::string>(j, "target", "");
  e.change = get_or<std::string>(j, "change", "");
  if (auto share = j.find("share"); share != j.end() && share->is_object()) {
    e.share_role = share->at("role").get<std::string>();
    e.shared_by = share->at("owner").get<std::string>();
  }
  return e;
}

json digests_json(const std::vector<Digest>& digests) {
  json a = json::array();
  for (const auto& d : digests) a.push_back(d.hex());
  return a;
}
std::vector<Digest> digests_from(const json& list, const char* what) {
  if (!list.is_array()) fail(std::string(what) + " must be an array");
  std::vector<Digest> out;
  for (const auto& v : list) {
    if (!v.is_string()) fail(std::string(what) + " must be hex strings");
    auto d = Digest::from_hex(v.get<std::string>());
    if (!d) fail(std::string(what) + " must be 64-character hex SHA-256 strings");
    out.push_back(*d);
  }
  return out;
}

json file_upload_json(const FileUpload& f) {
  json jf{{"path", f.path}, {"kind", node_kind_name(f.kind)}};
  if (f.kind == NodeKind::kFile) {
    jf["chunks"] = chunk_list_json(f.chunks);
  }
  if (f.kind != NodeKind::kSymlink) put_mode(jf, f.mode);
  if (f.kind == NodeKind::kSymlink) jf["target"] = f.symlink_target;
  jf["mtime_ns"] = f.mtime_ns;
  put_optional(jf, "base_version", f.base_version);
  if (f.node_id != 0) jf["node_id"] = f.node_id;
  return jf;
}
FileUpload file_upload_from(const json& jf) {
  if (!jf.is_object()) fail("a file must be an object");
  FileUpload f;
  f.path = jf.at("path").get<std::string>();
  f.kind = kind_from(jf);
  if (f.kind == NodeKind::kFile) f.chunks = chunk_list_from(jf.at("chunks"));
  f.mode = mode_from(jf, f.kind);
  f.mtime_ns = get_or<int64_t>(jf, "mtime_ns", 0);
  if (f.kind == NodeKind::kSymlink) f.symlink_target = jf.at("target").get<std::string>();
  f.base_version = get_optional_int(jf, "base_version");
  f.node_id = get_or<int64_t>(jf, "node_id", 0);
  return f;
}

}  // namespace cairn::protocol::wire
