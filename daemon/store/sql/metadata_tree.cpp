// The tree: commits (each op in Tx, in its own savepoint) and listings.

#include "daemon/store/sql/metadata_internal.h"

namespace cairn::store::sqlstore {

Result<OpResult> Tx::put(const Actor& a, const std::string& upload_id) {
  CAIRN_ASSIGN_OR_RETURN(auto r, s_.query(std::string("SELECT ") + kUploadColumns +
                                              " FROM uploads WHERE upload_id=?1 AND "
                                              "user_id=?2 AND namespace_id=?3",
                                          upload_id, a.user_id, a.namespace_id));
  if (r.empty()) return make_error(ErrorCode::kNotFound, "no upload session " + upload_id);
  StagedUpload u = upload_from_row(r[0]);
  if (u.expires_at < a.now) {
    return make_error(ErrorCode::kNotFound, "upload session " + upload_id + " has expired");
  }
  CAIRN_ASSIGN_OR_RETURN(auto result, put_placed(a, u, std::nullopt));
  CAIRN_RETURN_IF_ERROR(
      s_.query("DELETE FROM uploads WHERE upload_id=?1 AND user_id=?2", upload_id, a.user_id));
  return result;
}

Result<OpResult> Tx::put_file(const Actor& a, const StagedUpload& u) {
  if (u.kind != NodeKind::kFile) return put_placed(a, u, std::nullopt);
  // Staged by the service just now, the manifest comes decoded too.
  std::optional<Manifest> decoded;
  if (!u.chunks) {
    CAIRN_ASSIGN_OR_RETURN(decoded, Manifest::decode(u.manifest));
  }
  const std::optional<Manifest>& manifest = u.chunks ? u.chunks : decoded;
  CAIRN_RETURN_IF_ERROR(
      s_.query("INSERT INTO manifests(manifest_hash, body, size, chunk_count) VALUES (?1, ?2, "
               "?3, ?4) ON CONFLICT DO NOTHING",
               u.manifest_hash->bytes(), ByteView(u.manifest), u.size,
               static_cast<int64_t>(manifest->chunks().size())));
  return put_placed(a, u, manifest);
}

// Paths (and, for a shared file, the id) of a result in `p`'s namespace, as the acting user
// sees them.
OpResult in_view(const Place& p, OpResult r) {
  r.path = Tx::to_view(p, r.path);
  if (!r.copy.empty()) r.copy = Tx::to_view(p, r.copy);
  if (p.mount != nullptr && p.mount->file && r.node_id == p.mount->root) {
    r.node_id = p.mount->mount_node;
  }
  return r;
}

Result<OpResult> Tx::put_placed(const Actor& a, const StagedUpload& u,
                                const std::optional<Manifest>& given) {
  CAIRN_ASSIGN_OR_RETURN(auto p, place(a, u.path));
  CAIRN_ASSIGN_OR_RETURN(auto w, writer(a, p, u.path));
  if (p.mount == nullptr) return put_staged(w, u, given);
  StagedUpload there = u;
  there.path = p.path;
  there.namespace_id = p.ns;
  if (p.mount->file) {
    // The client knows the shared file by the mount's id, which stands for the owner's file: a
    // base of the mount is a base of that file; any other node's is none.
    const bool knows_it = u.node_id == p.mount->mount_node;
    there.node_id = knows_it ? p.mount->root : 0;
    // An edit of a shared file that lost to someone else's is kept as the grantee's own copy,
    // beside the mount: the folder that holds the owner's file is not theirs to write in.
    CAIRN_ASSIGN_OR_RETURN(auto node, resolve(p.ns, p.path));
    if (node && node->kind != NodeKind::kFolder &&
        (!knows_it || node->node_id != p.mount->root || u.base_version != node->head_seq)) {
      CAIRN_ASSIGN_OR_RETURN(auto head, version(p.ns, node->node_id, node->head_seq));
      if (!head || !same_content(*head, u) || node->kind != u.kind) {
        CAIRN_ASSIGN_OR_RETURN(auto mount, node_info(a.namespace_id, p.mount->mount_node));
        if (!mount) return make_error(ErrorCode::kInternal, "a mount without its node");
        StagedUpload mine = u;
        mine.namespace_id = a.namespace_id;
        return put_conflicted_copy(a, mine, mount->parent, std::string(remote_basename(u.path)),
                                   given);
      }
    }
  }
  CAIRN_ASSIGN_OR_RETURN(auto r, put_staged(w, there, given));
  return in_view(p, std::move(r));
}

Result<OpResult> Tx::apply(const Actor& a, const TreeOp& op) {
  switch (op.kind) {
    case OpKind::kPut:
      if (op.file) return put_file(a, *op.file);
      return put(a, op.upload_id);
    case OpKind::kMkdir: {
      CAIRN_ASSIGN_OR_RETURN(auto p, place(a, op.path));
      CAIRN_ASSIGN_OR_RETURN(auto w, writer(a, p, op.path));
      CAIRN_ASSIGN_OR_RETURN(auto r, mkdir(w, p.path, op.mode));
      return in_view(p, std::move(r));
    }
    case OpKind::kDelete: {
      CAIRN_ASSIGN_OR_RETURN(auto p, place(a, op.path));
      // Deleting a mount would leave the share without a place; leaving is its own command.
      CAIRN_ASSIGN_OR_RETURN(const auto* all, mounts(a.user_id));
      for (const auto& m : *all) {
        const bool doomed =
            m.view_path == op.path || (p.mount == nullptr && is_below(m.view_path, op.path));
        if (m.view_path.empty() || !doomed) continue;
        return make_error(ErrorCode::kInvalidArgument,
                          (m.view_path == op.path ? op.path : op.path + " holds " + m.view_path) +
                              (m.file ? ", a file " : ", a folder ") + m.owner +
                              " shares with you: leave it with `cairn unshare " + m.view_path +
                              "` first");
      }
      CAIRN_ASSIGN_OR_RETURN(auto w, writer(a, p, op.path));
      CAIRN_ASSIGN_OR_RETURN(auto r, remove(w, p.path, op.base_version, op.node_id));
      return in_view(p, std::move(r));
    }
    case OpKind::kMove: {
      CAIRN_ASSIGN_OR_RETURN(const Mount* shared_file, mount_at(a, op.path));
      if (shared_file != nullptr && shared_file->file) {
        // The grantee moves their mount of a shared file, as they may a shared folder's.
        CAIRN_ASSIGN_OR_RETURN(auto to, place(a, op.to));
        if (to.mount != nullptr) {
          return make_error(ErrorCode::kInvalidArgument,
                            "cannot move " + op.path + ", a file shared with you, to " + op.to +
                                ", which is in or at something else shared with you");
        }
        return move(a, op.path, to.path, shared_file->mount_node);
      }
      CAIRN_ASSIGN_OR_RETURN(auto from, place(a, op.path));
      CAIRN_ASSIGN_OR_RETURN(auto to, place(a, op.to));
      CAIRN_ASSIGN_OR_RETURN(auto w, writer(a, from, op.path));
      CAIRN_RETURN_IF_ERROR(writer(a, to, op.to));
      if (from.ns != to.ns || from.mount != to.mount) {
        return make_error(ErrorCode::kInvalidArgument,
                          "cannot move " + op.path + " to " + op.to +
                              ": only one of them is in a folder shared with you (copy it, "
                              "then delete the original)");
      }
      CAIRN_ASSIGN_OR_RETURN(auto r, move(w, from.path, to.path, op.node_id));
      return in_view(from, std::move(r));
    }
    case OpKind::kRestore: {
      CAIRN_ASSIGN_OR_RETURN(auto p, place(a, op.path));
      CAIRN_ASSIGN_OR_RETURN(auto w, writer(a, p, op.path));
      // A shared file is known to the grantee by its mount's id: it stands for the owner's.
      int64_t node = op.node_id;
      if (p.mount != nullptr && p.mount->file && node == p.mount->mount_node) node = p.mount->root;
      CAIRN_ASSIGN_OR_RETURN(auto r, restore(w, p.path, op.version, node));
      return in_view(p, std::move(r));
    }
    case OpKind::kPublish:
      return publish(a, op.group, op.path, op.mirror);
    case OpKind::kRestoreAt:
      return restore_at(a, op.path, op.at_ms);
    case OpKind::kUndelete: {
      // The trash is the home namespace's: a file deleted in a shared folder is in its owner's.
      if (!op.to.empty()) {
        CAIRN_ASSIGN_OR_RETURN(auto p, place(a, op.to));
        if (p.mount != nullptr) {
          return make_error(ErrorCode::kInvalidArgument,
                            "cannot restore into " + op.to +
                                ", a folder shared with you: restore it elsewhere, then copy it");
        }
      }
      return undelete(a, op.node_id, op.to);
    }
  }
  return make_error(ErrorCode::kInvalidArgument, "unknown op");
}

Result<OpResult> Tx::put_staged(const Actor& a, const StagedUpload& u,
                                const std::optional<Manifest>& given) {
  OpResult result;
  result.path = u.path;

  // Pending -> complete only when every chunk is present and held by this user.
  std::optional<Manifest> manifest = given;
  if (u.kind == NodeKind::kFile) {
    if (!manifest) {
      CAIRN_ASSIGN_OR_RETURN(auto m, s_.query("SELECT body FROM manifests WHERE manifest_hash=?1",
                                              u.manifest_hash->bytes()));
      if (m.empty()) return make_error(ErrorCode::kInternal, "upload manifest missing");
      CAIRN_ASSIGN_OR_RETURN(manifest, Manifest::decode(m[0].get_blob(0)));
    }
    CAIRN_ASSIGN_OR_RETURN(auto held, held_chunks(a.user_id, digests_of(*manifest)));
    for (const auto& chunk : manifest->chunks()) {
      if (held.count(chunk.hash) == 0) {
        return make_error(ErrorCode::kConflict,
                          "chunk " + chunk.hash.hex() + " has not been uploaded");
      }
    }
  }

  if (u.path == "/") return make_error(ErrorCode::kInvalidArgument, "cannot replace the root");
  const std::string name(remote_basename(u.path));
  std::optional<NodeRow> existing;
  CAIRN_ASSIGN_OR_RETURN(auto folder, find_folder(a, remote_parent(u.path)));
  if (folder) {
    CAIRN_ASSIGN_OR_RETURN(existing, live_child(a.namespace_id, *folder, name));
  }
  if (u.node_id != 0 && (!existing || existing->node_id != u.node_id)) {
    // The client's node was moved on the server since it last looked: its edit follows it.
    CAIRN_ASSIGN_OR_RETURN(auto info, node_info(a.namespace_id, u.node_id));
    CAIRN_ASSIGN_OR_RETURN(const bool reachable, in_scope(a, u.node_id));
    if (info && !info->deleted && !info->purged && info->kind == u.kind && reachable) {
      CAIRN_ASSIGN_OR_RETURN(const std::string now_at, node_path(a.namespace_id, u.node_id));
      if (now_at != u.path) {
        // Still the client's node (its base stays a version of it), now at its new path.
        StagedUpload followed = u;
        followed.path = now_at;
        return put_staged(a, followed, manifest);
      }
    }
  }
  CAIRN_ASSIGN_OR_RETURN(auto parent, ensure_folder(a, remote_parent(u.path)));

  int64_t node = 0;
  int64_t next_seq = 1;
  int64_t old_size = 0;  // Of the head this version replaces: the quota charges the difference.
  if (existing) {
    if (existing->kind == NodeKind::kFolder) {
      return make_error(ErrorCode::kAlreadyExists, "a folder exists at " + u.path);
    }
    node = existing->node_id;
    result.node_id = node;
    CAIRN_ASSIGN_OR_RETURN(auto head, version(a.namespace_id, node, existing->head_seq));
    const bool same = head && same_content(*head, u) && existing->kind == u.kind;
    if (same) {
      // The same bytes are already the head: nothing to record, and no conflict even if both
      // sides made the same edit.
      result.status = OpStatus::kUnchanged;
      result.version = existing->head_seq;
    } else if (u.base_version != existing->head_seq || u.node_id != existing->node_id) {
      // Someone else's edit came first. Both survive: this one beside it. A base is a version of
      // a node: "version 1" of a node that was replaced at this path is not version 1 of the
      // node there now.
      return put_conflicted_copy(a, u, parent.first, name, manifest);
    }
    next_seq = existing->head_seq + 1;
    old_size = charged(head);
  } else {
    int64_t head_seq = 0;
    CAIRN_ASSIGN_OR_RETURN(node, revive_or_create(a, parent.first, name, u.kind, &head_seq));
    next_seq = head_seq + 1;
    result.node_id = node;
    if (head_seq > 0) {
      // A node back from the trash, where its head was still charged.
      CAIRN_ASSIGN_OR_RETURN(auto head, version(a.namespace_id, node, head_seq));
      old_size = charged(head);
    }
  }

  if (result.status != OpStatus::kUnchanged) {
    const int64_t new_size = u.kind == NodeKind::kFile ? static_cast<int64_t>(u.size) : 0;
    CAIRN_RETURN_IF_ERROR(charge(a.namespace_id, new_size - old_size));
    std::optional<ByteView> manifest_bytes;
    if (u.manifest_hash) manifest_bytes = u.manifest_hash->bytes();
    CAIRN_ASSIGN_OR_RETURN(
        auto v, s_.query("INSERT INTO versions(namespace_id, node_id, seq, manifest_hash, size, "
                         "mode, mtime_ns, symlink_target, author_id, device, base_seq, "
                         "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                         a.namespace_id, node, next_seq, manifest_bytes, u.size, u.mode, u.mtime_ns,
                         u.kind == NodeKind::kSymlink ? std::optional<std::string>(u.symlink_target)
                                                      : std::nullopt,
                         a.user_id, a.device, u.base_version, a.now));
    CAIRN_RETURN_IF_ERROR(
        s_.query("UPDATE nodes SET head_seq=?1, kind=?2 WHERE "
                 "namespace_id=?3 AND node_id=?4",
                 next_seq, kind_code(u.kind), a.namespace_id, node));
    CAIRN_RETURN_IF_ERROR(journal(a, a.namespace_id, node, "put"));
    result.status = OpStatus::kOk;
    result.version = next_seq;
  }
  return result;
}

Result<OpResult> Tx::mkdir(const Actor& a, const std::string& path, std::optional<uint32_t> mode) {
  OpResult result;
  result.path = path;
  CAIRN_ASSIGN_OR_RETURN(auto made, ensure_folder(a, path));
  result.node_id = made.first;
  result.status = made.second ? OpStatus::kOk : OpStatus::kUnchanged;
  if (mode) {
    // New or not, the folder takes the mode given; a change of mode alone is a change others
    // pull.
    CAIRN_ASSIGN_OR_RETURN(auto r,
                           s_.query("UPDATE nodes SET mode=?1 WHERE namespace_id=?2 AND "
                                    "node_id=?3 AND mode <> ?1",
                                    static_cast<int64_t>(*mode), a.namespace_id, made.first));
    if (r.affected > 0 && !made.second) {
      CAIRN_RETURN_IF_ERROR(journal(a, a.namespace_id, made.first, "mkdir"));
      result.status = OpStatus::kOk;
    }
  }
  return result;
}

Result<OpResult> Tx::remove(const Actor& a, const std::string& path, std::optional<int64_t> base,
                            int64_t expect_node) {
  OpResult result;
  result.path = path;
  if (path == "/") return make_error(ErrorCode::kInvalidArgument, "cannot delete the root");
  CAIRN_ASSIGN_OR_RETURN(auto node, resolve(a.namespace_id, path));
  if (expect_node != 0 && (!node || node->node_id != expect_node)) {
    // Deletes go by identity, as moves and edits do: the node the client deleted, wherever it
    // is now (moved or renamed since it last looked). What took its name is not touched.
    CAIRN_ASSIGN_OR_RETURN(auto info, node_info(a.namespace_id, expect_node));
    CAIRN_ASSIGN_OR_RETURN(const bool reachable, in_scope(a, expect_node));
    node.reset();
    if (info && !info->deleted && !info->purged && info->parent != 0 && reachable) {
      node = NodeRow{expect_node, info->kind, info->head_seq};
    }
  }
  if (!node) {
    result.status = OpStatus::kUnchanged;  // Already gone: deleting is idempotent.
    return result;
  }
  result.node_id = node->node_id;
  auto kept = [&](const std::string& why) {
    result.status = OpStatus::kConflict;
    result.version = node->head_seq;
    result.error_code = std::string(error_code_name(ErrorCode::kConflict));
    result.message = why;
    return result;
  };
  if (node->kind != NodeKind::kFolder && base && *base != node->head_seq) {
    // An edit the client has not seen beats its delete.
    return kept("the file changed on the server since you last synced it");
  }
  if (node->kind == NodeKind::kFolder && expect_node != 0) {
    // The client deletes what it knew inside first: anything left was added by someone else.
    CAIRN_ASSIGN_OR_RETURN(
        auto inside, s_.query("SELECT 1 FROM nodes WHERE namespace_id=?1 AND parent_id=?2 AND "
                              "deleted_at IS NULL LIMIT 1",
                              a.namespace_id, node->node_id));
    if (!inside.empty()) {
      return kept(
          "the folder holds files you have not seen yet (added on the server since you "
          "last synced); kept");
    }
  }
  // Mark the node and everything under it deleted, one journal entry each. Deleted nodes keep
  // their versions: a delete is recoverable.
  CAIRN_ASSIGN_OR_RETURN(auto doomed,
                         s_.query("SELECT c.descendant FROM closure c JOIN nodes n ON n.node_id = "
                                  "c.descendant WHERE c.namespace_id=?1 AND n.namespace_id=?1 AND "
                                  "c.ancestor=?2 AND n.deleted_at IS NULL ORDER BY c.depth DESC",
                                  a.namespace_id, node->node_id));
  for (size_t i = 0; i < doomed.size(); ++i) {
    const int64_t id = doomed[i].get_int(0);
    CAIRN_RETURN_IF_ERROR(
        s_.query("UPDATE nodes SET deleted_at=?1, trash_id=?4 WHERE "
                 "namespace_id=?2 AND node_id=?3",
                 a.now, a.namespace_id, id, node->node_id));
    CAIRN_RETURN_IF_ERROR(journal(a, a.namespace_id, id, "delete"));
  }
  result.status = OpStatus::kOk;
  result.version = node->head_seq;
  return result;
}

Result<OpResult> Tx::put_conflicted_copy(const Actor& a, const StagedUpload& u, int64_t parent,
                                         const std::string& name,
                                         const std::optional<Manifest>& manifest) {
  // Named after the device and the time of the edit that lost, so that a retry of this commit,
  // and the client that names the same conflict itself, arrive at the same name.
  const int64_t when = u.mtime_ns != 0 ? u.mtime_ns : a.now * 1'000'000'000;
  const std::string folder = remote_parent(u.path);
  constexpr int kMaxCopies = 100;
  for (int n = 1; n <= kMaxCopies; ++n) {
    const std::string copy_name = conflicted_copy_name(name, a.device, when, n);
    CAIRN_ASSIGN_OR_RETURN(auto taken, live_child(a.namespace_id, parent, copy_name));
    OpResult result;
    result.status = OpStatus::kCopied;
    result.path = u.path;
    result.copy = join_remote_path(folder, copy_name);
    if (taken) {
      CAIRN_ASSIGN_OR_RETURN(auto head, version(a.namespace_id, taken->node_id, taken->head_seq));
      if (taken->kind == u.kind && head && same_content(*head, u)) {
        result.node_id = taken->node_id;
        result.version = taken->head_seq;
        return result;
      }
      continue;
    }
    StagedUpload copy = u;
    copy.path = result.copy;
    copy.base_version = std::nullopt;
    copy.node_id = 0;  // A new file: it has no base and follows no node.
    CAIRN_ASSIGN_OR_RETURN(auto put, put_staged(a, copy, manifest));
    result.node_id = put.node_id;
    result.version = put.version;
    return result;
  }
  return make_error(ErrorCode::kAlreadyExists,
                    "more than " + std::to_string(kMaxCopies) + " conflicted copies of " + u.path);
}

Result<OpResult> Tx::move(const Actor& a, const std::string& from, const std::string& to,
                          int64_t expect_node) {
  OpResult result;
  result.path = to;
  if (from == "/" || to == "/") {
    return make_error(ErrorCode::kInvalidArgument, "cannot move the root folder");
  }
  std::string from_path = from;
  CAIRN_ASSIGN_OR_RETURN(auto node, resolve(a.namespace_id, from));
  if (expect_node != 0 && (!node || node->node_id != expect_node)) {
    // Moves go by identity: the node the client moved, wherever it is now.
    CAIRN_ASSIGN_OR_RETURN(auto info, node_info(a.namespace_id, expect_node));
    CAIRN_ASSIGN_OR_RETURN(const bool reachable, in_scope(a, expect_node));
    if (!info || info->deleted || info->parent == 0 || !reachable) {
      return make_error(ErrorCode::kNotFound, from + " was deleted on the server");
    }
    node = NodeRow{expect_node, info->kind, info->head_seq};
    CAIRN_ASSIGN_OR_RETURN(from_path, node_path(a.namespace_id, expect_node));
  }
  if (!node) return make_error(ErrorCode::kNotFound, "no such file or folder: " + from);
  result.node_id = node->node_id;
  result.version = node->head_seq;
  if (to == from_path) {
    result.status = OpStatus::kUnchanged;
    return result;
  }
  if (to.size() > from_path.size() && to.compare(0, from_path.size(), from_path) == 0 &&
      to[from_path.size()] == '/') {
    return make_error(ErrorCode::kInvalidArgument,
                      "cannot move " + from_path + " into itself (" + to + ")");
  }
  CAIRN_ASSIGN_OR_RETURN(auto parent, ensure_folder(a, remote_parent(to)));
  const std::string name(remote_basename(to));
  CAIRN_ASSIGN_OR_RETURN(auto clash, live_child(a.namespace_id, parent.first, name));
  if (clash && clash->node_id != node->node_id) {
    return make_error(ErrorCode::kAlreadyExists,
                      to + " already exists; move or delete it first, or choose another name");
  }
  CAIRN_ASSIGN_OR_RETURN(auto info, node_info(a.namespace_id, node->node_id));
  if (!info) return make_error(ErrorCode::kInternal, "node vanished: " + from_path);
  CAIRN_RETURN_IF_ERROR(reparent(a.namespace_id, node->node_id, info->parent, parent.first, name));
  CAIRN_RETURN_IF_ERROR(journal(a, a.namespace_id, node->node_id, "move", info->parent));
  result.status = OpStatus::kOk;
  return result;
}

Result<OpResult> Tx::restore(const Actor& a, const std::string& path, int64_t wanted,
                             int64_t expect_node) {
  CAIRN_ASSIGN_OR_RETURN(auto node, resolve(a.namespace_id, path));
  if (!node) {
    return make_error(ErrorCode::kNotFound,
                      "no such file: " + path + " (a deleted file is restored from the trash)");
  }
  if (expect_node != 0 && node->node_id != expect_node) {
    // Its versions are not the ones the client looked at.
    return make_error(ErrorCode::kConflict,
                      path +
                          " is another file now than the one whose history you read; look "
                          "at its history again");
  }
  if (node->kind == NodeKind::kFolder) {
    return make_error(ErrorCode::kInvalidArgument, path + " is a folder: versions are per file");
  }
  CAIRN_ASSIGN_OR_RETURN(auto old, version(a.namespace_id, node->node_id, wanted));
  if (!old) {
    return make_error(ErrorCode::kNotFound,
                      "no version " + std::to_string(wanted) + " of " + path + " (see history)");
  }
  return put_version_of(a, path, node->node_id, wanted);
}

Result<OpResult> Tx::undelete(const Actor& a, int64_t node, const std::string& to) {
  OpResult result;
  result.node_id = node;
  CAIRN_ASSIGN_OR_RETURN(auto info, node_info(a.namespace_id, node));
  // A token limited to a folder brings back only what was deleted from it.
  CAIRN_ASSIGN_OR_RETURN(const bool reachable, in_scope(a, node));
  if (!info || info->purged || info->parent == 0 || !reachable) {
    return make_error(ErrorCode::kNotFound, "nothing in the trash with id " + std::to_string(node));
  }
  CAIRN_ASSIGN_OR_RETURN(const std::string old_path, node_path(a.namespace_id, node));
  result.path = to.empty() ? old_path : to;
  result.version = info->head_seq;
  if (!info->deleted) {
    if (!to.empty() && to != old_path) {
      return make_error(ErrorCode::kInvalidArgument,
                        old_path + " is not in the trash (use move to move it)");
    }
    result.status = OpStatus::kUnchanged;
    return result;
  }
  // Its place: the old one, its folders brought back (or made) as needed, or a new one.
  CAIRN_ASSIGN_OR_RETURN(auto parent, ensure_folder(a, remote_parent(result.path)));
  const std::string name(remote_basename(result.path));
  CAIRN_ASSIGN_OR_RETURN(auto clash, live_child(a.namespace_id, parent.first, name));
  if (clash) {
    return make_error(ErrorCode::kAlreadyExists,
                      result.path + " exists now; restore to another place");
  }
  CAIRN_RETURN_IF_ERROR(reparent(a.namespace_id, node, info->parent, parent.first, name));
  // It, and what was deleted with it.
  CAIRN_ASSIGN_OR_RETURN(
      auto back,
      s_.query("SELECT c.descendant FROM closure c JOIN nodes n ON n.node_id = c.descendant "
               "WHERE c.namespace_id=?1 AND n.namespace_id=?1 AND c.ancestor=?2 AND n.deleted_at "
               "IS NOT NULL AND n.purged_at IS NULL AND (c.depth = 0 OR n.trash_id = ?3) ORDER "
               "BY c.depth",
               a.namespace_id, node, info->trash_id));
  for (size_t i = 0; i < back.size(); ++i) {
    const int64_t id = back[i].get_int(0);
    CAIRN_RETURN_IF_ERROR(
        s_.query("UPDATE nodes SET deleted_at=NULL, trash_id=NULL WHERE namespace_id=?1 AND "
                 "node_id=?2",
                 a.namespace_id, id));
    CAIRN_RETURN_IF_ERROR(journal(a, a.namespace_id, id, "restore"));
  }
  result.status = OpStatus::kOk;
  return result;
}

bool aborts_batch(const Error& e) {
  return e.code() == ErrorCode::kIo || e.code() == ErrorCode::kInternal ||
         e.code() == ErrorCode::kPermissionDenied || e.code() == ErrorCode::kUnauthenticated ||
         e.code() == ErrorCode::kUnavailable || e.code() == ErrorCode::kCorrupt;
}

Result<std::vector<OpResult>> SqlMetadataStore::commit(const Actor& actor,
                                                       const std::vector<TreeOp>& ops,
                                                       FeedSpan* home_span,
                                                       const RequestKey* request) {
  // One transaction (one fsync) for the whole batch; a savepoint per op makes each op atomic
  // on its own, so one bad op does not undo its neighbours.
  return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<std::vector<OpResult>> {
    Tx tx(s);
    CAIRN_RETURN_IF_ERROR(tx.still_authorised(actor));
    if (request != nullptr) {
      CAIRN_ASSIGN_OR_RETURN(auto recorded,
                             tx.recorded_request(actor.user_id, *request, actor.now));
      if (recorded) {
        if (home_span != nullptr) *home_span = FeedSpan{-1, -1};
        return std::move(*recorded);
      }
    }
    if (home_span != nullptr) {
      // An update that changes nothing, outside any savepoint: it locks the namespace's row
      // until this transaction ends (on PostgreSQL; SQLite has one writer), so no other commit
      // writes to the feed between `before` and `after`.
      CAIRN_ASSIGN_OR_RETURN(auto head, s.query("UPDATE namespaces SET last_seq = last_seq WHERE "
                                                "namespace_id=?1 RETURNING last_seq",
                                                actor.namespace_id));
      if (head.empty()) return make_error(ErrorCode::kNotFound, "the user's namespace");
      home_span->before = head[0].get_int(0);
    }
    std::vector<Digest> carried;
    for (const auto& op : ops) {
      if (op.file && op.file->chunks) {
        for (const auto& c : op.file->chunks->chunks()) carried.push_back(c.hash);
      }
    }
    if (!carried.empty()) CAIRN_RETURN_IF_ERROR(tx.prefetch_held(actor.user_id, carried));
    // A batch of puts (what a push sends) creates its new files with set-based statements; the
    // rest of it, and any other batch, goes op by op.
    std::vector<std::optional<OpResult>> done(ops.size());
    const bool puts_only = std::all_of(ops.begin(), ops.end(),
                                       [](const TreeOp& op) { return op.kind == OpKind::kPut; });
    if (puts_only) CAIRN_RETURN_IF_ERROR(tx.put_new_files(actor, ops, done));
    std::vector<OpResult> results;
    results.reserve(ops.size());
    for (size_t i = 0; i < ops.size(); ++i) {
      const TreeOp& op = ops[i];
      if (done[i]) {
        results.push_back(std::move(*done[i]));
        continue;
      }
      CAIRN_RETURN_IF_ERROR(s.exec("SAVEPOINT op"));
      Result<OpResult> r = tx.apply(actor, op);
      const bool keep = r.has_value() && r->status != OpStatus::kConflict;
      if (!keep) CAIRN_RETURN_IF_ERROR(s.exec("ROLLBACK TO SAVEPOINT op"));
      if (!keep || op.kind == OpKind::kDelete || op.kind == OpKind::kMove ||
          op.kind == OpKind::kPublish || op.kind == OpKind::kRestoreAt) {
        tx.forget_folders();
      }
      CAIRN_RETURN_IF_ERROR(s.exec("RELEASE SAVEPOINT op"));
      if (r) {
        results.push_back(std::move(r).value());
        continue;
      }
      const Error& e = r.error();
      if (aborts_batch(e)) return e;
      OpResult failed;
      failed.status = OpStatus::kError;
      failed.path = op.kind == OpKind::kMove ? op.to : op.path;
      if (op.file) failed.path = op.file->path;
      failed.node_id = op.node_id;
      failed.error_code = std::string(error_code_name(e.code()));
      failed.message = e.message();
      results.push_back(std::move(failed));
    }
    if (home_span != nullptr) {
      CAIRN_ASSIGN_OR_RETURN(
          auto head,
          s.query("SELECT last_seq FROM namespaces WHERE namespace_id=?1", actor.namespace_id));
      home_span->after = head.empty() ? home_span->before : head[0].get_int(0);
    }
    if (request != nullptr) {
      CAIRN_RETURN_IF_ERROR(tx.record_request(actor.user_id, *request, results, actor.now));
    }
    return results;
  });
}

