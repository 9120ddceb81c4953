// Tx: what one transaction knows and checks.

#include "daemon/store/sql/metadata_internal.h"

namespace cairn::store::sqlstore {

Result<void> Tx::still_authorised(const Actor& a) {
  if (!a.token_hash) return {};
  CAIRN_ASSIGN_OR_RETURN(
      auto r, s_.query("SELECT 1 FROM tokens t JOIN users u ON u.user_id = t.user_id WHERE "
                       "t.token_hash=?1 AND t.user_id=?2 AND t.revoked_at IS NULL AND "
                       "(t.expires_at IS NULL OR t.expires_at > ?3) AND u.disabled = 0",
                       a.token_hash->bytes(), a.user_id, a.now));
  if (r.empty()) {
    return make_error(ErrorCode::kUnauthenticated,
                      "the token was revoked or expired, or its user disabled, while this "
                      "request was on its way; nothing was changed");
  }
  return {};
}

Result<const std::vector<Mount>*> Tx::mounts(int64_t user_id) {
  if (mounts_) return &*mounts_;
  CAIRN_ASSIGN_OR_RETURN(
      auto r, s_.query("SELECT s.share_id, s.namespace_id, s.root_node_id, "
                       "s.mount_namespace_id, s.mount_node_id, s.role, u.name, m.deleted_at, "
                       "n.deleted_at, n.kind FROM shares s JOIN namespaces ns ON ns.namespace_id = "
                       "s.namespace_id JOIN users u ON u.user_id = ns.owner_id JOIN nodes m ON "
                       "m.node_id = s.mount_node_id JOIN nodes n ON n.node_id = s.root_node_id "
                       "WHERE s.grantee_id=?1 ORDER BY s.share_id",
                       user_id));
  std::vector<Mount> found;
  for (size_t i = 0; i < r.size(); ++i) {
    Mount m;
    m.share_id = r[i].get_int(0);
    m.ns = r[i].get_int(1);
    m.root = r[i].get_int(2);
    m.mount_ns = r[i].get_int(3);
    m.mount_node = r[i].get_int(4);
    m.role = role_from_name(r[i].get_text(5)).value_or(Role::kViewer);
    m.owner = r[i].get_text(6);
    m.file = kind_from_code(r[i].get_int(9)) != NodeKind::kFolder;
    if (r[i].is_null(7)) {
      CAIRN_ASSIGN_OR_RETURN(m.view_path, node_path(m.mount_ns, m.mount_node));
    }
    if (r[i].is_null(8)) {
      CAIRN_ASSIGN_OR_RETURN(m.root_path, node_path(m.ns, m.root));
    }
    found.push_back(std::move(m));
  }
  mounts_ = std::move(found);
  return &*mounts_;
}

Result<Place> Tx::place(const Actor& a, const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(const auto* all, mounts(a.user_id));
  for (const auto& m : *all) {
    if (m.view_path.empty()) continue;
    if (m.file && is_below(path, m.view_path)) {
      return make_error(ErrorCode::kInvalidArgument,
                        m.view_path + " is a file " + m.owner + " shares with you, not a folder");
    }
    const bool inside = m.file ? path == m.view_path : is_below(path, m.view_path);
    if (!inside) continue;
    if (m.root_path.empty()) {
      return make_error(ErrorCode::kNotFound, m.view_path + " was shared with you by " + m.owner +
                                                  ", who has deleted it (cairn unshare " +
                                                  m.view_path + " removes it from your files)");
    }
    const std::string rest = path.substr(m.view_path.size());
    return Place{m.ns, m.root_path == "/" ? rest : m.root_path + rest, &m};
  }
  return Place{a.namespace_id, path, nullptr};
}

Result<const Mount*> Tx::mount_at(const Actor& a, const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(const auto* all, mounts(a.user_id));
  for (const auto& m : *all) {
    if (!m.view_path.empty() && m.view_path == path) return &m;
  }
  return nullptr;
}

Result<Place> Tx::place_contents(const Actor& a, const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(const Mount* m, mount_at(a, path));
  if (m == nullptr) return place(a, path);
  if (m->root_path.empty()) {
    return make_error(ErrorCode::kNotFound,
                      path + " was shared with you by " + m->owner + ", who has deleted it");
  }
  return Place{m->ns, m->root_path, m};
}

Result<void> Tx::mark_mount(const Actor& a, Entry& e) {
  CAIRN_ASSIGN_OR_RETURN(const auto* all, mounts(a.user_id));
  for (const auto& m : *all) {
    if (m.mount_node != e.node_id) continue;
    if (m.file) {
      const std::string path = e.path;
      const std::string change = e.change;
      CAIRN_ASSIGN_OR_RETURN(e, entry(m.ns, m.root, &path));
      e.change = change;
    }
    show_as_mount(m, e);
  }
  return {};
}

Result<int64_t> Tx::owned_node(const Actor& a, const std::string& path, const std::string& what) {
  if (path == "/") {
    return make_error(ErrorCode::kInvalidArgument,
                      "cannot " + what + " your whole tree: " + what + " a folder in it");
  }
  CAIRN_ASSIGN_OR_RETURN(auto p, place(a, path));
  CAIRN_ASSIGN_OR_RETURN(const Mount* mount, mount_at(a, path));
  if (mount == nullptr) mount = p.mount;
  if (mount != nullptr) {
    const std::string& owner = mount->owner;
    return make_error(ErrorCode::kPermissionDenied,
                      path + (mount->view_path == path ? " is " : " is in ") +
                          (mount->file ? "a file " : "a folder ") + owner +
                          " shares with you (you are " +
                          (mount->role == Role::kEditor ? "an editor" : "a viewer") + "); only " +
                          owner + " can " + what + " it");
  }
  CAIRN_ASSIGN_OR_RETURN(auto node, resolve(a.namespace_id, path));
  if (!node) return make_error(ErrorCode::kNotFound, "no such file or folder: " + path);
  return node->node_id;
}

std::string Tx::to_view(const Place& p, const std::string& ns_path) {
  if (p.mount == nullptr || ns_path.empty()) return ns_path;
  const Mount& m = *p.mount;
  if (ns_path == m.root_path) return m.view_path;
  if (!is_below(ns_path, m.root_path)) return ns_path;
  return m.view_path + (m.root_path == "/" ? ns_path : ns_path.substr(m.root_path.size()));
}

Result<Actor> Tx::writer(const Actor& a, const Place& p, const std::string& view_path) {
  if (p.mount != nullptr && p.mount->role != Role::kEditor) {
    return make_error(ErrorCode::kPermissionDenied,
                      view_path + ": " + p.mount->owner + " shared " + p.mount->view_path +
                          " with you as a viewer; a viewer can list, download and sync it "
                          "but not change it");
  }
  Actor w = a;
  w.namespace_id = p.ns;
  w.scope_root = p.mount != nullptr ? p.mount->root : 0;
  w.scope_path = scope_at(a.scope_path, p);
  return w;
}

std::string Tx::scope_at(const std::string& scope, const Place& p) {
  if (scope.empty() || scope == "/" || p.mount == nullptr) return scope == "/" ? "" : scope;
  const Mount& m = *p.mount;
  if (is_within(m.view_path, scope)) return "";  // The whole shared folder or file is in scope.
  if (!m.file && is_below(scope, m.view_path) && !m.root_path.empty()) {
    const std::string rest = scope.substr(m.view_path.size());
    return m.root_path == "/" ? rest : m.root_path + rest;
  }
  return kNowhere;
}

Result<bool> Tx::in_scope(const Actor& a, int64_t node) {
  if (a.scope_root != 0) {
    CAIRN_ASSIGN_OR_RETURN(auto r, s_.query("SELECT 1 FROM closure WHERE namespace_id=?1 AND "
                                            "ancestor=?2 AND descendant=?3",
                                            a.namespace_id, a.scope_root, node));
    if (r.empty()) return false;
  }
  if (a.scope_path.empty() || a.scope_path == "/") return true;
  CAIRN_ASSIGN_OR_RETURN(const std::string path, node_path(a.namespace_id, node));
  return is_within(path, a.scope_path);
}

Result<std::string> Tx::link_path(const Actor& a, int64_t ns, int64_t node) {
  CAIRN_ASSIGN_OR_RETURN(auto info, node_info(ns, node));
  if (!info || info->deleted) return std::string();
  CAIRN_ASSIGN_OR_RETURN(const std::string at, node_path(ns, node));
  if (ns == a.namespace_id) return at;
  CAIRN_ASSIGN_OR_RETURN(const auto* all, mounts(a.user_id));
  for (const auto& m : *all) {
    if (m.ns == ns && !m.view_path.empty() && is_within(at, m.root_path)) {
      return to_view(Place{ns, at, &m}, at);
    }
  }
  return std::string();
}

Result<void> Tx::revoke_unshared_links(int64_t user, int64_t ns, int64_t now) {
  CAIRN_RETURN_IF_ERROR(s_.query(
      "UPDATE links SET revoked_at = ?3 WHERE created_by = ?1 AND namespace_id = ?2 AND "
      "revoked_at IS NULL AND NOT EXISTS (SELECT 1 FROM shares sh JOIN closure c ON "
      "c.namespace_id = sh.namespace_id AND c.ancestor = sh.root_node_id WHERE "
      "sh.namespace_id = ?2 AND sh.grantee_id = ?1 AND sh.role = 'editor' AND c.descendant = "
      "links.node_id)",
      user, ns, now));
  return {};
}

Result<std::optional<std::vector<Root>>> Tx::scope_roots(int64_t user_id,
                                                         const std::string& scope) {
  using Roots = std::optional<std::vector<Root>>;
  if (scope.empty() || scope == "/") return Roots();
  CAIRN_ASSIGN_OR_RETURN(auto u,
                         s_.query("SELECT home_namespace_id FROM users WHERE user_id=?1", user_id));
  std::vector<Root> roots;
  if (u.empty()) return Roots(roots);
  Actor a;
  a.user_id = user_id;
  a.namespace_id = u[0].get_int(0);
  auto p = place_contents(a, scope);
  if (p) {
    CAIRN_ASSIGN_OR_RETURN(auto node, resolve(p->ns, p->path));
    if (node) roots.push_back({p->ns, node->node_id});
  } else if (p.error().code() != ErrorCode::kNotFound &&
             p.error().code() != ErrorCode::kInvalidArgument) {
    return std::move(p).error();
  }
  CAIRN_ASSIGN_OR_RETURN(const auto* all, mounts(user_id));
  for (const auto& m : *all) {
    if (!m.view_path.empty() && !m.root_path.empty() && is_below(m.view_path, scope)) {
      roots.push_back({m.ns, m.root});
    }
  }
  return Roots(std::move(roots));
}

Result<std::unordered_map<Digest, std::vector<int64_t>>> Tx::manifest_authors(
    int64_t user_id, const std::vector<Digest>& digests,
    const std::optional<std::vector<Root>>& roots) {
  std::unordered_map<Digest, std::vector<int64_t>> out;
  std::string reach;  // Which versions count, after the IN list of manifests.
  // Every parameter is used (PostgreSQL cannot type one that is not): the user, or the roots.
  std::vector<sql::Value> fixed;
  if (!roots) fixed.push_back(sql::to_value(user_id));
  if (roots) {
    if (roots->empty()) return out;
    std::string any;
    for (const auto& r : *roots) {
      const std::string ns = std::to_string(fixed.size() + 1);
      const std::string node = std::to_string(fixed.size() + 2);
      any += (any.empty() ? "" : " OR ") + ("(c.namespace_id = ?" + ns) + " AND c.ancestor = ?" +
             node + ")";
      fixed.push_back(sql::to_value(r.ns));
      fixed.push_back(sql::to_value(r.node));
    }
    reach =
        "JOIN closure c ON c.namespace_id = v.namespace_id AND c.descendant = v.node_id "
        "WHERE (" +
        any + ") AND v.manifest_hash IN (";
  }
  CAIRN_RETURN_IF_ERROR(in_batches(
      digests, fixed,
      [&](const std::string& in, const std::vector<sql::Value>& args) -> Result<void> {
        const std::string sql =
            roots
                ? "SELECT DISTINCT v.manifest_hash, v.author_id FROM versions v " + reach + in + ")"
                // The user's own namespaces (looked up by the index on manifest and
                // namespace), then what is under the roots of shares granted to them.
                : "SELECT v.manifest_hash, v.author_id FROM versions v WHERE "
                  "v.manifest_hash IN (" +
                      in +
                      ") AND v.namespace_id IN (SELECT namespace_id FROM namespaces WHERE "
                      "owner_id = ?1) UNION SELECT v.manifest_hash, v.author_id FROM shares sh "
                      "JOIN closure c ON c.namespace_id = sh.namespace_id AND c.ancestor = "
                      "sh.root_node_id JOIN versions v ON v.namespace_id = c.namespace_id "
                      "AND v.node_id = c.descendant WHERE sh.grantee_id = ?1 AND "
                      "v.manifest_hash IN (" +
                      in + ")";
        CAIRN_ASSIGN_OR_RETURN(auto r, s_.run(sql, args));
        for (size_t i = 0; i < r.size(); ++i) {
          auto d = Digest::from_bytes(r[i].get_blob(0));
          if (!d) continue;
          auto& authors = out[*d];
          const int64_t author = r[i].get_int(1);
          if (std::find(authors.begin(), authors.end(), author) == authors.end()) {
            authors.push_back(author);
          }
        }
        return {};
      }));
  return out;
}

Result<void> Tx::gather_copies(const std::vector<Digest>& digests,
                               const std::vector<int64_t>& readers, Copies& out) {
  if (readers.empty()) return {};
  const std::string who = id_list(readers);
  return in_batches(
      digests, {}, [&](const std::string& in, const std::vector<sql::Value>& args) -> Result<void> {
        // Columns 3-7 as location_from_row() reads them.
        CAIRN_ASSIGN_OR_RETURN(
            auto r,
            s_.run("SELECT u.hash, c.size, p.pack_hash, p.pack_offset, p.stored_size, p.size, "
                   "p.codec, p.stored_xxh3 FROM user_chunks u LEFT JOIN chunks c "
                   "ON c.hash = u.hash AND c.doomed_at IS NULL "
                   "LEFT JOIN pack_chunks p ON p.hash = u.hash AND "
                   "(p.reader_id = 0 OR p.reader_id = u.user_id) WHERE u.user_id IN (" +
                       who + ") AND u.hash IN (" + in +
                       ") UNION ALL SELECT p.hash, CAST(NULL AS BIGINT), p.pack_hash, "
                       "p.pack_offset, p.stored_size, p.size, p.codec, p.stored_xxh3 FROM "
                       "pack_chunks p WHERE p.reader_id IN (" +
                       who + ") AND p.hash IN (" + in + ")",
                   args));
        for (size_t i = 0; i < r.size(); ++i) {
          auto hash = Digest::from_bytes(r[i].get_blob(0));
          if (!hash) continue;
          auto& list = out.of[*hash];
          if (!r[i].is_null(1)) {
            bool known = false;
            for (const auto& c : list) known |= !c.pack;
            if (!known) {
              ChunkLocation whole;
              whole.hash = *hash;
              whole.length = static_cast<uint32_t>(r[i].get_int(1));
              list.insert(list.begin(), whole);
            }
          }
          if (r[i].is_null(2)) continue;
          auto pack = Digest::from_bytes(r[i].get_blob(2));
          if (!pack) continue;
          const ChunkLocation packed = location_from_row(r[i], 3, *hash, *pack);
          bool duplicate = false;
          for (const auto& c : list) duplicate |= c.pack == packed.pack;
          if (duplicate) continue;
          ++out.pack_votes[*packed.pack];
          list.push_back(packed);
        }
        return {};
      });
}

Result<int64_t> Tx::root_of(int64_t ns) {
  CAIRN_ASSIGN_OR_RETURN(auto r,
                         s_.query("SELECT root_node_id FROM namespaces WHERE namespace_id=?1", ns));
  if (r.empty()) return make_error(ErrorCode::kNotFound, "namespace " + std::to_string(ns));
  return r[0].get_int(0);
}

Result<std::optional<NodeRow>> Tx::live_child(int64_t ns, int64_t parent, const std::string& name) {
  CAIRN_ASSIGN_OR_RETURN(
      auto r, s_.query("SELECT node_id, kind, head_seq FROM nodes WHERE namespace_id=?1 AND "
                       "parent_id=?2 AND name=?3 AND deleted_at IS NULL",
                       ns, parent, name));
  if (r.empty()) return std::optional<NodeRow>();
  return std::optional<NodeRow>(
      NodeRow{r[0].get_int(0), kind_from_code(r[0].get_int(1)), r[0].get_int(2)});
}

Result<std::optional<NodeRow>> Tx::resolve(int64_t ns, const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(const int64_t root, root_of(ns));
  NodeRow current{root, NodeKind::kFolder, 0};
  for (const auto& seg : split_remote_path(path)) {
    if (current.kind != NodeKind::kFolder) return std::optional<NodeRow>();
    CAIRN_ASSIGN_OR_RETURN(auto child, live_child(ns, current.node_id, seg));
    if (!child) return std::optional<NodeRow>();
    current = *child;
  }
  return std::optional<NodeRow>(current);
}

Result<void> Tx::journal(const Actor& a, int64_t ns, int64_t node, const char* op,
                         std::optional<int64_t> from_parent) {
  CAIRN_ASSIGN_OR_RETURN(auto bumped, s_.query("UPDATE namespaces SET last_seq = last_seq + 1 "
                                               "WHERE namespace_id=?1 RETURNING last_seq",
                                               ns));
  if (bumped.empty()) return make_error(ErrorCode::kNotFound, "namespace " + std::to_string(ns));
  const int64_t seq = bumped[0].get_int(0);
  s_.announce(std::to_string(ns));  // Heard by watch_changes() once this commits.
  CAIRN_ASSIGN_OR_RETURN(
      auto added,
      s_.query("INSERT INTO journal(namespace_id, seq, node_id, op, created_at, from_parent, "
               "parent_id, name, kind, head_seq, live, author_id, device, at_ms) SELECT ?1, ?2, "
               "?3, ?4, ?5, ?6, n.parent_id, n.name, n.kind, n.head_seq, CASE WHEN n.deleted_at "
               "IS NULL THEN 1 ELSE 0 END, ?7, ?8, ?9 FROM nodes n WHERE n.namespace_id=?1 AND "
               "n.node_id=?3",
               ns, seq, node, op, a.now, from_parent, a.user_id, a.device, at_ms(a)));
  if (added.affected == 0)
    return make_error(ErrorCode::kInternal, "journal: no node " + std::to_string(node));
  return {};
}

Result<int64_t> Tx::create_node(int64_t ns, std::optional<int64_t> parent, const std::string& name,
                                NodeKind kind, int64_t now) {
  CAIRN_ASSIGN_OR_RETURN(auto ins, s_.query("INSERT INTO nodes(namespace_id, parent_id, name, "
                                            "kind, created_at) VALUES (?1, ?2, ?3, ?4, ?5) "
                                            "RETURNING node_id",
                                            ns, parent, name, kind_code(kind), now));
  const int64_t node = ins[0].get_int(0);
  if (!parent) {
    CAIRN_RETURN_IF_ERROR(
        s_.query("INSERT INTO closure(namespace_id, ancestor, "
                 "descendant, depth) VALUES (?1, ?2, ?2, 0)",
                 ns, node));
    return node;
  }
  // Itself at depth 0, and every ancestor of the parent one level further: one statement.
  CAIRN_RETURN_IF_ERROR(
      s_.query("INSERT INTO closure(namespace_id, ancestor, descendant, depth) SELECT CAST(?1 AS "
               "BIGINT), CAST(?3 AS BIGINT), CAST(?3 AS BIGINT), 0 UNION ALL SELECT namespace_id, "
               "ancestor, CAST(?3 AS BIGINT), depth + 1 FROM closure WHERE namespace_id=?1 AND "
               "descendant=?2",
               ns, *parent, node));
  return node;
}

Result<std::pair<int64_t, bool>> Tx::ensure_folder(const Actor& a, const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(auto found, walk_folders(a, path, true));
  return *found;
}

Result<std::optional<int64_t>> Tx::find_folder(const Actor& a, const std::string& path) {
  auto found = walk_folders(a, path, false);
  if (!found) {
    if (found.error().code() == ErrorCode::kAlreadyExists) return std::optional<int64_t>();
    return std::move(found).error();
  }
  if (!*found) return std::optional<int64_t>();
  return std::optional<int64_t>((*found)->first);
}

Result<std::optional<std::pair<int64_t, bool>>> Tx::walk_folders(const Actor& a,
                                                                 const std::string& path,
                                                                 bool create) {
  using Found = std::optional<std::pair<int64_t, bool>>;
  // A batch of files usually shares its folders: resolve each once per transaction.
  auto& folders = folders_[a.namespace_id];
  if (auto hit = folders.find(path); hit != folders.end()) {
    return Found(std::make_pair(hit->second, false));
  }
  CAIRN_ASSIGN_OR_RETURN(int64_t current, root_of(a.namespace_id));
  bool created = false;
  std::string walked;
  for (const auto& seg : split_remote_path(path)) {
    walked += '/';
    walked += seg;
    if (auto hit = folders.find(walked); hit != folders.end()) {
      current = hit->second;
      continue;
    }
    CAIRN_ASSIGN_OR_RETURN(auto child, live_child(a.namespace_id, current, seg));
    if (child) {
      if (child->kind != NodeKind::kFolder) {
        return make_error(ErrorCode::kAlreadyExists, "a file is in the way at " + walked);
      }
      current = child->node_id;
    } else if (!create) {
      return Found();
    } else {
      CAIRN_ASSIGN_OR_RETURN(current, revive_or_create(a, current, seg, NodeKind::kFolder));
      CAIRN_RETURN_IF_ERROR(journal(a, a.namespace_id, current, "mkdir"));
      created = true;
    }
    folders.emplace(walked, current);
  }
  return Found(std::make_pair(current, created));
}

void Tx::forget_folders() {
  folders_.clear();
  mounts_.reset();
}

Result<void> Tx::charge(int64_t ns, int64_t delta) {
  if (delta == 0) return {};
  CAIRN_ASSIGN_OR_RETURN(const int64_t owner, owner_of(ns));
  for (int attempt = 0; attempt < 2; ++attempt) {
    CAIRN_ASSIGN_OR_RETURN(
        auto r, s_.query("UPDATE quotas SET used_bytes = used_bytes + CAST(?2 AS BIGINT) WHERE "
                         "user_id=?1 AND (CAST(?2 AS BIGINT) <= 0 OR limit_bytes IS NULL OR "
                         "used_bytes + CAST(?2 AS BIGINT) <= limit_bytes)",
                         owner, delta));
    if (r.affected > 0) return {};
    CAIRN_ASSIGN_OR_RETURN(
        auto q, s_.query("SELECT used_bytes, limit_bytes FROM quotas WHERE user_id=?1", owner));
    if (q.empty()) {
      // A user's row is made by the first charge (or by cairnd user quota): unlimited.
      CAIRN_RETURN_IF_ERROR(
          s_.query("INSERT INTO quotas(user_id, used_bytes) VALUES (?1, 0) ON CONFLICT DO "
                   "NOTHING",
                   owner));
      continue;
    }
    const int64_t used = q[0].get_int(0);
    const int64_t limit = q[0].get_optional_int(1).value_or(0);
    return make_error(ErrorCode::kQuotaExceeded,
                      "over quota: this needs " + std::to_string(delta) + " bytes and " +
                          std::to_string(std::max<int64_t>(limit - used, 0)) + " of " +
                          std::to_string(limit) + " are left (" + std::to_string(used) +
                          " used by current files and the trash)");
  }
  return make_error(ErrorCode::kInternal,
                    "quota row for user " + std::to_string(owner) + " could not be made");
}

Result<int64_t> Tx::owner_of(int64_t ns) {
  if (auto hit = owners_.find(ns); hit != owners_.end()) return hit->second;
  CAIRN_ASSIGN_OR_RETURN(auto r,
                         s_.query("SELECT owner_id FROM namespaces WHERE namespace_id=?1", ns));
  if (r.empty()) return make_error(ErrorCode::kNotFound, "namespace " + std::to_string(ns));
  owners_.emplace(ns, r[0].get_int(0));
  return r[0].get_int(0);
}

Result<void> Tx::reparent(int64_t ns, int64_t node, int64_t old_parent, int64_t parent,
                          const std::string& name) {
  CAIRN_RETURN_IF_ERROR(
      s_.query("UPDATE nodes SET parent_id=?3, name=?4 WHERE namespace_id=?1 AND node_id=?2", ns,
               node, parent, name));
  if (parent == old_parent) return {};
  CAIRN_RETURN_IF_ERROR(
      s_.query("DELETE FROM closure WHERE namespace_id=?1 AND descendant IN (SELECT descendant "
               "FROM closure WHERE namespace_id=?1 AND ancestor=?2) AND ancestor IN (SELECT "
               "ancestor FROM closure WHERE namespace_id=?1 AND descendant=?2 AND depth > 0)",
               ns, node));
  CAIRN_RETURN_IF_ERROR(
      s_.query("INSERT INTO closure(namespace_id, ancestor, descendant, depth) SELECT "
               "p.namespace_id, p.ancestor, c.descendant, p.depth + c.depth + 1 FROM closure p "
               "JOIN closure c ON c.namespace_id = p.namespace_id AND c.ancestor = ?2 WHERE "
               "p.namespace_id = ?1 AND p.descendant = ?3",
               ns, node, parent));
  return {};
}

Result<std::optional<Tx::NodeInfo>> Tx::node_info(int64_t ns, int64_t node) {
  CAIRN_ASSIGN_OR_RETURN(
      auto r, s_.query("SELECT parent_id, name, kind, head_seq, deleted_at, purged_at, trash_id "
                       "FROM nodes WHERE namespace_id=?1 AND node_id=?2",
                       ns, node));
  if (r.empty()) return std::optional<NodeInfo>();
  NodeInfo i;
  i.parent = r[0].get_optional_int(0).value_or(0);
  i.name = r[0].get_text(1);
  i.kind = kind_from_code(r[0].get_int(2));
  i.head_seq = r[0].get_int(3);
  i.deleted = !r[0].is_null(4);
  i.purged = !r[0].is_null(5);
  i.trash_id = r[0].get_optional_int(6).value_or(node);
  return std::optional<NodeInfo>(i);
}

Result<int64_t> Tx::revive_or_create(const Actor& a, int64_t parent, const std::string& name,
                                     NodeKind kind, int64_t* head_seq) {
  CAIRN_ASSIGN_OR_RETURN(
      auto r, s_.query("SELECT node_id, head_seq FROM nodes WHERE namespace_id=?1 AND "
                       "parent_id=?2 AND name=?3 AND kind=?4 AND deleted_at IS NOT NULL AND "
                       "purged_at IS NULL ORDER BY deleted_at DESC, node_id DESC LIMIT 1",
                       a.namespace_id, parent, name, kind_code(kind)));
  if (head_seq != nullptr) *head_seq = r.empty() ? 0 : r[0].get_int(1);
  if (!r.empty()) {
    const int64_t node = r[0].get_int(0);
    CAIRN_RETURN_IF_ERROR(
        s_.query("UPDATE nodes SET deleted_at=NULL, trash_id=NULL WHERE "
                 "namespace_id=?1 AND node_id=?2",
                 a.namespace_id, node));
    return node;
  }
  return create_node(a.namespace_id, parent, name, kind, a.now);
}

Result<std::optional<VersionRow>> Tx::version(int64_t ns, int64_t node, int64_t seq) {
  CAIRN_ASSIGN_OR_RETURN(auto r,
                         s_.query("SELECT seq, manifest_hash, mode, symlink_target, size FROM "
                                  "versions WHERE namespace_id=?1 AND node_id=?2 AND seq=?3",
                                  ns, node, seq));
  if (r.empty()) return std::optional<VersionRow>();
  VersionRow v;
  v.seq = r[0].get_int(0);
  if (!r[0].is_null(1)) v.manifest = Digest::from_bytes(r[0].get_blob(1));
  v.mode = static_cast<uint32_t>(r[0].get_int(2));
  v.symlink_target = r[0].get_text(3);
  v.size = r[0].get_int(4);
  return std::optional<VersionRow>(v);
}

Result<std::string> Tx::node_path(int64_t ns, int64_t node) {
  CAIRN_ASSIGN_OR_RETURN(
      auto r, s_.query("SELECT n.name, n.parent_id FROM closure c JOIN nodes n ON n.node_id = "
                       "c.ancestor WHERE c.namespace_id=?1 AND n.namespace_id=?1 AND "
                       "c.descendant=?2 ORDER BY c.depth DESC",
                       ns, node));
  std::string path;
  for (size_t i = 0; i < r.size(); ++i) {
    if (r[i].is_null(1)) continue;  // The namespace root has no name.
    path += '/';
    path += r[i].get_text(0);
  }
  return path.empty() ? std::string("/") : path;
}

Result<Entry> Tx::entry(int64_t ns, int64_t node_id, const std::string* known_path) {
  CAIRN_ASSIGN_OR_RETURN(
      auto r, s_.query(std::string("SELECT ") + kEntryColumns +
                           " FROM nodes n LEFT JOIN versions v ON v.namespace_id = "
                           "n.namespace_id AND v.node_id = n.node_id AND v.seq = n.head_seq "
                           "WHERE n.namespace_id=?1 AND n.node_id=?2",
                       ns, node_id));
  if (r.empty()) return make_error(ErrorCode::kNotFound, "node " + std::to_string(node_id));
  Entry e = entry_from_row(r[0], 0);
  e.node_id = node_id;
  if (known_path != nullptr) {
    e.path = *known_path;
  } else {
    CAIRN_ASSIGN_OR_RETURN(e.path, node_path(ns, node_id));
  }
  return e;
}

Result<void> Tx::forget_damage(const std::vector<Digest>& digests) {
  return in_batches(
      digests, {}, [&](const std::string& in, const std::vector<sql::Value>& args) -> Result<void> {
        CAIRN_ASSIGN_OR_RETURN(
            auto gone,
            s_.run("DELETE FROM damaged_chunks WHERE hash IN (" + in + ") RETURNING hash", args));
        if (gone.empty()) return {};  // Nearly always: nothing was lost.
        CAIRN_RETURN_IF_ERROR(s_.run("DELETE FROM damaged_needs WHERE hash IN (" + in + ")", args));
        return {};
      });
}

Result<bool> Tx::user_has_chunk(int64_t user_id, const Digest& d) {
  CAIRN_ASSIGN_OR_RETURN(auto held, held_chunks(user_id, {d}));
  return !held.empty();
}

Result<void> Tx::prefetch_held(int64_t user_id, const std::vector<Digest>& digests) {
  held_prefetch_.reset();
  CAIRN_ASSIGN_OR_RETURN(auto held, held_chunks(user_id, digests));
  held_prefetch_ = HeldPrefetch{user_id, {digests.begin(), digests.end()}, std::move(held)};
  return {};
}

Result<std::unordered_set<Digest>> Tx::held_chunks(int64_t user_id,
                                                   const std::vector<Digest>& digests) {
  std::unordered_set<Digest> held;
  std::vector<Digest> unknown;
  const std::vector<Digest>* ask = &digests;
  if (held_prefetch_ && held_prefetch_->user_id == user_id) {
    for (const auto& d : digests) {
      if (held_prefetch_->held.count(d) != 0) {
        held.insert(d);
      } else if (held_prefetch_->asked.count(d) == 0) {
        unknown.push_back(d);
      }
    }
    if (unknown.empty()) return held;
    ask = &unknown;
  }
  // Proven first (user_chunks: uploaded and verified, unless damaged since), then, for what is
  // left, claimed (pack_chunks read by this user alone: their packs in S3). Two plain lookups:
  // a UNION of both cost a sort of every answer and a second probe of every hash, when a push
  // to a local-disk store finds nearly everything in the first.
  CAIRN_RETURN_IF_ERROR(in_batches(
      *ask, {sql::to_value(user_id)},
      [&](const std::string& in, const std::vector<sql::Value>& args) -> Result<void> {
        CAIRN_ASSIGN_OR_RETURN(
            auto r, s_.run("SELECT hash FROM user_chunks WHERE user_id=?1 AND hash IN (" + in +
                               ") AND hash NOT IN (SELECT hash FROM damaged_chunks)",
                           args));
        collect_digests(r, 0, held);
        return {};
      }));
  std::vector<Digest> rest;
  for (const auto& d : *ask) {
    if (held.count(d) == 0) rest.push_back(d);
  }
  CAIRN_RETURN_IF_ERROR(in_batches(
      rest, {sql::to_value(user_id)},
      [&](const std::string& in, const std::vector<sql::Value>& args) -> Result<void> {
        CAIRN_ASSIGN_OR_RETURN(
            auto r,
            s_.run("SELECT hash FROM pack_chunks WHERE reader_id=?1 AND hash IN (" + in + ")",
                   args));
        collect_digests(r, 0, held);
        return {};
      }));
  return held;
}

std::vector<Digest> Tx::digests_of(const Manifest& m) {
  std::vector<Digest> out;
  out.reserve(m.chunks().size());
  for (const auto& c : m.chunks()) out.push_back(c.hash);
  return out;
}

}  // namespace cairn::store::sqlstore
