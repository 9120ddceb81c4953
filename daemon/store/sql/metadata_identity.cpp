// Settings, users, tokens and authentication; who hears of changes.

#include "daemon/store/sql/metadata_internal.h"

namespace cairn::store::sqlstore {

Result<std::string> SqlMetadataStore::get_or_init_setting(const std::string& key,
                                                          const std::string& initial) {
  return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<std::string> {
    CAIRN_RETURN_IF_ERROR(
        s.query("INSERT INTO settings(key, value) VALUES (?1, ?2) "
                "ON CONFLICT DO NOTHING",
                key, initial));
    CAIRN_ASSIGN_OR_RETURN(auto r, s.query("SELECT value FROM settings WHERE key=?1", key));
    if (r.empty()) return make_error(ErrorCode::kInternal, "setting vanished: " + key);
    return r[0].get_text(0);
  });
}

Result<User> SqlMetadataStore::create_user(const std::string& name, int64_t now) {
  return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<User> {
    auto ins =
        s.query("INSERT INTO users(name, created_at) VALUES (?1, ?2) RETURNING user_id", name, now);
    if (!ins) {
      if (ins.error().code() == ErrorCode::kAlreadyExists) {
        return make_error(ErrorCode::kAlreadyExists, "user '" + name + "' already exists");
      }
      return std::move(ins).error();
    }
    User user;
    user.user_id = (*ins)[0].get_int(0);
    user.name = name;
    user.created_at = now;
    CAIRN_ASSIGN_OR_RETURN(auto ns, s.query("INSERT INTO namespaces(owner_id, created_at) "
                                            "VALUES (?1, ?2) RETURNING namespace_id",
                                            user.user_id, now));
    user.home_namespace_id = ns[0].get_int(0);
    Tx tx(s);
    CAIRN_ASSIGN_OR_RETURN(const int64_t root, tx.create_node(user.home_namespace_id, std::nullopt,
                                                              "", NodeKind::kFolder, now));
    CAIRN_RETURN_IF_ERROR(
        s.query("UPDATE namespaces SET root_node_id=?1 WHERE "
                "namespace_id=?2",
                root, user.home_namespace_id));
    CAIRN_RETURN_IF_ERROR(
        s.query("UPDATE users SET home_namespace_id=?1 WHERE "
                "user_id=?2",
                user.home_namespace_id, user.user_id));
    return user;
  });
}

Result<std::vector<User>> SqlMetadataStore::list_users() {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<User>> {
    CAIRN_ASSIGN_OR_RETURN(auto r, s.query(std::string("SELECT ") + kUserColumns +
                                           ", delete_after FROM users ORDER BY name"));
    std::vector<User> out;
    for (size_t i = 0; i < r.size(); ++i) {
      out.push_back(user_from_row(r[i]));
      out.back().delete_after = r[i].get_optional_int(5);
    }
    return out;
  });
}

Result<User> SqlMetadataStore::find_user(const std::string& name) {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<User> {
    CAIRN_ASSIGN_OR_RETURN(auto r, s.query(std::string("SELECT ") + kUserColumns +
                                               ", delete_after FROM users WHERE name=?1",
                                           name));
    if (r.empty()) return make_error(ErrorCode::kNotFound, "no user named '" + name + "'");
    User user = user_from_row(r[0]);
    user.delete_after = r[0].get_optional_int(5);
    return user;
  });
}

Result<int64_t> SqlMetadataStore::add_token(int64_t user_id, const Digest& token_hash,
                                            const std::string& label, int64_t now,
                                            std::optional<int64_t> expires_at,
                                            const TokenScope& scope, TokenKind kind,
                                            int64_t parent_id) {
  return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<int64_t> {
    std::optional<std::string> path;
    if (!scope.path.empty() && scope.path != "/") path = scope.path;
    std::optional<int64_t> parent;
    if (parent_id != 0) parent = parent_id;
    CAIRN_ASSIGN_OR_RETURN(
        auto r,
        s.query("INSERT INTO tokens(user_id, token_hash, label, created_at, expires_at, read_only, "
                "scope_path, kind, parent_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                "RETURNING token_id",
                user_id, token_hash.bytes(), label, now, expires_at, scope.read_only, path,
                std::string(token_kind_name(kind)), parent));
    return r[0].get_int(0);
  });
}

