// The change feed: each node changed after a cursor once, at its latest change, in its current
// state, a page at a time, in time proportional to the page.

#include "daemon/store/sql/metadata_internal.h"

namespace cairn::store::sqlstore {

Result<std::unordered_map<int64_t, Entry>> Tx::entries(int64_t ns,
                                                       const std::vector<int64_t>& ids) {
  std::unordered_map<int64_t, Entry> out;
  // By id alone, which both engines look up by key; the namespace is checked here (with it in
  // the WHERE clause SQLite walks the namespace's nodes instead).
  CAIRN_RETURN_IF_ERROR(in_batches(
      ids, {}, [&](const std::string& in, const std::vector<sql::Value>& args) -> Result<void> {
        CAIRN_ASSIGN_OR_RETURN(
            auto r, s_.run(std::string("SELECT n.node_id, n.namespace_id, n.parent_id, n.name, ") +
                               kEntryColumns +
                               " FROM nodes n LEFT JOIN versions v ON v.namespace_id = "
                               "n.namespace_id AND v.node_id = n.node_id AND v.seq = n.head_seq "
                               "WHERE n.node_id IN (" +
                               in + ")",
                           args));
        for (size_t i = 0; i < r.size(); ++i) {
          if (r[i].get_int(1) != ns) continue;
          Entry e = entry_from_row(r[i], 4);
          e.node_id = r[i].get_int(0);
          const auto parent = r[i].get_optional_int(2);
          if (!parent) {
            e.path = "/";
          } else {
            auto known = folder_paths_.find({ns, *parent});
            if (known == folder_paths_.end()) {
              CAIRN_ASSIGN_OR_RETURN(auto path, node_path(ns, *parent));
              known = folder_paths_.emplace(std::make_pair(ns, *parent), std::move(path)).first;
            }
            e.path = join_remote_path(known->second, r[i].get_text(3));
          }
          out.emplace(e.node_id, std::move(e));
        }
        return {};
      }));
  return out;
}

Result<ChangesPage> SqlMetadataStore::changes(const Actor& actor, const FeedCursor& after,
                                              int limit) {
  // One read transaction: the pages of every feed and their heads agree.
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<ChangesPage> {
    Tx tx(s);
    ChangesPage out;
    int room = limit;
    // One feed: its changes after `from` (each node once, at its latest change, in its current
    // state, with the kind of that change: a client needs to know a folder moved there).
    // `mount`: a shared folder's feed, which holds only what is (or was) under its root.
    auto feed = [&](int64_t key, int64_t ns, const Mount* mount) -> Result<void> {
      auto known = after.find(key);
      int64_t from = known == after.end() ? 0 : known->second;
      CAIRN_ASSIGN_OR_RETURN(auto head,
                             s.query("SELECT last_seq FROM namespaces WHERE namespace_id=?1", ns));
      const int64_t head_seq = head.empty() ? 0 : head[0].get_int(0);
      if (from > head_seq) {
        // From the future (a restored database): start over. A reset never implies deletes:
        // the client lists again and keeps what it has.
        from = 0;
        out.reset = true;
      }
      if (room == 0) {
        out.has_more = out.has_more || from < head_seq;
        out.cursor[key] = from;
        return {};
      }
      Rows r;
      if (mount == nullptr) {
        CAIRN_ASSIGN_OR_RETURN(
            r, s.query("SELECT j.node_id, j.seq, j.op FROM journal j WHERE j.namespace_id=?1 "
                       "AND j.seq > ?2 AND NOT EXISTS (SELECT 1 FROM journal k WHERE "
                       "k.namespace_id=?1 AND k.node_id=j.node_id AND k.seq > j.seq) ORDER BY "
                       "j.seq LIMIT ?3",
                       ns, from, room + 1));
      } else if (mount->file) {
        // A shared file's feed: the file's own changes.
        CAIRN_ASSIGN_OR_RETURN(
            r, s.query("SELECT node_id, seq, op FROM journal WHERE namespace_id=?1 AND "
                       "node_id=?2 AND seq > ?3 ORDER BY seq DESC LIMIT 1",
                       ns, mount->root, from));
      } else {
        // What is under the root now, and what was moved out of it (its old parent is).
        CAIRN_ASSIGN_OR_RETURN(
            r, s.query("SELECT j.node_id, j.seq, j.op FROM journal j WHERE j.namespace_id=?1 "
                       "AND j.seq IN (SELECT MAX(k.seq) FROM journal k WHERE "
                       "k.namespace_id=?1 AND k.seq > ?2 AND k.node_id <> ?3 AND (EXISTS "
                       "(SELECT 1 FROM closure c WHERE c.namespace_id=?1 AND c.ancestor=?3 "
                       "AND c.descendant=k.node_id) OR EXISTS (SELECT 1 FROM closure c WHERE "
                       "c.namespace_id=?1 AND c.ancestor=?3 AND c.descendant=k.from_parent)) "
                       "GROUP BY k.node_id) ORDER BY j.seq LIMIT ?4",
                       ns, from, mount->root, room + 1));
      }
      size_t n = r.size();
      const bool more = n > static_cast<size_t>(room);
      if (more) n = static_cast<size_t>(room);
      int64_t last = from;
      std::vector<int64_t> ids;
      for (size_t i = 0; i < n; ++i) ids.push_back(r[i].get_int(0));
      CAIRN_ASSIGN_OR_RETURN(auto found, tx.entries(ns, ids));
      for (size_t i = 0; i < n; ++i) {
        auto it = found.find(r[i].get_int(0));
        if (it == found.end()) {
          return make_error(ErrorCode::kInternal, "journal names a node that is not there");
        }
        Entry e = std::move(it->second);
        e.change = r[i].get_text(2);
        if (mount == nullptr) {
          CAIRN_RETURN_IF_ERROR(tx.mark_mount(actor, e));
        } else if (mount->file) {
          // Wherever the owner keeps it, the grantee sees it at the mount, by the mount's id.
          e.path = mount->view_path;
          show_as_mount(*mount, e);
        } else if (mount->root_path.empty() || !is_below(e.path, mount->root_path)) {
          // Moved out of the shared folder: gone, as far as the grantee can tell. Where it
          // went, and under what name, is the owner's business: the entry names the shared
          // folder, and the grantee knows the node by its id.
          e = Entry{};
          e.node_id = r[i].get_int(0);
          e.deleted = true;
          e.change = "moved_out";
          e.path = mount->view_path;
        } else {
          e.path = Tx::to_view(Place{ns, e.path, mount}, e.path);
        }
        out.entries.push_back(std::move(e));
        last = r[i].get_int(1);
      }
      room -= static_cast<int>(n);
      if (more) {
        out.has_more = true;
        out.cursor[key] = last;
      } else {
        out.cursor[key] = head_seq;
      }
      return {};
    };
    CAIRN_RETURN_IF_ERROR(feed(0, actor.namespace_id, nullptr));
    CAIRN_ASSIGN_OR_RETURN(const auto* all, tx.mounts(actor.user_id));
    for (const auto& m : *all) {
      if (!m.view_path.empty()) CAIRN_RETURN_IF_ERROR(feed(m.share_id, m.ns, &m));
    }
    return out;
  });
}

}  // namespace cairn::store::sqlstore
