// History, the trash, quotas and retention.

#include "daemon/store/sql/metadata_internal.h"

namespace cairn::store::sqlstore {

Result<FileHistory> SqlMetadataStore::history(const Actor& actor, const std::string& path,
                                              int64_t node_id) {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<FileHistory> {
    Tx tx(s);
    FileHistory out;
    int64_t namespace_id = actor.namespace_id;
    std::string at = path;
    CAIRN_ASSIGN_OR_RETURN(const auto* shared, tx.mounts(actor.user_id));
    for (const auto& m : *shared) {
      // A shared file is known to the grantee by its mount's id: its history is the owner's.
      if (node_id != 0 && m.file && m.mount_node == node_id && !m.view_path.empty()) {
        at = m.view_path;
        node_id = 0;
      }
    }
    int64_t versions_of = node_id;
    if (node_id != 0) {
      // A node of the user's own, or one under a folder shared with them.
      CAIRN_ASSIGN_OR_RETURN(auto info, tx.node_info(namespace_id, node_id));
      Place where{namespace_id, "", nullptr};
      if (!info) {
        CAIRN_ASSIGN_OR_RETURN(const auto* all, tx.mounts(actor.user_id));
        for (const auto& m : *all) {
          Actor inside = actor;
          inside.namespace_id = m.ns;
          inside.scope_root = m.root;
          CAIRN_ASSIGN_OR_RETURN(const bool reachable, tx.in_scope(inside, node_id));
          if (!reachable || m.view_path.empty() || m.root == node_id) continue;
          CAIRN_ASSIGN_OR_RETURN(info, tx.node_info(m.ns, node_id));
          where = Place{m.ns, "", &m};
          namespace_id = m.ns;
          break;
        }
      }
      if (!info || info->purged || info->parent == 0) {
        return make_error(ErrorCode::kNotFound, "no file with id " + std::to_string(node_id));
      }
      out.node_id = node_id;
      out.deleted = info->deleted;
      if (info->kind == NodeKind::kFolder) {
        return make_error(ErrorCode::kInvalidArgument,
                          "node " + std::to_string(node_id) + " is a folder");
      }
      CAIRN_ASSIGN_OR_RETURN(out.path, tx.node_path(namespace_id, node_id));
      out.path = Tx::to_view(where, out.path);
    } else {
      CAIRN_ASSIGN_OR_RETURN(auto p, tx.place(actor, at));
      namespace_id = p.ns;
      CAIRN_ASSIGN_OR_RETURN(auto node, tx.resolve(p.ns, p.path));
      if (!node) return make_error(ErrorCode::kNotFound, "no such file: " + at);
      if (node->kind == NodeKind::kFolder) {
        return make_error(ErrorCode::kInvalidArgument,
                          at + " is a folder: versions are kept per file");
      }
      versions_of = node->node_id;
      out.node_id = p.mount != nullptr && p.mount->file ? p.mount->mount_node : node->node_id;
      out.path = at;
    }
    CAIRN_ASSIGN_OR_RETURN(
        auto r, s.query("SELECT v.seq, v.manifest_hash, v.size, v.mode, v.mtime_ns, "
                        "v.symlink_target, u.name, v.device, v.created_at FROM versions v "
                        "LEFT JOIN users u ON u.user_id = v.author_id WHERE "
                        "v.namespace_id=?1 AND v.node_id=?2 ORDER BY v.seq DESC",
                        namespace_id, versions_of));
    for (size_t i = 0; i < r.size(); ++i) {
      VersionRecord v;
      v.version = r[i].get_int(0);
      v.kind = r[i].is_null(1) ? NodeKind::kSymlink : NodeKind::kFile;
      if (!r[i].is_null(1)) v.manifest = to_hex(r[i].get_blob(1));
      v.size = static_cast<uint64_t>(r[i].get_int(2));
      v.mode = static_cast<uint32_t>(r[i].get_int(3));
      v.mtime_ns = r[i].get_int(4);
      v.symlink_target = r[i].get_text(5);
      v.author = r[i].get_text(6);
      v.device = r[i].get_text(7);
      v.created_at = r[i].get_int(8);
      out.versions.push_back(std::move(v));
    }
    return out;
  });
}

