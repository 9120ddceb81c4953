// Shares (a folder or file granted to another user) and links.

#include "daemon/store/sql/metadata_internal.h"

namespace cairn::store::sqlstore {

Result<ShareInfo> SqlMetadataStore::share(const Actor& actor, const std::string& path,
                                          const std::string& grantee, Role role) {
  return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<ShareInfo> {
    Tx tx(s);
    CAIRN_RETURN_IF_ERROR(tx.still_authorised(actor));
    CAIRN_ASSIGN_OR_RETURN(auto owned, tx.owned_node(actor, path, "share"));
    CAIRN_ASSIGN_OR_RETURN(
        auto g, s.query("SELECT user_id, home_namespace_id FROM users WHERE name=?1", grantee));
    if (g.empty()) return make_error(ErrorCode::kNotFound, "no user named '" + grantee + "'");
    const int64_t grantee_id = g[0].get_int(0);
    const int64_t grantee_ns = g[0].get_int(1);
    if (grantee_id == actor.user_id) {
      return make_error(ErrorCode::kInvalidArgument, "you own " + path + " already");
    }
    ShareInfo out;
    out.path = path;
    out.grantee = grantee;
    out.role = role;
    out.created_at = actor.now;
    CAIRN_ASSIGN_OR_RETURN(auto me,
                           s.query("SELECT name FROM users WHERE user_id=?1", actor.user_id));
    if (!me.empty()) out.owner = me[0].get_text(0);
    CAIRN_ASSIGN_OR_RETURN(auto existing,
                           s.query("SELECT share_id, mount_namespace_id, mount_node_id, created_at "
                                   "FROM shares WHERE namespace_id=?1 AND root_node_id=?2 AND "
                                   "grantee_id=?3",
                                   actor.namespace_id, owned, grantee_id));
    if (!existing.empty()) {
      // A new role: the grantee's feed shows their mount again, with it.
      out.share_id = existing[0].get_int(0);
      out.created_at = existing[0].get_int(3);
      CAIRN_RETURN_IF_ERROR(s.query("UPDATE shares SET role=?2 WHERE share_id=?1", out.share_id,
                                    std::string(role_name(role))));
      // A viewer shares nothing: the links they made as an editor end now.
      CAIRN_RETURN_IF_ERROR(tx.revoke_unshared_links(grantee_id, actor.namespace_id, actor.now));
      CAIRN_RETURN_IF_ERROR(
          tx.journal(actor, existing[0].get_int(1), existing[0].get_int(2), "share"));
      // And the owner's log says so.
      CAIRN_RETURN_IF_ERROR(tx.journal(actor, actor.namespace_id, owned, "share"));
      return out;
    }
    // The grantee sees it at /Shared/NAME, or NAME (2) ... if that is taken.
    Actor them{grantee_id, grantee_ns, "", actor.now, std::nullopt, 0, "", actor.now_ms};
    auto folder = tx.ensure_folder(them, "/Shared");
    if (!folder) {
      return make_error(folder.error().code(),
                        grantee + "'s /Shared is not a folder: " + folder.error().message());
    }
    CAIRN_ASSIGN_OR_RETURN(auto shared, tx.node_info(actor.namespace_id, owned));
    const NodeKind kind = shared ? shared->kind : NodeKind::kFolder;
    const std::string name(remote_basename(path));
    std::string mount_name = name;
    for (int n = 2;; ++n) {
      CAIRN_ASSIGN_OR_RETURN(auto taken, tx.live_child(grantee_ns, folder->first, mount_name));
      if (!taken) break;
      mount_name = numbered_name(name, n, kind != NodeKind::kFolder);
    }
    CAIRN_ASSIGN_OR_RETURN(const int64_t mount,
                           tx.create_node(grantee_ns, folder->first, mount_name, kind, actor.now));
    CAIRN_RETURN_IF_ERROR(tx.journal(actor, grantee_ns, mount, "share"));
    CAIRN_RETURN_IF_ERROR(tx.journal(actor, actor.namespace_id, owned, "share"));
    CAIRN_ASSIGN_OR_RETURN(
        auto ins, s.query("INSERT INTO shares(namespace_id, root_node_id, grantee_id, role, "
                          "mount_namespace_id, mount_node_id, created_by, created_at) VALUES "
                          "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING share_id",
                          actor.namespace_id, owned, grantee_id, std::string(role_name(role)),
                          grantee_ns, mount, actor.user_id, actor.now));
    out.share_id = ins[0].get_int(0);
    return out;
  });
}

