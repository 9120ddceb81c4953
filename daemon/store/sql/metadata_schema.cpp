// The schema of the metadata database: its migrations, one list per engine, and migrate().

#include "daemon/store/sql/metadata_internal.h"
#include "daemon/store/sql_metadata_store.h"

namespace cairn::store {
namespace sqlstore {

namespace {

// Schema migrations, one list per engine, applied in order; schema_version records how many have
// run. Never edit a migration that has shipped: append a new one to both lists. The two lists
// describe the same tables; they differ in types (BIGINT/BYTEA/identity columns on PostgreSQL)
// and in PostgreSQL's keys leading with the namespace, so that the schema can be distributed by
// it. Every table that belongs to someone carries its namespace or user id, and every query on
// it filters by that id. manifests and chunks are content-addressed and shared by everyone.
// 7, the same text on both engines:
// - chunks.doomed_at: set by gc's sweep on a chunk object it is about to delete. The deletion and
//   a new upload of the same chunk each take the chunk's row in the transaction that removes or
//   publishes the object, so that they never cross (a re-upload clears it).
// - user_chunks holds only chunks a user proved they had (uploaded and verified). A chunk listed
//   by a pack the daemon never saw is only claimed, through pack_chunks.reader_id: such rows are
//   dropped here, the claim stays.
// - uploads.node_id: the node a staged file's base version belongs to (a base is a node and a
//   version of it, never a number alone).
constexpr const char* kMigration7 = R"sql(
ALTER TABLE chunks ADD COLUMN doomed_at BIGINT;
DELETE FROM user_chunks WHERE EXISTS (SELECT 1 FROM pack_chunks p WHERE p.hash = user_chunks.hash
  AND p.reader_id = user_chunks.user_id);
ALTER TABLE uploads ADD COLUMN node_id BIGINT NOT NULL DEFAULT 0;
)sql";

// 8: damage. damaged_chunks holds the chunks that have no sound copy left: every copy was found
// damaged (a read that did not hash right) or missing, and was forgotten. Nobody holds such a
// chunk until an upload of its bytes replaces it (record_chunk, a verified pack), which removes
// the row. damaged_needs is which manifests need each one, found by a scan of the manifests
// (indexed set once it ran), so that owners and their clients can be told which files to read
// the bytes back from.
constexpr const char* kSqliteMigration8 = R"sql(
CREATE TABLE damaged_chunks (
  hash BLOB PRIMARY KEY,
  size INTEGER NOT NULL,
  found_at INTEGER NOT NULL,
  detail TEXT NOT NULL,
  indexed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE damaged_needs (
  hash BLOB NOT NULL,
  manifest_hash BLOB NOT NULL,
  PRIMARY KEY (hash, manifest_hash)
);
)sql";
constexpr const char* kPostgresMigration8 = R"sql(
CREATE TABLE damaged_chunks (
  hash BYTEA PRIMARY KEY,
  size BIGINT NOT NULL,
  found_at BIGINT NOT NULL,
  detail TEXT NOT NULL,
  indexed BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE damaged_needs (
  hash BYTEA NOT NULL,
  manifest_hash BYTEA NOT NULL,
  PRIMARY KEY (hash, manifest_hash)
);
)sql";

// 9, the same text on both engines: permission bits. A version's (and a staged upload's)
// executable flag becomes its mode, owner/group/other read, write and execute (what the flag
// meant: 0755 or 0644); a folder's mode is its node's (folders have no versions), 0755 until
// someone sends one. Symlinks carry one too, which nothing reads.
constexpr const char* kMigration9 = R"sql(
ALTER TABLE versions RENAME COLUMN executable TO mode;
UPDATE versions SET mode = CASE WHEN mode <> 0 THEN 493 ELSE 420 END;
ALTER TABLE uploads RENAME COLUMN executable TO mode;
UPDATE uploads SET mode = CASE WHEN mode <> 0 THEN 493 ELSE 420 END;
ALTER TABLE nodes ADD COLUMN mode BIGINT NOT NULL DEFAULT 493;
)sql";

constexpr std::array<const char*, 9> kSqliteMigrations = {
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
    // 2: packs. A chunk may live in several packs; pack_chunks.reader_id is 0 when the daemon
    // verified the pack (anyone holding the chunk may read it there), else the only user who may.
    // A retired pack has no chunks left and waits for gc to delete its object.
    R"sql(
CREATE TABLE packs (
  pack_hash BLOB PRIMARY KEY,
  size INTEGER NOT NULL,
  chunk_count INTEGER NOT NULL,
  uploader_id INTEGER NOT NULL,
  verified INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  retired_at INTEGER
);
CREATE TABLE pack_chunks (
  hash BLOB NOT NULL,
  pack_hash BLOB NOT NULL,
  pack_offset INTEGER NOT NULL,
  stored_size INTEGER NOT NULL,
  size INTEGER NOT NULL,
  codec INTEGER NOT NULL,
  reader_id INTEGER NOT NULL,
  PRIMARY KEY (hash, pack_hash)
) WITHOUT ROWID;
CREATE INDEX pack_chunks_pack ON pack_chunks(pack_hash);
)sql",
    // 3: closure, versions and journal keep their rows in their primary key's b-tree (WITHOUT
    // ROWID) instead of in a rowid table beside a key index: one b-tree fewer to write per row,
    // and about 5 MiB less for a 50,000-file tree. Rebuilt by copying.
    R"sql(
CREATE TABLE closure_v3 (
  namespace_id INTEGER NOT NULL,
  ancestor INTEGER NOT NULL,
  descendant INTEGER NOT NULL,
  depth INTEGER NOT NULL,
  PRIMARY KEY (ancestor, descendant)
) WITHOUT ROWID;
INSERT INTO closure_v3 SELECT namespace_id, ancestor, descendant, depth FROM closure;
DROP TABLE closure;
ALTER TABLE closure_v3 RENAME TO closure;
CREATE INDEX closure_descendant ON closure(descendant, depth);
CREATE TABLE versions_v3 (
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
) WITHOUT ROWID;
INSERT INTO versions_v3 SELECT namespace_id, node_id, seq, manifest_hash, size, executable,
  mtime_ns, symlink_target, author_id, device, base_seq, created_at FROM versions;
DROP TABLE versions;
ALTER TABLE versions_v3 RENAME TO versions;
CREATE INDEX versions_manifest ON versions(manifest_hash, namespace_id);
CREATE TABLE journal_v3 (
  namespace_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  node_id INTEGER NOT NULL,
  op TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (namespace_id, seq)
) WITHOUT ROWID;
INSERT INTO journal_v3 SELECT namespace_id, seq, node_id, op, created_at FROM journal;
DROP TABLE journal;
ALTER TABLE journal_v3 RENAME TO journal;
)sql",
    // 4: the trash and quotas. trash_id groups the nodes one delete removed (the id of the node
    // the delete named), so that restoring it brings back exactly those; purged_at marks nodes
    // emptied from the trash (their versions are gone; the row stays for the change feed).
    // quotas.used_bytes is the logical size of every file's head that is not purged: current
    // files plus the trash; history is free.
    R"sql(
