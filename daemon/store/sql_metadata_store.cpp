#include "daemon/store/sql_metadata_store.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <map>
#include <set>
#include <span>
#include <unordered_map>
#include <unordered_set>

#include "common/conflict_name.h"
#include "common/manifest.h"
#include "common/remote_path.h"
#include "daemon/store/sql/postgres_database.h"
#include "daemon/store/sql/sqlite_database.h"

namespace cairn::store {

std::string_view role_name(Role role) { return role == Role::kEditor ? "editor" : "viewer"; }

std::optional<Role> role_from_name(std::string_view name) {
  if (name == "viewer") return Role::kViewer;
  if (name == "editor") return Role::kEditor;
  return std::nullopt;
}

namespace {

using protocol::CommitOp;
using protocol::CommitResult;
using protocol::Entry;
using protocol::OpKind;
using protocol::OpStatus;
using sql::Rows;
using sql::Session;
using sql::TxMode;

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
  int64_t size = 0;
  uint32_t mode = 0;
  std::string symlink_target;
};

// The columns entry_from_row reads, in its order.
constexpr const char* kEntryColumns =
    "n.kind, n.head_seq, n.deleted_at, v.size, v.mode, v.mtime_ns, v.manifest_hash, "
    "v.symlink_target, v.created_at, n.mode";

// Reads kEntryColumns starting at column `c`.
Entry entry_from_row(const sql::Row& r, size_t c) {
  Entry e;
  e.kind = kind_from_code(r.get_int(c));
  e.version = r.get_int(c + 1);
  e.deleted = !r.is_null(c + 2);
  e.size = static_cast<uint64_t>(r.get_int(c + 3));
  // A folder's mode is its node's; a file's, its head version's.
  e.mode = static_cast<uint32_t>(e.kind == NodeKind::kFolder ? r.get_int(c + 9)
                                                             : r.get_optional_int(c + 4).value_or(
                                                                   protocol::default_mode(e.kind)));
  e.mtime_ns = r.get_int(c + 5);
  if (!r.is_null(c + 6)) e.manifest = to_hex(r.get_blob(c + 6));
  e.symlink_target = r.get_text(c + 7);
  e.modified_at = r.get_int(c + 8);
  return e;
}

User user_from_row(const sql::Row& r) {
  User u;
  u.user_id = r.get_int(0);
  u.name = r.get_text(1);
  u.home_namespace_id = r.get_int(2);
  u.disabled = r.get_int(3) != 0;
  u.created_at = r.get_int(4);
  return u;
}

constexpr const char* kUserColumns = "user_id, name, home_namespace_id, disabled, created_at";

// The statements one transaction needs, over its session.
// Runs `run(in_list, params)` for `digests` in batches of 500: `in_list` is "?k, ?k+1, ..." for
// the batch's digests, numbered after the `fixed` parameters that lead `params`. One query per
// batch, not one per digest: on PostgreSQL each query is a round trip.
template <typename F>
Result<void> in_batches(const std::vector<Digest>& digests, const std::vector<sql::Value>& fixed,
                        F&& run) {
  constexpr size_t kPerQuery = 500;
  for (size_t begin = 0; begin < digests.size(); begin += kPerQuery) {
    const size_t end = std::min(digests.size(), begin + kPerQuery);
    std::string in;
    std::vector<sql::Value> params = fixed;
    for (size_t i = begin; i < end; ++i) {
      in += (i == begin ? "?" : ", ?") + std::to_string(params.size() + 1);
      params.push_back(sql::to_value(digests[i].bytes()));
    }
    CAIRN_RETURN_IF_ERROR(run(in, params));
  }
  return {};
}

void collect_digests(const Rows& r, size_t column, std::unordered_set<Digest>& out) {
  for (size_t i = 0; i < r.size(); ++i) {
    if (auto d = Digest::from_bytes(r[i].get_blob(column))) out.insert(*d);
  }
}

// Inserts the locations of a pack's chunks, readable by `reader` (0: anyone who holds them).
Result<void> insert_pack_chunks(Session& s, const Digest& pack, int64_t reader,
                                const std::vector<PackEntry>& entries) {
  // Multi-row inserts: a pack of small files holds thousands of chunks.
  constexpr size_t kPerStatement = 200;
  for (size_t begin = 0; begin < entries.size(); begin += kPerStatement) {
    const size_t end = std::min(entries.size(), begin + kPerStatement);
    std::string sql =
        "INSERT INTO pack_chunks(hash, pack_hash, pack_offset, stored_size, size, codec, "
        "reader_id) VALUES ";
    std::vector<sql::Value> args{sql::to_value(pack.bytes()), sql::to_value(reader)};
    for (size_t i = begin; i < end; ++i) {
      const PackEntry& e = entries[i];
      const size_t n = args.size();
      sql += (i == begin ? "" : ", ") + ("(?" + std::to_string(n + 1)) + ", ?1, ?" +
             std::to_string(n + 2) + ", ?" + std::to_string(n + 3) + ", ?" + std::to_string(n + 4) +
             ", ?" + std::to_string(n + 5) + ", ?2)";
      args.push_back(sql::to_value(e.hash.bytes()));
      args.push_back(sql::to_value(static_cast<int64_t>(e.offset)));
      args.push_back(sql::to_value(static_cast<int64_t>(e.stored_length)));
      args.push_back(sql::to_value(static_cast<int64_t>(e.length)));
      args.push_back(sql::to_value(static_cast<int64_t>(e.codec)));
    }
    CAIRN_RETURN_IF_ERROR(s.run(sql + " ON CONFLICT DO NOTHING", args));
  }
  return {};
}

// Every chunk that the manifests selected by `manifest_query` (one column: manifest_hash, with
// `args`) list.
Result<void> chunks_of_manifests(Session& s, const std::string& manifest_query,
                                 const std::vector<sql::Value>& args,
                                 std::unordered_set<Digest>& out) {
  CAIRN_ASSIGN_OR_RETURN(
      auto r,
      s.run("SELECT body FROM manifests WHERE manifest_hash IN (" + manifest_query + ")", args));
  for (size_t i = 0; i < r.size(); ++i) {
    auto m = Manifest::decode(r[i].get_blob(0));
    if (!m) return std::move(m).error().with_context("gc: a stored manifest");
    for (const auto& c : m->chunks()) out.insert(c.hash);
  }
  return {};
}

ChunkLocation location_from_row(const sql::Row& row, const Digest& hash, const Digest& pack) {
  ChunkLocation loc;
  loc.hash = hash;
  loc.pack = pack;
  loc.offset = static_cast<uint64_t>(row.get_int(1));
  loc.stored_length = static_cast<uint32_t>(row.get_int(2));
  loc.length = static_cast<uint32_t>(row.get_int(3));
  loc.codec = row.get_int(4) == 1 ? Codec::kZstd : Codec::kRaw;
  return loc;
}

// A folder or file shared with the acting user, as their view shows it.
//
// A shared folder's mount is a folder of the grantee's whose contents live in the owner's
// namespace: below it, ids and versions are the owner's. A shared file's mount is a file of the
// grantee's that stands for the owner's file: at its path, contents and versions are the owner's,
// but the id the grantee sees is the mount's, so that their moves of it and its going away
// (unshare) reach their working copies as changes of one node they know.
struct Mount {
  int64_t share_id = 0;
  int64_t ns = 0;          // The owner's namespace.
  int64_t root = 0;        // The shared folder or file, in the owner's namespace.
  int64_t mount_ns = 0;    // The grantee's home namespace...
  int64_t mount_node = 0;  // ... and the node there that shows the shared one.
  bool file = false;       // A single file (or symlink) is shared, not a folder.
  Role role = Role::kViewer;
  std::string owner;      // The owner's user name.
  std::string view_path;  // Where the grantee sees it; empty if that folder is gone.
  std::string root_path;  // Where it is in the owner's namespace; empty if deleted.
};

// Where a path of a user's view lives.
struct Place {
  int64_t ns = 0;
  std::string path;              // In that namespace.
  const Mount* mount = nullptr;  // Set when the path is inside a folder shared with the user.
};

// "NAME (N)", or for a file "STEM (N).EXT": the Nth name tried for something that lands where
// NAME is taken.
std::string numbered_name(const std::string& name, int n, bool file) {
  const size_t dot = file ? name.rfind('.') : std::string::npos;
  const std::string mark = " (" + std::to_string(n) + ")";
  if (dot == std::string::npos || dot == 0) return name + mark;
  return name.substr(0, dot) + mark + name.substr(dot);
}

// Marks `e` as the grantee sees `m`: their role and the owner; for a shared file, also the
// mount's id (the id their working copy knows it by) in place of the owner's.
void show_as_mount(const Mount& m, Entry& e) {
  if (m.file) e.node_id = m.mount_node;
  e.share_role = std::string(role_name(m.role));
  e.shared_by = m.owner;
}

bool is_under(const std::string& path, const std::string& folder) {
  if (folder == "/") return path.size() > 1;
  return path.size() > folder.size() && path.compare(0, folder.size(), folder) == 0 &&
         path[folder.size()] == '/';
}

// Whether `path` is `folder` or under it. Everything is within an empty folder (no limit).
bool within(const std::string& path, const std::string& folder) {
  return folder.empty() || path == folder || is_under(path, folder);
}

// A node and everything under it, in a namespace.
struct Root {
  int64_t ns = 0;
  int64_t node = 0;
};

// A scope that nothing is within: no canonical path starts with "//".
constexpr const char* kNowhere = "//";

// Every copy of some chunks that a reader may read, gathered before one is chosen per chunk.
struct Copies {
  std::unordered_map<Digest, std::vector<ChunkLocation>> of;
  std::unordered_map<Digest, size_t> pack_votes;  // Chunks asked for in each pack.

  // The copy to read each of `digests` from, once each, in order: a standalone object first,
  // else the pack most of the others are in (neighbours then read together).
  std::vector<ChunkLocation> choose(const std::vector<Digest>& digests) {
    std::vector<ChunkLocation> out;
    out.reserve(of.size());
    std::unordered_set<Digest> emitted;
    for (const auto& d : digests) {
      auto it = of.find(d);
      if (it == of.end() || it->second.empty() || !emitted.insert(d).second) continue;
      const ChunkLocation* best = nullptr;
      for (const auto& c : it->second) {
        if (!c.pack) {
          best = &c;
          break;
        }
        if (best == nullptr || pack_votes[*c.pack] > pack_votes[*best->pack] ||
            (pack_votes[*c.pack] == pack_votes[*best->pack] && *c.pack < *best->pack)) {
          best = &c;
        }
      }
      out.push_back(*best);
    }
    return out;
  }
};

// "1, 2, 3": ids for an IN list. Numbers only, so nothing of a request reaches the SQL text.
std::string id_list(const std::vector<int64_t>& ids) {
  std::string out;
  for (const int64_t id : ids) out += (out.empty() ? "" : ", ") + std::to_string(id);
  return out;
}

class Tx {
 public:
  explicit Tx(Session& s) : s_(s) {}

