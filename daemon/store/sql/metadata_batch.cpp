// Commits of many new files at once: the puts of a batch that create a file where nothing is
// are written with a few statements per batch (multi-row inserts of nodes, closure rows,
// versions, manifests and journal entries; one quota charge), instead of a dozen per file.

#include "daemon/store/sql/metadata_internal.h"

namespace cairn::store::sqlstore {
namespace {

// Fewer new files than this in a batch are committed op by op: they go as fast with statements
// compiled once for all requests (the multi-row ones are compiled per batch size), and a small
// commit (the one-op commits of `scripts/bench.sh --load`) is not looked over twice.
constexpr size_t kFewestAtOnce = 8;

}  // namespace

Result<std::vector<Tx::NewFile>> Tx::new_files(const Actor& a, const std::vector<TreeOp>& ops) {
  std::vector<NewFile> found;
  if (ops.size() < kFewestAtOnce) return found;
  std::unordered_map<std::string, int> times;  // A path named twice is left to the per-op path.
  for (const auto& op : ops) {
    if (op.kind == OpKind::kPut && op.file) ++times[op.file->path];
  }
  for (size_t i = 0; i < ops.size(); ++i) {
    const TreeOp& op = ops[i];
    if (op.kind != OpKind::kPut || !op.file) continue;
    const StagedUpload& u = *op.file;
    // A file the client saw before (an edit, or one that follows a move) has a history to check.
    if (u.node_id != 0 || u.base_version || u.path == "/" || times[u.path] != 1) continue;
    if (u.kind == NodeKind::kFolder || (u.kind == NodeKind::kFile && !u.chunks)) continue;
    auto p = place(a, u.path);
    if (!p || p->mount != nullptr) continue;  // Errors are the per-op path's to report.
    if (u.kind == NodeKind::kFile) {
      CAIRN_ASSIGN_OR_RETURN(auto held, held_chunks(a.user_id, digests_of(*u.chunks)));
      const auto& chunks = u.chunks->chunks();
      const bool all = std::all_of(chunks.begin(), chunks.end(),
                                   [&](const ChunkRef& c) { return held.count(c.hash) != 0; });
      if (!all) continue;
    }
    CAIRN_ASSIGN_OR_RETURN(auto folder, find_folder(a, remote_parent(u.path)));
    if (!folder) continue;  // A folder to make first: the per-op path makes it.
    found.push_back({i, *folder, std::string(remote_basename(u.path)), &u});
  }
  if (found.size() < kFewestAtOnce) return std::vector<NewFile>();

  // Nothing at their names, live or in the trash (a deleted file of that name would come back
  // with its history): one statement per few hundred names, a SELECT per folder in it, so that
  // each looks its names up in the (namespace, parent, name) index.
  std::map<int64_t, std::vector<const NewFile*>> by_folder;
  for (const auto& f : found) by_folder[f.parent].push_back(&f);
  std::set<std::pair<int64_t, std::string>> taken;
  std::string text;
  std::vector<sql::Value> params{sql::to_value(a.namespace_id)};
  auto ask = [&]() -> Result<void> {
    if (text.empty()) return {};
    CAIRN_ASSIGN_OR_RETURN(auto r, s_.run(text, params));
    for (size_t i = 0; i < r.size(); ++i) taken.emplace(r[i].get_int(0), r[i].get_text(1));
    text.clear();
    params.resize(1);
    return {};
  };
  constexpr size_t kNamesPerStatement = 400;
  for (const auto& [parent, files] : by_folder) {
    for (size_t begin = 0; begin < files.size(); begin += kNamesPerStatement) {
      if (params.size() > kNamesPerStatement) CAIRN_RETURN_IF_ERROR(ask());
      text += text.empty() ? "" : " UNION ALL ";
      text += "SELECT parent_id, name FROM nodes WHERE namespace_id=?1 AND parent_id=?" +
              std::to_string(params.size() + 1) + " AND purged_at IS NULL AND name IN (";
      params.push_back(sql::to_value(parent));
      const size_t end = std::min(files.size(), begin + kNamesPerStatement);
      for (size_t i = begin; i < end; ++i) {
        text += (i == begin ? "?" : ", ?") + std::to_string(params.size() + 1);
        params.push_back(sql::to_value(files[i]->name));
      }
      text += ")";
    }
  }
  CAIRN_RETURN_IF_ERROR(ask());
  std::erase_if(found, [&](const NewFile& f) { return taken.count({f.parent, f.name}) != 0; });
  if (found.size() < kFewestAtOnce) found.clear();
  return found;
}

Result<void> Tx::create_files(const Actor& a, std::vector<NewFile>& files) {
  // The quota first, once for all of them: over it, nothing is written, and the per-op path
  // then says which files did not fit.
  int64_t bytes = 0;
  for (const auto& f : files) {
    if (f.u->kind == NodeKind::kFile) bytes += static_cast<int64_t>(f.u->size);
  }
  CAIRN_RETURN_IF_ERROR(charge(a.namespace_id, bytes));

  std::vector<std::vector<sql::Value>> rows;
  std::unordered_set<Digest> manifests;
  for (const auto& f : files) {
    if (f.u->kind != NodeKind::kFile || !manifests.insert(*f.u->manifest_hash).second) continue;
    rows.push_back({sql::to_value(f.u->manifest_hash->bytes()), sql::to_value(f.u->manifest),
                    sql::to_value(f.u->size),
                    sql::to_value(static_cast<int64_t>(f.u->chunks->chunks().size()))});
  }
  CAIRN_RETURN_IF_ERROR(insert_rows(s_,
                                    "INSERT INTO manifests(manifest_hash, body, size, "
                                    "chunk_count)",
                                    rows, " ON CONFLICT DO NOTHING"));

  // The nodes, born with their first version as head; their ids come back by (folder, name),
  // which no two live nodes share.
  rows.clear();
  for (const auto& f : files) {
    rows.push_back({sql::to_value(a.namespace_id), sql::to_value(f.parent), sql::to_value(f.name),
                    sql::to_value(kind_code(f.u->kind)), sql::to_value(a.now),
                    sql::to_value(int64_t{1})});
  }
  std::map<std::pair<int64_t, std::string>, int64_t> ids;
  CAIRN_RETURN_IF_ERROR(insert_rows(
      s_, "INSERT INTO nodes(namespace_id, parent_id, name, kind, created_at, head_seq)", rows,
      " RETURNING node_id, parent_id, name", [&](const Rows& r) -> Result<void> {
        for (size_t i = 0; i < r.size(); ++i) {
          ids[{r[i].get_int(1), r[i].get_text(2)}] = r[i].get_int(0);
        }
        return {};
      }));
  std::vector<int64_t> made;
  for (auto& f : files) {
    auto id = ids.find({f.parent, f.name});
    if (id == ids.end()) return make_error(ErrorCode::kInternal, "a new node's id did not return");
    f.node = id->second;
    made.push_back(f.node);
  }

  // Each node is its own descendant, and its folder's ancestors are its own one level further.
  // By id alone, which the engines look up by key (with the namespace too, SQLite would walk
  // the namespace's nodes). Two statements, each naming the ids once (see sqlite_database.cpp
  // on parameters); the folders are not among the new nodes, so the order does not matter.
  auto close = [&](const std::string& in, const std::vector<sql::Value>& args) -> Result<void> {
    CAIRN_RETURN_IF_ERROR(
        s_.run("INSERT INTO closure(namespace_id, ancestor, descendant, depth) SELECT "
               "c.namespace_id, c.ancestor, n.node_id, c.depth + 1 FROM nodes n JOIN closure c "
               "ON c.namespace_id = n.namespace_id AND c.descendant = n.parent_id WHERE "
               "n.node_id IN (" +
                   in + ")",
               args));
    CAIRN_RETURN_IF_ERROR(
        s_.run("INSERT INTO closure(namespace_id, ancestor, descendant, depth) SELECT "
               "n.namespace_id, n.node_id, n.node_id, 0 FROM nodes n WHERE n.node_id IN (" +
                   in + ")",
               args));
    return {};
  };
  CAIRN_RETURN_IF_ERROR(in_batches(made, {}, close));

  rows.clear();
  for (const auto& f : files) {
    const StagedUpload& u = *f.u;
    std::optional<ByteView> manifest;
    if (u.manifest_hash) manifest = u.manifest_hash->bytes();
    rows.push_back(
        {sql::to_value(a.namespace_id), sql::to_value(f.node), sql::to_value(int64_t{1}),
         sql::to_value(manifest), sql::to_value(u.size), sql::to_value(u.mode),
         sql::to_value(u.mtime_ns),
         u.kind == NodeKind::kSymlink ? sql::to_value(u.symlink_target) : sql::Value(nullptr),
         sql::to_value(a.user_id), sql::to_value(a.device), sql::Value(nullptr),
         sql::to_value(a.now)});
  }
  CAIRN_RETURN_IF_ERROR(insert_rows(s_,
                                    "INSERT INTO versions(namespace_id, node_id, seq, "
                                    "manifest_hash, size, mode, mtime_ns, symlink_target, "
                                    "author_id, device, base_seq, created_at)",
                                    rows));

  // One journal entry each, in the order of the ops, their numbers taken at once.
  CAIRN_ASSIGN_OR_RETURN(auto bumped,
                         s_.query("UPDATE namespaces SET last_seq = last_seq + ?2 WHERE "
                                  "namespace_id=?1 RETURNING last_seq",
                                  a.namespace_id, static_cast<int64_t>(files.size())));
  if (bumped.empty()) {
    return make_error(ErrorCode::kNotFound, "namespace " + std::to_string(a.namespace_id));
  }
  int64_t seq = bumped[0].get_int(0) - static_cast<int64_t>(files.size());
  s_.announce(std::to_string(a.namespace_id));
  rows.clear();
  for (const auto& f : files) {
    rows.push_back({sql::to_value(a.namespace_id), sql::to_value(++seq), sql::to_value(f.node),
                    sql::to_value("put"), sql::to_value(a.now), sql::to_value(f.parent),
                    sql::to_value(f.name), sql::to_value(kind_code(f.u->kind)),
                    sql::to_value(int64_t{1}), sql::to_value(int64_t{1}), sql::to_value(a.user_id),
                    sql::to_value(a.device), sql::to_value(at_ms(a))});
  }
  return insert_rows(s_,
                     "INSERT INTO journal(namespace_id, seq, node_id, op, created_at, parent_id, "
                     "name, kind, head_seq, live, author_id, device, at_ms)",
                     rows);
}

Result<void> Tx::put_new_files(const Actor& a, const std::vector<TreeOp>& ops,
                               std::vector<std::optional<OpResult>>& done) {
  CAIRN_ASSIGN_OR_RETURN(auto files, new_files(a, ops));
  if (files.empty()) return {};
  CAIRN_RETURN_IF_ERROR(s_.exec("SAVEPOINT new_files"));
  auto made = create_files(a, files);
  if (!made) {
    // Over quota, or a name taken after all: the per-op path does them one by one and says
    // which failed and why.
    CAIRN_RETURN_IF_ERROR(s_.exec("ROLLBACK TO SAVEPOINT new_files"));
    CAIRN_RETURN_IF_ERROR(s_.exec("RELEASE SAVEPOINT new_files"));
    if (aborts_batch(made.error())) return made.error();
    return {};
  }
  CAIRN_RETURN_IF_ERROR(s_.exec("RELEASE SAVEPOINT new_files"));
  for (const auto& f : files) {
    OpResult r;
    r.status = OpStatus::kOk;
    r.path = f.u->path;
    r.node_id = f.node;
    r.version = 1;
    done[f.op] = std::move(r);
  }
  return {};
}

}  // namespace cairn::store::sqlstore