ALTER TABLE nodes ADD COLUMN trash_id INTEGER;
ALTER TABLE nodes ADD COLUMN purged_at INTEGER;
UPDATE nodes SET trash_id = (SELECT c.ancestor FROM closure c JOIN nodes a ON a.node_id =
  c.ancestor WHERE c.descendant = nodes.node_id AND a.deleted_at = nodes.deleted_at ORDER BY
  c.depth DESC LIMIT 1) WHERE deleted_at IS NOT NULL;
CREATE INDEX nodes_trash ON nodes(namespace_id, trash_id) WHERE deleted_at IS NOT NULL;
CREATE TABLE quotas (
  user_id INTEGER PRIMARY KEY,
  limit_bytes INTEGER,
  used_bytes INTEGER NOT NULL DEFAULT 0
);
INSERT INTO quotas(user_id, used_bytes) SELECT u.user_id, COALESCE((SELECT SUM(v.size) FROM
  nodes n JOIN namespaces ns ON ns.namespace_id = n.namespace_id JOIN versions v ON
  v.namespace_id = n.namespace_id AND v.node_id = n.node_id AND v.seq = n.head_seq WHERE
  ns.owner_id = u.user_id AND n.kind = 0), 0) FROM users u;
)sql",
    // 5: shares, token scopes and links. A share grants one user a role on a folder of another
    // user's namespace; the grantee sees it at a folder of their own home namespace (the mount
    // node), which they may move. journal.from_parent is a moved node's old parent, so that the
    // change feed of a shared folder reports what was moved out of it. tokens.read_only and
    // tokens.scope_path limit what a token may do. A link (stored by its token's hash) lets
    // anyone holding its URL download one file or folder.
    R"sql(