Result<std::vector<TrashItem>> SqlMetadataStore::trash(int64_t namespace_id) {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<TrashItem>> {
    Tx tx(s);
    std::vector<TrashItem> out;
    // What a delete named: deleted nodes whose parent is alive.
    CAIRN_ASSIGN_OR_RETURN(
        auto r, s.query("SELECT n.node_id, n.kind, n.deleted_at, n.head_seq, "
                        "COALESCE(n.trash_id, n.node_id), COALESCE(v.size, 0) FROM nodes n "
                        "JOIN nodes p ON p.node_id = n.parent_id LEFT JOIN versions v ON "
                        "v.namespace_id = n.namespace_id AND v.node_id = n.node_id AND v.seq = "
                        "n.head_seq WHERE n.namespace_id=?1 AND n.deleted_at IS NOT NULL AND "
                        "n.purged_at IS NULL AND p.deleted_at IS NULL ORDER BY n.deleted_at "
                        "DESC, n.node_id DESC",
                        namespace_id));
    for (size_t i = 0; i < r.size(); ++i) {
      TrashItem e;
      e.node_id = r[i].get_int(0);
      e.kind = kind_from_code(r[i].get_int(1));
      e.deleted_at = r[i].get_int(2);
      e.version = r[i].get_int(3);
      CAIRN_ASSIGN_OR_RETURN(e.path, tx.node_path(namespace_id, e.node_id));
      if (e.kind == NodeKind::kFolder) {
        CAIRN_ASSIGN_OR_RETURN(
            auto sum, s.query("SELECT COUNT(*), COALESCE(SUM(v.size), 0) FROM closure c JOIN "
                              "nodes n ON n.node_id = c.descendant LEFT JOIN versions v ON "
                              "v.namespace_id = n.namespace_id AND v.node_id = n.node_id AND "
                              "v.seq = n.head_seq WHERE c.namespace_id=?1 AND c.ancestor=?2 "
                              "AND n.namespace_id=?1 AND n.kind = 0 AND n.deleted_at IS NOT "
                              "NULL AND n.purged_at IS NULL AND n.trash_id = ?3",
                              namespace_id, e.node_id, r[i].get_int(4)));
        e.files = static_cast<uint64_t>(sum[0].get_int(0));
        e.size = static_cast<uint64_t>(sum[0].get_int(1));
      } else {
        e.files = 1;
        e.size = static_cast<uint64_t>(r[i].get_int(5));
      }
      out.push_back(std::move(e));
    }
    return out;
  });
}

Result<TrashPurged> SqlMetadataStore::empty_trash(int64_t namespace_id,
                                                  std::optional<int64_t> deleted_before,
                                                  int64_t now) {
  return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<TrashPurged> {
    return purge_trash(s, namespace_id, deleted_before, now);
  });
}

Result<QuotaUsage> SqlMetadataStore::quota(int64_t user_id) {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<QuotaUsage> {
    CAIRN_ASSIGN_OR_RETURN(
        auto r, s.query("SELECT used_bytes, limit_bytes FROM quotas WHERE user_id=?1", user_id));
    QuotaUsage out;
    if (r.empty()) return out;
    out.used = static_cast<uint64_t>(std::max<int64_t>(r[0].get_int(0), 0));
    if (auto limit = r[0].get_optional_int(1)) out.limit = static_cast<uint64_t>(*limit);
    return out;
  });
}