Result<Listing> SqlMetadataStore::list(const Actor& actor, const std::string& path) {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<Listing> {
    Tx tx(s);
    CAIRN_ASSIGN_OR_RETURN(auto p, tx.place_contents(actor, path));
    CAIRN_ASSIGN_OR_RETURN(auto node, tx.resolve(p.ns, p.path));
    if (!node) return make_error(ErrorCode::kNotFound, "no such file or folder: " + path);
    Listing out;
    out.path = path;
    if (node->kind != NodeKind::kFolder) {
      CAIRN_ASSIGN_OR_RETURN(auto e, tx.entry(p.ns, node->node_id, &path));
      if (p.mount != nullptr && p.mount->file) show_as_mount(*p.mount, e);
      out.entries.push_back(std::move(e));
      return out;
    }
    CAIRN_ASSIGN_OR_RETURN(auto r,
                           s.query(std::string("SELECT n.node_id, n.name, ") + kEntryColumns +
                                       ", v.device, a.name FROM nodes n LEFT JOIN versions v ON "
                                       "v.namespace_id = n.namespace_id AND v.node_id = n.node_id "
                                       "AND v.seq = n.head_seq LEFT JOIN users a ON a.user_id = "
                                       "v.author_id WHERE n.namespace_id=?1 AND n.parent_id=?2 "
                                       "AND n.deleted_at IS NULL ORDER BY n.name",
                                   p.ns, node->node_id));
    for (size_t i = 0; i < r.size(); ++i) {
      Entry e = entry_from_row(r[i], 2);
      e.node_id = r[i].get_int(0);
      e.path = join_remote_path(path, r[i].get_text(1));
      if (p.mount == nullptr) {
        CAIRN_RETURN_IF_ERROR(tx.mark_mount(actor, e));
        if (e.deleted) continue;  // A shared file its owner has deleted.
      }
      out.entries.push_back(std::move(e));
      out.attributions.push_back({r[i].get_text(13), r[i].get_text(12)});
    }
    return out;
  });
}