CREATE TABLE shares (
  share_id INTEGER PRIMARY KEY,
  namespace_id INTEGER NOT NULL REFERENCES namespaces(namespace_id),
  root_node_id INTEGER NOT NULL REFERENCES nodes(node_id),
  grantee_id INTEGER NOT NULL REFERENCES users(user_id),
  role TEXT NOT NULL,
  mount_namespace_id INTEGER NOT NULL,
  mount_node_id INTEGER NOT NULL REFERENCES nodes(node_id),
  created_by INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX shares_grant ON shares(namespace_id, root_node_id, grantee_id);
CREATE INDEX shares_grantee ON shares(grantee_id);
ALTER TABLE journal ADD COLUMN from_parent INTEGER;
ALTER TABLE tokens ADD COLUMN read_only INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN scope_path TEXT;
CREATE TABLE links (
  link_id INTEGER PRIMARY KEY,
  token_hash BLOB NOT NULL UNIQUE,
  namespace_id INTEGER NOT NULL REFERENCES namespaces(namespace_id),
  node_id INTEGER NOT NULL REFERENCES nodes(node_id),
  created_by INTEGER NOT NULL REFERENCES users(user_id),
  created_at INTEGER NOT NULL,
  expires_at INTEGER,
  revoked_at INTEGER
);
CREATE INDEX links_creator ON links(created_by);
)sql",
    // 6: whether a node is someone's mount (a link's snapshot leaves mounts out), by index.
    R"sql(
CREATE INDEX shares_mount ON shares(mount_node_id);
)sql",
    kMigration7,
    kSqliteMigration8,
    kMigration9,
};