  // Checks again, inside the transaction that acts, that the actor's token is valid and its user
  // enabled: a revocation that lands while a request is on its way wins.
  Result<void> still_authorised(const Actor& a) {
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

  // The folders shared with `user_id`, loaded once per transaction: every role check of the
  // transaction sees the grants as they are in it.
  Result<const std::vector<Mount>*> mounts(int64_t user_id) {
    if (mounts_) return &*mounts_;
    CAIRN_ASSIGN_OR_RETURN(
        auto r,
        s_.query("SELECT s.share_id, s.namespace_id, s.root_node_id, "
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

  // Where `path` of the acting user's view lives: in their home namespace, or, below a folder
  // shared with them or at a file shared with them, in its owner's namespace. A shared folder's
  // own path (the mount) is in the home namespace: the grantee may move it.
  Result<Place> place(const Actor& a, const std::string& path) {
    CAIRN_ASSIGN_OR_RETURN(const auto* all, mounts(a.user_id));
    for (const auto& m : *all) {
      if (m.view_path.empty()) continue;
      if (m.file && is_under(path, m.view_path)) {
        return make_error(ErrorCode::kInvalidArgument,
                          m.view_path + " is a file " + m.owner + " shares with you, not a folder");
      }
      const bool inside = m.file ? path == m.view_path : is_under(path, m.view_path);
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

  // The mount (of a folder or a file shared with the acting user) at exactly `path`, if any.
  Result<const Mount*> mount_at(const Actor& a, const std::string& path) {
    CAIRN_ASSIGN_OR_RETURN(const auto* all, mounts(a.user_id));
    for (const auto& m : *all) {
      if (!m.view_path.empty() && m.view_path == path) return &m;
    }
    return nullptr;
  }

  // place(), except that a mount's own path leads into the shared folder: where to list it.
  Result<Place> place_contents(const Actor& a, const std::string& path) {
    CAIRN_ASSIGN_OR_RETURN(const Mount* m, mount_at(a, path));
    if (m == nullptr) return place(a, path);
    if (m->root_path.empty()) {
      return make_error(ErrorCode::kNotFound,
                        path + " was shared with you by " + m->owner + ", who has deleted it");
    }
    return Place{m->ns, m->root_path, m};
  }

  // Marks an entry of the home namespace that is a mount with the user's role and the owner. A
  // shared file's mount shows the owner's file as it is now (under the mount's path and id).
  Result<void> mark_mount(const Actor& a, Entry& e) {
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

  // The folder or file at `path` of the actor's own namespace, which `what` (share, unshare)
  // acts on.
  Result<int64_t> owned_node(const Actor& a, const std::string& path, const std::string& what) {
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

  // A path of `p`'s namespace as the acting user sees it.
  static std::string to_view(const Place& p, const std::string& ns_path) {
    if (p.mount == nullptr || ns_path.empty()) return ns_path;
    const Mount& m = *p.mount;
    if (ns_path == m.root_path) return m.view_path;
    if (!is_under(ns_path, m.root_path)) return ns_path;
    return m.view_path + (m.root_path == "/" ? ns_path : ns_path.substr(m.root_path.size()));
  }

  // The actor for a change at `p`, `view_path` naming it in the user's view. A viewer is refused
  // with kPermissionDenied and a message that names the role.
  static Result<Actor> writer(const Actor& a, const Place& p, const std::string& view_path) {
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

  // A token's scope (`scope`, a path of the user's view) as a path of `p`'s namespace: empty when
  // all of it that the user sees is in scope.
  static std::string scope_at(const std::string& scope, const Place& p) {
    if (scope.empty() || scope == "/" || p.mount == nullptr) return scope == "/" ? "" : scope;
    const Mount& m = *p.mount;
    if (within(m.view_path, scope)) return "";  // The whole shared folder or file is in scope.
    if (!m.file && is_under(scope, m.view_path) && !m.root_path.empty()) {
      const std::string rest = scope.substr(m.view_path.size());
      return m.root_path == "/" ? rest : m.root_path + rest;
    }
    return kNowhere;
  }

  // Whether `node` is one the actor may touch: anywhere in a namespace of their own, only below
  // the shared folder in someone else's, and within the token's scope. Deleted nodes too (their
  // place is where they were deleted from).
  Result<bool> in_scope(const Actor& a, int64_t node) {
    if (a.scope_root != 0) {
      CAIRN_ASSIGN_OR_RETURN(auto r, s_.query("SELECT 1 FROM closure WHERE namespace_id=?1 AND "
                                              "ancestor=?2 AND descendant=?3",
                                              a.namespace_id, a.scope_root, node));
      if (r.empty()) return false;
    }
    if (a.scope_path.empty() || a.scope_path == "/") return true;
    CAIRN_ASSIGN_OR_RETURN(const std::string path, node_path(a.namespace_id, node));
    return within(path, a.scope_path);
  }

  // Where the node a link points at is in the actor's view: in their own namespace, or under a
  // folder or file shared with them. Empty if it is deleted or out of their sight.
  Result<std::string> link_path(const Actor& a, int64_t ns, int64_t node) {
    CAIRN_ASSIGN_OR_RETURN(auto info, node_info(ns, node));
    if (!info || info->deleted) return std::string();
    CAIRN_ASSIGN_OR_RETURN(const std::string at, node_path(ns, node));
    if (ns == a.namespace_id) return at;
    CAIRN_ASSIGN_OR_RETURN(const auto* all, mounts(a.user_id));
    for (const auto& m : *all) {
      if (m.ns == ns && !m.view_path.empty() && within(at, m.root_path)) {
        return to_view(Place{ns, at, &m}, at);
      }
    }
    return std::string();
  }

  // Revokes the links `user` made into namespace `ns` that no share of theirs as an editor
  // covers any more: after a share is taken away or made read-only.
  Result<void> revoke_unshared_links(int64_t user, int64_t ns, int64_t now) {
    CAIRN_RETURN_IF_ERROR(s_.query(
        "UPDATE links SET revoked_at = ?3 WHERE created_by = ?1 AND namespace_id = ?2 AND "
        "revoked_at IS NULL AND NOT EXISTS (SELECT 1 FROM shares sh JOIN closure c ON "
        "c.namespace_id = sh.namespace_id AND c.ancestor = sh.root_node_id WHERE "
        "sh.namespace_id = ?2 AND sh.grantee_id = ?1 AND sh.role = 'editor' AND c.descendant = "
        "links.node_id)",
        user, ns, now));
    return {};
  }

  // The nodes a token limited to `scope` (a path of the user's view) reaches, each with
  // everything under it: what is at that path, and every folder or file shared with the user
  // whose mount is under it. nullopt: no limit.
  Result<std::optional<std::vector<Root>>> scope_roots(int64_t user_id, const std::string& scope) {
    using Roots = std::optional<std::vector<Root>>;
    if (scope.empty() || scope == "/") return Roots();
    CAIRN_ASSIGN_OR_RETURN(
        auto u, s_.query("SELECT home_namespace_id FROM users WHERE user_id=?1", user_id));
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
      if (!m.view_path.empty() && !m.root_path.empty() && is_under(m.view_path, scope)) {
        roots.push_back({m.ns, m.root});
      }
    }
    return Roots(std::move(roots));
  }

  // The manifests of `digests` that committed versions the user may read reference (in a
  // namespace of theirs, or under a folder or file shared with them; within `roots` if given),
  // each with the authors of those versions: committing proved each author held every chunk.
  // Manifests the user may not read are absent.
  Result<std::unordered_map<Digest, std::vector<int64_t>>> manifest_authors(
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
              roots ? "SELECT DISTINCT v.manifest_hash, v.author_id FROM versions v " + reach + in +
                          ")"
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

  // Adds to `out` every copy of `digests` that one of `readers` may read: any copy of a chunk
  // they hold (its own object, or a pack the daemon verified or they uploaded), and the copy in
  // a pack of theirs of a chunk they only claim.
  Result<void> gather_copies(const std::vector<Digest>& digests,
                             const std::vector<int64_t>& readers, Copies& out) {
    if (readers.empty()) return {};
    const std::string who = id_list(readers);
    return in_batches(
        digests, {},
        [&](const std::string& in, const std::vector<sql::Value>& args) -> Result<void> {
          CAIRN_ASSIGN_OR_RETURN(
              auto r,
              s_.run("SELECT u.hash, c.size, p.pack_hash, p.pack_offset, p.stored_size, p.size, "
                     "p.codec FROM user_chunks u LEFT JOIN chunks c ON c.hash = u.hash AND "
                     "c.doomed_at IS NULL LEFT JOIN pack_chunks p ON p.hash = u.hash AND "
                     "(p.reader_id = 0 OR p.reader_id = u.user_id) WHERE u.user_id IN (" +
                         who + ") AND u.hash IN (" + in +
                         ") UNION ALL SELECT p.hash, CAST(NULL AS BIGINT), p.pack_hash, "
                         "p.pack_offset, p.stored_size, p.size, p.codec FROM pack_chunks p WHERE "
                         "p.reader_id IN (" +
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
            ChunkLocation packed;
            packed.hash = *hash;
            packed.pack = Digest::from_bytes(r[i].get_blob(2));
            if (!packed.pack) continue;
            packed.offset = static_cast<uint64_t>(r[i].get_int(3));
            packed.stored_length = static_cast<uint32_t>(r[i].get_int(4));
            packed.length = static_cast<uint32_t>(r[i].get_int(5));
            packed.codec = r[i].get_int(6) == 1 ? Codec::kZstd : Codec::kRaw;
            bool duplicate = false;
            for (const auto& c : list) duplicate |= c.pack == packed.pack;
            if (duplicate) continue;
            ++out.pack_votes[*packed.pack];
            list.push_back(packed);
          }
          return {};
        });
  }

  Result<int64_t> root_of(int64_t ns) {
    CAIRN_ASSIGN_OR_RETURN(
        auto r, s_.query("SELECT root_node_id FROM namespaces WHERE namespace_id=?1", ns));
    if (r.empty()) return make_error(ErrorCode::kNotFound, "namespace " + std::to_string(ns));
    return r[0].get_int(0);
  }

  Result<std::optional<NodeRow>> live_child(int64_t ns, int64_t parent, const std::string& name) {
    CAIRN_ASSIGN_OR_RETURN(
        auto r, s_.query("SELECT node_id, kind, head_seq FROM nodes WHERE namespace_id=?1 AND "
                         "parent_id=?2 AND name=?3 AND deleted_at IS NULL",
                         ns, parent, name));
    if (r.empty()) return std::optional<NodeRow>();
    return std::optional<NodeRow>(
        NodeRow{r[0].get_int(0), kind_from_code(r[0].get_int(1)), r[0].get_int(2)});
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

  // Appends a journal entry for `node` at the namespace's next sequence number. The UPDATE
  // serialises commits to one namespace; commits to different namespaces do not wait.
  // `from_parent`: a moved node's old parent.
  Result<void> journal(int64_t ns, int64_t node, const char* op, int64_t now,
                       std::optional<int64_t> from_parent = std::nullopt) {
    CAIRN_ASSIGN_OR_RETURN(auto bumped, s_.query("UPDATE namespaces SET last_seq = last_seq + 1 "
                                                 "WHERE namespace_id=?1 RETURNING last_seq",
                                                 ns));
    if (bumped.empty()) return make_error(ErrorCode::kNotFound, "namespace " + std::to_string(ns));
    const int64_t seq = bumped[0].get_int(0);
    s_.announce(std::to_string(ns));  // Heard by watch_changes() once this commits.
    CAIRN_RETURN_IF_ERROR(
        s_.query("INSERT INTO journal(namespace_id, seq, node_id, op, created_at, from_parent) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                 ns, seq, node, op, now, from_parent));
    return {};
  }

  // Creates a node under `parent` with its closure rows: one per ancestor plus itself.
  Result<int64_t> create_node(int64_t ns, std::optional<int64_t> parent, const std::string& name,
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
    CAIRN_RETURN_IF_ERROR(s_.query(
        "INSERT INTO closure(namespace_id, ancestor, descendant, depth) SELECT CAST(?1 AS "
        "BIGINT), CAST(?3 AS BIGINT), CAST(?3 AS BIGINT), 0 UNION ALL SELECT namespace_id, "
        "ancestor, CAST(?3 AS BIGINT), depth + 1 FROM closure WHERE namespace_id=?1 AND "
        "descendant=?2",
        ns, *parent, node));
    return node;
  }

  // Makes every folder of `path` exist (like mkdir -p); returns the last one's node id and
  // whether anything was created.
  Result<std::pair<int64_t, bool>> ensure_folder(const Actor& a, const std::string& path) {
    CAIRN_ASSIGN_OR_RETURN(auto found, walk_folders(a, path, true));
    return *found;
  }

  // The live folder at `path`, if there is one; creates nothing (a file in the way: nullopt).
  Result<std::optional<int64_t>> find_folder(const Actor& a, const std::string& path) {
    auto found = walk_folders(a, path, false);
    if (!found) {
      if (found.error().code() == ErrorCode::kAlreadyExists) return std::optional<int64_t>();
      return std::move(found).error();
    }
    if (!*found) return std::optional<int64_t>();
    return std::optional<int64_t>((*found)->first);
  }

  // ensure_folder, or (create false) find_folder: nullopt at the first missing segment.
  Result<std::optional<std::pair<int64_t, bool>>> walk_folders(const Actor& a,
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
        CAIRN_RETURN_IF_ERROR(journal(a.namespace_id, current, "mkdir", a.now));
        created = true;
      }
      folders.emplace(walked, current);
    }
    return Found(std::make_pair(current, created));
  }

  // Forgets resolved folders: after an op is rolled back, deletes or moves nodes.
  void forget_folders() {
    folders_.clear();
    mounts_.reset();
  }

  // Charges `delta` logical bytes (negative: refunds) to the quota of the namespace's owner, with
  // one conditional update: kQuotaExceeded, and nothing charged, if it would pass the limit.
  // Inside the transaction that acts, so two racing commits cannot both squeeze under it.
  Result<void> charge(int64_t ns, int64_t delta) {
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

  Result<int64_t> owner_of(int64_t ns) {
    if (auto hit = owners_.find(ns); hit != owners_.end()) return hit->second;
    CAIRN_ASSIGN_OR_RETURN(auto r,
                           s_.query("SELECT owner_id FROM namespaces WHERE namespace_id=?1", ns));
    if (r.empty()) return make_error(ErrorCode::kNotFound, "namespace " + std::to_string(ns));
    owners_.emplace(ns, r[0].get_int(0));
    return r[0].get_int(0);
  }

  // Gives `node` (and so its whole subtree) a new parent and name. The subtree's closure rows to
  // its old ancestors go and rows to the new ones come: two statements, whatever its size.
  Result<void> reparent(int64_t ns, int64_t node, int64_t old_parent, int64_t parent,
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

  // A node's parent and whether it is live; nullopt if the namespace has no such node.
  struct NodeInfo {
    int64_t parent = 0;
    std::string name;
    NodeKind kind = NodeKind::kFile;
    int64_t head_seq = 0;
    bool deleted = false;
    bool purged = false;
    int64_t trash_id = 0;
  };
  Result<std::optional<NodeInfo>> node_info(int64_t ns, int64_t node) {
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

  // Brings back the most recently deleted node of this name and kind, so that a path deleted and
  // created again keeps one history; otherwise creates a new node.
  // `head_seq`, if given, receives the node's head version (0 for a new node).
  Result<int64_t> revive_or_create(const Actor& a, int64_t parent, const std::string& name,
                                   NodeKind kind, int64_t* head_seq = nullptr) {
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

  Result<std::optional<VersionRow>> version(int64_t ns, int64_t node, int64_t seq) {
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

  Result<std::string> node_path(int64_t ns, int64_t node) {
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

  // The current state of a node as the API shows it.
  Result<Entry> entry(int64_t ns, int64_t node_id, const std::string* known_path) {
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

  // Sound copies of `digests` were stored: they are no longer lost.
  Result<void> forget_damage(const std::vector<Digest>& digests) {
    return in_batches(
        digests, {},
        [&](const std::string& in, const std::vector<sql::Value>& args) -> Result<void> {
          CAIRN_ASSIGN_OR_RETURN(
              auto gone,
              s_.run("DELETE FROM damaged_chunks WHERE hash IN (" + in + ") RETURNING hash", args));
          if (gone.empty()) return {};  // Nearly always: nothing was lost.
          CAIRN_RETURN_IF_ERROR(
              s_.run("DELETE FROM damaged_needs WHERE hash IN (" + in + ")", args));
          return {};
        });
  }

  Result<bool> user_has_chunk(int64_t user_id, const Digest& d) {
    CAIRN_ASSIGN_OR_RETURN(auto held, held_chunks(user_id, {d}));
    return !held.empty();
  }

  // Which of `digests` the user holds or claims (see MetadataStore::locate_chunks): one query
  // per 500 digests, not one per digest (a 1 GiB file has about a thousand chunks, and on
  // PostgreSQL each query is a round trip).
  Result<std::unordered_set<Digest>> held_chunks(int64_t user_id,
                                                 const std::vector<Digest>& digests) {
    std::unordered_set<Digest> held;
    CAIRN_RETURN_IF_ERROR(in_batches(
        digests, {sql::to_value(user_id)},
        [&](const std::string& in, const std::vector<sql::Value>& args) -> Result<void> {
          CAIRN_ASSIGN_OR_RETURN(
              auto r, s_.run("SELECT hash FROM user_chunks WHERE user_id=?1 AND hash IN (" + in +
                                 ") AND hash NOT IN (SELECT hash FROM damaged_chunks) UNION "
                                 "SELECT hash FROM pack_chunks WHERE reader_id=?1 AND hash IN (" +
                                 in + ")",
                             args));
          collect_digests(r, 0, held);
          return {};
        }));
    return held;
  }

  static std::vector<Digest> digests_of(const Manifest& m) {
    std::vector<Digest> out;
    out.reserve(m.chunks().size());
    for (const auto& c : m.chunks()) out.push_back(c.hash);
    return out;
  }

  // One op of a commit by `a` (acting from their home namespace), in the namespace its paths
  // lead to. `file`: the file a put carries, if it does.
  Result<CommitResult> apply(const Actor& a, const CommitOp& op, const StagedUpload* file);

  // Commits a staged upload session, and ends it.
  Result<CommitResult> put(const Actor& a, const std::string& upload_id);
  // Commits a file that came with the commit: its manifest is stored here.
  Result<CommitResult> put_file(const Actor& a, const StagedUpload& u);
  // Both: finds the namespace of the file's path, then put_staged.
  Result<CommitResult> put_placed(const Actor& a, const StagedUpload& u,
                                  const std::optional<Manifest>& given);
  // In the actor's namespace: `given` is the file's manifest when the caller has it decoded.
  Result<CommitResult> put_staged(const Actor& a, const StagedUpload& u,
                                  const std::optional<Manifest>& given);
  Result<CommitResult> mkdir(const Actor& a, const std::string& path, std::optional<uint32_t> mode);
  // `expect_node`, if set, must be the node at `path` (see protocol::CommitOp::node_id).
  Result<CommitResult> remove(const Actor& a, const std::string& path, std::optional<int64_t> base,
                              int64_t expect_node);
  Result<CommitResult> move(const Actor& a, const std::string& from, const std::string& to,
                            int64_t expect_node);
  Result<CommitResult> restore(const Actor& a, const std::string& path, int64_t version,
                               int64_t expect_node);
  Result<CommitResult> undelete(const Actor& a, int64_t node, const std::string& to);

 private:
  // The put of `u` found the head moved past its base: commits it beside the head as a
  // conflicted copy, or finds the copy an earlier try of this same commit made.
  Result<CommitResult> put_conflicted_copy(const Actor& a, const StagedUpload& u, int64_t parent,
                                           const std::string& name,
                                           const std::optional<Manifest>& manifest);

  Session& s_;
  // Live folders by namespace and path, this transaction.
  std::unordered_map<int64_t, std::unordered_map<std::string, int64_t>> folders_;
  std::optional<std::vector<Mount>> mounts_;     // The acting user's mounts, this transaction.
  std::unordered_map<int64_t, int64_t> owners_;  // Namespace owners, this transaction.
};

// What a version counts against the quota: a file's size; symlinks and folders are free.
int64_t charged(const std::optional<VersionRow>& v) { return v && v->manifest ? v->size : 0; }

bool same_content(const VersionRow& head, const StagedUpload& u) {
  return head.manifest == u.manifest_hash && head.mode == u.mode &&
         head.symlink_target == u.symlink_target;
}

Result<CommitResult> Tx::put(const Actor& a, const std::string& upload_id) {
  CAIRN_ASSIGN_OR_RETURN(
      auto r, s_.query("SELECT path, kind, mode, mtime_ns, symlink_target, manifest_hash, "
                       "size, base_seq, expires_at, node_id FROM uploads WHERE upload_id=?1 AND "
                       "user_id=?2 AND namespace_id=?3",
                       upload_id, a.user_id, a.namespace_id));
  if (r.empty()) return make_error(ErrorCode::kNotFound, "no upload session " + upload_id);
  StagedUpload u;
  u.path = r[0].get_text(0);
  u.kind = kind_from_code(r[0].get_int(1));
  u.mode = static_cast<uint32_t>(r[0].get_int(2));
  u.mtime_ns = r[0].get_int(3);
  u.symlink_target = r[0].get_text(4);
  if (!r[0].is_null(5)) u.manifest_hash = Digest::from_bytes(r[0].get_blob(5));
  u.size = static_cast<uint64_t>(r[0].get_int(6));
  u.base_version = r[0].get_optional_int(7);
  const int64_t expires_at = r[0].get_int(8);
  u.node_id = r[0].get_int(9);
  if (expires_at < a.now) {
    return make_error(ErrorCode::kNotFound, "upload session " + upload_id + " has expired");
  }
  CAIRN_ASSIGN_OR_RETURN(auto result, put_placed(a, u, std::nullopt));
  CAIRN_RETURN_IF_ERROR(
      s_.query("DELETE FROM uploads WHERE upload_id=?1 AND user_id=?2", upload_id, a.user_id));
  return result;
}

Result<CommitResult> Tx::put_file(const Actor& a, const StagedUpload& u) {
  std::optional<Manifest> manifest;
  if (u.kind == NodeKind::kFile) {
    CAIRN_ASSIGN_OR_RETURN(manifest, Manifest::decode(u.manifest));
    CAIRN_RETURN_IF_ERROR(
        s_.query("INSERT INTO manifests(manifest_hash, body, size, chunk_count) VALUES (?1, ?2, "
                 "?3, ?4) ON CONFLICT DO NOTHING",
                 u.manifest_hash->bytes(), ByteView(u.manifest), u.size,
                 static_cast<int64_t>(manifest->chunks().size())));
  }
  return put_placed(a, u, manifest);
}

// Paths (and, for a shared file, the id) of a result in `p`'s namespace, as the acting user
// sees them.
CommitResult in_view(const Place& p, CommitResult r) {
  r.path = Tx::to_view(p, r.path);
  if (!r.copy.empty()) r.copy = Tx::to_view(p, r.copy);
  if (p.mount != nullptr && p.mount->file && r.node_id == p.mount->root) {
    r.node_id = p.mount->mount_node;
  }
  return r;
}

Result<CommitResult> Tx::put_placed(const Actor& a, const StagedUpload& u,
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

Result<CommitResult> Tx::apply(const Actor& a, const CommitOp& op, const StagedUpload* file) {
  switch (op.kind) {
    case OpKind::kPut:
      if (file != nullptr) return put_file(a, *file);
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
            m.view_path == op.path || (p.mount == nullptr && is_under(m.view_path, op.path));
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

Result<CommitResult> Tx::put_staged(const Actor& a, const StagedUpload& u,
                                    const std::optional<Manifest>& given) {
  CommitResult result;
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
    CAIRN_RETURN_IF_ERROR(journal(a.namespace_id, node, "put", a.now));
    result.status = OpStatus::kOk;
    result.version = next_seq;
  }
  return result;
}

Result<CommitResult> Tx::mkdir(const Actor& a, const std::string& path,
                               std::optional<uint32_t> mode) {
  CommitResult result;
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
      CAIRN_RETURN_IF_ERROR(journal(a.namespace_id, made.first, "mkdir", a.now));
      result.status = OpStatus::kOk;
    }
  }
  return result;
}

Result<CommitResult> Tx::remove(const Actor& a, const std::string& path,
                                std::optional<int64_t> base, int64_t expect_node) {
  CommitResult result;
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
    CAIRN_RETURN_IF_ERROR(journal(a.namespace_id, id, "delete", a.now));
  }
  result.status = OpStatus::kOk;
  result.version = node->head_seq;
  return result;
}

Result<CommitResult> Tx::put_conflicted_copy(const Actor& a, const StagedUpload& u, int64_t parent,
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
    CommitResult result;
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

Result<CommitResult> Tx::move(const Actor& a, const std::string& from, const std::string& to,
                              int64_t expect_node) {
  CommitResult result;
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
  CAIRN_RETURN_IF_ERROR(journal(a.namespace_id, node->node_id, "move", a.now, info->parent));
  result.status = OpStatus::kOk;
  return result;
}

Result<CommitResult> Tx::restore(const Actor& a, const std::string& path, int64_t wanted,
                                 int64_t expect_node) {
  CommitResult result;
  result.path = path;
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
  result.node_id = node->node_id;
  if (node->kind == NodeKind::kFolder) {
    return make_error(ErrorCode::kInvalidArgument, path + " is a folder: versions are per file");
  }
  CAIRN_ASSIGN_OR_RETURN(auto old, version(a.namespace_id, node->node_id, wanted));
  if (!old) {
    return make_error(ErrorCode::kNotFound,
                      "no version " + std::to_string(wanted) + " of " + path + " (see history)");
  }
  CAIRN_ASSIGN_OR_RETURN(auto head, version(a.namespace_id, node->node_id, node->head_seq));
  result.version = node->head_seq;
  if (head && head->manifest == old->manifest && head->mode == old->mode &&
      head->symlink_target == old->symlink_target) {
    result.status = OpStatus::kUnchanged;
    return result;
  }
  // A new version pointing at the old content: no bytes are copied.
  const int64_t next = node->head_seq + 1;
  CAIRN_RETURN_IF_ERROR(charge(a.namespace_id, charged(old) - charged(head)));
  CAIRN_RETURN_IF_ERROR(s_.query(
      "INSERT INTO versions(namespace_id, node_id, seq, manifest_hash, size, mode, "
      "mtime_ns, symlink_target, author_id, device, base_seq, created_at) SELECT "
      "namespace_id, node_id, ?4, manifest_hash, size, mode, mtime_ns, "
      "symlink_target, ?5, ?6, ?7, ?8 FROM versions WHERE namespace_id=?1 AND "
      "node_id=?2 AND seq=?3",
      a.namespace_id, node->node_id, wanted, next, a.user_id, a.device, node->head_seq, a.now));
  const NodeKind kind = old->manifest ? NodeKind::kFile : NodeKind::kSymlink;
  CAIRN_RETURN_IF_ERROR(
      s_.query("UPDATE nodes SET head_seq=?1, kind=?2 WHERE namespace_id=?3 AND node_id=?4", next,
               kind_code(kind), a.namespace_id, node->node_id));
  CAIRN_RETURN_IF_ERROR(journal(a.namespace_id, node->node_id, "restore", a.now));
  result.status = OpStatus::kOk;
  result.version = next;
  return result;
}

Result<CommitResult> Tx::undelete(const Actor& a, int64_t node, const std::string& to) {
  CommitResult result;
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
    CAIRN_RETURN_IF_ERROR(journal(a.namespace_id, id, "restore", a.now));
  }
  result.status = OpStatus::kOk;
  return result;
}

// Storage failures abort a commit batch; request-level failures are reported per op.
// A refusal of who is asking (a revoked token, a viewer's write) refuses the whole request.
bool aborts_batch(const Error& e) {
  return e.code() == ErrorCode::kIo || e.code() == ErrorCode::kInternal ||
         e.code() == ErrorCode::kPermissionDenied || e.code() == ErrorCode::kUnauthenticated ||
         e.code() == ErrorCode::kUnavailable || e.code() == ErrorCode::kCorrupt;
}

class SqlMetadataStore final : public MetadataStore {
 public:
  explicit SqlMetadataStore(std::unique_ptr<sql::Database> db) : db_(std::move(db)) {}

  Result<void> migrate(const std::string& where, int up_to);

  Result<std::string> get_or_init_setting(const std::string& key,
                                          const std::string& initial) override {
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

  Result<User> create_user(const std::string& name, int64_t now) override {
    return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<User> {
      auto ins = s.query("INSERT INTO users(name, created_at) VALUES (?1, ?2) RETURNING user_id",
                         name, now);
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
      CAIRN_ASSIGN_OR_RETURN(
          const int64_t root,
          tx.create_node(user.home_namespace_id, std::nullopt, "", NodeKind::kFolder, now));
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

  Result<std::vector<User>> list_users() override {
    return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<User>> {
      CAIRN_ASSIGN_OR_RETURN(
          auto r, s.query(std::string("SELECT ") + kUserColumns + " FROM users ORDER BY name"));
      std::vector<User> out;
      for (size_t i = 0; i < r.size(); ++i) out.push_back(user_from_row(r[i]));
      return out;
    });
  }

  Result<User> find_user(const std::string& name) override {
    return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<User> {
      CAIRN_ASSIGN_OR_RETURN(
          auto r,
          s.query(std::string("SELECT ") + kUserColumns + " FROM users WHERE name=?1", name));
      if (r.empty()) return make_error(ErrorCode::kNotFound, "no user named '" + name + "'");
      return user_from_row(r[0]);
    });
  }

  Result<int64_t> add_token(int64_t user_id, const Digest& token_hash, const std::string& label,
                            int64_t now, std::optional<int64_t> expires_at,
                            const TokenScope& scope) override {
    return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<int64_t> {
      std::optional<std::string> path;
      if (!scope.path.empty() && scope.path != "/") path = scope.path;
      CAIRN_ASSIGN_OR_RETURN(
          auto r,
          s.query("INSERT INTO tokens(user_id, token_hash, label, created_at, "
                  "expires_at, read_only, scope_path) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
                  "RETURNING token_id",
                  user_id, token_hash.bytes(), label, now, expires_at, scope.read_only, path));
      return r[0].get_int(0);
    });
  }

  Result<std::vector<TokenInfo>> list_tokens(int64_t user_id) override {
    return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<TokenInfo>> {
      CAIRN_ASSIGN_OR_RETURN(
          auto r, s.query("SELECT token_id, label, created_at, expires_at, revoked_at, "
                          "read_only, scope_path FROM tokens WHERE user_id=?1 ORDER BY token_id",
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
        out.push_back(std::move(t));
      }
      return out;
    });
  }

  Result<void> revoke_token(int64_t user_id, int64_t token_id, int64_t now) override {
    return db_->transact(TxMode::kWrite, [&](Session& s) -> Result<void> {
      CAIRN_ASSIGN_OR_RETURN(
          auto r, s.query("UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?3) WHERE "
                          "user_id=?1 AND token_id=?2",
                          user_id, token_id, now));
      if (r.affected == 0) {
        return make_error(ErrorCode::kNotFound,
                          "this user has no token with id " + std::to_string(token_id));
      }
      return {};
    });
  }

  Result<void> set_user_disabled(int64_t user_id, bool disabled) override {
    return db_->transact(TxMode::kWrite, [&](Session& s) -> Result<void> {
      CAIRN_ASSIGN_OR_RETURN(
          auto r, s.query("UPDATE users SET disabled=?2 WHERE user_id=?1", user_id, disabled));
      if (r.affected == 0) return make_error(ErrorCode::kNotFound, "no such user");
      return {};
    });
  }

  Result<User> authenticate(const Digest& token_hash, int64_t now) override {
    return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<User> {
      CAIRN_ASSIGN_OR_RETURN(
          auto r, s.query("SELECT u.user_id, u.name, u.home_namespace_id, u.disabled, "
                          "u.created_at, t.read_only, t.scope_path, t.token_id FROM tokens t "
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
      return user;
    });
  }

  Result<std::vector<bool>> user_has_chunks(int64_t user_id,
                                            const std::vector<Digest>& digests) override {
    return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<bool>> {
      CAIRN_ASSIGN_OR_RETURN(auto held, Tx(s).held_chunks(user_id, digests));
      std::vector<bool> out;
      out.reserve(digests.size());
      for (const auto& d : digests) out.push_back(held.count(d) != 0);
      return out;
    });
  }

  Result<void> record_chunk(int64_t user_id, const Digest& digest, uint64_t size, int64_t now,
                            const std::function<Result<void>()>& publish,
                            int64_t token_id) override {
    return db_->transact(TxMode::kWrite, [&](Session& s) -> Result<void> {
      CAIRN_RETURN_IF_ERROR(token_still_valid(s, user_id, token_id, now));
      // Takes the row (a doomed one comes back to life) before the object is published: gc's
      // deletion takes it too, so the two are ordered (see gc_delete_chunks).
      CAIRN_RETURN_IF_ERROR(
          s.query("INSERT INTO chunks(hash, size, created_at) VALUES (?1, ?2, ?3) "
                  "ON CONFLICT (hash) DO UPDATE SET created_at = excluded.created_at, "
                  "doomed_at = NULL",
                  digest.bytes(), size, now));
      if (publish) CAIRN_RETURN_IF_ERROR(publish());
      CAIRN_RETURN_IF_ERROR(
          s.query("INSERT INTO user_chunks(user_id, hash) VALUES "
                  "(?1, ?2) ON CONFLICT DO NOTHING",
                  user_id, digest.bytes()));
      // Sound bytes again: a chunk that was lost is repaired.
      return Tx(s).forget_damage({digest});
    });
  }

  Result<void> record_pack(int64_t user_id, const Digest& pack, uint64_t size, bool verified,
                           const std::vector<PackEntry>& entries, int64_t now,
                           int64_t token_id) override {
    return db_->transact(TxMode::kWrite, [&](Session& s) -> Result<void> {
      CAIRN_RETURN_IF_ERROR(token_still_valid(s, user_id, token_id, now));
      CAIRN_RETURN_IF_ERROR(s.query(
          "INSERT INTO packs(pack_hash, size, chunk_count, uploader_id, verified, "
          "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
          pack.bytes(), size, static_cast<int64_t>(entries.size()), user_id, verified, now));
      CAIRN_ASSIGN_OR_RETURN(
          auto known, s.query("SELECT retired_at FROM packs WHERE pack_hash=?1", pack.bytes()));
      if (!known.empty() && !known[0].is_null(0)) {
        // Its object is being deleted: recording chunks in it now could outlive the bytes.
        return make_error(ErrorCode::kConflict,
                          "pack " + pack.hex() +
                              " was emptied and is being deleted; build a new "
                              "pack (a fresh nonce gives it another name)");
      }
      const int64_t reader = verified ? 0 : user_id;
      CAIRN_RETURN_IF_ERROR(insert_pack_chunks(s, pack, reader, entries));
      // A pack nobody verified proves nothing: its chunks are this user's claims alone (the
      // rows just inserted), not chunks they hold.
      if (!verified) return {};
      // The uploader holds every chunk of its verified pack.
      std::vector<Digest> digests;
      digests.reserve(entries.size());
      for (const auto& e : entries) digests.push_back(e.hash);
      CAIRN_RETURN_IF_ERROR(Tx(s).forget_damage(digests));
      return in_batches(
          digests, {sql::to_value(user_id)},
          [&](const std::string&, const std::vector<sql::Value>& args) -> Result<void> {
            std::string values;
            for (size_t i = 1; i < args.size(); ++i) {
              values += (i == 1 ? "(?1, ?" : ", (?1, ?") + std::to_string(i + 1) + ")";
            }
            auto held = s.run("INSERT INTO user_chunks(user_id, hash) VALUES " + values +
                                  " ON CONFLICT DO NOTHING",
                              args);
            if (!held) return std::move(held).error();
            return {};
          });
    });
  }

  Result<std::vector<ChunkLocation>> locate_chunks(int64_t user_id,
                                                   const std::vector<Digest>& digests,
                                                   const std::vector<Digest>& manifests,
                                                   const std::string& scope_path) override {
    return sql::transact(
        *db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<ChunkLocation>> {
          Tx tx(s);
          Copies copies;
          CAIRN_RETURN_IF_ERROR(tx.gather_copies(digests, {user_id}, copies));
          std::unordered_set<Digest> wanted;
          for (const auto& d : digests) {
            if (copies.of.count(d) == 0) wanted.insert(d);
          }
          if (manifests.empty() || wanted.empty()) return copies.choose(digests);
          // The rest through the files they are read for: from the copies the authors of those
          // files could read. Usually one author for all: one query per group of authors.
          CAIRN_ASSIGN_OR_RETURN(auto roots, tx.scope_roots(user_id, scope_path));
          CAIRN_ASSIGN_OR_RETURN(auto authors, tx.manifest_authors(user_id, manifests, roots));
          std::vector<Digest> readable;
          for (const auto& m : manifests) {
            if (authors.count(m) != 0) readable.push_back(m);
          }
          std::map<std::vector<int64_t>, std::vector<Digest>> by_authors;
          CAIRN_RETURN_IF_ERROR(in_batches(
              readable, {},
              [&](const std::string& in, const std::vector<sql::Value>& args) -> Result<void> {
                CAIRN_ASSIGN_OR_RETURN(auto r,
                                       s.run("SELECT manifest_hash, body FROM manifests WHERE "
                                             "manifest_hash IN (" +
                                                 in + ")",
                                             args));
                for (size_t i = 0; i < r.size() && !wanted.empty(); ++i) {
                  auto digest = Digest::from_bytes(r[i].get_blob(0));
                  auto decoded = Manifest::decode(r[i].get_blob(1));
                  if (!digest || !decoded) continue;
                  std::vector<int64_t> who = authors[*digest];
                  std::sort(who.begin(), who.end());
                  for (const auto& c : decoded->chunks()) {
                    if (wanted.erase(c.hash) != 0) by_authors[who].push_back(c.hash);
                  }
                }
                return {};
              }));
          for (const auto& [who, granted] : by_authors) {
            CAIRN_RETURN_IF_ERROR(tx.gather_copies(granted, who, copies));
          }
          return copies.choose(digests);
        });
  }

  Result<std::vector<Digest>> gc_candidates(int64_t cutoff) override {
    return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<Digest>> {
      std::unordered_set<Digest> keep;
      CAIRN_RETURN_IF_ERROR(chunks_of_manifests(
          s,
          "SELECT manifest_hash FROM versions WHERE manifest_hash IS NOT NULL UNION "
          "SELECT manifest_hash FROM uploads WHERE manifest_hash IS NOT NULL",
          {}, keep));
      // A copy stored since the cutoff may belong to a push that has not staged its files yet.
      CAIRN_ASSIGN_OR_RETURN(auto young,
                             s.query("SELECT hash FROM chunks WHERE created_at >= ?1 UNION "
                                     "SELECT pc.hash FROM pack_chunks pc JOIN packs p ON "
                                     "p.pack_hash = pc.pack_hash WHERE p.created_at >= ?1",
                                     cutoff));
      collect_digests(young, 0, keep);
      CAIRN_ASSIGN_OR_RETURN(auto stored,
                             s.query("SELECT hash FROM chunks UNION SELECT hash FROM pack_chunks"));
      std::vector<Digest> out;
      for (size_t i = 0; i < stored.size(); ++i) {
        auto d = Digest::from_bytes(stored[i].get_blob(0));
        if (d && keep.count(*d) == 0) out.push_back(*d);
      }
      return out;
    });
  }

  Result<GcSwept> gc_sweep(const std::vector<Digest>& candidates, int64_t recent_since,
                           int64_t cutoff) override {
    if (candidates.empty()) return GcSwept{};
    return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<GcSwept> {
      GcSwept out;
      // What commits and uploads made since the candidates were chosen still protects them.
      std::unordered_set<Digest> keep;
      CAIRN_RETURN_IF_ERROR(chunks_of_manifests(
          s,
          "SELECT manifest_hash FROM versions WHERE manifest_hash IS NOT NULL AND created_at >= "
          "?1 UNION SELECT manifest_hash FROM uploads WHERE manifest_hash IS NOT NULL",
          {sql::to_value(recent_since)}, keep));
      auto checked = in_batches(
          candidates, {sql::to_value(cutoff)},
          [&](const std::string& in, const std::vector<sql::Value>& args) -> Result<void> {
            CAIRN_ASSIGN_OR_RETURN(
                auto young,
                s.run("SELECT hash FROM chunks WHERE created_at >= ?1 AND hash IN (" + in +
                          ") UNION SELECT pc.hash FROM pack_chunks pc JOIN packs p ON "
                          "p.pack_hash = pc.pack_hash WHERE p.created_at >= ?1 AND pc.hash IN (" +
                          in + ")",
                      args));
            collect_digests(young, 0, keep);
            return {};
          });
      if (!checked) return std::move(checked).error();
      std::vector<Digest> doomed;
      for (const auto& d : candidates) {
        if (keep.count(d) == 0) doomed.push_back(d);
      }
      auto deleted = in_batches(
          doomed, {},
          [&](const std::string& in, const std::vector<sql::Value>& args) -> Result<void> {
            CAIRN_RETURN_IF_ERROR(
                s.run("DELETE FROM user_chunks WHERE hash IN (" + in + ")", args));
            // Objects of their own are doomed, not forgotten: gc_delete_chunks removes each one
            // under its row, unless an upload brought it back meanwhile.
            std::vector<sql::Value> doom = args;
            doom.push_back(sql::to_value(cutoff));
            CAIRN_ASSIGN_OR_RETURN(
                auto whole, s.run("UPDATE chunks SET doomed_at = ?" + std::to_string(doom.size()) +
                                      " WHERE hash IN (" + in + ") RETURNING hash",
                                  doom));
            for (size_t i = 0; i < whole.size(); ++i) {
              if (auto d = Digest::from_bytes(whole[i].get_blob(0))) out.standalone.push_back(*d);
            }
            CAIRN_RETURN_IF_ERROR(
                s.run("DELETE FROM pack_chunks WHERE hash IN (" + in + ")", args));
            return {};
          });
      if (!deleted) return std::move(deleted).error();
      out.chunks = static_cast<int64_t>(doomed.size());
      return out;
    });
  }

  Result<int64_t> gc_delete_chunks(
      const std::vector<Digest>& doomed,
      const std::function<Result<void>(const Digest&)>& remove) override {
    // Small transactions: each holds its rows (on SQLite, the writer) while objects are removed.
    constexpr size_t kPerTransaction = 64;
    int64_t removed = 0;
    for (size_t begin = 0; begin < doomed.size(); begin += kPerTransaction) {
      const std::vector<Digest> batch(
          doomed.begin() + static_cast<std::ptrdiff_t>(begin),
          doomed.begin() +
              static_cast<std::ptrdiff_t>(std::min(doomed.size(), begin + kPerTransaction)));
      auto n = sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<int64_t> {
        int64_t count = 0;
        auto done = in_batches(
            batch, {},
            [&](const std::string& in, const std::vector<sql::Value>& args) -> Result<void> {
              // Takes the rows still doomed; an upload since the sweep cleared the others
              // (see record_chunk), and their objects stay.
              CAIRN_ASSIGN_OR_RETURN(auto still,
                                     s.run("UPDATE chunks SET doomed_at = doomed_at WHERE "
                                           "doomed_at IS NOT NULL AND hash IN (" +
                                               in + ") RETURNING hash",
                                           args));
              for (size_t i = 0; i < still.size(); ++i) {
                auto d = Digest::from_bytes(still[i].get_blob(0));
                if (!d) continue;
                CAIRN_RETURN_IF_ERROR(remove(*d));
                CAIRN_RETURN_IF_ERROR(s.query(
                    "DELETE FROM chunks WHERE hash = ?1 AND doomed_at IS NOT NULL", d->bytes()));
                ++count;
              }
              return {};
            });
        if (!done) return std::move(done).error();
        return count;
      });
      if (!n) return std::move(n).error();
      removed += *n;
    }
    return removed;
  }

  Result<std::vector<PackUsage>> gc_pack_usage() override {
    return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<PackUsage>> {
      CAIRN_ASSIGN_OR_RETURN(
          auto r, s.query("SELECT p.pack_hash, p.size, p.created_at, p.retired_at, "
                          "COALESCE(SUM(pc.stored_size), 0), COUNT(pc.hash), p.chunk_count FROM "
                          "packs p LEFT JOIN pack_chunks pc ON pc.pack_hash = p.pack_hash "
                          "GROUP BY p.pack_hash, p.size, p.created_at, p.retired_at, "
                          "p.chunk_count ORDER BY p.created_at, p.pack_hash"));
      std::vector<PackUsage> out;
      for (size_t i = 0; i < r.size(); ++i) {
        auto d = Digest::from_bytes(r[i].get_blob(0));
        if (!d) continue;
        PackUsage u;
        u.pack = *d;
        u.size = static_cast<uint64_t>(r[i].get_int(1));
        u.created_at = r[i].get_int(2);
        u.retired_at = r[i].get_optional_int(3);
        u.live_bytes = static_cast<uint64_t>(r[i].get_int(4));
        u.live_chunks = r[i].get_int(5);
        u.chunk_count = r[i].get_int(6);
        out.push_back(u);
      }
      return out;
    });
  }

  Result<std::vector<ChunkLocation>> gc_pack_chunks(const Digest& pack) override {
    return sql::transact(
        *db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<ChunkLocation>> {
          CAIRN_ASSIGN_OR_RETURN(auto r,
                                 s.query("SELECT hash, pack_offset, stored_size, size, codec FROM "
                                         "pack_chunks WHERE pack_hash = ?1 ORDER BY pack_offset",
                                         pack.bytes()));
          std::vector<ChunkLocation> out;
          for (size_t i = 0; i < r.size(); ++i) {
            auto d = Digest::from_bytes(r[i].get_blob(0));
            if (d && (out.empty() || out.back().hash != *d)) {
              out.push_back(location_from_row(r[i], *d, pack));
            }
          }
          return out;
        });
  }

  Result<int64_t> gc_replace_packs(const std::vector<Digest>& old_packs, const Digest& new_pack,
                                   uint64_t new_size, const std::vector<PackEntry>& entries,
                                   int64_t now) override {
    return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<int64_t> {
      // Only chunks an old pack still holds move: a sweep may have forgotten some meanwhile.
      std::unordered_set<Digest> held;
      std::vector<std::pair<Digest, int64_t>> claims;  // (chunk, claimant) of unverified packs
      for (const auto& old_pack : old_packs) {
        CAIRN_ASSIGN_OR_RETURN(
            auto still, s.query("SELECT hash, reader_id FROM pack_chunks WHERE pack_hash = ?1",
                                old_pack.bytes()));
        for (size_t i = 0; i < still.size(); ++i) {
          auto d = Digest::from_bytes(still[i].get_blob(0));
          if (!d) continue;
          held.insert(*d);
          if (still[i].get_int(1) != 0) claims.emplace_back(*d, still[i].get_int(1));
        }
      }
      std::vector<PackEntry> moving;
      std::unordered_set<Digest> moved;
      for (const auto& e : entries) {
        if (held.count(e.hash) != 0 && moved.insert(e.hash).second) moving.push_back(e);
      }
      // The daemon verified every chunk it copies: a claim its uploader made (a pack the daemon
      // never saw) proved true, and the claimant now holds the chunk.
      for (const auto& [d, reader] : claims) {
        if (moved.count(d) == 0) continue;
        CAIRN_RETURN_IF_ERROR(
            s.query("INSERT INTO user_chunks(user_id, hash) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                    reader, d.bytes()));
      }
      CAIRN_RETURN_IF_ERROR(
          s.query("INSERT INTO packs(pack_hash, size, chunk_count, uploader_id, verified, "
                  "created_at, retired_at) VALUES (?1, ?2, ?3, 0, 1, ?4, ?5) "
                  "ON CONFLICT DO NOTHING",
                  new_pack.bytes(), new_size, static_cast<int64_t>(entries.size()), now,
                  moving.empty() ? std::optional<int64_t>(now) : std::optional<int64_t>()));
      CAIRN_RETURN_IF_ERROR(insert_pack_chunks(s, new_pack, 0, moving));
      for (const auto& old_pack : old_packs) {
        if (old_pack == new_pack) continue;
        CAIRN_RETURN_IF_ERROR(
            s.query("DELETE FROM pack_chunks WHERE pack_hash = ?1", old_pack.bytes()));
        CAIRN_RETURN_IF_ERROR(s.query("UPDATE packs SET retired_at = ?2 WHERE pack_hash = ?1",
                                      old_pack.bytes(), now));
      }
      return static_cast<int64_t>(moving.size());
    });
  }

  Result<bool> gc_retire_pack(const Digest& pack, int64_t now) override {
    return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<bool> {
      CAIRN_ASSIGN_OR_RETURN(
          auto retired,
          s.query("UPDATE packs SET retired_at = ?2 WHERE pack_hash = ?1 AND retired_at IS NULL "
                  "AND NOT EXISTS (SELECT 1 FROM pack_chunks pc WHERE pc.pack_hash = ?1)",
                  pack.bytes(), now));
      return retired.affected > 0;
    });
  }

  Result<void> gc_forget_pack(const Digest& pack) override {
    return db_->transact(TxMode::kWrite, [&](Session& s) -> Result<void> {
      CAIRN_RETURN_IF_ERROR(s.query(
          "DELETE FROM packs WHERE pack_hash = ?1 AND retired_at IS NOT NULL AND NOT EXISTS "
          "(SELECT 1 FROM pack_chunks pc WHERE pc.pack_hash = ?1)",
          pack.bytes()));
      return {};
    });
  }

  // --- damage ---

  Result<CopyFate> forget_damaged_copy(const ChunkRef& chunk, const std::optional<Digest>& pack,
                                       int64_t now, const std::string& detail,
                                       const std::function<Result<bool>()>& confirm) override {
    return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<CopyFate> {
      // Take the row first (an upload of the same chunk takes it before it publishes), then
      // look at the bytes again. A copy the index no longer records (gc took it) is nobody's
      // loss.
      CAIRN_ASSIGN_OR_RETURN(auto own, s.query("UPDATE chunks SET size = size WHERE hash = ?1 AND "
                                               "doomed_at IS NULL RETURNING hash",
                                               chunk.hash.bytes()));
      if (pack) {
        CAIRN_ASSIGN_OR_RETURN(auto placed, s.query("SELECT 1 FROM pack_chunks WHERE hash = ?1 AND "
                                                    "pack_hash = ?2",
                                                    chunk.hash.bytes(), pack->bytes()));
        if (placed.empty()) return CopyFate::kSound;
      } else if (own.empty()) {
        return CopyFate::kSound;
      }
      if (confirm) {
        CAIRN_ASSIGN_OR_RETURN(const bool damaged, confirm());
        if (!damaged) return CopyFate::kSound;
      }
      if (pack) {
        CAIRN_RETURN_IF_ERROR(s.query("DELETE FROM pack_chunks WHERE hash = ?1 AND pack_hash = ?2",
                                      chunk.hash.bytes(), pack->bytes()));
      } else {
        CAIRN_RETURN_IF_ERROR(s.query("DELETE FROM chunks WHERE hash = ?1", chunk.hash.bytes()));
      }
      CAIRN_ASSIGN_OR_RETURN(
          auto left, s.query("SELECT 1 FROM chunks WHERE hash = ?1 AND doomed_at IS NULL UNION "
                             "ALL SELECT 1 FROM pack_chunks WHERE hash = ?1",
                             chunk.hash.bytes()));
      if (!left.empty()) return CopyFate::kForgotten;
      CAIRN_RETURN_IF_ERROR(
          s.query("INSERT INTO damaged_chunks(hash, size, found_at, detail) VALUES (?1, ?2, ?3, "
                  "?4) ON CONFLICT DO NOTHING",
                  chunk.hash.bytes(), static_cast<int64_t>(chunk.length), now, detail));
      return CopyFate::kLost;
    });
  }

  Result<int64_t> record_lost_chunks(const std::vector<ChunkRef>& chunks, int64_t now,
                                     const std::string& detail) override {
    return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<int64_t> {
      int64_t recorded = 0;
      for (const auto& c : chunks) {
        CAIRN_ASSIGN_OR_RETURN(
            auto copy, s.query("SELECT 1 FROM chunks WHERE hash = ?1 AND doomed_at IS NULL UNION "
                               "ALL SELECT 1 FROM pack_chunks WHERE hash = ?1",
                               c.hash.bytes()));
        if (!copy.empty()) continue;  // Stored since the snapshot that missed it.
        CAIRN_ASSIGN_OR_RETURN(
            auto r, s.query("INSERT INTO damaged_chunks(hash, size, found_at, detail) VALUES "
                            "(?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                            c.hash.bytes(), static_cast<int64_t>(c.length), now, detail));
        recorded += r.affected;
      }
      return recorded;
    });
  }

  Result<std::vector<DamagedChunk>> damaged_chunks() override {
    return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<DamagedChunk>> {
      CAIRN_ASSIGN_OR_RETURN(auto r, s.query("SELECT hash, size, found_at, detail FROM "
                                             "damaged_chunks ORDER BY found_at, hash"));
      std::vector<DamagedChunk> out;
      for (size_t i = 0; i < r.size(); ++i) {
        auto d = Digest::from_bytes(r[i].get_blob(0));
        if (!d) continue;
        out.push_back(
            {*d, static_cast<uint64_t>(r[i].get_int(1)), r[i].get_int(2), r[i].get_text(3)});
      }
      return out;
    });
  }

  Result<int64_t> index_damage() override {
    // Read every manifest in one snapshot, then record what was found in a short write: a scan
    // of every manifest must not hold the writer. Manifests never change; one committed in
    // between that needs a damaged chunk could only be committed by someone who claims it.
    std::unordered_set<Digest> pending;
    std::vector<std::pair<Digest, Digest>> needs;  // (chunk, manifest)
    CAIRN_RETURN_IF_ERROR(sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<void> {
      pending.clear();
      needs.clear();
      CAIRN_ASSIGN_OR_RETURN(auto r, s.query("SELECT hash FROM damaged_chunks WHERE indexed = 0"));
      collect_digests(r, 0, pending);
      if (pending.empty()) return {};
      CAIRN_ASSIGN_OR_RETURN(auto m, s.query("SELECT manifest_hash, body FROM manifests"));
      for (size_t i = 0; i < m.size(); ++i) {
        auto digest = Digest::from_bytes(m[i].get_blob(0));
        auto decoded = Manifest::decode(m[i].get_blob(1));
        if (!digest || !decoded) continue;  // check_metadata reports unreadable manifests.
        std::unordered_set<Digest> seen;
        for (const auto& c : decoded->chunks()) {
          if (pending.count(c.hash) != 0 && seen.insert(c.hash).second) {
            needs.emplace_back(c.hash, *digest);
          }
        }
      }
      return {};
    }));
    if (pending.empty()) return 0;
    return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<int64_t> {
      // Only for chunks still damaged: one repaired meanwhile needs nothing.
      CAIRN_ASSIGN_OR_RETURN(auto still, s.query("SELECT hash FROM damaged_chunks"));
      std::unordered_set<Digest> damaged;
      collect_digests(still, 0, damaged);
      for (const auto& [chunk, manifest] : needs) {
        if (damaged.count(chunk) == 0) continue;
        CAIRN_RETURN_IF_ERROR(
            s.query("INSERT INTO damaged_needs(hash, manifest_hash) VALUES (?1, ?2) ON CONFLICT "
                    "DO NOTHING",
                    chunk.bytes(), manifest.bytes()));
      }
      const std::vector<Digest> done(pending.begin(), pending.end());
      auto marked = in_batches(
          done, {},
          [&](const std::string& in, const std::vector<sql::Value>& args) -> Result<void> {
            auto r =
                s.run("UPDATE damaged_chunks SET indexed = 1 WHERE hash IN (" + in + ")", args);
            if (!r) return std::move(r).error();
            return {};
          });
      if (!marked) return std::move(marked).error();
      return static_cast<int64_t>(done.size());
    });
  }

  Result<std::vector<DamagedVersion>> damaged_versions() override {
    return sql::transact(
        *db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<DamagedVersion>> {
          Tx tx(s);
          CAIRN_ASSIGN_OR_RETURN(
              auto r,
              s.query("SELECT dn.hash, v.namespace_id, v.node_id, v.seq, n.head_seq, "
                      "n.deleted_at, u.name FROM damaged_needs dn JOIN versions v ON "
                      "v.manifest_hash = dn.manifest_hash JOIN nodes n ON n.node_id = v.node_id "
                      "JOIN namespaces ns ON ns.namespace_id = v.namespace_id JOIN users u ON "
                      "u.user_id = ns.owner_id ORDER BY u.name, v.node_id, v.seq DESC"));
          std::vector<DamagedVersion> out;
          for (size_t i = 0; i < r.size(); ++i) {
            auto d = Digest::from_bytes(r[i].get_blob(0));
            if (!d) continue;
            DamagedVersion v;
            v.chunk = *d;
            v.node_id = r[i].get_int(2);
            v.version = r[i].get_int(3);
            v.head = r[i].get_int(4) == v.version;
            v.deleted = !r[i].is_null(5);
            v.owner = r[i].get_text(6);
            CAIRN_ASSIGN_OR_RETURN(v.path, tx.node_path(r[i].get_int(1), v.node_id));
            out.push_back(std::move(v));
          }
          return out;
        });
  }

  Result<std::vector<FileToRepair>> files_to_repair(int64_t user_id,
                                                    const std::string& scope_path) override {
    return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<FileToRepair>> {
      Tx tx(s);
      std::vector<FileToRepair> out;
      CAIRN_ASSIGN_OR_RETURN(auto any, s.query("SELECT 1 FROM damaged_needs LIMIT 1"));
      if (any.empty()) return out;  // Nearly always: one cheap query per push.
      CAIRN_ASSIGN_OR_RETURN(
          auto u, s.query("SELECT home_namespace_id FROM users WHERE user_id=?1", user_id));
      if (u.empty()) return out;
      Actor a;
      a.user_id = user_id;
      a.namespace_id = u[0].get_int(0);
      // The namespaces of the user's view: their own, and those shared with them.
      std::vector<int64_t> spaces = {a.namespace_id};
      CAIRN_ASSIGN_OR_RETURN(const auto* all, tx.mounts(user_id));
      for (const auto& m : *all) spaces.push_back(m.ns);
      CAIRN_ASSIGN_OR_RETURN(
          auto r, s.query("SELECT dn.hash, d.size, v.namespace_id, v.node_id, v.seq FROM "
                          "damaged_needs dn JOIN damaged_chunks d ON d.hash = dn.hash JOIN "
                          "versions v ON v.manifest_hash = dn.manifest_hash JOIN nodes n ON "
                          "n.node_id = v.node_id AND n.head_seq = v.seq WHERE "
                          "n.deleted_at IS NULL AND v.namespace_id IN (" +
                          id_list(spaces) + ") ORDER BY v.node_id, dn.hash"));
      std::map<std::pair<int64_t, int64_t>, size_t> at;  // (namespace, node) -> out index
      for (size_t i = 0; i < r.size(); ++i) {
        auto d = Digest::from_bytes(r[i].get_blob(0));
        if (!d) continue;
        const int64_t ns = r[i].get_int(2);
        const int64_t node = r[i].get_int(3);
        auto it = at.find({ns, node});
        if (it == at.end()) {
          CAIRN_ASSIGN_OR_RETURN(std::string path, tx.link_path(a, ns, node));
          if (path.empty() || !within(path, scope_path)) continue;
          it = at.emplace(std::make_pair(ns, node), out.size()).first;
          out.push_back({std::move(path), node, r[i].get_int(4), {}});
        }
        out[it->second].chunks.push_back({*d, static_cast<uint32_t>(r[i].get_int(1))});
      }
      return out;
    });
  }

  Result<MetadataCheck> check_metadata() override {
    return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<MetadataCheck> {
      Tx tx(s);
      MetadataCheck out;
      auto problem = [&](std::string text) { out.problems.push_back(std::move(text)); };
      auto where = [&](int64_t ns, int64_t node) -> std::string {
        auto path = tx.node_path(ns, node);
        return "node " + std::to_string(node) + (path ? " (" + *path + ")" : std::string());
      };

      // Every version's manifest is stored; every chunk it needs has a copy.
      CAIRN_ASSIGN_OR_RETURN(auto count, s.query("SELECT COUNT(*) FROM versions"));
      out.versions = count.empty() ? 0 : count[0].get_int(0);
      CAIRN_ASSIGN_OR_RETURN(
          auto orphans,
          s.query("SELECT v.namespace_id, v.node_id, v.seq FROM versions v WHERE "
                  "v.manifest_hash IS NOT NULL AND NOT EXISTS (SELECT 1 FROM manifests m WHERE "
                  "m.manifest_hash = v.manifest_hash) ORDER BY v.node_id, v.seq"));
      for (size_t i = 0; i < orphans.size(); ++i) {
        problem("version " + std::to_string(orphans[i].get_int(2)) + " of " +
                where(orphans[i].get_int(0), orphans[i].get_int(1)) +
                " names a manifest that is not stored");
      }
      CAIRN_ASSIGN_OR_RETURN(
          auto bodies, s.query("SELECT manifest_hash, body FROM manifests WHERE manifest_hash IN "
                               "(SELECT manifest_hash FROM versions WHERE manifest_hash IS NOT "
                               "NULL)"));
      out.manifests = static_cast<int64_t>(bodies.size());
      std::unordered_map<Digest, uint32_t> needed;
      for (size_t i = 0; i < bodies.size(); ++i) {
        auto m = Manifest::decode(bodies[i].get_blob(1));
        if (!m) {
          auto d = Digest::from_bytes(bodies[i].get_blob(0));
          problem("manifest " + (d ? d->hex() : std::string("?")) +
                  " does not decode: " + m.error().message());
          continue;
        }
        for (const auto& c : m->chunks()) needed.emplace(c.hash, c.length);
      }
      out.chunks = static_cast<int64_t>(needed.size());
      CAIRN_ASSIGN_OR_RETURN(
          auto located, s.query("SELECT hash FROM chunks WHERE doomed_at IS NULL UNION SELECT "
                                "hash FROM pack_chunks UNION SELECT hash FROM damaged_chunks"));
      for (size_t i = 0; i < located.size(); ++i) {
        if (auto d = Digest::from_bytes(located[i].get_blob(0))) needed.erase(*d);
      }
      for (const auto& [hash, length] : needed) out.unlocated.push_back({hash, length});
      std::sort(out.unlocated.begin(), out.unlocated.end(),
                [](const ChunkRef& x, const ChunkRef& y) { return x.hash < y.hash; });

      // The closure: every node is its own descendant at depth 0, and its parent's at depth 1.
      CAIRN_ASSIGN_OR_RETURN(
          auto unclosed,
          s.query("SELECT n.namespace_id, n.node_id FROM nodes n WHERE NOT EXISTS (SELECT 1 FROM "
                  "closure c WHERE c.ancestor = n.node_id AND c.descendant = n.node_id AND "
                  "c.depth = 0) OR (n.parent_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                  "closure c WHERE c.ancestor = n.parent_id AND c.descendant = n.node_id AND "
                  "c.depth = 1)) ORDER BY n.node_id"));
      for (size_t i = 0; i < unclosed.size(); ++i) {
        problem(where(unclosed[i].get_int(0), unclosed[i].get_int(1)) +
                ": the closure table does not match its parent");
      }

      // Quotas: what each user is charged is the size of their files' heads, trash included.
      CAIRN_ASSIGN_OR_RETURN(
          auto quotas,
          s.query("SELECT u.name, q.used_bytes, COALESCE((SELECT SUM(v.size) FROM nodes n JOIN "
                  "namespaces ns ON ns.namespace_id = n.namespace_id JOIN versions v ON "
                  "v.node_id = n.node_id AND v.seq = n.head_seq WHERE ns.owner_id = u.user_id "
                  "AND n.kind = 0 AND n.purged_at IS NULL), 0) FROM users u JOIN quotas q ON "
                  "q.user_id = u.user_id ORDER BY u.name"));
      for (size_t i = 0; i < quotas.size(); ++i) {
        if (quotas[i].get_int(1) != quotas[i].get_int(2)) {
          problem("user " + quotas[i].get_text(0) + " is charged " +
                  std::to_string(quotas[i].get_int(1)) + " bytes, but their files hold " +
                  std::to_string(quotas[i].get_int(2)));
        }
      }

      // Journals: no change is numbered past its namespace's last sequence number.
      CAIRN_ASSIGN_OR_RETURN(
          auto ahead, s.query("SELECT ns.namespace_id, ns.last_seq, MAX(j.seq) FROM namespaces "
                              "ns JOIN journal j ON j.namespace_id = ns.namespace_id GROUP BY "
                              "ns.namespace_id, ns.last_seq HAVING MAX(j.seq) > ns.last_seq"));
      for (size_t i = 0; i < ahead.size(); ++i) {
        problem("namespace " + std::to_string(ahead[i].get_int(0)) + " is at change " +
                std::to_string(ahead[i].get_int(1)) + " but its journal reaches " +
                std::to_string(ahead[i].get_int(2)));
      }

      // Packs and their index: every indexed chunk lies inside a live pack that exists.
      CAIRN_ASSIGN_OR_RETURN(
          auto astray,
          s.query("SELECT pc.hash, pc.pack_hash, p.size, p.retired_at, pc.pack_offset, "
                  "pc.stored_size FROM pack_chunks pc LEFT JOIN packs p ON p.pack_hash = "
                  "pc.pack_hash WHERE p.pack_hash IS NULL OR p.retired_at IS NOT NULL OR "
                  "pc.pack_offset < 0 OR pc.pack_offset + pc.stored_size > p.size"));
      for (size_t i = 0; i < astray.size(); ++i) {
        auto chunk = Digest::from_bytes(astray[i].get_blob(0));
        auto pack = Digest::from_bytes(astray[i].get_blob(1));
        const std::string what =
            "chunk " + (chunk ? chunk->hex() : "?") + " in pack " + (pack ? pack->hex() : "?");
        if (astray[i].is_null(2)) {
          problem(what + ": the pack is not recorded");
        } else if (!astray[i].is_null(3)) {
          problem(what + ": the pack is retired");
        } else {
          problem(what + ": its place lies outside the pack");
        }
      }
      return out;
    });
  }

  Result<std::vector<ChunkRef>> stored_chunks() override {
    return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<ChunkRef>> {
      CAIRN_ASSIGN_OR_RETURN(
          auto r, s.query("SELECT hash, size FROM chunks WHERE doomed_at IS NULL ORDER BY hash"));
      std::vector<ChunkRef> out;
      out.reserve(r.size());
      for (size_t i = 0; i < r.size(); ++i) {
        if (auto d = Digest::from_bytes(r[i].get_blob(0))) {
          out.push_back({*d, static_cast<uint32_t>(r[i].get_int(1))});
        }
      }
      return out;
    });
  }

  Result<std::vector<ChunkRef>> missing_upload_chunks(int64_t user_id,
                                                      const std::vector<std::string>& upload_ids,
                                                      int64_t now) override {
    return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<ChunkRef>> {
      Tx tx(s);
      std::vector<ChunkRef> out;
      std::set<Digest> seen;
      for (const auto& id : upload_ids) {
        CAIRN_ASSIGN_OR_RETURN(
            auto r, s.query("SELECT m.body FROM uploads u JOIN manifests m ON m.manifest_hash = "
                            "u.manifest_hash WHERE u.upload_id=?1 AND u.user_id=?2 AND "
                            "u.expires_at >= ?3",
                            id, user_id, now));
        if (r.empty()) continue;
        auto manifest = Manifest::decode(r[0].get_blob(0));
        if (!manifest) return std::move(manifest).error();
        CAIRN_ASSIGN_OR_RETURN(auto held, tx.held_chunks(user_id, Tx::digests_of(*manifest)));
        for (const auto& c : manifest->chunks()) {
          if (held.count(c.hash) == 0 && seen.insert(c.hash).second) out.push_back(c);
        }
      }
      return out;
    });
  }

  Result<void> save_uploads(const std::vector<StagedUpload>& uploads) override {
    return db_->transact(TxMode::kWrite, [&](Session& s) -> Result<void> {
      for (const auto& u : uploads) {
        std::optional<ByteView> manifest_hash;
        if (u.manifest_hash) {
          manifest_hash = u.manifest_hash->bytes();
          auto decoded = Manifest::decode(u.manifest);
          if (!decoded) return std::move(decoded).error();
          CAIRN_ASSIGN_OR_RETURN(
              auto m, s.query("INSERT INTO manifests(manifest_hash, body, size, chunk_count) "
                              "VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                              *manifest_hash, ByteView(u.manifest), u.size,
                              static_cast<int64_t>(decoded->chunks().size())));
        }
        CAIRN_ASSIGN_OR_RETURN(
            auto q,
            s.query("INSERT INTO uploads(upload_id, user_id, namespace_id, path, kind, "
                    "mode, mtime_ns, symlink_target, manifest_hash, size, base_seq, "
                    "created_at, expires_at, node_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, "
                    "?10, ?11, ?12, ?13, ?14)",
                    u.upload_id, u.user_id, u.namespace_id, u.path, kind_code(u.kind), u.mode,
                    u.mtime_ns, u.symlink_target, manifest_hash, u.size, u.base_version,
                    u.created_at, u.expires_at, u.node_id));
      }
      return {};
    });
  }

  Result<std::vector<CommitResult>> commit(
      const Actor& actor, const std::vector<CommitOp>& ops,
      const std::vector<std::optional<StagedUpload>>& files) override {
    // One transaction (one fsync) for the whole batch; a savepoint per op makes each op atomic
    // on its own, so one bad op does not undo its neighbours.
    return sql::transact(
        *db_, TxMode::kWrite, [&](Session& s) -> Result<std::vector<CommitResult>> {
          Tx tx(s);
          CAIRN_RETURN_IF_ERROR(tx.still_authorised(actor));
          std::vector<CommitResult> results;
          results.reserve(ops.size());
          for (size_t i = 0; i < ops.size(); ++i) {
            const CommitOp& op = ops[i];
            CAIRN_RETURN_IF_ERROR(s.exec("SAVEPOINT op"));
            Result<CommitResult> r =
                tx.apply(actor, op, i < files.size() && files[i] ? &*files[i] : nullptr);
            const bool keep = r.has_value() && r->status != OpStatus::kConflict;
            if (!keep) CAIRN_RETURN_IF_ERROR(s.exec("ROLLBACK TO SAVEPOINT op"));
            if (!keep || op.kind == OpKind::kDelete || op.kind == OpKind::kMove) {
              tx.forget_folders();
            }
            CAIRN_RETURN_IF_ERROR(s.exec("RELEASE SAVEPOINT op"));
            if (r) {
              results.push_back(std::move(r).value());
              continue;
            }
            const Error& e = r.error();
            if (aborts_batch(e)) return e;
            CommitResult failed;
            failed.status = OpStatus::kError;
            failed.path = op.kind == OpKind::kMove ? op.to : op.path;
            if (i < files.size() && files[i]) failed.path = files[i]->path;
            failed.node_id = op.node_id;
            failed.error_code = std::string(error_code_name(e.code()));
            failed.message = e.message();
            results.push_back(std::move(failed));
          }
          return results;
        });
  }

  Result<int64_t> expire_uploads(int64_t now) override {
    return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<int64_t> {
      CAIRN_ASSIGN_OR_RETURN(auto r, s.query("DELETE FROM uploads WHERE expires_at < ?1", now));
      return r.affected;
    });
  }

  Result<Bytes> get_manifest(int64_t user_id, const Digest& digest,
                             const std::string& scope_path) override {
    return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<Bytes> {
      Tx tx(s);
      CAIRN_ASSIGN_OR_RETURN(auto roots, tx.scope_roots(user_id, scope_path));
      CAIRN_ASSIGN_OR_RETURN(auto authors, tx.manifest_authors(user_id, {digest}, roots));
      bool readable = !authors.empty();
      if (!readable) {
        // One of the user's own upload sessions (its paths are of the user's view).
        CAIRN_ASSIGN_OR_RETURN(
            auto staged,
            s.query("SELECT path FROM uploads WHERE manifest_hash=?1 AND user_id=?2 LIMIT 100",
                    digest.bytes(), user_id));
        for (size_t i = 0; i < staged.size() && !readable; ++i) {
          readable = within(staged[i].get_text(0), scope_path == "/" ? "" : scope_path);
        }
      }
      if (readable) {
        CAIRN_ASSIGN_OR_RETURN(
            auto r, s.query("SELECT body FROM manifests WHERE manifest_hash=?1", digest.bytes()));
        if (!r.empty()) return r[0].get_blob(0);
      }
      return make_error(ErrorCode::kNotFound, "manifest " + digest.hex());
    });
  }

  Result<bool> user_can_read_chunk(int64_t user_id, const Digest& digest) override {
    return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<bool> {
      return Tx(s).user_has_chunk(user_id, digest);
    });
  }

  Result<protocol::ListResponse> list(const Actor& actor, const std::string& path) override {
    return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<protocol::ListResponse> {
      Tx tx(s);
      CAIRN_ASSIGN_OR_RETURN(auto p, tx.place_contents(actor, path));
      CAIRN_ASSIGN_OR_RETURN(auto node, tx.resolve(p.ns, p.path));
      if (!node) return make_error(ErrorCode::kNotFound, "no such file or folder: " + path);
      protocol::ListResponse out;
      out.path = path;
      if (node->kind != NodeKind::kFolder) {
        CAIRN_ASSIGN_OR_RETURN(auto e, tx.entry(p.ns, node->node_id, &path));
        if (p.mount != nullptr && p.mount->file) show_as_mount(*p.mount, e);
        out.entries.push_back(std::move(e));
        return out;
      }
      CAIRN_ASSIGN_OR_RETURN(
          auto r, s.query(std::string("SELECT n.node_id, n.name, ") + kEntryColumns +
                              " FROM nodes n LEFT JOIN versions v ON v.namespace_id = "
                              "n.namespace_id AND v.node_id = n.node_id AND v.seq = "
                              "n.head_seq WHERE n.namespace_id=?1 AND n.parent_id=?2 AND "
                              "n.deleted_at IS NULL ORDER BY n.name",
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
      }
      return out;
    });
  }

  Result<ChangesPage> changes(const Actor& actor, const FeedCursor& after, int limit) override {
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
        CAIRN_ASSIGN_OR_RETURN(
            auto head, s.query("SELECT last_seq FROM namespaces WHERE namespace_id=?1", ns));
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
                         "AND j.seq IN (SELECT MAX(seq) FROM journal WHERE namespace_id=?1 AND "
                         "seq > ?2 GROUP BY node_id) ORDER BY j.seq LIMIT ?3",
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
        for (size_t i = 0; i < n; ++i) {
          CAIRN_ASSIGN_OR_RETURN(auto e, tx.entry(ns, r[i].get_int(0), nullptr));
          e.change = r[i].get_text(2);
          if (mount == nullptr) {
            CAIRN_RETURN_IF_ERROR(tx.mark_mount(actor, e));
          } else if (mount->file) {
            // Wherever the owner keeps it, the grantee sees it at the mount, by the mount's id.
            e.path = mount->view_path;
            show_as_mount(*mount, e);
          } else if (mount->root_path.empty() || !is_under(e.path, mount->root_path)) {
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

  Result<void> check_write(const Actor& actor, const std::vector<std::string>& paths) override {
    return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<void> {
      Tx tx(s);
      for (const auto& path : paths) {
        CAIRN_ASSIGN_OR_RETURN(auto p, tx.place(actor, path));
        CAIRN_RETURN_IF_ERROR(Tx::writer(actor, p, path));
      }
      return {};
    });
  }

  Result<ShareInfo> share(const Actor& actor, const std::string& path, const std::string& grantee,
                          Role role) override {
    return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<ShareInfo> {
      Tx tx(s);
      CAIRN_RETURN_IF_ERROR(tx.still_authorised(actor));
      CAIRN_ASSIGN_OR_RETURN(auto owned, tx.owned_node(actor, path, "share"));
      CAIRN_ASSIGN_OR_RETURN(
          auto g, s.query("SELECT user_id, home_namespace_id FROM users WHERE name=?1", grantee));
      if (g.empty()) return make_error(ErrorCode::kNotFound, "no user named '" + grantee + "'");
      const int64_t grantee_id = g[0].get_int(0);
      const int64_t grantee_ns = g[0].get_int(1);
      if (grantee_id == actor.user_id) {
        return make_error(ErrorCode::kInvalidArgument, "you own " + path + " already");
      }
      ShareInfo out;
      out.path = path;
      out.grantee = grantee;
      out.role = role;
      out.created_at = actor.now;
      CAIRN_ASSIGN_OR_RETURN(auto me,
                             s.query("SELECT name FROM users WHERE user_id=?1", actor.user_id));
      if (!me.empty()) out.owner = me[0].get_text(0);
      CAIRN_ASSIGN_OR_RETURN(
          auto existing, s.query("SELECT share_id, mount_namespace_id, mount_node_id, created_at "
                                 "FROM shares WHERE namespace_id=?1 AND root_node_id=?2 AND "
                                 "grantee_id=?3",
                                 actor.namespace_id, owned, grantee_id));
      if (!existing.empty()) {
        // A new role: the grantee's feed shows their mount again, with it.
        out.share_id = existing[0].get_int(0);
        out.created_at = existing[0].get_int(3);
        CAIRN_RETURN_IF_ERROR(s.query("UPDATE shares SET role=?2 WHERE share_id=?1", out.share_id,
                                      std::string(role_name(role))));
        // A viewer shares nothing: the links they made as an editor end now.
        CAIRN_RETURN_IF_ERROR(tx.revoke_unshared_links(grantee_id, actor.namespace_id, actor.now));
        CAIRN_RETURN_IF_ERROR(
            tx.journal(existing[0].get_int(1), existing[0].get_int(2), "share", actor.now));
        return out;
      }
      // The grantee sees it at /Shared/NAME, or NAME (2) ... if that is taken.
      Actor them{grantee_id, grantee_ns, "", actor.now, std::nullopt, 0, ""};
      auto folder = tx.ensure_folder(them, "/Shared");
      if (!folder) {
        return make_error(folder.error().code(),
                          grantee + "'s /Shared is not a folder: " + folder.error().message());
      }
      CAIRN_ASSIGN_OR_RETURN(auto shared, tx.node_info(actor.namespace_id, owned));
      const NodeKind kind = shared ? shared->kind : NodeKind::kFolder;
      const std::string name(remote_basename(path));
      std::string mount_name = name;
      for (int n = 2;; ++n) {
        CAIRN_ASSIGN_OR_RETURN(auto taken, tx.live_child(grantee_ns, folder->first, mount_name));
        if (!taken) break;
        mount_name = numbered_name(name, n, kind != NodeKind::kFolder);
      }
      CAIRN_ASSIGN_OR_RETURN(const int64_t mount, tx.create_node(grantee_ns, folder->first,
                                                                 mount_name, kind, actor.now));
      CAIRN_RETURN_IF_ERROR(tx.journal(grantee_ns, mount, "share", actor.now));
      CAIRN_ASSIGN_OR_RETURN(
          auto ins, s.query("INSERT INTO shares(namespace_id, root_node_id, grantee_id, role, "
                            "mount_namespace_id, mount_node_id, created_by, created_at) VALUES "
                            "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING share_id",
                            actor.namespace_id, owned, grantee_id, std::string(role_name(role)),
                            grantee_ns, mount, actor.user_id, actor.now));
      out.share_id = ins[0].get_int(0);
      return out;
    });
  }

  Result<void> unshare(const Actor& actor, const std::string& path,
                       const std::string& grantee) override {
    return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<void> {
      Tx tx(s);
      CAIRN_RETURN_IF_ERROR(tx.still_authorised(actor));
      Rows r;
      if (grantee.empty()) {
        // A grantee leaves a folder shared with them.
        CAIRN_ASSIGN_OR_RETURN(const auto* all, tx.mounts(actor.user_id));
        int64_t share_id = 0;
        for (const auto& m : *all) {
          if (!m.view_path.empty() && m.view_path == path) share_id = m.share_id;
        }
        if (share_id == 0) {
          return make_error(ErrorCode::kNotFound,
                            path +
                                " is not a folder or file shared with you (to stop sharing "
                                "something of yours, name the user too)");
        }
        CAIRN_ASSIGN_OR_RETURN(
            r, s.query("SELECT share_id, mount_namespace_id, mount_node_id, grantee_id, "
                       "namespace_id FROM shares WHERE share_id=?1",
                       share_id));
      } else {
        CAIRN_ASSIGN_OR_RETURN(auto owned, tx.owned_node(actor, path, "unshare"));
        CAIRN_ASSIGN_OR_RETURN(
            r, s.query("SELECT s.share_id, s.mount_namespace_id, s.mount_node_id, "
                       "s.grantee_id, s.namespace_id FROM shares s JOIN users u ON u.user_id = "
                       "s.grantee_id WHERE s.namespace_id=?1 AND s.root_node_id=?2 AND u.name=?3",
                       actor.namespace_id, owned, grantee));
        if (r.empty()) {
          return make_error(ErrorCode::kNotFound, path + " is not shared with '" + grantee + "'");
        }
      }
      // The mount goes for good (not to the grantee's trash: there is nothing in it to restore).
      CAIRN_RETURN_IF_ERROR(s.query("DELETE FROM shares WHERE share_id=?1", r[0].get_int(0)));
      CAIRN_RETURN_IF_ERROR(
          s.query("UPDATE nodes SET deleted_at=?3, purged_at=?3 WHERE namespace_id=?1 AND "
                  "node_id=?2",
                  r[0].get_int(1), r[0].get_int(2), actor.now));
      // "unshare", not "delete": the grantee's client keeps its copy as the grantee's own.
      CAIRN_RETURN_IF_ERROR(tx.journal(r[0].get_int(1), r[0].get_int(2), "unshare", actor.now));
      // What they can no longer reach, they can no longer publish.
      CAIRN_RETURN_IF_ERROR(tx.revoke_unshared_links(r[0].get_int(3), r[0].get_int(4), actor.now));
      return {};
    });
  }

  Result<std::vector<ShareInfo>> shares(const Actor& actor, const std::string& path) override {
    return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<ShareInfo>> {
      Tx tx(s);
      std::vector<ShareInfo> out;
      auto wanted = [&](const std::string& p) {
        return path.empty() || path == "/" || p == path || is_under(p, path);
      };
      CAIRN_ASSIGN_OR_RETURN(auto me,
                             s.query("SELECT name FROM users WHERE user_id=?1", actor.user_id));
      const std::string my_name = me.empty() ? std::string() : me[0].get_text(0);
      CAIRN_ASSIGN_OR_RETURN(
          auto r, s.query("SELECT s.share_id, s.root_node_id, u.name, s.role, s.created_at, "
                          "n.deleted_at FROM shares s JOIN users u ON u.user_id = s.grantee_id "
                          "JOIN nodes n ON n.node_id = s.root_node_id WHERE s.namespace_id=?1 "
                          "ORDER BY s.share_id",
                          actor.namespace_id));
      for (size_t i = 0; i < r.size(); ++i) {
        if (!r[i].is_null(5)) continue;  // The folder is in the trash.
        ShareInfo info;
        info.share_id = r[i].get_int(0);
        CAIRN_ASSIGN_OR_RETURN(info.path, tx.node_path(actor.namespace_id, r[i].get_int(1)));
        if (!wanted(info.path)) continue;
        info.owner = my_name;
        info.grantee = r[i].get_text(2);
        info.role = role_from_name(r[i].get_text(3)).value_or(Role::kViewer);
        info.created_at = r[i].get_int(4);
        out.push_back(std::move(info));
      }
      CAIRN_ASSIGN_OR_RETURN(const auto* all, tx.mounts(actor.user_id));
      for (const auto& m : *all) {
        if (m.view_path.empty() || !wanted(m.view_path)) continue;
        ShareInfo info;
        info.share_id = m.share_id;
        info.path = m.view_path;
        info.owner = m.owner;
        info.grantee = my_name;
        info.role = m.role;
        out.push_back(std::move(info));
      }
      return out;
    });
  }

  Result<LinkInfo> create_link(const Actor& actor, const std::string& path,
                               const Digest& token_hash,
                               std::optional<int64_t> expires_at) override {
    return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<LinkInfo> {
      Tx tx(s);
      CAIRN_RETURN_IF_ERROR(tx.still_authorised(actor));
      CAIRN_ASSIGN_OR_RETURN(auto p, tx.place_contents(actor, path));
      if (p.mount != nullptr && p.mount->role != Role::kEditor) {
        return make_error(ErrorCode::kPermissionDenied,
                          path + ": " + p.mount->owner + " shares " + p.mount->view_path +
                              " with you as a viewer; a viewer cannot make links to it");
      }
      CAIRN_ASSIGN_OR_RETURN(auto node, tx.resolve(p.ns, p.path));
      if (!node) return make_error(ErrorCode::kNotFound, "no such file or folder: " + path);
      CAIRN_ASSIGN_OR_RETURN(
          auto r,
          s.query("INSERT INTO links(token_hash, namespace_id, node_id, created_by, "
                  "created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING "
                  "link_id",
                  token_hash.bytes(), p.ns, node->node_id, actor.user_id, actor.now, expires_at));
      LinkInfo info;
      info.link_id = r[0].get_int(0);
      info.path = path;
      info.created_at = actor.now;
      info.expires_at = expires_at;
      return info;
    });
  }

  Result<std::vector<LinkInfo>> links(const Actor& actor) override {
    return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<LinkInfo>> {
      Tx tx(s);
      // The actor's own links, and every link into a namespace of theirs (an editor's, into a
      // folder they share): the owner sees and ends each one.
      CAIRN_ASSIGN_OR_RETURN(
          auto r, s.query("SELECT l.link_id, l.namespace_id, l.node_id, l.created_at, "
                          "l.expires_at, l.revoked_at, u.name FROM links l JOIN users u ON "
                          "u.user_id = l.created_by WHERE l.created_by=?1 OR l.namespace_id IN "
                          "(SELECT namespace_id FROM namespaces WHERE owner_id=?1) ORDER BY "
                          "l.link_id",
                          actor.user_id));
      std::vector<LinkInfo> out;
      for (size_t i = 0; i < r.size(); ++i) {
        LinkInfo info;
        info.link_id = r[i].get_int(0);
        info.created_at = r[i].get_int(3);
        info.expires_at = r[i].get_optional_int(4);
        info.revoked_at = r[i].get_optional_int(5);
        info.created_by = r[i].get_text(6);
        CAIRN_ASSIGN_OR_RETURN(info.path, tx.link_path(actor, r[i].get_int(1), r[i].get_int(2)));
        // A token limited to a folder sees the links into it alone.
        if (!actor.scope_path.empty() &&
            (info.path.empty() || !within(info.path, actor.scope_path))) {
          continue;
        }
        out.push_back(std::move(info));
      }
      return out;
    });
  }

