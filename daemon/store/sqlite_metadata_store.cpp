#include "daemon/store/sqlite_metadata_store.h"

#include <array>

#include "common/manifest.h"
#include "common/remote_path.h"
#include "lib/sqlite/sqlite.h"

namespace cairn::store {
namespace {

using protocol::CommitOp;
using protocol::CommitResult;
using protocol::Entry;
using protocol::OpKind;
using protocol::OpStatus;

// Schema migrations, applied in order; schema_version records how many have run. Never edit a
// migration that has shipped: append a new one. The same schema runs on PostgreSQL, so every
// table carries the namespace (or user) it belongs to and every query filters on it.
constexpr std::array<const char*, 1> kMigrations = {
    R"sql(
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE users (
  user_id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  home_namespace_id INTEGER,
  disabled INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE TABLE tokens (
  token_id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(user_id),
  token_hash BLOB NOT NULL UNIQUE,
  label TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  revoked_at INTEGER
);
CREATE TABLE namespaces (
  namespace_id INTEGER PRIMARY KEY,
  owner_id INTEGER NOT NULL REFERENCES users(user_id),
  root_node_id INTEGER,
  last_seq INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL
);
CREATE TABLE nodes (
  node_id INTEGER PRIMARY KEY,
  namespace_id INTEGER NOT NULL REFERENCES namespaces(namespace_id),
  parent_id INTEGER REFERENCES nodes(node_id),
  name TEXT NOT NULL,
  kind INTEGER NOT NULL,
  head_seq INTEGER NOT NULL DEFAULT 0,
  deleted_at INTEGER,
  created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX nodes_live_name ON nodes(namespace_id, parent_id, name)
  WHERE deleted_at IS NULL;
CREATE INDEX nodes_parent ON nodes(namespace_id, parent_id, name);
CREATE TABLE closure (
  namespace_id INTEGER NOT NULL,
  ancestor INTEGER NOT NULL,
  descendant INTEGER NOT NULL,
  depth INTEGER NOT NULL,
  PRIMARY KEY (ancestor, descendant)
);
CREATE INDEX closure_descendant ON closure(descendant, depth);
CREATE TABLE versions (
  namespace_id INTEGER NOT NULL,
  node_id INTEGER NOT NULL REFERENCES nodes(node_id),
  seq INTEGER NOT NULL,
  manifest_hash BLOB,
  size INTEGER NOT NULL,
  executable INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  symlink_target TEXT,
  author_id INTEGER NOT NULL,
  device TEXT NOT NULL,
  base_seq INTEGER,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (node_id, seq)
);
CREATE INDEX versions_manifest ON versions(manifest_hash, namespace_id);
CREATE TABLE manifests (
  manifest_hash BLOB PRIMARY KEY,
  body BLOB NOT NULL,
  size INTEGER NOT NULL,
  chunk_count INTEGER NOT NULL
);
CREATE TABLE chunks (
  hash BLOB PRIMARY KEY,
  size INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE TABLE user_chunks (
  user_id INTEGER NOT NULL,
  hash BLOB NOT NULL,
  PRIMARY KEY (user_id, hash)
) WITHOUT ROWID;
CREATE TABLE journal (
  namespace_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  node_id INTEGER NOT NULL,
  op TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (namespace_id, seq)
);
CREATE TABLE uploads (
  upload_id TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL,
  namespace_id INTEGER NOT NULL,
  path TEXT NOT NULL,
  kind INTEGER NOT NULL,
  executable INTEGER NOT NULL,
  mtime_ns INTEGER NOT NULL,
  symlink_target TEXT,
  manifest_hash BLOB,
  size INTEGER NOT NULL,
  base_seq INTEGER,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX uploads_expiry ON uploads(expires_at);
CREATE INDEX uploads_manifest ON uploads(manifest_hash, user_id);
)sql",
};

int kind_code(NodeKind kind) { return static_cast<int>(kind); }
NodeKind kind_from_code(int64_t code) {
  switch (code) {
    case 1:
      return NodeKind::kFolder;
    case 2:
      return NodeKind::kSymlink;
    default:
      return NodeKind::kFile;
  }
}

struct NodeRow {
  int64_t node_id = 0;
  NodeKind kind = NodeKind::kFile;
  int64_t head_seq = 0;
};

struct VersionRow {
  int64_t seq = 0;
  std::optional<Digest> manifest;
  bool executable = false;
  std::string symlink_target;
};

// The statements one transaction needs. Borrows the connection; the caller holds the mutex and
// the transaction.
class Tx {
 public:
  explicit Tx(sqlite::Database& db) : db_(db) {}

  Result<int64_t> root_of(int64_t ns) {
    CAIRN_ASSIGN_OR_RETURN(
        auto* q, db_.query("SELECT root_node_id FROM namespaces WHERE namespace_id=?1", ns));
    CAIRN_ASSIGN_OR_RETURN(const bool row, q->step());
    if (!row) return make_error(ErrorCode::kNotFound, "namespace " + std::to_string(ns));
    return q->get_int(0);
  }

  Result<std::optional<NodeRow>> live_child(int64_t ns, int64_t parent, const std::string& name) {
    CAIRN_ASSIGN_OR_RETURN(
        auto* q, db_.query("SELECT node_id, kind, head_seq FROM nodes WHERE namespace_id=?1 AND "
                           "parent_id=?2 AND name=?3 AND deleted_at IS NULL",
                           ns, parent, name));
    CAIRN_ASSIGN_OR_RETURN(const bool row, q->step());
    if (!row) return std::optional<NodeRow>();
    return std::optional<NodeRow>(
        NodeRow{q->get_int(0), kind_from_code(q->get_int(1)), q->get_int(2)});
  }

  // Resolves a canonical path to a live node; nullopt if any segment is missing.
  Result<std::optional<NodeRow>> resolve(int64_t ns, const std::string& path) {
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

  // Appends a journal entry for `node` at the namespace's next sequence number.
  Result<void> journal(int64_t ns, int64_t node, const char* op, int64_t now) {
    CAIRN_ASSIGN_OR_RETURN(auto* bump,
                           db_.query("UPDATE namespaces SET last_seq = last_seq + 1 WHERE "
                                     "namespace_id=?1 RETURNING last_seq",
                                     ns));
    CAIRN_ASSIGN_OR_RETURN(const bool row, bump->step());
    if (!row) return make_error(ErrorCode::kNotFound, "namespace " + std::to_string(ns));
    const int64_t seq = bump->get_int(0);
    CAIRN_RETURN_IF_ERROR(bump->run());
    CAIRN_ASSIGN_OR_RETURN(auto* ins, db_.query("INSERT INTO journal(namespace_id, seq, node_id, "
                                                "op, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                                                ns, seq, node, op, now));
    return ins->run();
  }

  // Creates a node under `parent` with its closure rows: one per ancestor plus itself.
  Result<int64_t> create_node(int64_t ns, std::optional<int64_t> parent, const std::string& name,
                              NodeKind kind, int64_t now) {
    CAIRN_ASSIGN_OR_RETURN(auto* ins,
                           db_.query("INSERT INTO nodes(namespace_id, parent_id, name, kind, "
                                     "created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                                     ns, parent, name, kind_code(kind), now));
    CAIRN_RETURN_IF_ERROR(ins->run());
    const int64_t node = db_.last_insert_rowid();
    CAIRN_ASSIGN_OR_RETURN(auto* self, db_.query("INSERT INTO closure(namespace_id, ancestor, "
                                                 "descendant, depth) VALUES (?1, ?2, ?2, 0)",
                                                 ns, node));
    CAIRN_RETURN_IF_ERROR(self->run());
    if (parent) {
      CAIRN_ASSIGN_OR_RETURN(
          auto* up, db_.query("INSERT INTO closure(namespace_id, ancestor, descendant, depth) "
                              "SELECT namespace_id, ancestor, ?2, depth + 1 FROM closure WHERE "
                              "descendant=?1",
                              *parent, node));
      CAIRN_RETURN_IF_ERROR(up->run());
    }
    return node;
  }

  // Makes every folder of `path` exist (like mkdir -p); returns the last one's node id and
  // whether anything was created.
  Result<std::pair<int64_t, bool>> ensure_folder(const Actor& a, const std::string& path) {
    CAIRN_ASSIGN_OR_RETURN(int64_t current, root_of(a.namespace_id));
    bool created = false;
    std::string walked;
    for (const auto& seg : split_remote_path(path)) {
      walked += '/';
      walked += seg;
      CAIRN_ASSIGN_OR_RETURN(auto child, live_child(a.namespace_id, current, seg));
      if (child) {
        if (child->kind != NodeKind::kFolder) {
          return make_error(ErrorCode::kAlreadyExists, "a file is in the way at " + walked);
        }
        current = child->node_id;
        continue;
      }
      CAIRN_ASSIGN_OR_RETURN(current, revive_or_create(a, current, seg, NodeKind::kFolder));
      CAIRN_RETURN_IF_ERROR(journal(a.namespace_id, current, "mkdir", a.now));
      created = true;
    }
    return std::make_pair(current, created);
  }

  // Brings back the most recently deleted node of this name and kind, so that a path deleted and
  // created again keeps one history; otherwise creates a new node.
  Result<int64_t> revive_or_create(const Actor& a, int64_t parent, const std::string& name,
                                   NodeKind kind) {
    CAIRN_ASSIGN_OR_RETURN(
        auto* q, db_.query("SELECT node_id FROM nodes WHERE namespace_id=?1 AND parent_id=?2 AND "
                           "name=?3 AND kind=?4 AND deleted_at IS NOT NULL ORDER BY deleted_at "
                           "DESC, node_id DESC LIMIT 1",
                           a.namespace_id, parent, name, kind_code(kind)));
    CAIRN_ASSIGN_OR_RETURN(const bool row, q->step());
    if (row) {
      const int64_t node = q->get_int(0);
      CAIRN_RETURN_IF_ERROR(q->run());
      CAIRN_ASSIGN_OR_RETURN(auto* up, db_.query("UPDATE nodes SET deleted_at=NULL WHERE "
                                                 "namespace_id=?1 AND node_id=?2",
                                                 a.namespace_id, node));
      CAIRN_RETURN_IF_ERROR(up->run());
      return node;
    }
    return create_node(a.namespace_id, parent, name, kind, a.now);
  }

  Result<std::optional<VersionRow>> version(int64_t ns, int64_t node, int64_t seq) {
    CAIRN_ASSIGN_OR_RETURN(
        auto* q, db_.query("SELECT seq, manifest_hash, executable, symlink_target FROM versions "
                           "WHERE namespace_id=?1 AND node_id=?2 AND seq=?3",
                           ns, node, seq));
    CAIRN_ASSIGN_OR_RETURN(const bool row, q->step());
    if (!row) return std::optional<VersionRow>();
    VersionRow v;
    v.seq = q->get_int(0);
    if (!q->is_null(1)) v.manifest = Digest::from_bytes(q->get_blob(1));
    v.executable = q->get_int(2) != 0;
    v.symlink_target = q->get_text(3);
    return std::optional<VersionRow>(v);
  }

  Result<std::string> node_path(int64_t node) {
    CAIRN_ASSIGN_OR_RETURN(auto* q,
                           db_.query("SELECT n.name, n.parent_id FROM closure c JOIN nodes n ON "
                                     "n.node_id = c.ancestor WHERE c.descendant=?1 ORDER BY "
                                     "c.depth DESC",
                                     node));
    std::string path;
    while (true) {
      CAIRN_ASSIGN_OR_RETURN(const bool row, q->step());
      if (!row) break;
      if (q->is_null(1)) continue;  // The namespace root has no name.
      path += '/';
      path += q->get_text(0);
    }
    return path.empty() ? std::string("/") : path;
  }

  // The current state of a node as the API shows it.
  Result<Entry> entry(int64_t node_id, const std::string* known_path) {
    CAIRN_ASSIGN_OR_RETURN(
        auto* q,
        db_.query("SELECT n.kind, n.head_seq, n.deleted_at, v.size, v.executable, v.mtime_ns, "
                  "v.manifest_hash, v.symlink_target, v.created_at FROM nodes n LEFT JOIN "
                  "versions v ON v.node_id = n.node_id AND v.seq = n.head_seq WHERE n.node_id=?1",
                  node_id));
    CAIRN_ASSIGN_OR_RETURN(const bool row, q->step());
    if (!row) return make_error(ErrorCode::kNotFound, "node " + std::to_string(node_id));
    Entry e = entry_from_row(*q, 0);
    e.node_id = node_id;
    CAIRN_RETURN_IF_ERROR(q->run());
    if (known_path != nullptr) {
      e.path = *known_path;
    } else {
      CAIRN_ASSIGN_OR_RETURN(e.path, node_path(node_id));
    }
    return e;
  }

  // Reads kind, head_seq, deleted_at, size, executable, mtime_ns, manifest, target, created_at
  // starting at column `c`.
  static Entry entry_from_row(const sqlite::Statement& q, int c) {
    Entry e;
    e.kind = kind_from_code(q.get_int(c));
    e.version = q.get_int(c + 1);
    e.deleted = !q.is_null(c + 2);
    e.size = static_cast<uint64_t>(q.get_int(c + 3));
    e.executable = q.get_int(c + 4) != 0;
    e.mtime_ns = q.get_int(c + 5);
    if (!q.is_null(c + 6)) e.manifest = to_hex(q.get_blob(c + 6));
    e.symlink_target = q.get_text(c + 7);
    e.modified_at = q.get_int(c + 8);
    return e;
  }

  Result<CommitResult> put(const Actor& a, const std::string& upload_id);
  Result<CommitResult> mkdir(const Actor& a, const std::string& path);
  Result<CommitResult> remove(const Actor& a, const std::string& path, std::optional<int64_t> base);

 private:
  sqlite::Database& db_;
};

Result<CommitResult> Tx::put(const Actor& a, const std::string& upload_id) {
  CAIRN_ASSIGN_OR_RETURN(
      auto* q, db_.query("SELECT path, kind, executable, mtime_ns, symlink_target, manifest_hash, "
                         "size, base_seq, expires_at FROM uploads WHERE upload_id=?1 AND "
                         "user_id=?2 AND namespace_id=?3",
                         upload_id, a.user_id, a.namespace_id));
  CAIRN_ASSIGN_OR_RETURN(const bool found, q->step());
  if (!found) return make_error(ErrorCode::kNotFound, "no upload session " + upload_id);
  StagedUpload u;
  u.path = q->get_text(0);
  u.kind = kind_from_code(q->get_int(1));
  u.executable = q->get_int(2) != 0;
  u.mtime_ns = q->get_int(3);
  u.symlink_target = q->get_text(4);
  if (!q->is_null(5)) u.manifest_hash = Digest::from_bytes(q->get_blob(5));
  u.size = static_cast<uint64_t>(q->get_int(6));
  u.base_version = q->get_optional_int(7);
  const int64_t expires_at = q->get_int(8);
  CAIRN_RETURN_IF_ERROR(q->run());
  if (expires_at < a.now) {
    return make_error(ErrorCode::kNotFound, "upload session " + upload_id + " has expired");
  }

  CommitResult result;
  result.path = u.path;

  // Pending -> complete only when every chunk is present and held by this user.
  if (u.kind == NodeKind::kFile) {
    CAIRN_ASSIGN_OR_RETURN(auto* mq, db_.query("SELECT body FROM manifests WHERE "
                                               "manifest_hash=?1",
                                               u.manifest_hash->bytes()));
    CAIRN_ASSIGN_OR_RETURN(const bool has_manifest, mq->step());
    if (!has_manifest) return make_error(ErrorCode::kInternal, "upload manifest missing");
    auto manifest = Manifest::decode(mq->get_blob(0));
    CAIRN_RETURN_IF_ERROR(mq->run());
    if (!manifest) return std::move(manifest).error();
    for (const auto& chunk : manifest->chunks()) {
      CAIRN_ASSIGN_OR_RETURN(auto* cq, db_.query("SELECT 1 FROM user_chunks WHERE user_id=?1 AND "
                                                 "hash=?2",
                                                 a.user_id, chunk.hash.bytes()));
      CAIRN_ASSIGN_OR_RETURN(const bool present, cq->step());
      CAIRN_RETURN_IF_ERROR(cq->run());
      if (!present) {
        return make_error(ErrorCode::kConflict,
                          "chunk " + chunk.hash.hex() + " has not been uploaded");
      }
    }
  }

  if (u.path == "/") return make_error(ErrorCode::kInvalidArgument, "cannot replace the root");
  CAIRN_ASSIGN_OR_RETURN(auto parent, ensure_folder(a, remote_parent(u.path)));
  const std::string name(remote_basename(u.path));
  CAIRN_ASSIGN_OR_RETURN(auto existing, live_child(a.namespace_id, parent.first, name));

  int64_t node = 0;
  int64_t next_seq = 1;
  if (existing) {
    if (existing->kind == NodeKind::kFolder) {
      return make_error(ErrorCode::kAlreadyExists, "a folder exists at " + u.path);
    }
    node = existing->node_id;
    result.node_id = node;
    CAIRN_ASSIGN_OR_RETURN(auto head, version(a.namespace_id, node, existing->head_seq));
    const bool same = head && head->manifest == u.manifest_hash &&
                      head->executable == u.executable &&
                      head->symlink_target == u.symlink_target && existing->kind == u.kind;
    if (same) {
      // The same bytes are already the head: nothing to record, and no conflict even if both
      // sides made the same edit.
      result.status = OpStatus::kUnchanged;
      result.version = existing->head_seq;
    } else if (u.base_version != existing->head_seq) {
      result.status = OpStatus::kConflict;
      result.version = existing->head_seq;
      result.error_code = std::string(error_code_name(ErrorCode::kConflict));
      result.message = "the file changed on the server (now version " +
                       std::to_string(existing->head_seq) + ", you edited version " +
                       (u.base_version ? std::to_string(*u.base_version) : "none") + ")";
      return result;
    }
    next_seq = existing->head_seq + 1;
  } else {
    CAIRN_ASSIGN_OR_RETURN(node, revive_or_create(a, parent.first, name, u.kind));
    CAIRN_ASSIGN_OR_RETURN(auto* hq,
                           db_.query("SELECT head_seq FROM nodes WHERE node_id=?1", node));
    CAIRN_ASSIGN_OR_RETURN(const bool row, hq->step());
    next_seq = row ? hq->get_int(0) + 1 : 1;
    CAIRN_RETURN_IF_ERROR(hq->run());
    result.node_id = node;
  }

  if (result.status != OpStatus::kUnchanged) {
    std::optional<ByteView> manifest_bytes;
    if (u.manifest_hash) manifest_bytes = u.manifest_hash->bytes();
    CAIRN_ASSIGN_OR_RETURN(
        auto* vq,
        db_.query("INSERT INTO versions(namespace_id, node_id, seq, manifest_hash, size, "
                  "executable, mtime_ns, symlink_target, author_id, device, base_seq, "
                  "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                  a.namespace_id, node, next_seq, manifest_bytes, u.size, u.executable, u.mtime_ns,
                  u.kind == NodeKind::kSymlink ? std::optional<std::string>(u.symlink_target)
                                               : std::nullopt,
                  a.user_id, a.device, u.base_version, a.now));
    CAIRN_RETURN_IF_ERROR(vq->run());
    CAIRN_ASSIGN_OR_RETURN(auto* nq, db_.query("UPDATE nodes SET head_seq=?1, kind=?2 WHERE "
                                               "namespace_id=?3 AND node_id=?4",
                                               next_seq, kind_code(u.kind), a.namespace_id, node));
    CAIRN_RETURN_IF_ERROR(nq->run());
    CAIRN_RETURN_IF_ERROR(journal(a.namespace_id, node, "put", a.now));
    result.status = OpStatus::kOk;
    result.version = next_seq;
  }
  CAIRN_ASSIGN_OR_RETURN(auto* dq, db_.query("DELETE FROM uploads WHERE upload_id=?1", upload_id));
  CAIRN_RETURN_IF_ERROR(dq->run());
  return result;
}

Result<CommitResult> Tx::mkdir(const Actor& a, const std::string& path) {
  CommitResult result;
  result.path = path;
  CAIRN_ASSIGN_OR_RETURN(auto made, ensure_folder(a, path));
  result.node_id = made.first;
  result.status = made.second ? OpStatus::kOk : OpStatus::kUnchanged;
  return result;
}

Result<CommitResult> Tx::remove(const Actor& a, const std::string& path,
                                std::optional<int64_t> base) {
  CommitResult result;
  result.path = path;
  if (path == "/") return make_error(ErrorCode::kInvalidArgument, "cannot delete the root");
  CAIRN_ASSIGN_OR_RETURN(auto node, resolve(a.namespace_id, path));
  if (!node) {
    result.status = OpStatus::kUnchanged;  // Already gone: deleting is idempotent.
    return result;
  }
  result.node_id = node->node_id;
  if (node->kind != NodeKind::kFolder && base && *base != node->head_seq) {
    // An edit the client has not seen beats its delete.
    result.status = OpStatus::kConflict;
    result.version = node->head_seq;
    result.error_code = std::string(error_code_name(ErrorCode::kConflict));
    result.message = "the file changed on the server since you last synced it";
    return result;
  }
  // Mark the node and everything under it deleted, one journal entry each. Deleted nodes keep
  // their versions: a delete is recoverable.
  CAIRN_ASSIGN_OR_RETURN(
      auto* q, db_.query("SELECT c.descendant FROM closure c JOIN nodes n ON n.node_id = "
                         "c.descendant WHERE c.ancestor=?1 AND n.deleted_at IS NULL ORDER BY "
                         "c.depth DESC",
                         node->node_id));
  std::vector<int64_t> doomed;
  while (true) {
    CAIRN_ASSIGN_OR_RETURN(const bool row, q->step());
    if (!row) break;
    doomed.push_back(q->get_int(0));
  }
  for (const int64_t id : doomed) {
    CAIRN_ASSIGN_OR_RETURN(auto* up, db_.query("UPDATE nodes SET deleted_at=?1 WHERE "
                                               "namespace_id=?2 AND node_id=?3",
                                               a.now, a.namespace_id, id));
    CAIRN_RETURN_IF_ERROR(up->run());
    CAIRN_RETURN_IF_ERROR(journal(a.namespace_id, id, "delete", a.now));
  }
  result.status = OpStatus::kOk;
  result.version = node->head_seq;
  return result;
}

}  // namespace

SqliteMetadataStore::SqliteMetadataStore(std::unique_ptr<sqlite::Database> db)
    : db_(std::move(db)) {}

SqliteMetadataStore::~SqliteMetadataStore() = default;

Result<std::unique_ptr<SqliteMetadataStore>> SqliteMetadataStore::open(const std::string& path,
                                                                       bool create) {
  CAIRN_ASSIGN_OR_RETURN(auto db, sqlite::Database::open(path, create, /*synchronous_full=*/true));
  CAIRN_RETURN_IF_ERROR(db->exec("CREATE TABLE IF NOT EXISTS schema_version(version INTEGER)"));
  auto migrated = sqlite::in_transaction(*db, [&]() -> Result<void> {
    CAIRN_ASSIGN_OR_RETURN(auto* q, db->query("SELECT MAX(version) FROM schema_version"));
    CAIRN_ASSIGN_OR_RETURN(const bool row, q->step());
    const int64_t current = row && !q->is_null(0) ? q->get_int(0) : 0;
    CAIRN_RETURN_IF_ERROR(q->run());
    if (current > static_cast<int64_t>(kMigrations.size())) {
      return make_error(
          ErrorCode::kInvalidArgument,
          "the metadata database is from a newer cairnd (schema " + std::to_string(current) + ")");
    }
    for (auto v = static_cast<size_t>(current); v < kMigrations.size(); ++v) {
      CAIRN_RETURN_IF_ERROR(db->exec(kMigrations[v]));
      CAIRN_ASSIGN_OR_RETURN(auto* ins, db->query("INSERT INTO schema_version(version) VALUES "
                                                  "(?1)",
                                                  static_cast<int64_t>(v + 1)));
      CAIRN_RETURN_IF_ERROR(ins->run());
    }
    return {};
  });
  if (!migrated) return std::move(migrated).error().with_context("migrate " + path);
  return std::unique_ptr<SqliteMetadataStore>(new SqliteMetadataStore(std::move(db)));
}

Result<std::string> SqliteMetadataStore::get_or_init_setting(const std::string& key,
                                                             const std::string& initial) {
  std::lock_guard lock(mu_);
  sqlite::ScopedReset reset(*db_);
  return sqlite::in_transaction(*db_, [&]() -> Result<std::string> {
    CAIRN_ASSIGN_OR_RETURN(auto* ins, db_->query("INSERT OR IGNORE INTO settings(key, value) "
                                                 "VALUES (?1, ?2)",
                                                 key, initial));
    CAIRN_RETURN_IF_ERROR(ins->run());
    CAIRN_ASSIGN_OR_RETURN(auto* q, db_->query("SELECT value FROM settings WHERE key=?1", key));
    CAIRN_ASSIGN_OR_RETURN(const bool row, q->step());
    if (!row) return make_error(ErrorCode::kInternal, "setting vanished: " + key);
    std::string value = q->get_text(0);
    CAIRN_RETURN_IF_ERROR(q->run());
    return value;
  });
}

Result<User> SqliteMetadataStore::create_user(const std::string& name, int64_t now) {
  std::lock_guard lock(mu_);
  sqlite::ScopedReset reset(*db_);
  return sqlite::in_transaction(*db_, [&]() -> Result<User> {
    CAIRN_ASSIGN_OR_RETURN(auto* ins, db_->query("INSERT INTO users(name, created_at) VALUES "
                                                 "(?1, ?2)",
                                                 name, now));
    if (auto r = ins->run(); !r) {
      if (r.error().code() == ErrorCode::kAlreadyExists) {
        return make_error(ErrorCode::kAlreadyExists, "user '" + name + "' already exists");
      }
      return std::move(r).error();
    }
    User user;
    user.user_id = db_->last_insert_rowid();
    user.name = name;
    user.created_at = now;
    CAIRN_ASSIGN_OR_RETURN(auto* ns, db_->query("INSERT INTO namespaces(owner_id, created_at) "
                                                "VALUES (?1, ?2)",
                                                user.user_id, now));
    CAIRN_RETURN_IF_ERROR(ns->run());
    user.home_namespace_id = db_->last_insert_rowid();
    Tx tx(*db_);
    CAIRN_ASSIGN_OR_RETURN(const int64_t root, tx.create_node(user.home_namespace_id, std::nullopt,
                                                              "", NodeKind::kFolder, now));
    CAIRN_ASSIGN_OR_RETURN(auto* link, db_->query("UPDATE namespaces SET root_node_id=?1 WHERE "
                                                  "namespace_id=?2",
                                                  root, user.home_namespace_id));
    CAIRN_RETURN_IF_ERROR(link->run());
    CAIRN_ASSIGN_OR_RETURN(auto* home, db_->query("UPDATE users SET home_namespace_id=?1 WHERE "
                                                  "user_id=?2",
                                                  user.home_namespace_id, user.user_id));
    CAIRN_RETURN_IF_ERROR(home->run());
    return user;
  });
}

namespace {

Result<std::vector<User>> read_users(sqlite::Statement& q) {
  std::vector<User> out;
  while (true) {
    CAIRN_ASSIGN_OR_RETURN(const bool row, q.step());
    if (!row) break;
    User u;
    u.user_id = q.get_int(0);
    u.name = q.get_text(1);
    u.home_namespace_id = q.get_int(2);
    u.disabled = q.get_int(3) != 0;
    u.created_at = q.get_int(4);
    out.push_back(std::move(u));
  }
  return out;
}

}  // namespace

Result<std::vector<User>> SqliteMetadataStore::list_users() {
  std::lock_guard lock(mu_);
  sqlite::ScopedReset reset(*db_);
  CAIRN_ASSIGN_OR_RETURN(auto* q, db_->query("SELECT user_id, name, home_namespace_id, disabled, "
                                             "created_at FROM users ORDER BY name"));
  return read_users(*q);
}

Result<User> SqliteMetadataStore::find_user(const std::string& name) {
  std::lock_guard lock(mu_);
  sqlite::ScopedReset reset(*db_);
  CAIRN_ASSIGN_OR_RETURN(auto* q, db_->query("SELECT user_id, name, home_namespace_id, disabled, "
                                             "created_at FROM users WHERE name=?1",
                                             name));
  CAIRN_ASSIGN_OR_RETURN(auto users, read_users(*q));
  if (users.empty()) return make_error(ErrorCode::kNotFound, "no user named '" + name + "'");
  return users.front();
}

Result<void> SqliteMetadataStore::add_token(int64_t user_id, const Digest& token_hash,
                                            const std::string& label, int64_t now) {
  std::lock_guard lock(mu_);
  sqlite::ScopedReset reset(*db_);
  CAIRN_ASSIGN_OR_RETURN(auto* q, db_->query("INSERT INTO tokens(user_id, token_hash, label, "
                                             "created_at) VALUES (?1, ?2, ?3, ?4)",
                                             user_id, token_hash.bytes(), label, now));
  return q->run();
}

Result<User> SqliteMetadataStore::authenticate(const Digest& token_hash, int64_t now) {
  std::lock_guard lock(mu_);
  sqlite::ScopedReset reset(*db_);
  CAIRN_ASSIGN_OR_RETURN(
      auto* q, db_->query("SELECT u.user_id, u.name, u.home_namespace_id, u.disabled, "
                          "u.created_at FROM tokens t JOIN users u ON u.user_id = t.user_id "
                          "WHERE t.token_hash=?1 AND t.revoked_at IS NULL AND (t.expires_at IS "
                          "NULL OR t.expires_at > ?2) AND u.disabled = 0",
                          token_hash.bytes(), now));
  CAIRN_ASSIGN_OR_RETURN(auto users, read_users(*q));
  if (users.empty()) {
    return make_error(ErrorCode::kUnauthenticated, "invalid, revoked or expired token");
  }
  return users.front();
}

Result<std::vector<bool>> SqliteMetadataStore::user_has_chunks(int64_t user_id,
                                                               const std::vector<Digest>& digests) {
  std::lock_guard lock(mu_);
  sqlite::ScopedReset reset(*db_);
  std::vector<bool> out;
  out.reserve(digests.size());
  for (const auto& d : digests) {
    CAIRN_ASSIGN_OR_RETURN(auto* q, db_->query("SELECT 1 FROM user_chunks WHERE user_id=?1 AND "
                                               "hash=?2",
                                               user_id, d.bytes()));
    CAIRN_ASSIGN_OR_RETURN(const bool row, q->step());
    CAIRN_RETURN_IF_ERROR(q->run());
    out.push_back(row);
  }
  return out;
}

Result<void> SqliteMetadataStore::record_chunk(int64_t user_id, const Digest& digest, uint64_t size,
                                               int64_t now) {
  std::lock_guard lock(mu_);
  sqlite::ScopedReset reset(*db_);
  return sqlite::in_transaction(*db_, [&]() -> Result<void> {
    CAIRN_ASSIGN_OR_RETURN(auto* c, db_->query("INSERT OR IGNORE INTO chunks(hash, size, "
                                               "created_at) VALUES (?1, ?2, ?3)",
                                               digest.bytes(), size, now));
    CAIRN_RETURN_IF_ERROR(c->run());
    CAIRN_ASSIGN_OR_RETURN(auto* u, db_->query("INSERT OR IGNORE INTO user_chunks(user_id, hash) "
                                               "VALUES (?1, ?2)",
                                               user_id, digest.bytes()));
    return u->run();
  });
}

Result<void> SqliteMetadataStore::save_uploads(const std::vector<StagedUpload>& uploads) {
  std::lock_guard lock(mu_);
  sqlite::ScopedReset reset(*db_);
  return sqlite::in_transaction(*db_, [&]() -> Result<void> {
    for (const auto& u : uploads) {
      std::optional<ByteView> manifest_hash;
      if (u.manifest_hash) {
        manifest_hash = u.manifest_hash->bytes();
        auto decoded = Manifest::decode(u.manifest);
        if (!decoded) return std::move(decoded).error();
        CAIRN_ASSIGN_OR_RETURN(auto* m, db_->query("INSERT OR IGNORE INTO manifests("
                                                   "manifest_hash, body, size, chunk_count) "
                                                   "VALUES (?1, ?2, ?3, ?4)",
                                                   *manifest_hash, ByteView(u.manifest), u.size,
                                                   static_cast<int64_t>(decoded->chunks().size())));
        CAIRN_RETURN_IF_ERROR(m->run());
      }
      CAIRN_ASSIGN_OR_RETURN(
          auto* q,
          db_->query("INSERT INTO uploads(upload_id, user_id, namespace_id, path, kind, "
                     "executable, mtime_ns, symlink_target, manifest_hash, size, base_seq, "
                     "created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                     "?11, ?12, ?13)",
                     u.upload_id, u.user_id, u.namespace_id, u.path, kind_code(u.kind),
                     u.executable, u.mtime_ns, u.symlink_target, manifest_hash, u.size,
                     u.base_version, u.created_at, u.expires_at));
      CAIRN_RETURN_IF_ERROR(q->run());
    }
    return {};
  });
}

Result<std::vector<CommitResult>> SqliteMetadataStore::commit(const Actor& actor,
                                                              const std::vector<CommitOp>& ops) {
  std::lock_guard lock(mu_);
  sqlite::ScopedReset reset(*db_);
  // One transaction (one fsync) for the whole batch; a savepoint per op makes each op atomic on
  // its own, so one bad op does not undo its neighbours.
  return sqlite::in_transaction(*db_, [&]() -> Result<std::vector<CommitResult>> {
    Tx tx(*db_);
    std::vector<CommitResult> results;
    results.reserve(ops.size());
    for (const auto& op : ops) {
      CAIRN_RETURN_IF_ERROR(db_->exec("SAVEPOINT op"));
      Result<CommitResult> r = make_error(ErrorCode::kInternal, "unreachable");
      switch (op.kind) {
        case OpKind::kPut:
          r = tx.put(actor, op.upload_id);
          break;
        case OpKind::kMkdir:
          r = tx.mkdir(actor, op.path);
          break;
        case OpKind::kDelete:
          r = tx.remove(actor, op.path, op.base_version);
          break;
      }
      const bool keep = r.has_value() && r->status != OpStatus::kConflict;
      if (!keep) CAIRN_RETURN_IF_ERROR(db_->exec("ROLLBACK TO op"));
      CAIRN_RETURN_IF_ERROR(db_->exec("RELEASE op"));
      if (r) {
        results.push_back(std::move(r).value());
      } else {
        const Error& e = r.error();
        // Storage failures abort the batch; request-level failures are reported per op.
        if (e.code() == ErrorCode::kIo || e.code() == ErrorCode::kInternal ||
            e.code() == ErrorCode::kUnavailable || e.code() == ErrorCode::kCorrupt) {
          return e;
        }
        CommitResult failed;
        failed.status = OpStatus::kError;
        failed.path = op.path;
        failed.error_code = std::string(error_code_name(e.code()));
        failed.message = e.message();
        results.push_back(std::move(failed));
      }
    }
    return results;
  });
}

Result<int64_t> SqliteMetadataStore::expire_uploads(int64_t now) {
  std::lock_guard lock(mu_);
  sqlite::ScopedReset reset(*db_);
  CAIRN_ASSIGN_OR_RETURN(auto* q, db_->query("DELETE FROM uploads WHERE expires_at < ?1", now));
  CAIRN_RETURN_IF_ERROR(q->run());
  return static_cast<int64_t>(db_->changes());
}

Result<Bytes> SqliteMetadataStore::get_manifest(int64_t user_id, const Digest& digest) {
  std::lock_guard lock(mu_);
  sqlite::ScopedReset reset(*db_);
  // Readable if a version in a namespace the user owns, or one of the user's own upload
  // sessions, references it.
  CAIRN_ASSIGN_OR_RETURN(
      auto* q,
      db_->query("SELECT body FROM manifests WHERE manifest_hash=?1 AND (EXISTS (SELECT 1 FROM "
                 "versions v JOIN namespaces ns ON ns.namespace_id = v.namespace_id WHERE "
                 "v.manifest_hash=?1 AND ns.owner_id=?2) OR EXISTS (SELECT 1 FROM uploads u WHERE "
                 "u.manifest_hash=?1 AND u.user_id=?2))",
                 digest.bytes(), user_id));
  CAIRN_ASSIGN_OR_RETURN(const bool row, q->step());
  if (!row) return make_error(ErrorCode::kNotFound, "manifest " + digest.hex());
  Bytes body = q->get_blob(0);
  CAIRN_RETURN_IF_ERROR(q->run());
  return body;
}

Result<bool> SqliteMetadataStore::user_can_read_chunk(int64_t user_id, const Digest& digest) {
  std::lock_guard lock(mu_);
  sqlite::ScopedReset reset(*db_);
  CAIRN_ASSIGN_OR_RETURN(auto* q, db_->query("SELECT 1 FROM user_chunks WHERE user_id=?1 AND "
                                             "hash=?2",
                                             user_id, digest.bytes()));
  CAIRN_ASSIGN_OR_RETURN(const bool row, q->step());
  CAIRN_RETURN_IF_ERROR(q->run());
  return row;
}

Result<protocol::ListResponse> SqliteMetadataStore::list(int64_t namespace_id,
                                                         const std::string& path) {
  std::lock_guard lock(mu_);
  sqlite::ScopedReset reset(*db_);
  Tx tx(*db_);
  CAIRN_ASSIGN_OR_RETURN(auto node, tx.resolve(namespace_id, path));
  if (!node) return make_error(ErrorCode::kNotFound, "no such file or folder: " + path);
  protocol::ListResponse out;
  out.path = path;
  if (node->kind != NodeKind::kFolder) {
    CAIRN_ASSIGN_OR_RETURN(auto e, tx.entry(node->node_id, &path));
    out.entries.push_back(std::move(e));
    return out;
  }
  CAIRN_ASSIGN_OR_RETURN(
      auto* q,
      db_->query("SELECT n.node_id, n.name, n.kind, n.head_seq, n.deleted_at, v.size, "
                 "v.executable, v.mtime_ns, v.manifest_hash, v.symlink_target, v.created_at FROM "
                 "nodes n LEFT JOIN versions v ON v.node_id = n.node_id AND v.seq = n.head_seq "
                 "WHERE n.namespace_id=?1 AND n.parent_id=?2 AND n.deleted_at IS NULL ORDER BY "
                 "n.name",
                 namespace_id, node->node_id));
  while (true) {
    CAIRN_ASSIGN_OR_RETURN(const bool row, q->step());
    if (!row) break;
    Entry e = Tx::entry_from_row(*q, 2);
    e.node_id = q->get_int(0);
    e.path = join_remote_path(path, q->get_text(1));
    out.entries.push_back(std::move(e));
  }
  return out;
}

Result<ChangesPage> SqliteMetadataStore::changes(int64_t namespace_id, int64_t after_seq,
                                                 int limit) {
  std::lock_guard lock(mu_);
  sqlite::ScopedReset reset(*db_);
  // A read transaction so that the page and the namespace's last_seq agree.
  CAIRN_RETURN_IF_ERROR(db_->exec("BEGIN"));
  auto page = [&]() -> Result<ChangesPage> {
    Tx tx(*db_);
    ChangesPage out;
    // Each node once, at the position of its latest change, in its current state.
    CAIRN_ASSIGN_OR_RETURN(
        auto* q, db_->query("SELECT node_id, MAX(seq) AS s FROM journal WHERE namespace_id=?1 "
                            "AND seq > ?2 GROUP BY node_id ORDER BY s LIMIT ?3",
                            namespace_id, after_seq, limit + 1));
    std::vector<std::pair<int64_t, int64_t>> rows;
    while (true) {
      CAIRN_ASSIGN_OR_RETURN(const bool row, q->step());
      if (!row) break;
      rows.emplace_back(q->get_int(0), q->get_int(1));
    }
    if (static_cast<int>(rows.size()) > limit) {
      out.has_more = true;
      rows.resize(static_cast<size_t>(limit));
    }
    for (const auto& [node, seq] : rows) {
      CAIRN_ASSIGN_OR_RETURN(auto e, tx.entry(node, nullptr));
      out.entries.push_back(std::move(e));
      out.last_seq = seq;
    }
    if (!out.has_more) {
      CAIRN_ASSIGN_OR_RETURN(auto* last, db_->query("SELECT last_seq FROM namespaces WHERE "
                                                    "namespace_id=?1",
                                                    namespace_id));
      CAIRN_ASSIGN_OR_RETURN(const bool row, last->step());
      if (row) {
        out.head_seq = last->get_int(0);
        out.last_seq = std::max(out.last_seq, out.head_seq);
      }
      CAIRN_RETURN_IF_ERROR(last->run());
    }
    if (out.has_more) out.head_seq = out.last_seq;
    if (out.last_seq < after_seq) out.last_seq = after_seq;
    return out;
  }();
  (void)db_->exec("COMMIT");
  return page;
}

}  // namespace cairn::store
