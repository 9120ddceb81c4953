// A publish: a group of staged upload sessions committed in one step (metadata_internal.h).

#include "daemon/store/sql/metadata_internal.h"

namespace cairn::store::sqlstore {

Result<OpResult> Tx::publish(const Actor& a, const std::string& group, const std::string& root,
                             bool mirror) {
  CAIRN_ASSIGN_OR_RETURN(
      auto r, s_.query(std::string("SELECT ") + kUploadColumns +
                           " FROM uploads WHERE user_id=?1 AND namespace_id=?2 AND group_id=?3 "
                           "AND expires_at >= ?4 ORDER BY path",
                       a.user_id, a.namespace_id, group, a.now));
  if (r.empty()) {
    return make_error(ErrorCode::kNotFound, "no upload sessions in group " + group +
                                                " (none staged, expired, or already published)");
  }
  OpResult out;
  out.path = root;
  std::unordered_set<std::string> staged;
  // By path: a folder comes before what it holds.
  for (size_t i = 0; i < r.size(); ++i) {
    StagedUpload u = upload_from_row(r[i]);
    if (!is_within(u.path, root)) {
      return make_error(ErrorCode::kInvalidArgument,
                        "upload session for " + u.path + " is not under " + root);
    }
    staged.insert(u.path);
    OpResult one;
    if (u.kind == NodeKind::kFolder) {
      TreeOp mk;
      mk.kind = OpKind::kMkdir;
      mk.path = u.path;
      mk.mode = u.mode;
      CAIRN_ASSIGN_OR_RETURN(one, apply(a, mk));
    } else {
      // A publish replaces: the new version goes on top of whatever head the path has now (the
      // one it replaces stays in the file's history), so no edit made meanwhile is ever lost
      // and none turns this step into a conflicted copy.
      CAIRN_ASSIGN_OR_RETURN(auto p, place(a, u.path));
      CAIRN_ASSIGN_OR_RETURN(auto node, resolve(p.ns, p.path));
      u.base_version.reset();
      u.node_id = 0;
      if (node && node->kind != NodeKind::kFolder) {
        u.base_version = node->head_seq;
        u.node_id = p.mount != nullptr && p.mount->file ? p.mount->mount_node : node->node_id;
      }
      CAIRN_ASSIGN_OR_RETURN(one, put_placed(a, u, std::nullopt));
    }
    if (one.status != OpStatus::kOk && one.status != OpStatus::kUnchanged) {
      return make_error(
          ErrorCode::kConflict,
          u.path + ": " + (one.message.empty() ? "cannot be published" : one.message));
    }
    if (one.status == OpStatus::kOk) ++out.changed;
    ++out.published;
  }
  if (mirror) {
    CAIRN_ASSIGN_OR_RETURN(out.deleted, mirror_under(a, root, staged));
  }
  CAIRN_RETURN_IF_ERROR(
      s_.query("DELETE FROM uploads WHERE user_id=?1 AND group_id=?2", a.user_id, group));
  out.status = out.changed + out.deleted > 0 ? OpStatus::kOk : OpStatus::kUnchanged;
  return out;
}

Result<int64_t> Tx::mirror_under(const Actor& a, const std::string& root,
                                 const std::unordered_set<std::string>& keep) {
  // Everything kept, and every folder on the way to it.
  std::unordered_set<std::string> held;
  for (const auto& path : keep) {
    for (std::string at = path; is_below(at, root) && held.insert(at).second;) {
      at = remote_parent(at);
    }
  }
  // A shared folder's own path (its mount) leads into it.
  CAIRN_ASSIGN_OR_RETURN(auto p, place_contents(a, root));
  CAIRN_ASSIGN_OR_RETURN(auto top, resolve(p.ns, p.path));
  if (!top || top->kind != NodeKind::kFolder) return int64_t{0};
  std::vector<std::string> doomed;
  std::vector<std::pair<int64_t, std::string>> folders{{top->node_id, root}};
  while (!folders.empty()) {
    auto [node, path] = std::move(folders.back());
    folders.pop_back();
    CAIRN_ASSIGN_OR_RETURN(auto children,
                           s_.query("SELECT node_id, name, kind FROM nodes WHERE namespace_id=?1 "
                                    "AND parent_id=?2 AND deleted_at IS NULL",
                                    p.ns, node));
    for (size_t i = 0; i < children.size(); ++i) {
      const std::string child = join_remote_path(path, children[i].get_text(1));
      if (held.count(child) == 0) {
        doomed.push_back(child);
      } else if (kind_from_code(children[i].get_int(2)) == NodeKind::kFolder) {
        folders.emplace_back(children[i].get_int(0), child);
      }
    }
  }
  int64_t deleted = 0;
  for (const auto& path : doomed) {
    TreeOp del;
    del.kind = OpKind::kDelete;
    del.path = path;
    CAIRN_ASSIGN_OR_RETURN(auto one, apply(a, del));
    if (one.status != OpStatus::kOk && one.status != OpStatus::kUnchanged) {
      return make_error(ErrorCode::kConflict, path + ": " + one.message);
    }
    if (one.status == OpStatus::kOk) ++deleted;
  }
  forget_folders();
  return deleted;
}

}  // namespace cairn::store::sqlstore