Result<void> SqlMetadataStore::set_quota(int64_t user_id, std::optional<uint64_t> limit) {
  return db_->transact(TxMode::kWrite, [&](Session& s) -> Result<void> {
    std::optional<int64_t> value;
    if (limit) value = static_cast<int64_t>(*limit);
    CAIRN_ASSIGN_OR_RETURN(
        auto r, s.query("UPDATE quotas SET limit_bytes=?2 WHERE user_id=?1", user_id, value));
    if (r.affected == 0) {
      CAIRN_RETURN_IF_ERROR(s.query(
          "INSERT INTO quotas(user_id, limit_bytes, used_bytes) VALUES (?1, ?2, 0) ON CONFLICT "
          "(user_id) DO UPDATE SET limit_bytes = excluded.limit_bytes",
          user_id, value));
    }
    return {};
  });
}

Result<RetentionReport> SqlMetadataStore::apply_retention(int64_t cutoff, int64_t now) {
  RetentionReport out;
  // Namespace by namespace, each in its own transaction, so a big install never holds the
  // writer for long.
  CAIRN_ASSIGN_OR_RETURN(
      auto namespaces,
      sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<int64_t>> {
        CAIRN_ASSIGN_OR_RETURN(auto r, s.query("SELECT namespace_id FROM namespaces"));
        std::vector<int64_t> ids;
        for (size_t i = 0; i < r.size(); ++i) ids.push_back(r[i].get_int(0));
        return ids;
      }));
  for (const int64_t ns : namespaces) {
    auto done = sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<void> {
      // A version is history once a newer one exists; it is kept until that newer one is
      // older than the cutoff. Heads are never touched.
      CAIRN_ASSIGN_OR_RETURN(
          auto gone, s.query("DELETE FROM versions WHERE namespace_id=?1 AND EXISTS (SELECT 1 "
                             "FROM versions w WHERE w.namespace_id = versions.namespace_id AND "
                             "w.node_id = versions.node_id AND w.seq > versions.seq AND "
                             "w.created_at < ?2)",
                             ns, cutoff));
      out.versions += gone.affected;
      CAIRN_ASSIGN_OR_RETURN(auto purged, purge_trash(s, ns, cutoff, now));
      out.nodes += static_cast<int64_t>(purged.nodes);
      out.bytes += purged.bytes;
      return {};
    });
    if (!done) return std::move(done).error();
  }
  return out;
}

Result<TrashPurged> SqlMetadataStore::purge_trash(Session& s, int64_t ns,
                                                  std::optional<int64_t> before, int64_t now) {
  TrashPurged out;
  CAIRN_ASSIGN_OR_RETURN(
      auto r, s.query("SELECT n.node_id, n.kind, COALESCE(v.size, 0) FROM nodes n LEFT JOIN "
                      "versions v ON v.namespace_id = n.namespace_id AND v.node_id = n.node_id "
                      "AND v.seq = n.head_seq WHERE n.namespace_id=?1 AND n.deleted_at IS NOT "
                      "NULL AND n.purged_at IS NULL AND n.deleted_at < ?2",
                      ns, before.value_or(std::numeric_limits<int64_t>::max())));
  if (r.empty()) return out;
  std::vector<int64_t> ids;
  int64_t bytes = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    ids.push_back(r[i].get_int(0));
    if (kind_from_code(r[i].get_int(1)) == NodeKind::kFile) bytes += r[i].get_int(2);
  }
  auto purge = [&](const std::string& in, std::vector<sql::Value> args) -> Result<void> {
    CAIRN_RETURN_IF_ERROR(s.run(
        "UPDATE nodes SET purged_at=?2 WHERE namespace_id=?1 AND node_id IN (" + in + ")", args));
    args[1] = sql::to_value(int64_t{0});
    CAIRN_RETURN_IF_ERROR(
        s.run("DELETE FROM versions WHERE namespace_id=?1 AND seq > ?2 AND node_id IN (" + in + ")",
              args));
    return {};
  };
  CAIRN_RETURN_IF_ERROR(in_batches(ids, {sql::to_value(ns), sql::to_value(now)}, purge));
  Tx tx(s);
  CAIRN_RETURN_IF_ERROR(tx.charge(ns, -bytes));
  out.nodes = ids.size();
  out.bytes = static_cast<uint64_t>(bytes);
  return out;
}

}  // namespace cairn::store::sqlstore
