// cairnd stats: counts and sums over the whole store, in one read snapshot.

#include "daemon/store/sql/metadata_internal.h"

namespace cairn::store::sqlstore {

namespace {

constexpr int64_t kFileKind = static_cast<int64_t>(protocol::NodeKind::kFile);
constexpr int64_t kFolderKind = static_cast<int64_t>(protocol::NodeKind::kFolder);

// The one row of an aggregate query: (count, sum) with sum 0 over no rows.
Result<std::pair<int64_t, uint64_t>> count_and_sum(Session& s, const std::string& query) {
  CAIRN_ASSIGN_OR_RETURN(auto r, s.query(query));
  return std::make_pair(r[0].get_int(0), static_cast<uint64_t>(r[0].get_int(1)));
}

}  // namespace

Result<StoreStats> SqlMetadataStore::stats() {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<StoreStats> {
    StoreStats out;
    CAIRN_ASSIGN_OR_RETURN(auto users, s.query("SELECT COUNT(*) FROM users"));
    out.users = users[0].get_int(0);
    CAIRN_ASSIGN_OR_RETURN(
        auto kinds,
        s.query("SELECT kind, COUNT(*) FROM nodes WHERE deleted_at IS NULL GROUP BY kind"));
    for (size_t i = 0; i < kinds.size(); ++i) {
      if (kinds[i].get_int(0) == kFileKind) out.files = kinds[i].get_int(1);
      if (kinds[i].get_int(0) == kFolderKind) out.folders = kinds[i].get_int(1);
    }
    const std::string head_versions =
        "FROM nodes n JOIN versions v ON v.namespace_id = n.namespace_id AND v.node_id = "
        "n.node_id AND v.seq = n.head_seq WHERE n.kind = " +
        std::to_string(kFileKind);
    CAIRN_ASSIGN_OR_RETURN(auto current,
                           count_and_sum(s, "SELECT COUNT(*), COALESCE(SUM(v.size), 0) " +
                                                head_versions + " AND n.deleted_at IS NULL"));
    out.current_bytes = current.second;
    CAIRN_ASSIGN_OR_RETURN(
        auto trash, count_and_sum(s, "SELECT COUNT(*), COALESCE(SUM(v.size), 0) " + head_versions +
                                         " AND n.deleted_at IS NOT NULL AND n.purged_at IS NULL"));
    out.trash_bytes = trash.second;
    CAIRN_ASSIGN_OR_RETURN(auto roots,
                           s.query("SELECT COUNT(*) FROM nodes WHERE deleted_at IS NOT NULL AND "
                                   "purged_at IS NULL AND trash_id = node_id"));
    out.trash_items = roots[0].get_int(0);
    CAIRN_ASSIGN_OR_RETURN(auto versions,
                           s.query("SELECT COUNT(*), COALESCE(SUM(size), 0), MIN(created_at) "
                                   "FROM versions"));
    out.versions = versions[0].get_int(0);
    out.versions_bytes = static_cast<uint64_t>(versions[0].get_int(1));
    out.oldest_version_at = versions[0].get_optional_int(2);
    CAIRN_ASSIGN_OR_RETURN(
        auto chunks, count_and_sum(s,
                                   "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM (SELECT hash, "
                                   "size FROM chunks WHERE doomed_at IS NULL UNION SELECT "
                                   "hash, size FROM pack_chunks) AS stored"));
    std::tie(out.chunks, out.chunk_bytes) = chunks;
    CAIRN_ASSIGN_OR_RETURN(auto loose,
                           count_and_sum(s,
                                         "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM chunks "
                                         "WHERE doomed_at IS NULL"));
    std::tie(out.loose_chunks, out.loose_bytes) = loose;
    CAIRN_ASSIGN_OR_RETURN(auto packs,
                           count_and_sum(s,
                                         "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM packs "
                                         "WHERE retired_at IS NULL"));
    std::tie(out.packs, out.pack_bytes) = packs;
    return out;
  });
}

}  // namespace cairn::store::sqlstore
