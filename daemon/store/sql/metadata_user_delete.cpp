// cairnd user delete: a user disabled now and purged by gc once their grace period ends.

#include "daemon/store/sql/metadata_internal.h"

namespace cairn::store::sqlstore {

namespace {

// Ends every share of the user's folders with others, and every share with the user, as an
// unshare does (Tx::end_share): grantees' clients keep what they hold as their own.
Result<void> end_shares(Session& s, Tx& tx, const Actor& actor) {
  CAIRN_ASSIGN_OR_RETURN(
      auto r, s.query("SELECT s.share_id, s.mount_namespace_id, s.mount_node_id, s.grantee_id, "
                      "s.namespace_id, s.root_node_id FROM shares s JOIN namespaces ns ON "
                      "ns.namespace_id = s.namespace_id WHERE ns.owner_id = ?1 OR s.grantee_id = "
                      "?1 ORDER BY s.share_id",
                      actor.user_id));
  for (size_t i = 0; i < r.size(); ++i) CAIRN_RETURN_IF_ERROR(tx.end_share(actor, r[i]));
  return {};
}

// Deletes every row of the user: what their namespaces hold, then what names the user. What
// they wrote in folders others own stays, with what made it readable: those versions (and their
// journal entries), the chunks the user held and the packed chunks only they could read pass to
// the user's retired id, -user_id. A read follows the same rule as before (a version's author's
// chunks), no user ever has a negative id, and SQLite, which may give a deleted user's id to the
// next user added, gives it to someone no row refers to.
Result<void> delete_rows(Session& s, int64_t user_id) {
  constexpr const char* kOwned =
      "namespace_id IN (SELECT namespace_id FROM namespaces WHERE owner_id = ?1)";
  const std::string in_theirs = kOwned;
  // Links point at nodes (and versions at nodes): they go before the nodes. Nodes refer to their
  // parents, all within the user's namespaces: one statement deletes them together.
  const std::string statements[] = {
      "DELETE FROM links WHERE created_by = ?1 OR " + in_theirs,
      "DELETE FROM journal WHERE " + in_theirs,
      "DELETE FROM versions WHERE " + in_theirs,
      "DELETE FROM closure WHERE " + in_theirs,
      "DELETE FROM nodes WHERE " + in_theirs,
      "DELETE FROM namespaces WHERE owner_id = ?1",
      "DELETE FROM uploads WHERE user_id = ?1",
      "DELETE FROM commit_requests WHERE user_id = ?1",
      "UPDATE versions SET author_id = -CAST(?1 AS BIGINT) WHERE author_id = ?1",
      "UPDATE journal SET author_id = -CAST(?1 AS BIGINT) WHERE author_id = ?1",
      "UPDATE user_chunks SET user_id = -CAST(?1 AS BIGINT) WHERE user_id = ?1",
      "UPDATE pack_chunks SET reader_id = -CAST(?1 AS BIGINT) WHERE reader_id = ?1",
      "UPDATE packs SET uploader_id = -CAST(?1 AS BIGINT) WHERE uploader_id = ?1",
      "DELETE FROM quotas WHERE user_id = ?1",
      "DELETE FROM tokens WHERE user_id = ?1",
      "DELETE FROM users WHERE user_id = ?1",
  };
  for (const auto& statement : statements) {
    CAIRN_RETURN_IF_ERROR(s.query(statement, user_id));
  }
  return {};
}

}  // namespace

Result<void> SqlMetadataStore::schedule_user_deletion(int64_t user_id, int64_t delete_after) {
  return db_->transact(TxMode::kWrite, [&](Session& s) -> Result<void> {
    CAIRN_ASSIGN_OR_RETURN(
        auto r, s.query("UPDATE users SET disabled=1, delete_after=?2 WHERE user_id=?1", user_id,
                        delete_after));
    if (r.affected == 0) return make_error(ErrorCode::kNotFound, "no such user");
    return {};
  });
}

Result<std::vector<std::string>> SqlMetadataStore::purge_deleted_users(int64_t now) {
  CAIRN_ASSIGN_OR_RETURN(
      auto due, sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<Rows> {
        return s.query(
            "SELECT user_id, name FROM users WHERE delete_after IS NOT NULL AND delete_after <= "
            "?1 AND disabled <> 0 ORDER BY user_id",
            now);
      }));
  std::vector<std::string> purged;
  for (size_t i = 0; i < due.size(); ++i) {
    const int64_t user_id = due[i].get_int(0);
    CAIRN_ASSIGN_OR_RETURN(
        const bool gone, sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<bool> {
          // Still due (an admin may have enabled the user since the list was read).
          CAIRN_ASSIGN_OR_RETURN(
              auto still, s.query("SELECT 1 FROM users WHERE user_id=?1 AND delete_after <= ?2 "
                                  "AND disabled <> 0",
                                  user_id, now));
          if (still.empty()) return false;
          Tx tx(s);
          Actor actor;
          actor.user_id = user_id;
          actor.device = "cairnd";
          actor.now = now;
          CAIRN_RETURN_IF_ERROR(end_shares(s, tx, actor));
          CAIRN_RETURN_IF_ERROR(delete_rows(s, user_id));
          return true;
        }));
    if (gone) purged.push_back(due[i].get_text(1));
  }
  return purged;
}

}  // namespace cairn::store::sqlstore