  Result<void> revoke_link(const Actor& actor, int64_t link_id,
                           const std::optional<Digest>& token_hash) override {
    return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<void> {
      Tx tx(s);
      CAIRN_RETURN_IF_ERROR(tx.still_authorised(actor));
      // The creator's, or one into the actor's own files.
      const std::string mine =
          " AND (created_by=?2 OR namespace_id IN (SELECT namespace_id FROM namespaces WHERE "
          "owner_id=?2))";
      Rows r;
      if (token_hash) {
        CAIRN_ASSIGN_OR_RETURN(
            r,
            s.query("SELECT link_id, namespace_id, node_id FROM links WHERE token_hash=?1" + mine,
                    token_hash->bytes(), actor.user_id));
      } else {
        CAIRN_ASSIGN_OR_RETURN(
            r, s.query("SELECT link_id, namespace_id, node_id FROM links WHERE link_id=?1" + mine,
                       link_id, actor.user_id));
      }
      bool found = !r.empty();
      if (found && !actor.scope_path.empty()) {
        CAIRN_ASSIGN_OR_RETURN(const std::string at,
                               tx.link_path(actor, r[0].get_int(1), r[0].get_int(2)));
        found = !at.empty() && within(at, actor.scope_path);
      }
      if (!found) {
        return make_error(ErrorCode::kNotFound,
                          "you have no link with id " + std::to_string(link_id));
      }
      CAIRN_RETURN_IF_ERROR(
          s.query("UPDATE links SET revoked_at = COALESCE(revoked_at, ?2) WHERE link_id=?1",
                  r[0].get_int(0), actor.now));
      return {};
    });
  }

