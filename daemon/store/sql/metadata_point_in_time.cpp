// The tree as it was: listings at a past time, a folder brought back to one, and the log of
// changes (metadata_internal.h). All of it reads the journal, whose entries record each node's
// place and state after every change (schema 13): a node's state at a time is its latest entry
// up to then.

#include <climits>

#include "common/duration.h"
#include "daemon/store/sql/metadata_internal.h"

namespace cairn::store::sqlstore {
namespace {

// "j is its node's latest entry up to the time in parameter ?n", read from the index on node,
// seq and time alone.
std::string latest_up_to(int n) {
  const std::string t = "?" + std::to_string(n);
  return "j.at_ms <= " + t +
         " AND j.seq = (SELECT MAX(k.seq) FROM journal k WHERE k.namespace_id = j.namespace_id "
         "AND k.node_id = j.node_id AND k.at_ms <= " +
         t + ")";
}

// Children by parent go through the index on parent and name; the namespace is a filter (`+`
// keeps SQLite from walking the namespace's journal by its primary key instead).

// What entries_at reads after a node's id, parent, name, kind, head and depth: the version it
// had then, and a folder's mode (which has no versions).
constexpr const char* kThenColumns =
    "v.seq, v.size, v.mode, v.mtime_ns, v.manifest_hash, v.symlink_target, v.created_at, n.mode";

}  // namespace

Result<std::optional<NodeRow>> Tx::resolve_at(const Place& p, int64_t at_ms) {
  const int64_t ns = p.ns;
  NodeRow current{0, NodeKind::kFolder, 0};
  std::string below = p.path;
  if (p.mount != nullptr) {
    if (!is_within(p.path, p.mount->root_path)) return std::optional<NodeRow>();
    CAIRN_ASSIGN_OR_RETURN(auto root, entries_at(ns, p.mount->root, p.path, at_ms, true, 0));
    if (root.empty()) return std::optional<NodeRow>();  // Not there then.
    current = NodeRow{p.mount->root, root[0].kind, root[0].version};
    below = p.mount->root_path == "/" ? p.path : p.path.substr(p.mount->root_path.size());
  } else {
    CAIRN_ASSIGN_OR_RETURN(current.node_id, root_of(ns));
  }
  for (const auto& seg : split_remote_path(below)) {
    if (current.kind != NodeKind::kFolder) return std::optional<NodeRow>();
    CAIRN_ASSIGN_OR_RETURN(auto r, s_.query("SELECT j.node_id, j.kind, j.head_seq FROM journal j "
                                            "WHERE +j.namespace_id=?1 AND j.parent_id=?2 AND "
                                            "j.name=?3 AND j.live = 1 AND " +
                                                latest_up_to(4) + " ORDER BY j.seq DESC LIMIT 1",
                                            ns, current.node_id, seg, at_ms));
    if (r.empty()) return std::optional<NodeRow>();
    current = NodeRow{r[0].get_int(0), kind_from_code(r[0].get_int(1)), r[0].get_int(2)};
  }
  return std::optional<NodeRow>(current);
}

Result<std::vector<Entry>> Tx::entries_at(int64_t ns, int64_t node, const std::string& path,
                                          int64_t at_ms, bool self, int depth) {
  Rows r;
  if (self) {
    CAIRN_ASSIGN_OR_RETURN(
        r, s_.query(std::string("SELECT j.node_id, j.parent_id, j.name, j.kind, j.head_seq, 0, ") +
                        kThenColumns +
                        " FROM journal j JOIN nodes n ON n.node_id = j.node_id LEFT JOIN versions "
                        "v ON v.namespace_id = j.namespace_id AND v.node_id = j.node_id AND v.seq "
                        "= j.head_seq WHERE j.namespace_id=?1 AND j.node_id=?2 AND " +
                        latest_up_to(3),
                    ns, node, at_ms));
  } else {
    // Down from `node`, one level a step: a child then is a node whose latest entry up to then
    // names the parent and says it was live (found by the index on parent and name).
    CAIRN_ASSIGN_OR_RETURN(
        r, s_.query(std::string("WITH RECURSIVE t(node_id, parent_id, name, kind, head_seq, "
                                "depth) AS (SELECT CAST(?2 AS BIGINT), CAST(NULL AS BIGINT), "
                                "CAST('' AS TEXT), CAST(1 AS BIGINT), CAST(0 AS BIGINT), CAST(0 "
                                "AS BIGINT) UNION ALL SELECT j.node_id, j.parent_id, j.name, "
                                "j.kind, j.head_seq, t.depth + 1 FROM t JOIN journal j ON "
                                "j.parent_id = t.node_id WHERE +j.namespace_id = ?1 AND t.depth "
                                "< ?4 AND t.kind = 1 AND j.live = 1 AND ") +
                        latest_up_to(3) +
                        ") SELECT t.node_id, t.parent_id, t.name, t.kind, t.head_seq, t.depth, " +
                        kThenColumns +
                        " FROM t JOIN nodes n ON n.node_id = t.node_id LEFT JOIN versions v ON "
                        "v.namespace_id = ?1 AND v.node_id = t.node_id AND v.seq = t.head_seq "
                        "WHERE t.depth > 0 ORDER BY t.depth, t.name",
                    ns, node, at_ms, static_cast<int64_t>(depth)));
  }
  std::vector<Entry> out;
  std::vector<std::string> gone;
  std::unordered_map<int64_t, std::string> folders{{node, path}};
  for (size_t i = 0; i < r.size(); ++i) {
    Entry e;
    e.node_id = r[i].get_int(0);
    if (self) {
      e.path = path;
    } else {
      auto parent = folders.find(r[i].get_int(1));
      if (parent == folders.end()) continue;
      e.path = join_remote_path(parent->second, r[i].get_text(2));
    }
    e.kind = kind_from_code(r[i].get_int(3));
    e.version = r[i].get_int(4);
    if (e.kind == NodeKind::kFolder) {
      e.mode = static_cast<uint32_t>(r[i].get_int(13));
      folders.emplace(e.node_id, e.path);
    } else if (r[i].is_null(6)) {
      gone.push_back(e.path);
      continue;
    } else {
      e.size = static_cast<uint64_t>(r[i].get_int(7));
      e.mode = static_cast<uint32_t>(r[i].get_int(8));
      e.mtime_ns = r[i].get_int(9);
      if (!r[i].is_null(10)) e.manifest = Digest::from_bytes(r[i].get_blob(10));
      e.symlink_target = r[i].get_text(11);
      e.modified_at = r[i].get_int(12);
    }
    out.push_back(std::move(e));
  }
  if (!gone.empty()) {
    std::string named;
    for (size_t i = 0; i < gone.size() && i < 5; ++i) named += (i == 0 ? "" : ", ") + gone[i];
    if (gone.size() > 5) named += ", ...";
    return make_error(ErrorCode::kNotFound,
                      "what " + std::to_string(gone.size()) + " file(s) held at " +
                          utc_text(at_ms) +
                          " is gone (emptied from the trash, or older than the retention "
                          "period): " +
                          named);
  }
  return out;
}

Result<OpResult> Tx::put_version_of(const Actor& a, const std::string& path, int64_t from,
                                    int64_t from_seq) {
  OpResult result;
  result.path = path;
  CAIRN_ASSIGN_OR_RETURN(auto want, version(a.namespace_id, from, from_seq));
  if (!want) {
    return make_error(ErrorCode::kNotFound,
                      "version " + std::to_string(from_seq) + " of " + path + " is gone");
  }
  const NodeKind kind = want->manifest ? NodeKind::kFile : NodeKind::kSymlink;
  auto same = [&](const std::optional<VersionRow>& head) {
    return head && head->manifest == want->manifest && head->mode == want->mode &&
           head->symlink_target == want->symlink_target;
  };
  CAIRN_ASSIGN_OR_RETURN(auto parent, ensure_folder(a, remote_parent(path)));
  const std::string name(remote_basename(path));
  CAIRN_ASSIGN_OR_RETURN(auto existing, live_child(a.namespace_id, parent.first, name));
  int64_t node = 0;
  int64_t head_seq = 0;
  bool revived = false;
  if (existing) {
    if (existing->kind == NodeKind::kFolder) {
      return make_error(ErrorCode::kAlreadyExists, "a folder exists at " + path);
    }
    node = existing->node_id;
    head_seq = existing->head_seq;
  } else {
    CAIRN_ASSIGN_OR_RETURN(node, revive_or_create(a, parent.first, name, kind, &head_seq));
    revived = true;  // Back from the trash, or new: a change either way.
  }
  result.node_id = node;
  result.version = head_seq;
  CAIRN_ASSIGN_OR_RETURN(auto head, version(a.namespace_id, node, head_seq));
  if (same(head) && (!existing || existing->kind == kind)) {
    if (!revived) {
      result.status = OpStatus::kUnchanged;
      return result;
    }
    CAIRN_RETURN_IF_ERROR(journal(a, a.namespace_id, node, "restore"));
    result.status = OpStatus::kOk;
    return result;
  }
  // A new version pointing at the old content: no bytes are copied. A node back from the trash
  // was still charged for its head.
  const int64_t next = head_seq + 1;
  CAIRN_RETURN_IF_ERROR(charge(a.namespace_id, charged(want) - charged(head)));
  std::optional<int64_t> base;
  if (head_seq > 0) base = head_seq;
  CAIRN_RETURN_IF_ERROR(s_.query(
      "INSERT INTO versions(namespace_id, node_id, seq, manifest_hash, size, mode, mtime_ns, "
      "symlink_target, author_id, device, base_seq, created_at) SELECT namespace_id, ?4, ?5, "
      "manifest_hash, size, mode, mtime_ns, symlink_target, ?6, ?7, ?8, ?9 FROM versions WHERE "
      "namespace_id=?1 AND node_id=?2 AND seq=?3",
      a.namespace_id, from, from_seq, node, next, a.user_id, a.device, base, a.now));
  CAIRN_RETURN_IF_ERROR(
      s_.query("UPDATE nodes SET head_seq=?1, kind=?2 WHERE namespace_id=?3 AND node_id=?4", next,
               kind_code(kind), a.namespace_id, node));
  CAIRN_RETURN_IF_ERROR(journal(a, a.namespace_id, node, "restore"));
  result.status = OpStatus::kOk;
  result.version = next;
  return result;
}

Result<OpResult> Tx::restore_at(const Actor& a, const std::string& path, int64_t at_ms) {
  CAIRN_ASSIGN_OR_RETURN(auto p, place_contents(a, path));
  CAIRN_ASSIGN_OR_RETURN(auto w, writer(a, p, path));
  CAIRN_ASSIGN_OR_RETURN(auto then, resolve_at(p, at_ms));
  if (!then) {
    return make_error(ErrorCode::kNotFound, "nothing was at " + path + " at " + utc_text(at_ms) +
                                                " (cairn log shows "
                                                "what changed)");
  }
  const bool folder = then->kind == NodeKind::kFolder;
  CAIRN_ASSIGN_OR_RETURN(auto entries,
                         folder ? entries_at(p.ns, then->node_id, p.path, at_ms, false, INT_MAX)
                                : entries_at(p.ns, then->node_id, p.path, at_ms, true, 0));
  if (folder) {
    Entry top;
    top.path = p.path;
    top.kind = NodeKind::kFolder;
    entries.insert(entries.begin(), top);
  }
  OpResult out;
  out.path = path;
  // What is in the way of a node of then, of the other kind (a folder where a file was), goes
  // to the trash first; the rest of what was made since goes there at the end.
  auto clear = [&](const std::string& at, NodeKind want) -> Result<void> {
    CAIRN_ASSIGN_OR_RETURN(auto now, resolve(p.ns, at));
    if (!now || (now->kind == NodeKind::kFolder) == (want == NodeKind::kFolder)) return {};
    CAIRN_ASSIGN_OR_RETURN(auto gone, remove(w, at, std::nullopt, 0));
    if (gone.status == OpStatus::kOk) ++out.deleted;
    forget_folders();
    return {};
  };
  std::unordered_set<std::string> keep;
  for (const auto& e : entries) {
    keep.insert(to_view(p, e.path));
    Entry shown = e;
    shown.path = to_view(p, e.path);
    if (p.mount == nullptr) {
      CAIRN_RETURN_IF_ERROR(mark_mount(a, shown));
      if (!shown.share_role.empty()) continue;  // Someone else's: not this user's to restore.
    }
    CAIRN_RETURN_IF_ERROR(clear(e.path, e.kind));
    if (e.kind == NodeKind::kFolder) {
      CAIRN_ASSIGN_OR_RETURN(auto made, ensure_folder(w, e.path));
      if (made.second) ++out.changed;
      continue;
    }
    CAIRN_ASSIGN_OR_RETURN(auto put, put_version_of(w, e.path, e.node_id, e.version));
    if (put.status == OpStatus::kOk) ++out.changed;
  }
  if (folder) {
    CAIRN_ASSIGN_OR_RETURN(const int64_t deleted, mirror_under(a, path, keep));
    out.deleted += deleted;
  }
  out.published = static_cast<int64_t>(entries.size());
  out.status = out.changed + out.deleted > 0 ? OpStatus::kOk : OpStatus::kUnchanged;
  return out;
}

Result<Listing> SqlMetadataStore::list_at(const Actor& actor, const std::string& path,
                                          int64_t at_ms, bool recursive) {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<Listing> {
    Tx tx(s);
    CAIRN_ASSIGN_OR_RETURN(auto p, tx.place_contents(actor, path));
    CAIRN_ASSIGN_OR_RETURN(auto node, tx.resolve_at(p, at_ms));
    if (!node) {
      return make_error(ErrorCode::kNotFound, "nothing was at " + path + " at " + utc_text(at_ms));
    }
    const bool folder = node->kind == NodeKind::kFolder;
    CAIRN_ASSIGN_OR_RETURN(auto entries, tx.entries_at(p.ns, node->node_id, path, at_ms, !folder,
                                                       recursive ? INT_MAX : 1));
    Listing out;
    out.path = path;
    // A folder or file shared with the user is listed as its mount (its content is another
    // namespace's: list it on its own), as list_tree() does.
    for (auto& e : entries) {
      if (p.mount == nullptr && folder) {
        CAIRN_RETURN_IF_ERROR(tx.mark_mount(actor, e));
        if (e.deleted) continue;
      }
      out.entries.push_back(std::move(e));
    }
    return out;
  });
}