Result<void> SqlMetadataStore::unshare(const Actor& actor, const std::string& path,
                                       const std::string& grantee) {
  return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<void> {
    Tx tx(s);
    CAIRN_RETURN_IF_ERROR(tx.still_authorised(actor));
    Rows r;
    if (grantee.empty()) {
      // A grantee leaves a folder shared with them.
      CAIRN_ASSIGN_OR_RETURN(const auto* all, tx.mounts(actor.user_id));
      int64_t share_id = 0;
      for (const auto& m : *all) {
        if (!m.view_path.empty() && m.view_path == path) share_id = m.share_id;
      }
      if (share_id == 0) {
        return make_error(ErrorCode::kNotFound,
                          path +
                              " is not a folder or file shared with you (to stop sharing "
                              "something of yours, name the user too)");
      }
      CAIRN_ASSIGN_OR_RETURN(
          r, s.query("SELECT share_id, mount_namespace_id, mount_node_id, grantee_id, "
                     "namespace_id, root_node_id FROM shares WHERE share_id=?1",
                     share_id));
    } else {
      CAIRN_ASSIGN_OR_RETURN(auto owned, tx.owned_node(actor, path, "unshare"));
      CAIRN_ASSIGN_OR_RETURN(
          r, s.query("SELECT s.share_id, s.mount_namespace_id, s.mount_node_id, "
                     "s.grantee_id, s.namespace_id, s.root_node_id FROM shares s JOIN users u ON "
                     "u.user_id = "
                     "s.grantee_id WHERE s.namespace_id=?1 AND s.root_node_id=?2 AND u.name=?3",
                     actor.namespace_id, owned, grantee));
      if (r.empty()) {
        return make_error(ErrorCode::kNotFound, path + " is not shared with '" + grantee + "'");
      }
    }
    return tx.end_share(actor, r[0]);
  });
}

Result<void> Tx::end_share(const Actor& a, const sql::Row& share) {
  // The mount goes for good (not to the grantee's trash: there is nothing in it to restore).
  CAIRN_RETURN_IF_ERROR(s_.query("DELETE FROM shares WHERE share_id=?1", share.get_int(0)));
  CAIRN_RETURN_IF_ERROR(
      s_.query("UPDATE nodes SET deleted_at=?3, purged_at=?3 WHERE namespace_id=?1 AND "
               "node_id=?2",
               share.get_int(1), share.get_int(2), a.now));
  // "unshare", not "delete": the grantee's client keeps its copy as the grantee's own.
  CAIRN_RETURN_IF_ERROR(journal(a, share.get_int(1), share.get_int(2), "unshare"));
  // The owner's log says so too (a shared file or folder the owner has deleted since: its
  // entry says where it was).
  CAIRN_RETURN_IF_ERROR(journal(a, share.get_int(4), share.get_int(5), "unshare"));
  // What they can no longer reach, they can no longer publish.
  return revoke_unshared_links(share.get_int(3), share.get_int(4), a.now);
}

Result<std::vector<ShareInfo>> SqlMetadataStore::shares(const Actor& actor,
                                                        const std::string& path) {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<ShareInfo>> {
    Tx tx(s);
    std::vector<ShareInfo> out;
    auto wanted = [&](const std::string& p) {
      return path.empty() || path == "/" || p == path || is_below(p, path);
    };
    CAIRN_ASSIGN_OR_RETURN(auto me,
                           s.query("SELECT name FROM users WHERE user_id=?1", actor.user_id));
    const std::string my_name = me.empty() ? std::string() : me[0].get_text(0);
    CAIRN_ASSIGN_OR_RETURN(
        auto r, s.query("SELECT s.share_id, s.root_node_id, u.name, s.role, s.created_at, "
                        "n.deleted_at FROM shares s JOIN users u ON u.user_id = s.grantee_id "
                        "JOIN nodes n ON n.node_id = s.root_node_id WHERE s.namespace_id=?1 "
                        "ORDER BY s.share_id",
                        actor.namespace_id));
    for (size_t i = 0; i < r.size(); ++i) {
      if (!r[i].is_null(5)) continue;  // The folder is in the trash.
      ShareInfo info;
      info.share_id = r[i].get_int(0);
      CAIRN_ASSIGN_OR_RETURN(info.path, tx.node_path(actor.namespace_id, r[i].get_int(1)));
      if (!wanted(info.path)) continue;
      info.owner = my_name;
      info.grantee = r[i].get_text(2);
      info.role = role_from_name(r[i].get_text(3)).value_or(Role::kViewer);
      info.created_at = r[i].get_int(4);
      out.push_back(std::move(info));
    }
    CAIRN_ASSIGN_OR_RETURN(const auto* all, tx.mounts(actor.user_id));
    for (const auto& m : *all) {
      if (m.view_path.empty() || !wanted(m.view_path)) continue;
      ShareInfo info;
      info.share_id = m.share_id;
      info.path = m.view_path;
      info.owner = m.owner;
      info.grantee = my_name;
      info.role = m.role;
      out.push_back(std::move(info));
    }
    return out;
  });
}