  Result<LinkTarget> open_link(const Digest& token_hash, int64_t now) override {
    return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<LinkTarget> {
      const Error gone(ErrorCode::kNotFound, "no such link (it may have expired or been revoked)");
      CAIRN_ASSIGN_OR_RETURN(
          // Its creator must still be allowed to share it: the owner, or an editor of a folder or
          // file shared with them that holds it (a share taken away or made read-only revokes
          // their links; this check holds even for a link that escaped that).
          auto l, s.query("SELECT l.namespace_id, l.node_id, ns.owner_id, n.name, n.kind FROM "
                          "links l JOIN users u ON u.user_id = l.created_by JOIN namespaces ns "
                          "ON ns.namespace_id = l.namespace_id JOIN nodes n ON n.node_id = "
                          "l.node_id WHERE l.token_hash=?1 AND l.revoked_at IS NULL AND "
                          "(l.expires_at IS NULL OR l.expires_at > ?2) AND u.disabled = 0 AND "
                          "n.deleted_at IS NULL AND (ns.owner_id = l.created_by OR EXISTS "
                          "(SELECT 1 FROM shares sh JOIN closure c ON c.namespace_id = "
                          "sh.namespace_id AND c.ancestor = sh.root_node_id WHERE "
                          "sh.namespace_id = l.namespace_id AND c.descendant = l.node_id AND "
                          "sh.grantee_id = l.created_by AND sh.role = 'editor'))",
                          token_hash.bytes(), now));
      if (l.empty()) return gone;
      LinkTarget out;
      const int64_t ns = l[0].get_int(0);
      const int64_t root = l[0].get_int(1);
      out.reader_id = l[0].get_int(2);
      out.name = l[0].get_text(3);
      out.kind = kind_from_code(l[0].get_int(4));
      if (out.name.empty()) out.name = "files";  // A namespace's root has no name.
      // The node and (a folder) everything live under it, parents first. Mounts are left out:
      // what others share with the creator is not published by a link to a folder of theirs.
      CAIRN_ASSIGN_OR_RETURN(
          auto r,
          s.query("SELECT n.node_id, n.parent_id, n.name, n.kind, v.size, "
                  "v.mode, v.mtime_ns, v.manifest_hash, v.symlink_target, c.depth, "
                  "n.created_at, n.mode FROM closure c JOIN nodes n ON n.node_id = c.descendant "
                  "LEFT JOIN "
                  "versions v ON v.namespace_id = n.namespace_id AND v.node_id = "
                  "n.node_id AND v.seq = n.head_seq WHERE c.namespace_id=?1 AND "
                  "c.ancestor=?2 AND n.deleted_at IS NULL AND NOT EXISTS (SELECT 1 FROM shares "
                  "sh WHERE sh.mount_node_id = n.node_id) ORDER BY c.depth, n.name",
                  ns, root));
      std::unordered_map<int64_t, std::string> paths;
      for (size_t i = 0; i < r.size(); ++i) {
        const int64_t node = r[i].get_int(0);
        LinkedEntry e;
        if (r[i].get_int(9) > 0) {
          auto parent = paths.find(r[i].get_optional_int(1).value_or(0));
          if (parent == paths.end()) continue;
          e.path =
              parent->second.empty() ? r[i].get_text(2) : parent->second + "/" + r[i].get_text(2);
        }
        paths.emplace(node, e.path);
        e.kind = kind_from_code(r[i].get_int(3));
        e.size = static_cast<uint64_t>(r[i].get_optional_int(4).value_or(0));
        e.mode = static_cast<uint32_t>(
            e.kind == NodeKind::kFolder
                ? r[i].get_int(11)
                : r[i].get_optional_int(5).value_or(protocol::default_mode(e.kind)));
        // A folder has no versions: it dates from its creation.
        e.mtime_ns = r[i].get_optional_int(6).value_or(r[i].get_int(10) * 1'000'000'000);
        if (!r[i].is_null(7)) e.manifest = Digest::from_bytes(r[i].get_blob(7));
        e.symlink_target = r[i].get_text(8);
        out.entries.push_back(std::move(e));
      }
      if (out.entries.empty()) return gone;
      return out;
    });
  }