Result<std::vector<TokenInfo>> SqlMetadataStore::list_tokens(int64_t user_id) {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<TokenInfo>> {
    CAIRN_ASSIGN_OR_RETURN(
        auto r, s.query("SELECT token_id, label, created_at, expires_at, revoked_at, "
                        "read_only, scope_path, kind, parent_id FROM tokens WHERE user_id=?1 "
                        "ORDER BY token_id",
                        user_id));
    std::vector<TokenInfo> out;
    for (size_t i = 0; i < r.size(); ++i) {
      TokenInfo t;
      t.token_id = r[i].get_int(0);
      t.label = r[i].get_text(1);
      t.created_at = r[i].get_int(2);
      t.expires_at = r[i].get_optional_int(3);
      t.revoked_at = r[i].get_optional_int(4);
      t.scope.read_only = r[i].get_int(5) != 0;
      t.scope.path = r[i].get_text(6);
      t.kind = token_kind_from_name(r[i].get_text(7));
      t.parent_id = r[i].get_optional_int(8).value_or(0);
      out.push_back(std::move(t));
    }
    return out;
  });
}

Result<int64_t> SqlMetadataStore::forget_ended_sessions(int64_t now) {
  return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<int64_t> {
    // Nothing hangs from a session or a code: a session made with a code hangs from the token
    // that made the code.
    CAIRN_ASSIGN_OR_RETURN(auto r, s.query("DELETE FROM tokens WHERE kind IN ('web', 'signin') "
                                           "AND (revoked_at IS NOT NULL OR expires_at <= ?1)",
                                           now));
    return r.affected;
  });
}

Result<void> SqlMetadataStore::revoke_token(int64_t user_id, int64_t token_id, int64_t now) {
  return db_->transact(TxMode::kWrite, [&](Session& s) -> Result<void> {
    CAIRN_ASSIGN_OR_RETURN(auto r,
                           s.query("UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?3) WHERE "
                                   "user_id=?1 AND token_id=?2",
                                   user_id, token_id, now));
    if (r.affected == 0) {
      return make_error(ErrorCode::kNotFound,
                        "this user has no token with id " + std::to_string(token_id));
    }
    // What was made from it (web sessions, sign-in codes) ends with it.
    CAIRN_RETURN_IF_ERROR(
        s.query("UPDATE tokens SET revoked_at = ?3 WHERE user_id=?1 AND parent_id=?2 AND "
                "revoked_at IS NULL",
                user_id, token_id, now));
    return {};
  });
}

Result<bool> SqlMetadataStore::claim_token(int64_t user_id, int64_t token_id, int64_t now) {
  return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<bool> {
    CAIRN_ASSIGN_OR_RETURN(auto r, s.query("UPDATE tokens SET revoked_at = ?3 WHERE user_id=?1 AND "
                                           "token_id=?2 AND revoked_at IS NULL AND "
                                           "(expires_at IS NULL OR expires_at > ?3)",
                                           user_id, token_id, now));
    return r.affected == 1;
  });
}

Result<void> SqlMetadataStore::set_user_disabled(int64_t user_id, bool disabled) {
  return db_->transact(TxMode::kWrite, [&](Session& s) -> Result<void> {
    CAIRN_ASSIGN_OR_RETURN(
        auto r,
        s.query(disabled ? "UPDATE users SET disabled=1 WHERE user_id=?1"
                         : "UPDATE users SET disabled=0, delete_after=NULL WHERE user_id=?1",
                user_id));
    if (r.affected == 0) return make_error(ErrorCode::kNotFound, "no such user");
    return {};
  });
}

Result<User> SqlMetadataStore::authenticate(const Digest& token_hash, int64_t now) {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<User> {
    CAIRN_ASSIGN_OR_RETURN(
        auto r, s.query("SELECT u.user_id, u.name, u.home_namespace_id, u.disabled, "
                        "u.created_at, t.read_only, t.scope_path, t.token_id, t.kind, "
                        "t.expires_at, t.parent_id FROM tokens t "
                        "JOIN users u ON "
                        "u.user_id = t.user_id WHERE t.token_hash=?1 AND t.revoked_at IS NULL "
                        "AND (t.expires_at IS NULL OR t.expires_at > ?2) AND u.disabled = 0",
                        token_hash.bytes(), now));
    if (r.empty()) {
      return make_error(ErrorCode::kUnauthenticated, "invalid, revoked or expired token");
    }
    User user = user_from_row(r[0]);
    user.scope.read_only = r[0].get_int(5) != 0;
    user.scope.path = r[0].get_text(6);
    user.token_id = r[0].get_int(7);
    user.token_kind = token_kind_from_name(r[0].get_text(8));
    user.token_expires_at = r[0].get_optional_int(9);
    user.token_parent_id = r[0].get_optional_int(10).value_or(0);
    return user;
  });
}