Result<LinkInfo> SqlMetadataStore::create_link(const Actor& actor, const std::string& path,
                                               const Digest& token_hash,
                                               std::optional<int64_t> expires_at) {
  return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<LinkInfo> {
    Tx tx(s);
    CAIRN_RETURN_IF_ERROR(tx.still_authorised(actor));
    CAIRN_ASSIGN_OR_RETURN(auto p, tx.place_contents(actor, path));
    if (p.mount != nullptr && p.mount->role != Role::kEditor) {
      return make_error(ErrorCode::kPermissionDenied,
                        path + ": " + p.mount->owner + " shares " + p.mount->view_path +
                            " with you as a viewer; a viewer cannot make links to it");
    }
    CAIRN_ASSIGN_OR_RETURN(auto node, tx.resolve(p.ns, p.path));
    if (!node) return make_error(ErrorCode::kNotFound, "no such file or folder: " + path);
    CAIRN_ASSIGN_OR_RETURN(
        auto r,
        s.query("INSERT INTO links(token_hash, namespace_id, node_id, created_by, "
                "created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING "
                "link_id",
                token_hash.bytes(), p.ns, node->node_id, actor.user_id, actor.now, expires_at));
    LinkInfo info;
    info.link_id = r[0].get_int(0);
    info.path = path;
    info.created_at = actor.now;
    info.expires_at = expires_at;
    return info;
  });
}

Result<std::vector<LinkInfo>> SqlMetadataStore::links(const Actor& actor) {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<LinkInfo>> {
    Tx tx(s);
    // The actor's own links, and every link into a namespace of theirs (an editor's, into a
    // folder they share): the owner sees and ends each one.
    CAIRN_ASSIGN_OR_RETURN(
        auto r, s.query("SELECT l.link_id, l.namespace_id, l.node_id, l.created_at, "
                        "l.expires_at, l.revoked_at, u.name FROM links l JOIN users u ON "
                        "u.user_id = l.created_by WHERE l.created_by=?1 OR l.namespace_id IN "
                        "(SELECT namespace_id FROM namespaces WHERE owner_id=?1) ORDER BY "
                        "l.link_id",
                        actor.user_id));
    std::vector<LinkInfo> out;
    for (size_t i = 0; i < r.size(); ++i) {
      LinkInfo info;
      info.link_id = r[i].get_int(0);
      info.created_at = r[i].get_int(3);
      info.expires_at = r[i].get_optional_int(4);
      info.revoked_at = r[i].get_optional_int(5);
      info.created_by = r[i].get_text(6);
      CAIRN_ASSIGN_OR_RETURN(info.path, tx.link_path(actor, r[i].get_int(1), r[i].get_int(2)));
      // A token limited to a folder sees the links into it alone.
      if (!actor.scope_path.empty() &&
          (info.path.empty() || !is_within(info.path, actor.scope_path))) {
        continue;
      }
      out.push_back(std::move(info));
    }
    return out;
  });
}

Result<void> SqlMetadataStore::revoke_link(const Actor& actor, int64_t link_id,
                                           const std::optional<Digest>& token_hash) {
  return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<void> {
    Tx tx(s);
    CAIRN_RETURN_IF_ERROR(tx.still_authorised(actor));
    // The creator's, or one into the actor's own files.
    const std::string mine =
        " AND (created_by=?2 OR namespace_id IN (SELECT namespace_id FROM namespaces WHERE "
        "owner_id=?2))";
    Rows r;
    if (token_hash) {
      CAIRN_ASSIGN_OR_RETURN(
          r, s.query("SELECT link_id, namespace_id, node_id FROM links WHERE token_hash=?1" + mine,
                     token_hash->bytes(), actor.user_id));
    } else {
      CAIRN_ASSIGN_OR_RETURN(
          r, s.query("SELECT link_id, namespace_id, node_id FROM links WHERE link_id=?1" + mine,
                     link_id, actor.user_id));
    }
    bool found = !r.empty();
    if (found && !actor.scope_path.empty()) {
      CAIRN_ASSIGN_OR_RETURN(const std::string at,
                             tx.link_path(actor, r[0].get_int(1), r[0].get_int(2)));
      found = !at.empty() && is_within(at, actor.scope_path);
    }
    if (!found) {
      return make_error(ErrorCode::kNotFound,
                        "you have no link with id " + std::to_string(link_id));
    }
    CAIRN_RETURN_IF_ERROR(
        s.query("UPDATE links SET revoked_at = COALESCE(revoked_at, ?2) WHERE link_id=?1",
                r[0].get_int(0), actor.now));
    return {};
  });
}

