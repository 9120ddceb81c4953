// Row readers and small helpers of the SQL metadata store.

#include "daemon/store/sql/metadata_internal.h"

namespace cairn::store::sqlstore {

NodeKind kind_from_code(int64_t code) {
  switch (code) {
    case 1:
      return NodeKind::kFolder;
    case 2:
      return NodeKind::kSymlink;
    default:
      return NodeKind::kFile;
  }
}

StagedUpload upload_from_row(const sql::Row& r) {
  StagedUpload u;
  u.path = r.get_text(0);
  u.kind = kind_from_code(r.get_int(1));
  u.mode = static_cast<uint32_t>(r.get_int(2));
  u.mtime_ns = r.get_int(3);
  u.symlink_target = r.get_text(4);
  if (!r.is_null(5)) u.manifest_hash = Digest::from_bytes(r.get_blob(5));
  u.size = static_cast<uint64_t>(r.get_int(6));
  u.base_version = r.get_optional_int(7);
  u.expires_at = r.get_int(8);
  u.node_id = r.get_int(9);
  u.upload_id = r.get_text(10);
  u.group = r.get_text(11);
  return u;
}

Entry entry_from_row(const sql::Row& r, size_t c) {
  Entry e;
  e.kind = kind_from_code(r.get_int(c));
  e.version = r.get_int(c + 1);
  e.deleted = !r.is_null(c + 2);
  e.size = static_cast<uint64_t>(r.get_int(c + 3));
  // A folder's mode is its node's; a file's, its head version's.
  e.mode = static_cast<uint32_t>(e.kind == NodeKind::kFolder ? r.get_int(c + 9)
                                                             : r.get_optional_int(c + 4).value_or(
                                                                   protocol::default_mode(e.kind)));
  e.mtime_ns = r.get_int(c + 5);
  if (!r.is_null(c + 6)) e.manifest = Digest::from_bytes(r.get_blob(c + 6));
  e.symlink_target = r.get_text(c + 7);
  e.modified_at = r.get_int(c + 8);
  return e;
}

User user_from_row(const sql::Row& r) {
  User u;
  u.user_id = r.get_int(0);
  u.name = r.get_text(1);
  u.home_namespace_id = r.get_int(2);
  u.disabled = r.get_int(3) != 0;
  u.created_at = r.get_int(4);
  return u;
}

void collect_digests(const Rows& r, size_t column, std::unordered_set<Digest>& out) {
  for (size_t i = 0; i < r.size(); ++i) {
    if (auto d = Digest::from_bytes(r[i].get_blob(column))) out.insert(*d);
  }
}

Result<void> insert_rows(Session& s, const std::string& head,
                         const std::vector<std::vector<sql::Value>>& rows,
                         const std::string& tail) {
  return insert_rows(s, head, rows, tail, [](const Rows&) -> Result<void> { return {}; });
}

Result<void> insert_pack_chunks(Session& s, const Digest& pack, int64_t reader,
                                const std::vector<PackEntry>& entries) {
  // Multi-row inserts: a pack of small files holds thousands of chunks.
  std::vector<std::vector<sql::Value>> rows;
  rows.reserve(entries.size());
  for (const PackEntry& e : entries) {
    rows.push_back({sql::to_value(e.hash.bytes()), sql::to_value(pack.bytes()),
                    sql::to_value(static_cast<int64_t>(e.offset)),
                    sql::to_value(static_cast<int64_t>(e.stored_length)),
                    sql::to_value(static_cast<int64_t>(e.length)),
                    sql::to_value(static_cast<int64_t>(e.codec)), sql::to_value(reader),
                    e.stored_xxh3 == 0 ? sql::Value(nullptr)
                                       : sql::to_value(static_cast<int64_t>(e.stored_xxh3))});
  }
  return insert_rows(s,
                     "INSERT INTO pack_chunks(hash, pack_hash, pack_offset, stored_size, size, "
                     "codec, reader_id, stored_xxh3)",
                     rows, " ON CONFLICT DO NOTHING");
}

Result<void> chunks_of_manifests(Session& s, const std::string& manifest_query,
                                 const std::vector<sql::Value>& args,
                                 std::unordered_set<Digest>& out) {
  CAIRN_ASSIGN_OR_RETURN(
      auto r,
      s.run("SELECT body FROM manifests WHERE manifest_hash IN (" + manifest_query + ")", args));
  for (size_t i = 0; i < r.size(); ++i) {
    auto m = Manifest::decode(r[i].get_blob(0));
    if (!m) return std::move(m).error().with_context("gc: a stored manifest");
    for (const auto& c : m->chunks()) out.insert(c.hash);
  }
  return {};
}

ChunkLocation location_from_row(const sql::Row& row, int first, const Digest& hash,
                                const Digest& pack) {
  ChunkLocation loc;
  loc.hash = hash;
  loc.pack = pack;
  loc.offset = static_cast<uint64_t>(row.get_int(first));
  loc.stored_length = static_cast<uint32_t>(row.get_int(first + 1));
  loc.length = static_cast<uint32_t>(row.get_int(first + 2));
  loc.codec = row.get_int(first + 3) == 1 ? Codec::kZstd : Codec::kRaw;
  if (!row.is_null(first + 4)) loc.stored_xxh3 = static_cast<uint64_t>(row.get_int(first + 4));
  return loc;
}

std::string numbered_name(const std::string& name, int n, bool file) {
  const size_t dot = file ? name.rfind('.') : std::string::npos;
  const std::string mark = " (" + std::to_string(n) + ")";
  if (dot == std::string::npos || dot == 0) return name + mark;
  return name.substr(0, dot) + mark + name.substr(dot);
}

void show_as_mount(const Mount& m, Entry& e) {
  if (m.file) e.node_id = m.mount_node;
  e.share_role = std::string(role_name(m.role));
  e.shared_by = m.owner;
}

std::string id_list(const std::vector<int64_t>& ids) {
  std::string out;
  for (const int64_t id : ids) out += (out.empty() ? "" : ", ") + std::to_string(id);
  return out;
}

bool same_content(const VersionRow& head, const StagedUpload& u) {
  return head.manifest == u.manifest_hash && head.mode == u.mode &&
         head.symlink_target == u.symlink_target;
}

}  // namespace cairn::store::sqlstore