Result<std::optional<std::string>> SqlMetadataStore::setting(const std::string& key) {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::optional<std::string>> {
    CAIRN_ASSIGN_OR_RETURN(auto r, s.query("SELECT value FROM settings WHERE key=?1", key));
    if (r.empty()) return std::optional<std::string>();
    return std::optional<std::string>(r[0].get_text(0));
  });
}

Result<void> SqlMetadataStore::set_setting(const std::string& key,
                                           const std::optional<std::string>& value) {
  return db_->transact(TxMode::kWrite, [&](Session& s) -> Result<void> {
    if (!value) {
      CAIRN_RETURN_IF_ERROR(s.query("DELETE FROM settings WHERE key=?1", key));
      return {};
    }
    CAIRN_RETURN_IF_ERROR(
        s.query("INSERT INTO settings(key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE "
                "SET value = excluded.value",
                key, *value));
    return {};
  });
}

Result<void> SqlMetadataStore::watch_changes(std::function<void(int64_t)> changed,
                                             std::function<void()> gap) {
  if (!changed) return db_->listen(nullptr, nullptr);
  return db_->listen(
      [changed = std::move(changed)](const std::string& payload) {
        int64_t ns = 0;
        const char* end = payload.data() + payload.size();
        if (std::from_chars(payload.data(), end, ns).ptr == end && ns > 0) changed(ns);
      },
      std::move(gap));
}

Result<MetadataStore::Audience> SqlMetadataStore::audience(int64_t ns, int64_t after) {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<Audience> {
    Audience out;
    CAIRN_ASSIGN_OR_RETURN(
        auto owner, s.query("SELECT owner_id, last_seq FROM namespaces WHERE namespace_id=?1", ns));
    if (owner.empty()) return out;
    out.users.push_back(owner[0].get_int(0));
    out.head = owner[0].get_int(1);
    if (after >= out.head) return out;
    // Grantees whose shared folder or file holds (or held: a move's old parent) a node the
    // journal names after `after`. Without a position, every grantee.
    Rows r;
    if (after < 0) {
      CAIRN_ASSIGN_OR_RETURN(
          r, s.query("SELECT DISTINCT grantee_id FROM shares WHERE namespace_id=?1", ns));
    } else {
      CAIRN_ASSIGN_OR_RETURN(
          r, s.query("SELECT DISTINCT sh.grantee_id FROM shares sh WHERE sh.namespace_id=?1 "
                     "AND EXISTS (SELECT 1 FROM journal j JOIN closure c ON c.namespace_id = "
                     "j.namespace_id AND c.ancestor = sh.root_node_id AND (c.descendant = "
                     "j.node_id OR c.descendant = j.from_parent) WHERE j.namespace_id=?1 AND "
                     "j.seq > ?2 AND j.seq <= ?3)",
                     ns, after, out.head));
    }
    for (size_t i = 0; i < r.size(); ++i) out.users.push_back(r[i].get_int(0));
    return out;
  });
}

Result<std::vector<Digest>> SqlMetadataStore::invalid_tokens(
    const std::vector<Digest>& token_hashes, int64_t now) {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<Digest>> {
    std::unordered_set<Digest> valid;
    CAIRN_RETURN_IF_ERROR(in_batches(
        token_hashes, {sql::to_value(now)},
        [&](const std::string& in, const std::vector<sql::Value>& args) -> Result<void> {
          CAIRN_ASSIGN_OR_RETURN(
              auto r, s.run("SELECT t.token_hash FROM tokens t JOIN users u ON u.user_id = "
                            "t.user_id WHERE t.revoked_at IS NULL AND (t.expires_at IS NULL OR "
                            "t.expires_at > ?1) AND u.disabled = 0 AND t.token_hash IN (" +
                                in + ")",
                            args));
          collect_digests(r, 0, valid);
          return {};
        }));
    std::vector<Digest> out;
    for (const auto& d : token_hashes) {
      if (valid.count(d) == 0) out.push_back(d);
    }
    return out;
  });
}

Result<void> SqlMetadataStore::token_still_valid(Session& s, int64_t user_id, int64_t token_id,
                                                 int64_t now) {
  if (token_id == 0) return {};
  CAIRN_ASSIGN_OR_RETURN(
      auto r, s.query("SELECT 1 FROM tokens t JOIN users u ON u.user_id = t.user_id WHERE "
                      "t.token_id=?1 AND t.user_id=?2 AND t.revoked_at IS NULL AND "
                      "(t.expires_at IS NULL OR t.expires_at > ?3) AND u.disabled = 0",
                      token_id, user_id, now));
  if (r.empty()) {
    return make_error(ErrorCode::kUnauthenticated,
                      "the token this upload was granted to has been revoked or has expired, "
                      "or its user disabled; nothing was kept");
  }
  return {};
}

}  // namespace cairn::store::sqlstore