Result<LinkTarget> SqlMetadataStore::open_link(const Digest& token_hash, int64_t now) {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<LinkTarget> {
    const Error gone(ErrorCode::kNotFound, "no such link (it may have expired or been revoked)");
    CAIRN_ASSIGN_OR_RETURN(
        // Its creator must still be allowed to share it: the owner, or an editor of a folder or
        // file shared with them that holds it (a share taken away or made read-only revokes
        // their links; this check holds even for a link that escaped that).
        auto l,
        s.query(
            "SELECT l.namespace_id, l.node_id, ns.owner_id, n.name, n.kind, "
            "l.expires_at FROM links l JOIN users u ON u.user_id = l.created_by JOIN namespaces ns "
            "ON ns.namespace_id = l.namespace_id JOIN nodes n ON n.node_id = "
            "l.node_id WHERE l.token_hash=?1 AND l.revoked_at IS NULL AND "
            "(l.expires_at IS NULL OR l.expires_at > ?2) AND u.disabled = 0 AND "
            "n.deleted_at IS NULL AND (ns.owner_id = l.created_by OR EXISTS "
            "(SELECT 1 FROM shares sh JOIN closure c ON c.namespace_id = "
            "sh.namespace_id AND c.ancestor = sh.root_node_id WHERE "
            "sh.namespace_id = l.namespace_id AND c.descendant = l.node_id AND "
            "sh.grantee_id = l.created_by AND sh.role = 'editor'))",
            token_hash.bytes(), now));
    if (l.empty()) return gone;
    LinkTarget out;
    const int64_t ns = l[0].get_int(0);
    const int64_t root = l[0].get_int(1);
    out.reader_id = l[0].get_int(2);
    out.name = l[0].get_text(3);
    out.kind = kind_from_code(l[0].get_int(4));
    out.expires_at = l[0].get_optional_int(5);
    if (out.name.empty()) out.name = "files";  // A namespace's root has no name.
    // The node and (a folder) everything live under it, parents first. Mounts are left out:
    // what others share with the creator is not published by a link to a folder of theirs.
    CAIRN_ASSIGN_OR_RETURN(
        auto r,
        s.query("SELECT n.node_id, n.parent_id, n.name, n.kind, v.size, "
                "v.mode, v.mtime_ns, v.manifest_hash, v.symlink_target, c.depth, "
                "n.created_at, n.mode FROM closure c JOIN nodes n ON n.node_id = c.descendant "
                "LEFT JOIN "
                "versions v ON v.namespace_id = n.namespace_id AND v.node_id = "
                "n.node_id AND v.seq = n.head_seq WHERE c.namespace_id=?1 AND "
                "c.ancestor=?2 AND n.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM shares "
                "sh WHERE sh.mount_node_id = n.node_id) ORDER BY c.depth, n.name",
                ns, root));
    std::unordered_map<int64_t, std::string> paths;
    for (size_t i = 0; i < r.size(); ++i) {
      const int64_t node = r[i].get_int(0);
      LinkedEntry e;
      if (r[i].get_int(9) > 0) {
        auto parent = paths.find(r[i].get_optional_int(1).value_or(0));
        if (parent == paths.end()) continue;
        e.path =
            parent->second.empty() ? r[i].get_text(2) : parent->second + "/" + r[i].get_text(2);
      }
      paths.emplace(node, e.path);
      e.kind = kind_from_code(r[i].get_int(3));
      e.size = static_cast<uint64_t>(r[i].get_optional_int(4).value_or(0));
      e.mode = static_cast<uint32_t>(
          e.kind == NodeKind::kFolder
              ? r[i].get_int(11)
              : r[i].get_optional_int(5).value_or(protocol::default_mode(e.kind)));
      // A folder has no versions: it dates from its creation.
      e.mtime_ns = r[i].get_optional_int(6).value_or(r[i].get_int(10) * 1'000'000'000);
      if (!r[i].is_null(7)) e.manifest = Digest::from_bytes(r[i].get_blob(7));
      e.symlink_target = r[i].get_text(8);
      out.entries.push_back(std::move(e));
    }
    if (out.entries.empty()) return gone;
    return out;
  });
}

}  // namespace cairn::store::sqlstore