Result<LogPage> SqlMetadataStore::log(const Actor& actor, const std::string& path,
                                      const LogQuery& query) {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<LogPage> {
    Tx tx(s);
    CAIRN_ASSIGN_OR_RETURN(auto p, tx.place_contents(actor, path));
    CAIRN_ASSIGN_OR_RETURN(auto node, tx.resolve(p.ns, p.path));
    if (!node) return make_error(ErrorCode::kNotFound, "no such file or folder: " + path);
    const int limit = std::clamp(query.limit, 1, 1000);
    const int64_t before = query.before_seq > 0 ? query.before_seq : INT64_MAX;
    CAIRN_ASSIGN_OR_RETURN(
        auto r,
        s.query("SELECT j.seq, j.node_id, j.op, j.at_ms, j.kind, j.head_seq, u.name, "
                "j.device FROM journal j JOIN closure c ON "
                "c.namespace_id = j.namespace_id AND c.descendant = j.node_id LEFT JOIN "
                "users u ON u.user_id = j.author_id WHERE j.namespace_id=?1 AND "
                "c.ancestor=?2 AND j.seq < ?3 AND j.at_ms >= ?4 ORDER BY j.seq DESC "
                "LIMIT ?5",
                p.ns, node->node_id, before, query.since_ms, static_cast<int64_t>(limit + 1)));
    // Where a node was just after entry `seq`, in the actor's view: its names up the tree as
    // they were then (from the journal; the node's row for entries from before it said). Empty
    // if that was outside the folder shared with the actor: the owner's other paths are not
    // theirs to see.
    auto path_then = [&](int64_t id, int64_t seq) -> Result<std::string> {
      std::string out;
      for (int depth = 0; depth < 10000; ++depth) {
        CAIRN_ASSIGN_OR_RETURN(auto at,
                               s.query("SELECT parent_id, name FROM journal WHERE namespace_id=?1 "
                                       "AND node_id=?2 AND seq <= ?3 AND name IS NOT NULL ORDER "
                                       "BY seq DESC LIMIT 1",
                                       p.ns, id, seq));
        if (at.empty()) {
          CAIRN_ASSIGN_OR_RETURN(at, s.query("SELECT parent_id, name FROM nodes WHERE "
                                             "namespace_id=?1 AND node_id=?2",
                                             p.ns, id));
        }
        if (at.empty() || at[0].is_null(0)) break;  // The root.
        out = "/" + at[0].get_text(1) + out;
        id = at[0].get_int(0);
      }
      if (out.empty()) out = "/";
      if (p.mount != nullptr && !is_within(out, p.mount->root_path)) return std::string();
      return tx.to_view(p, out);
    };
    LogPage page;
    for (size_t i = 0; i < r.size(); ++i) {
      if (static_cast<int>(i) == limit) {
        page.next_before = page.entries.back().seq;
        break;
      }
      LogEntry e;
      e.seq = r[i].get_int(0);
      const int64_t id = r[i].get_int(1);
      e.op = r[i].get_text(2);
      e.at_ms = r[i].get_int(3);
      e.kind = kind_from_code(r[i].get_optional_int(4).value_or(0));
      e.version = r[i].get_optional_int(5).value_or(0);
      e.author = r[i].get_text(6);
      e.device = r[i].get_text(7);
      CAIRN_ASSIGN_OR_RETURN(e.path, path_then(id, e.seq));
      if (e.path.empty()) continue;  // Before it was moved into the shared folder.
      if (e.op == "move") {
        CAIRN_ASSIGN_OR_RETURN(e.from, path_then(id, e.seq - 1));
      }
      page.entries.push_back(std::move(e));
    }
    return page;
  });
}

}  // namespace cairn::store::sqlstore