constexpr std::array<const char*, 9> kPostgresMigrations = {
    R"sql(
CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE users (
  user_id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  home_namespace_id BIGINT,
  disabled BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
);
CREATE TABLE tokens (
  token_id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  user_id BIGINT NOT NULL REFERENCES users(user_id),
  token_hash BYTEA NOT NULL UNIQUE,
  label TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  expires_at BIGINT,
  revoked_at BIGINT
);
CREATE TABLE namespaces (
  namespace_id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  owner_id BIGINT NOT NULL REFERENCES users(user_id),
  root_node_id BIGINT,
  last_seq BIGINT NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
);
CREATE TABLE nodes (
  node_id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  namespace_id BIGINT NOT NULL REFERENCES namespaces(namespace_id),
  parent_id BIGINT REFERENCES nodes(node_id),
  name TEXT NOT NULL,
  kind BIGINT NOT NULL,
  head_seq BIGINT NOT NULL DEFAULT 0,
  deleted_at BIGINT,
  created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX nodes_live_name ON nodes(namespace_id, parent_id, name)
  WHERE deleted_at IS NULL;
CREATE INDEX nodes_parent ON nodes(namespace_id, parent_id, name);
CREATE TABLE closure (
  namespace_id BIGINT NOT NULL,
  ancestor BIGINT NOT NULL,
  descendant BIGINT NOT NULL,
  depth BIGINT NOT NULL,
  PRIMARY KEY (namespace_id, ancestor, descendant)
);
CREATE INDEX closure_descendant ON closure(namespace_id, descendant, depth);
CREATE TABLE versions (
  namespace_id BIGINT NOT NULL,
  node_id BIGINT NOT NULL REFERENCES nodes(node_id),
  seq BIGINT NOT NULL,
  manifest_hash BYTEA,
  size BIGINT NOT NULL,
  executable BIGINT NOT NULL,
  mtime_ns BIGINT NOT NULL,
  symlink_target TEXT,
  author_id BIGINT NOT NULL,
  device TEXT NOT NULL,
  base_seq BIGINT,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (namespace_id, node_id, seq)
);
CREATE INDEX versions_manifest ON versions(manifest_hash, namespace_id);
CREATE TABLE manifests (
  manifest_hash BYTEA PRIMARY KEY,
  body BYTEA NOT NULL,
  size BIGINT NOT NULL,
  chunk_count BIGINT NOT NULL
);
CREATE TABLE chunks (
  hash BYTEA PRIMARY KEY,
  size BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE TABLE user_chunks (
  user_id BIGINT NOT NULL,
  hash BYTEA NOT NULL,
  PRIMARY KEY (user_id, hash)
);
CREATE TABLE journal (
  namespace_id BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  node_id BIGINT NOT NULL,
  op TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (namespace_id, seq)
);
CREATE TABLE uploads (
  upload_id TEXT PRIMARY KEY,
  user_id BIGINT NOT NULL,
  namespace_id BIGINT NOT NULL,
  path TEXT NOT NULL,
  kind BIGINT NOT NULL,
  executable BIGINT NOT NULL,
  mtime_ns BIGINT NOT NULL,
  symlink_target TEXT,
  manifest_hash BYTEA,
  size BIGINT NOT NULL,
  base_seq BIGINT,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX uploads_expiry ON uploads(expires_at);
CREATE INDEX uploads_manifest ON uploads(manifest_hash, user_id);
)sql",
    R"sql(
CREATE TABLE packs (
  pack_hash BYTEA PRIMARY KEY,
  size BIGINT NOT NULL,
  chunk_count BIGINT NOT NULL,
  uploader_id BIGINT NOT NULL,
  verified BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  retired_at BIGINT
);
CREATE TABLE pack_chunks (
  hash BYTEA NOT NULL,
  pack_hash BYTEA NOT NULL,
  pack_offset BIGINT NOT NULL,
  stored_size BIGINT NOT NULL,
  size BIGINT NOT NULL,
  codec BIGINT NOT NULL,
  reader_id BIGINT NOT NULL,
  PRIMARY KEY (hash, pack_hash)
);
CREATE INDEX pack_chunks_pack ON pack_chunks(pack_hash);
)sql",
    // 3: SQLite's tables moved to WITHOUT ROWID; PostgreSQL tables have no rowid to drop.
    R"sql(
SELECT 1;
)sql",
    R"sql(
ALTER TABLE nodes ADD COLUMN trash_id BIGINT;
ALTER TABLE nodes ADD COLUMN purged_at BIGINT;
UPDATE nodes SET trash_id = (SELECT c.ancestor FROM closure c JOIN nodes a ON a.node_id =
  c.ancestor WHERE c.namespace_id = nodes.namespace_id AND c.descendant = nodes.node_id AND
  a.deleted_at = nodes.deleted_at ORDER BY c.depth DESC LIMIT 1) WHERE deleted_at IS NOT NULL;
CREATE INDEX nodes_trash ON nodes(namespace_id, trash_id) WHERE deleted_at IS NOT NULL;
CREATE TABLE quotas (
  user_id BIGINT PRIMARY KEY,
  limit_bytes BIGINT,
  used_bytes BIGINT NOT NULL DEFAULT 0
);
INSERT INTO quotas(user_id, used_bytes) SELECT u.user_id, COALESCE((SELECT SUM(v.size) FROM
  nodes n JOIN namespaces ns ON ns.namespace_id = n.namespace_id JOIN versions v ON
  v.namespace_id = n.namespace_id AND v.node_id = n.node_id AND v.seq = n.head_seq WHERE
  ns.owner_id = u.user_id AND n.kind = 0), 0) FROM users u;
)sql",
    R"sql(