  Result<std::optional<std::string>> setting(const std::string& key) override {
    return sql::transact(
        *db_, TxMode::kRead, [&](Session& s) -> Result<std::optional<std::string>> {
          CAIRN_ASSIGN_OR_RETURN(auto r, s.query("SELECT value FROM settings WHERE key=?1", key));
          if (r.empty()) return std::optional<std::string>();
          return std::optional<std::string>(r[0].get_text(0));
        });
  }

  Result<void> set_setting(const std::string& key,
                           const std::optional<std::string>& value) override {
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

  Result<protocol::HistoryResponse> history(const Actor& actor, const std::string& path,
                                            int64_t node_id) override {
    return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<protocol::HistoryResponse> {
      Tx tx(s);
      protocol::HistoryResponse out;
      int64_t namespace_id = actor.namespace_id;
      std::string at = path;
      CAIRN_ASSIGN_OR_RETURN(const auto* shared, tx.mounts(actor.user_id));
      for (const auto& m : *shared) {
        // A shared file is known to the grantee by its mount's id: its history is the owner's.
        if (node_id != 0 && m.file && m.mount_node == node_id && !m.view_path.empty()) {
          at = m.view_path;
          node_id = 0;
        }
      }
      int64_t versions_of = node_id;
      if (node_id != 0) {
        // A node of the user's own, or one under a folder shared with them.
        CAIRN_ASSIGN_OR_RETURN(auto info, tx.node_info(namespace_id, node_id));
        Place where{namespace_id, "", nullptr};
        if (!info) {
          CAIRN_ASSIGN_OR_RETURN(const auto* all, tx.mounts(actor.user_id));
          for (const auto& m : *all) {
            Actor inside = actor;
            inside.namespace_id = m.ns;
            inside.scope_root = m.root;
            CAIRN_ASSIGN_OR_RETURN(const bool reachable, tx.in_scope(inside, node_id));
            if (!reachable || m.view_path.empty() || m.root == node_id) continue;
            CAIRN_ASSIGN_OR_RETURN(info, tx.node_info(m.ns, node_id));
            where = Place{m.ns, "", &m};
            namespace_id = m.ns;
            break;
          }
        }
        if (!info || info->purged || info->parent == 0) {
          return make_error(ErrorCode::kNotFound, "no file with id " + std::to_string(node_id));
        }
        out.node_id = node_id;
        out.deleted = info->deleted;
        if (info->kind == NodeKind::kFolder) {
          return make_error(ErrorCode::kInvalidArgument,
                            "node " + std::to_string(node_id) + " is a folder");
        }
        CAIRN_ASSIGN_OR_RETURN(out.path, tx.node_path(namespace_id, node_id));
        out.path = Tx::to_view(where, out.path);
      } else {
        CAIRN_ASSIGN_OR_RETURN(auto p, tx.place(actor, at));
        namespace_id = p.ns;
        CAIRN_ASSIGN_OR_RETURN(auto node, tx.resolve(p.ns, p.path));
        if (!node) return make_error(ErrorCode::kNotFound, "no such file: " + at);
        if (node->kind == NodeKind::kFolder) {
          return make_error(ErrorCode::kInvalidArgument,
                            at + " is a folder: versions are kept per file");
        }
        versions_of = node->node_id;
        out.node_id = p.mount != nullptr && p.mount->file ? p.mount->mount_node : node->node_id;
        out.path = at;
      }
      CAIRN_ASSIGN_OR_RETURN(
          auto r, s.query("SELECT v.seq, v.manifest_hash, v.size, v.mode, v.mtime_ns, "
                          "v.symlink_target, u.name, v.device, v.created_at FROM versions v "
                          "LEFT JOIN users u ON u.user_id = v.author_id WHERE "
                          "v.namespace_id=?1 AND v.node_id=?2 ORDER BY v.seq DESC",
                          namespace_id, versions_of));
      for (size_t i = 0; i < r.size(); ++i) {
        protocol::VersionInfo v;
        v.version = r[i].get_int(0);
        v.kind = r[i].is_null(1) ? NodeKind::kSymlink : NodeKind::kFile;
        if (!r[i].is_null(1)) v.manifest = to_hex(r[i].get_blob(1));
        v.size = static_cast<uint64_t>(r[i].get_int(2));
        v.mode = static_cast<uint32_t>(r[i].get_int(3));
        v.mtime_ns = r[i].get_int(4);
        v.symlink_target = r[i].get_text(5);
        v.author = r[i].get_text(6);
        v.device = r[i].get_text(7);
        v.created_at = r[i].get_int(8);
        out.versions.push_back(std::move(v));
      }
      return out;
    });
  }