Result<Listing> SqlMetadataStore::list_tree(const Actor& actor, const std::string& path) {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<Listing> {
    Tx tx(s);
    CAIRN_ASSIGN_OR_RETURN(auto p, tx.place_contents(actor, path));
    CAIRN_ASSIGN_OR_RETURN(auto node, tx.resolve(p.ns, p.path));
    if (!node) return make_error(ErrorCode::kNotFound, "no such file or folder: " + path);
    if (node->kind != NodeKind::kFolder) return list(actor, path);
    Listing out;
    out.path = path;
    CAIRN_ASSIGN_OR_RETURN(
        auto r, s.query(std::string("SELECT n.node_id, n.parent_id, n.name, ") + kEntryColumns +
                            " FROM closure c JOIN nodes n ON n.node_id = c.descendant LEFT JOIN "
                            "versions v ON v.namespace_id = n.namespace_id AND v.node_id = "
                            "n.node_id AND v.seq = n.head_seq WHERE c.namespace_id=?1 AND "
                            "c.ancestor=?2 AND c.depth > 0 AND n.deleted_at IS NULL ORDER BY "
                            "c.depth, n.name",
                        p.ns, node->node_id));
    // Paths from the parents' (which come first); a node whose parent is not live is left out.
    std::unordered_map<int64_t, std::string> folders{{node->node_id, path}};
    for (size_t i = 0; i < r.size(); ++i) {
      auto parent = folders.find(r[i].get_int(1));
      if (parent == folders.end()) continue;
      Entry e = entry_from_row(r[i], 3);
      e.node_id = r[i].get_int(0);
      e.path = join_remote_path(parent->second, r[i].get_text(2));
      if (p.mount == nullptr) {
        CAIRN_RETURN_IF_ERROR(tx.mark_mount(actor, e));
        if (e.deleted) continue;  // A shared file its owner has deleted.
        if (e.kind == NodeKind::kFolder && !e.share_role.empty()) {
          // A shared folder its owner has deleted has nothing to list: a reader of the whole
          // tree (get, a download) passes over it. `ls` of its parent still shows it.
          CAIRN_ASSIGN_OR_RETURN(const Mount* m, tx.mount_at(actor, e.path));
          if (m != nullptr && m->root_path.empty()) continue;
        }
      }
      // A mount stands for another namespace's folder: its content is listed from there.
      if (e.kind == NodeKind::kFolder && e.share_role.empty()) folders.emplace(e.node_id, e.path);
      out.entries.push_back(std::move(e));
    }
    return out;
  });
}

Result<void> SqlMetadataStore::check_write(const Actor& actor,
                                           const std::vector<std::string>& paths) {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<void> {
    Tx tx(s);
    for (const auto& path : paths) {
      CAIRN_ASSIGN_OR_RETURN(auto p, tx.place(actor, path));
      CAIRN_RETURN_IF_ERROR(Tx::writer(actor, p, path));
    }
    return {};
  });
}

}  // namespace cairn::store::sqlstore