CREATE TABLE shares (
  share_id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  namespace_id BIGINT NOT NULL REFERENCES namespaces(namespace_id),
  root_node_id BIGINT NOT NULL REFERENCES nodes(node_id),
  grantee_id BIGINT NOT NULL REFERENCES users(user_id),
  role TEXT NOT NULL,
  mount_namespace_id BIGINT NOT NULL,
  mount_node_id BIGINT NOT NULL REFERENCES nodes(node_id),
  created_by BIGINT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX shares_grant ON shares(namespace_id, root_node_id, grantee_id);
CREATE INDEX shares_grantee ON shares(grantee_id);
ALTER TABLE journal ADD COLUMN from_parent BIGINT;
ALTER TABLE tokens ADD COLUMN read_only BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tokens ADD COLUMN scope_path TEXT;
CREATE TABLE links (
  link_id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
  token_hash BYTEA NOT NULL UNIQUE,
  namespace_id BIGINT NOT NULL REFERENCES namespaces(namespace_id),
  node_id BIGINT NOT NULL REFERENCES nodes(node_id),
  created_by BIGINT NOT NULL REFERENCES users(user_id),
  created_at BIGINT NOT NULL,
  expires_at BIGINT,
  revoked_at BIGINT
);
CREATE INDEX links_creator ON links(created_by);
)sql",
    // 6: whether a node is someone's mount (a link's snapshot leaves mounts out), by index.
    R"sql(
CREATE INDEX shares_mount ON shares(mount_node_id);
)sql",
    kMigration7,
    kPostgresMigration8,
    kMigration9,
};

static_assert(kSqliteMigrations.size() == kPostgresMigrations.size());

}  // namespace

Result<void> SqlMetadataStore::migrate(const std::string& where, int up_to) {
  const bool pg = db_->dialect() == sql::Dialect::kPostgres;
  std::span<const char* const> migrations = pg ? std::span<const char* const>(kPostgresMigrations)
                                               : std::span<const char* const>(kSqliteMigrations);
  if (up_to > 0 && static_cast<size_t>(up_to) < migrations.size()) {
    migrations = migrations.first(static_cast<size_t>(up_to));
  }
  auto migrated = db_->transact(TxMode::kWrite, [&](Session& s) -> Result<void> {
    if (pg) {
      // Daemons starting together on one database take turns; the second finds the work done.
      CAIRN_RETURN_IF_ERROR(s.exec("SELECT pg_advisory_xact_lock(7236823)"));
    }
    CAIRN_RETURN_IF_ERROR(s.exec("CREATE TABLE IF NOT EXISTS schema_version(version BIGINT)"));
    CAIRN_ASSIGN_OR_RETURN(auto r, s.query("SELECT MAX(version) FROM schema_version"));
    const int64_t current = r.empty() ? 0 : r[0].get_int(0);
    if (current > static_cast<int64_t>(migrations.size())) {
      return make_error(ErrorCode::kInvalidArgument,
                        "the metadata database is from a newer cairnd (schema " +
                            std::to_string(current) + ", this build knows " +
                            std::to_string(migrations.size()) + ")");
    }
    for (auto v = static_cast<size_t>(current); v < migrations.size(); ++v) {
      CAIRN_RETURN_IF_ERROR(s.exec(migrations[v]));
      CAIRN_RETURN_IF_ERROR(
          s.query("INSERT INTO schema_version(version) VALUES (?1)", static_cast<int64_t>(v + 1)));
    }
    return {};
  });
  if (!migrated) return std::move(migrated).error().with_context("migrate " + where);
  return {};
}

}  // namespace sqlstore

int metadata_schema_version() { return static_cast<int>(sqlstore::kSqliteMigrations.size()); }

}  // namespace cairn::store