  Result<protocol::TrashResponse> trash(int64_t namespace_id) override {
    return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<protocol::TrashResponse> {
      Tx tx(s);
      protocol::TrashResponse out;
      // What a delete named: deleted nodes whose parent is alive.
      CAIRN_ASSIGN_OR_RETURN(
          auto r, s.query("SELECT n.node_id, n.kind, n.deleted_at, n.head_seq, "
                          "COALESCE(n.trash_id, n.node_id), COALESCE(v.size, 0) FROM nodes n "
                          "JOIN nodes p ON p.node_id = n.parent_id LEFT JOIN versions v ON "
                          "v.namespace_id = n.namespace_id AND v.node_id = n.node_id AND v.seq = "
                          "n.head_seq WHERE n.namespace_id=?1 AND n.deleted_at IS NOT NULL AND "
                          "n.purged_at IS NULL AND p.deleted_at IS NULL ORDER BY n.deleted_at "
                          "DESC, n.node_id DESC",
                          namespace_id));
      for (size_t i = 0; i < r.size(); ++i) {
        protocol::TrashEntry e;
        e.node_id = r[i].get_int(0);
        e.kind = kind_from_code(r[i].get_int(1));
        e.deleted_at = r[i].get_int(2);
        e.version = r[i].get_int(3);
        CAIRN_ASSIGN_OR_RETURN(e.path, tx.node_path(namespace_id, e.node_id));
        if (e.kind == NodeKind::kFolder) {
          CAIRN_ASSIGN_OR_RETURN(
              auto sum, s.query("SELECT COUNT(*), COALESCE(SUM(v.size), 0) FROM closure c JOIN "
                                "nodes n ON n.node_id = c.descendant LEFT JOIN versions v ON "
                                "v.namespace_id = n.namespace_id AND v.node_id = n.node_id AND "
                                "v.seq = n.head_seq WHERE c.namespace_id=?1 AND c.ancestor=?2 "
                                "AND n.namespace_id=?1 AND n.kind = 0 AND n.deleted_at IS NOT "
                                "NULL AND n.purged_at IS NULL AND n.trash_id = ?3",
                                namespace_id, e.node_id, r[i].get_int(4)));
          e.files = static_cast<uint64_t>(sum[0].get_int(0));
          e.size = static_cast<uint64_t>(sum[0].get_int(1));
        } else {
          e.files = 1;
          e.size = static_cast<uint64_t>(r[i].get_int(5));
        }
        out.entries.push_back(std::move(e));
      }
      return out;
    });
  }

  Result<protocol::EmptyTrashResponse> empty_trash(int64_t namespace_id,
                                                   std::optional<int64_t> deleted_before,
                                                   int64_t now) override {
    return sql::transact(*db_, TxMode::kWrite,
                         [&](Session& s) -> Result<protocol::EmptyTrashResponse> {
                           return purge_trash(s, namespace_id, deleted_before, now);
                         });
  }

  Result<protocol::QuotaResponse> quota(int64_t user_id) override {
    return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<protocol::QuotaResponse> {
      CAIRN_ASSIGN_OR_RETURN(
          auto r, s.query("SELECT used_bytes, limit_bytes FROM quotas WHERE user_id=?1", user_id));
      protocol::QuotaResponse out;
      if (r.empty()) return out;
      out.used = static_cast<uint64_t>(std::max<int64_t>(r[0].get_int(0), 0));
      if (auto limit = r[0].get_optional_int(1)) out.limit = static_cast<uint64_t>(*limit);
      return out;
    });
  }

  Result<void> set_quota(int64_t user_id, std::optional<uint64_t> limit) override {
    return db_->transact(TxMode::kWrite, [&](Session& s) -> Result<void> {
      std::optional<int64_t> value;
      if (limit) value = static_cast<int64_t>(*limit);
      CAIRN_ASSIGN_OR_RETURN(
          auto r, s.query("UPDATE quotas SET limit_bytes=?2 WHERE user_id=?1", user_id, value));
      if (r.affected == 0) {
        CAIRN_RETURN_IF_ERROR(s.query(
            "INSERT INTO quotas(user_id, limit_bytes, used_bytes) VALUES (?1, ?2, 0) ON CONFLICT "
            "(user_id) DO UPDATE SET limit_bytes = excluded.limit_bytes",
            user_id, value));
      }
      return {};
    });
  }

  Result<void> watch_changes(std::function<void(int64_t)> changed,
                             std::function<void()> gap) override {
    if (!changed) return db_->listen(nullptr, nullptr);
    return db_->listen(
        [changed = std::move(changed)](const std::string& payload) {
          int64_t ns = 0;
          const char* end = payload.data() + payload.size();
          if (std::from_chars(payload.data(), end, ns).ptr == end && ns > 0) changed(ns);
        },
        std::move(gap));
  }

  Result<Audience> audience(int64_t ns, int64_t after) override {
    return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<Audience> {
      Audience out;
      CAIRN_ASSIGN_OR_RETURN(
          auto owner,
          s.query("SELECT owner_id, last_seq FROM namespaces WHERE namespace_id=?1", ns));
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

  Result<std::vector<Digest>> invalid_tokens(const std::vector<Digest>& token_hashes,
                                             int64_t now) override {
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

  Result<RetentionReport> apply_retention(int64_t cutoff, int64_t now) override {
    RetentionReport out;
    // Namespace by namespace, each in its own transaction, so a big install never holds the
    // writer for long.
    CAIRN_ASSIGN_OR_RETURN(
        auto namespaces,
        sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<int64_t>> {
          CAIRN_ASSIGN_OR_RETURN(auto r, s.query("SELECT namespace_id FROM namespaces"));
          std::vector<int64_t> ids;
          for (size_t i = 0; i < r.size(); ++i) ids.push_back(r[i].get_int(0));
          return ids;
        }));
    for (const int64_t ns : namespaces) {
      auto done = sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<void> {
        // A version is history once a newer one exists; it is kept until that newer one is
        // older than the cutoff. Heads are never touched.
        CAIRN_ASSIGN_OR_RETURN(
            auto gone, s.query("DELETE FROM versions WHERE namespace_id=?1 AND EXISTS (SELECT 1 "
                               "FROM versions w WHERE w.namespace_id = versions.namespace_id AND "
                               "w.node_id = versions.node_id AND w.seq > versions.seq AND "
                               "w.created_at < ?2)",
                               ns, cutoff));
        out.versions += gone.affected;
        CAIRN_ASSIGN_OR_RETURN(auto purged, purge_trash(s, ns, cutoff, now));
        out.nodes += static_cast<int64_t>(purged.nodes);
        out.bytes += purged.bytes;
        return {};
      });
      if (!done) return std::move(done).error();
    }
    return out;
  }

 private:
  // kUnauthenticated unless token `token_id` of `user_id` is still valid (0: none to check).
  static Result<void> token_still_valid(Session& s, int64_t user_id, int64_t token_id,
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

  // Deletes for good the deleted nodes of a namespace (deleted before `before`, if given): their
  // versions go (their chunks become garbage for gc), the nodes stay marked purged so that the
  // change feed still knows them, and their heads are refunded to the owner's quota.
  static Result<protocol::EmptyTrashResponse> purge_trash(Session& s, int64_t ns,
                                                          std::optional<int64_t> before,
                                                          int64_t now) {
    protocol::EmptyTrashResponse out;
    CAIRN_ASSIGN_OR_RETURN(
        auto r, s.query("SELECT n.node_id, n.kind, COALESCE(v.size, 0) FROM nodes n LEFT JOIN "
                        "versions v ON v.namespace_id = n.namespace_id AND v.node_id = n.node_id "
                        "AND v.seq = n.head_seq WHERE n.namespace_id=?1 AND n.deleted_at IS NOT "
                        "NULL AND n.purged_at IS NULL AND n.deleted_at < ?2",
                        ns, before.value_or(std::numeric_limits<int64_t>::max())));
    if (r.empty()) return out;
    std::vector<int64_t> ids;
    int64_t bytes = 0;
    for (size_t i = 0; i < r.size(); ++i) {
      ids.push_back(r[i].get_int(0));
      if (kind_from_code(r[i].get_int(1)) == NodeKind::kFile) bytes += r[i].get_int(2);
    }
    constexpr size_t kPerStatement = 500;
    for (size_t begin = 0; begin < ids.size(); begin += kPerStatement) {
      const size_t end = std::min(ids.size(), begin + kPerStatement);
      // "?3, ?4, ..." after the statement's two leading parameters.
      std::string in;
      std::vector<sql::Value> ids_args;
      for (size_t i = begin; i < end; ++i) {
        in += (i == begin ? "?" : ", ?") + std::to_string(ids_args.size() + 3);
        ids_args.push_back(sql::to_value(ids[i]));
      }
      std::vector<sql::Value> args{sql::to_value(ns), sql::to_value(now)};
      args.insert(args.end(), ids_args.begin(), ids_args.end());
      CAIRN_RETURN_IF_ERROR(s.run(
          "UPDATE nodes SET purged_at=?2 WHERE namespace_id=?1 AND node_id IN (" + in + ")", args));
      args[1] = sql::to_value(int64_t{0});
      CAIRN_RETURN_IF_ERROR(s.run(
          "DELETE FROM versions WHERE namespace_id=?1 AND seq > ?2 AND node_id IN (" + in + ")",
          args));
    }
    Tx tx(s);
    CAIRN_RETURN_IF_ERROR(tx.charge(ns, -bytes));
    out.nodes = ids.size();
    out.bytes = static_cast<uint64_t>(bytes);
    return out;
  }

  std::unique_ptr<sql::Database> db_;
};

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

}  // namespace

int metadata_schema_version() { return static_cast<int>(kSqliteMigrations.size()); }

Result<std::unique_ptr<MetadataStore>> open_metadata_store(const std::string& location, bool create,
                                                           int up_to) {
  std::unique_ptr<sql::Database> db;
  std::string where = location;
  if (sql::is_postgres_url(location)) {
    where = sql::redact_postgres_url(location);
    CAIRN_ASSIGN_OR_RETURN(db, sql::open_postgres({location}));
  } else {
    CAIRN_ASSIGN_OR_RETURN(db, sql::open_sqlite(location, create));
  }
  auto store = std::make_unique<SqlMetadataStore>(std::move(db));
  CAIRN_RETURN_IF_ERROR(store->migrate(where, up_to));
  return std::unique_ptr<MetadataStore>(std::move(store));
}

}  // namespace cairn::store
