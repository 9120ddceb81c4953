#pragma once

// Metadata of users, tokens, namespaces, nodes, versions, manifests, the chunk index, upload
// sessions and the change journal. Every mutating method is one transaction; permission and
// precondition checks happen inside the transaction that acts on them. Implementations are safe
// to call from any thread.

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/error.h"
#include "common/hash.h"
#include "common/manifest.h"
#include "common/pack.h"
#include "common/protocol/protocol.h"

namespace cairn::store {

using protocol::NodeKind;

// What a token may do beyond its user's rights: everything, or less.
struct TokenScope {
  bool read_only = false;
  std::string path;  // Empty: everywhere; else only this path and what is under it.
};

// What a token is for. An API token is a bearer token; the others are the web page's (docs/web.md):
// a session lives in an HttpOnly cookie, and a sign-in code (`cairn web`) is traded once for a
// session. Each is accepted only where it belongs.
enum class TokenKind { kApi, kWebSession, kSignInCode };
std::string_view token_kind_name(TokenKind kind);
// kApi for anything it does not name.
TokenKind token_kind_from_name(std::string_view name);

struct User {
  int64_t user_id = 0;
  std::string name;
  int64_t home_namespace_id = 0;
  bool disabled = false;
  int64_t created_at = 0;
  // From authenticate(): the token presented (its hash and id) and its scope.
  std::optional<Digest> token_hash;
  int64_t token_id = 0;
  TokenScope scope;
  TokenKind token_kind = TokenKind::kApi;
  std::optional<int64_t> token_expires_at;
  int64_t token_parent_id = 0;  // The token a web session or sign-in code was made from; or 0.
  // When `cairnd user delete` asked for it: the moment from which gc purges the user (set by
  // list_users and find_user only).
  std::optional<int64_t> delete_after;
};

// What `cairnd stats` reports. Logical bytes are files' sizes; stored bytes are the objects in
// the blob store (packs, compressed, and loose chunks) as the metadata records them.
struct StoreStats {
  int64_t users = 0;
  int64_t files = 0;            // Current (not deleted) files.
  int64_t folders = 0;          // Current folders, users' home folders included.
  int64_t versions = 0;         // Kept versions of files, folders and links: current and history.
  uint64_t current_bytes = 0;   // Of current files' current versions.
  uint64_t versions_bytes = 0;  // Of every kept version: what a copy of each would take.
  int64_t trash_items = 0;      // Things deleted by a user (a folder counts once).
  uint64_t trash_bytes = 0;     // Of the current versions of files in the trash.
  int64_t chunks = 0;           // Distinct chunks.
  uint64_t chunk_bytes = 0;     // Their sizes before compression.
  int64_t packs = 0;            // Live packs.
  uint64_t pack_bytes = 0;      // Their objects' sizes.
  int64_t loose_chunks = 0;     // Chunks stored as objects of their own.
  uint64_t loose_bytes = 0;
  std::optional<int64_t> oldest_version_at;  // Unix seconds; none in an empty store.
};

// A token as admins see it: never the token itself (only its hash is stored).
struct TokenInfo {
  int64_t token_id = 0;
  std::string label;
  TokenScope scope;
  int64_t created_at = 0;
  std::optional<int64_t> expires_at;
  std::optional<int64_t> revoked_at;
  TokenKind kind = TokenKind::kApi;
  int64_t parent_id = 0;
};

// Who is acting, where, and when (Unix seconds). `namespace_id` is the user's home namespace; the
// store finds the namespace of each path itself (a path may lead into a folder shared with the
// user). `token_hash`, when set, is checked again inside the transaction that acts, so that a
// token revoked (or a user disabled) while a request was on its way changes nothing.
struct Actor {
  int64_t user_id = 0;
  int64_t namespace_id = 0;
  std::string device;
  int64_t now = 0;
  std::optional<Digest> token_hash;
  // Set by the store for an op in a folder shared with the user: the shared folder, which every
  // node the op touches must be under.
  int64_t scope_root = 0;
  // The token's folder (TokenScope::path): every node a request names, by path or by id, must be
  // at or under it, checked inside the transaction that acts. A path of the user's view as a
  // request gives it; the store turns it into a path of `namespace_id` for an op in a folder
  // shared with the user. Empty: anywhere.
  std::string scope_path;
  // Milliseconds since the epoch, for the journal (0: now * 1000).
  int64_t now_ms = 0;
};

enum class Role { kViewer, kEditor };
std::string_view role_name(Role role);
// nullopt for anything but "viewer" and "editor".
std::optional<Role> role_from_name(std::string_view name);

// A folder shared with a user, as the owner or the grantee lists it.
struct ShareInfo {
  int64_t share_id = 0;
  std::string path;  // In the caller's view: the owner's folder, or the grantee's mount.
  std::string owner;
  std::string grantee;
  Role role = Role::kViewer;
  int64_t created_at = 0;
};

// A file, folder or symlink staged by POST /v1/uploads and waiting for its commit.
struct StagedUpload {
  std::string upload_id;
  int64_t user_id = 0;
  int64_t namespace_id = 0;
  std::string path;  // Canonical.
  NodeKind kind = NodeKind::kFile;
  uint32_t mode = protocol::default_mode(NodeKind::kFile);  // Permission bits.
  int64_t mtime_ns = 0;
  std::string symlink_target;
  std::optional<Digest> manifest_hash;  // Files only.
  Bytes manifest;                       // Files only: the encoded manifest.
  // Files only, when the service staged it just now: the same manifest decoded, so that the
  // commit checks and indexes its chunks without decoding what was just encoded.
  std::optional<Manifest> chunks;
  uint64_t size = 0;
  std::optional<int64_t> base_version;
  int64_t node_id = 0;  // Inline puts: the node the client saw at `path` (follows its moves).
  int64_t created_at = 0;
  int64_t expires_at = 0;
  std::string group;  // Empty, or the group a publish op commits it with.
};

// One operation of a commit, in the store's own terms (the service converts the wire's).
enum class OpKind { kPut, kMkdir, kDelete, kMove, kRestore, kUndelete, kPublish, kRestoreAt };
struct TreeOp {
  OpKind kind = OpKind::kPut;
  // kPut: the file (or symlink) itself, staged and checked by the service; or, without it, the
  // upload session that staged it.
  std::optional<StagedUpload> file;
  std::string upload_id;
  std::string path;  // kMkdir, kDelete, kMove (from), kRestore; kPublish: the sessions' folder
  std::optional<int64_t> base_version;  // kDelete: refuse if the head moved past it
  std::string to;                       // kMove: the new path; kUndelete: where to (empty: back)
  // kUndelete: the node in the trash. kMove, kDelete: if set, the node meant, wherever it is now.
  // kRestore: if set, the node meant, which must be the one at `path`.
  int64_t node_id = 0;
  int64_t version = 0;           // kRestore: the version whose content becomes the new head
  std::optional<uint32_t> mode;  // kMkdir: the folder's permission bits
  // kPublish: the upload sessions of this group, every one at or under `path`, become new heads
  // (on top of whatever head is there: a publish replaces) in one step, all or none; with
  // `mirror`, what else is under `path` goes to the trash in the same step.
  std::string group;
  bool mirror = false;
  // kRestoreAt: the folder or file at `path` then (a path as it was) becomes, at that path, what
  // it was at this time (milliseconds since the epoch): files as they were come back as new
  // versions (deleted ones come back), what was created since goes to the trash; all or none.
  int64_t at_ms = 0;
};

// A commit's request id, chosen by the client and unique among its user's requests, and a digest
// of what the request asks. A commit that carries one is recorded with its results for a day.
struct RequestKey {
  std::string id;
  std::string fingerprint;
};

// What one operation did.
enum class OpStatus { kOk, kUnchanged, kConflict, kError, kCopied };
struct OpResult {
  OpStatus status = OpStatus::kOk;
  std::string path;
  int64_t node_id = 0;
  int64_t version = 0;     // The new head (kOk, kCopied) or the current one (kConflict,
                           // kUnchanged).
  std::string error_code;  // kError, kConflict: an error_code_name.
  std::string message;
  std::string copy;  // kCopied: the conflicted copy's path (node_id and version are its own).
  // A publish: sessions committed, those that changed something, nodes its mirror deleted.
  int64_t published = 0;
  int64_t changed = 0;
  int64_t deleted = 0;
};

// Where a user can read a chunk: a standalone chunk object, or a range of a pack.
struct ChunkLocation {
  Digest hash;
  uint32_t length = 0;
  std::optional<Digest> pack;  // nullopt: the chunk is an object of its own.
  uint64_t offset = 0;         // Packs only, from the start of the pack.
  uint32_t stored_length = 0;  // Packs only.
  Codec codec = Codec::kRaw;
  uint64_t stored_xxh3 = 0;  // Packs only: of the stored bytes, if known (PackEntry).
};

// A pack as garbage collection sees it.
struct PackUsage {
  Digest pack;
  uint64_t size = 0;
  uint64_t live_bytes = 0;  // Stored bytes of the chunks it still holds.
  int64_t live_chunks = 0;
  int64_t chunk_count = 0;  // Chunks it held when it was recorded.
  int64_t created_at = 0;
  std::optional<int64_t> retired_at;  // Set once it holds nothing and waits to be deleted.
};

// What one sweep removed from the index.
struct GcSwept {
  int64_t chunks = 0;              // Chunks forgotten.
  std::vector<Digest> standalone;  // Of those, objects of their own: doomed (gc_delete_chunks).
};

// What retention (cairnd gc with a retention period) removed.
struct RetentionReport {
  int64_t versions = 0;  // Old versions forgotten.
  int64_t nodes = 0;     // Nodes purged from the trash.
  uint64_t bytes = 0;    // Logical bytes of those, refunded to quotas.
};

// A chunk that has no sound copy left: every copy was found damaged or missing and forgotten
// (MetadataStore::forget_damaged_copy). Nobody holds it until its bytes are uploaded again.
struct DamagedChunk {
  Digest hash;
  uint64_t size = 0;
  int64_t found_at = 0;
  std::string detail;  // How it was found: "its object does not hash to its name", ...
};

// A version that needs a damaged chunk, as an admin sees it.
struct DamagedVersion {
  Digest chunk;
  std::string owner;  // The namespace owner's user name.
  std::string path;   // In the owner's namespace.
  int64_t node_id = 0;
  int64_t version = 0;
  bool head = false;     // The file's current version.
  bool deleted = false;  // In the trash.
};

// A file of a user's view whose current version needs damaged chunks: a client that has the
// file can read them back from it.
struct FileToRepair {
  std::string path;  // In the user's view.
  int64_t node_id = 0;
  int64_t version = 0;
  std::vector<ChunkRef> chunks;  // The damaged ones it needs.
};

// What cairnd check finds wrong in the metadata alone.
struct MetadataCheck {
  std::vector<std::string> problems;  // Each names what disagrees with what.
  std::vector<ChunkRef> unlocated;    // Chunks that versions need and no copy of is recorded.
  int64_t versions = 0;               // How much was looked at.
  int64_t manifests = 0;
  int64_t chunks = 0;
};

// A download link, as its creator, or the owner of what it points at, lists it.
struct LinkInfo {
  int64_t link_id = 0;
  std::string path;        // In the caller's view; empty if the file or folder is gone.
  std::string created_by;  // The creator's user name.
  int64_t created_at = 0;
  std::optional<int64_t> expires_at;
  std::optional<int64_t> revoked_at;
};

// What a link serves: one file, or a folder with everything in it, as of one snapshot.
struct LinkedEntry {
  std::string path;  // Relative to the linked folder ("" for the linked file itself).
  NodeKind kind = NodeKind::kFile;
  uint64_t size = 0;
  uint32_t mode = protocol::default_mode(NodeKind::kFile);  // Permission bits.
  int64_t mtime_ns = 0;
  std::optional<Digest> manifest;  // Files.
  std::string symlink_target;      // Symlinks.
};
struct LinkTarget {
  int64_t reader_id = 0;  // The namespace's owner: whose rights read its chunks.
  std::string name;       // The linked node's name.
  NodeKind kind = NodeKind::kFile;
  std::vector<LinkedEntry> entries;   // Parents before children, by path.
  std::optional<int64_t> expires_at;  // A link's end (unix seconds), if it has one.
};

// A node as listings and the change feed describe it (the service turns it into the wire's).
struct Entry {
  int64_t node_id = 0;
  std::string path;
  NodeKind kind = NodeKind::kFile;
  bool deleted = false;
  int64_t version = 0;
  uint64_t size = 0;
  uint32_t mode = protocol::default_mode(NodeKind::kFile);  // Permission bits.
  int64_t mtime_ns = 0;
  std::optional<Digest> manifest;  // Files only.
  std::string symlink_target;      // Symlinks only.
  int64_t modified_at = 0;         // Unix seconds of the head version.
  // Change feed only: "put", "mkdir", "delete", "move", "restore", "share" or "unshare".
  std::string change;
  std::string share_role;  // In a folder or file shared with the user: their role...
  std::string shared_by;   // ...and the owner's name.
};

// A folder's live children, or the one entry of a file.
struct Listing {
  std::string path;
  std::vector<Entry> entries;
  // A folder's plain listing (list()): who made each entry's head, in the entries' order.
  std::vector<protocol::Attribution> attributions;
};

// One version of a file.
struct VersionRecord {
  int64_t version = 0;
  NodeKind kind = NodeKind::kFile;
  uint64_t size = 0;
  uint32_t mode = protocol::default_mode(NodeKind::kFile);
  int64_t mtime_ns = 0;
  std::string manifest;  // Hex; files only.
  std::string symlink_target;
  std::string author;  // User name.
  std::string device;
  int64_t created_at = 0;
};

struct FileHistory {
  int64_t node_id = 0;
  std::string path;
  bool deleted = false;
  std::vector<VersionRecord> versions;  // Newest first.
};

// A node a delete put in the trash, whose parent is alive (a deleted folder stands for all that
// was deleted with it).
struct TrashItem {
  int64_t node_id = 0;
  std::string path;  // Where it was.
  NodeKind kind = NodeKind::kFile;
  int64_t deleted_at = 0;
  int64_t version = 0;  // Files: the head when it was deleted.
  uint64_t size = 0;    // Files: the head's size; folders: of every file deleted with it.
  uint64_t files = 0;   // Files deleted with it (1 for a file).
};

// What emptying the trash removed.
struct TrashPurged {
  uint64_t nodes = 0;
  uint64_t bytes = 0;  // Logical bytes no longer counted against the quota.
};

// A user's quota: logical bytes of current files plus the trash.
struct QuotaUsage {
  uint64_t used = 0;
  std::optional<uint64_t> limit;  // nullopt: unlimited.
};

// A user's place in the change feeds of their view: 0 for their home namespace, else a share
// id, each with the sequence number of its namespace to resume after.
using FeedCursor = std::map<int64_t, int64_t>;

// A feed's position before and after one commit.
// One change of the journal, as `cairn log` shows it.
struct LogEntry {
  int64_t seq = 0;
  int64_t at_ms = 0;
  std::string op;    // put, mkdir, delete, move, restore, share, unshare
  std::string path;  // Where the node was once the change was made, in the actor's view.
  std::string from;  // A move: where it was before.
  NodeKind kind = NodeKind::kFile;
  int64_t version = 0;  // The file's head after the change.
  std::string author;   // User name; empty for changes from before the journal said.
  std::string device;
};

struct LogQuery {
  int64_t before_seq = 0;  // Older than this entry (0: from the newest).
  int64_t since_ms = 0;    // Not older than this.
  int limit = 100;
};

struct LogPage {
  std::vector<LogEntry> entries;  // Newest first.
  int64_t next_before = 0;        // Pass as before_seq for the next page; 0: no more.
};

// A feed's position before and after one commit.
struct FeedSpan {
  int64_t before = 0;
  int64_t after = 0;
};

struct ChangesPage {
  std::vector<Entry> entries;
  FeedCursor cursor;  // Resume from here: every feed of the view, shares added since included.
  bool has_more = false;
  bool reset = false;  // A feed's position was ahead of its namespace: it started over.
};

// Who may use the server: settings, users, tokens (stored by hash only) and authentication.
class IdentityStore {
 public:
  virtual ~IdentityStore() = default;

  // Returns the value stored under `key`, storing `initial` first if there is none. Two daemons
  // racing to initialise the same key both get the one value that won.
  virtual Result<std::string> get_or_init_setting(const std::string& key,
                                                  const std::string& initial) = 0;
  // A setting's value, or nullopt if it is not set.
  virtual Result<std::optional<std::string>> setting(const std::string& key) = 0;
  // Sets a setting; nullopt removes it.
  virtual Result<void> set_setting(const std::string& key,
                                   const std::optional<std::string>& value) = 0;
  // Creates a user with a home namespace. kAlreadyExists if the name is taken.
  virtual Result<User> create_user(const std::string& name, int64_t now) = 0;
  virtual Result<std::vector<User>> list_users() = 0;
  // kNotFound if there is no such user.
  virtual Result<User> find_user(const std::string& name) = 0;
  // Stores a token by its hash only; returns its id. `expires_at`: Unix seconds, or none.
  // `parent_id`: the token it was made from (web sessions, sign-in codes), revoked with it.
  virtual Result<int64_t> add_token(int64_t user_id, const Digest& token_hash,
                                    const std::string& label, int64_t now,
                                    std::optional<int64_t> expires_at = std::nullopt,
                                    const TokenScope& scope = {}, TokenKind kind = TokenKind::kApi,
                                    int64_t parent_id = 0) = 0;
  virtual Result<std::vector<TokenInfo>> list_tokens(int64_t user_id) = 0;
  // Revokes one of the user's tokens, and the tokens made from it: every later request with them
  // is refused. kNotFound if the user has no such token; revoking twice keeps the first time.
  virtual Result<void> revoke_token(int64_t user_id, int64_t token_id, int64_t now) = 0;
  // Revokes a live token once: true for the one call that did, false if it was revoked already
  // (a sign-in code is traded for a session by exactly one request).
  virtual Result<bool> claim_token(int64_t user_id, int64_t token_id, int64_t now) = 0;
  // Disables or enables a user: a disabled user's tokens are refused on the next request.
  virtual Result<void> set_user_disabled(int64_t user_id, bool disabled) = 0;
  // Disables the user now and has gc purge them from `delete_after` on. Enabling the user
  // (set_user_disabled false) cancels the deletion.
  virtual Result<void> schedule_user_deletion(int64_t user_id, int64_t delete_after) = 0;
  // Purges every user whose deletion is due at `now`, each in one transaction: their files,
  // history, trash, links, tokens and the user. A folder of theirs shared with others ends as an
  // unshare does (the grantee's clients keep their copies as their own); a share with them ends
  // too. Chunks only they needed are left unreferenced, for gc's sweep. Returns their names.
  virtual Result<std::vector<std::string>> purge_deleted_users(int64_t now) = 0;
  // The user a token hash belongs to. kUnauthenticated for an unknown, revoked or expired token
  // or a disabled user; the message does not say which.
  virtual Result<User> authenticate(const Digest& token_hash, int64_t now) = 0;
  // Of `token_hashes`, those not valid at `now`: unknown, revoked, expired, or their user
  // disabled.
  virtual Result<std::vector<Digest>> invalid_tokens(const std::vector<Digest>& token_hashes,
                                                     int64_t now) = 0;
};

// Which chunks are stored, where (objects of their own, places in packs), and who holds them.
class ChunkIndex {
 public:
  virtual ~ChunkIndex() = default;

  // For each digest, whether the chunk is stored and this user holds or claims it (see
  // locate_chunks). The answer never reveals chunks that only other users hold.
  virtual Result<std::vector<bool>> user_has_chunks(int64_t user_id,
                                                    const std::vector<Digest>& digests) = 0;
  // Records that a verified, durable chunk exists and that this user holds it. Idempotent.
  //
  // `publish`, if given, makes the chunk's object visible in the blob store; it runs inside the
  // transaction, once the chunk's row is taken and marked live, and its error rolls everything
  // back and is returned. gc removes an object only inside a transaction that takes the same row
  // and finds it still doomed (gc_delete_chunks), so a new upload and a deletion of the same
  // chunk never cross: either the deletion comes first and the upload publishes afresh, or the
  // upload wins and the deletion leaves the object alone. `publish` runs again if the
  // transaction is retried: it must be repeatable.
  //
  // `token_id`, if not 0, is the token the upload was granted to: kUnauthenticated (nothing
  // recorded, nothing published) unless it is still valid, checked in the same transaction.
  virtual Result<void> record_chunk(int64_t user_id, const Digest& digest, uint64_t size,
                                    int64_t now, const std::function<Result<void>()>& publish = {},
                                    int64_t token_id = 0) = 0;
  // Records a stored pack and its chunks in one transaction. `verified`: the daemon hashed every
  // chunk in it, so this user holds them all and anyone who holds one of them may read it there.
  // Otherwise this user only claims them (see locate_chunks): they read them from this pack
  // alone, and nobody else does. Idempotent.
  // `token_id`: as record_chunk's.
  virtual Result<void> record_pack(int64_t user_id, const Digest& pack, uint64_t size,
                                   bool verified, const std::vector<PackEntry>& entries,
                                   int64_t now, int64_t token_id = 0) = 0;
  // Where this user can read each of `digests` from. Chunks the user does not hold are left
  // out; so are chunks with no location (which should not happen). When a chunk is in several
  // packs, the pack holding most of `digests` is chosen, so that neighbours read together.
  //
  // A user holds a chunk they uploaded and the daemon (or the blob store, by its checksum)
  // verified: they may read it from any copy. A chunk listed by a pack the daemon never saw (an
  // S3 pack confirmed by its uploader) is only claimed: the claimant may commit it and read it
  // from that pack, and from nowhere else.
  //
  // `manifests`: the files the chunks are read for. A chunk of a manifest that a committed
  // version the user may read references (in a namespace of theirs, or under a folder or file
  // shared with them) is located even if the user does not hold it, from the copies that the
  // authors of those versions could read: committing proved they held it. Staged manifests
  // (upload sessions) grant nothing. `scope_path`: the token's folder (a path of the user's view;
  // empty: anywhere): only versions at or under it grant.
  virtual Result<std::vector<ChunkLocation>> locate_chunks(
      int64_t user_id, const std::vector<Digest>& digests,
      const std::vector<Digest>& manifests = {}, const std::string& scope_path = {}) = 0;
  // Whether this user holds a chunk (uploaded it, or claims it by a pack of theirs). False for
  // chunks only others hold.
  virtual Result<bool> user_can_read_chunk(int64_t user_id, const Digest& digest) = 0;
  // Whether `user_id` recorded `pack` with `size` bytes and it is not retired: a confirmation
  // asked again after its answer was lost finds its upload adopted and gone, and this recorded.
  virtual Result<bool> pack_recorded_by(int64_t user_id, const Digest& pack, uint64_t size) = 0;
};

// The file tree: upload sessions, commits, manifests, listings, the change feed, history, the
// trash and quotas, and who hears of changes.
class TreeStore {
 public:
  virtual ~TreeStore() = default;

  // The chunks that the user's live upload sessions `upload_ids` reference and the user does not
  // hold yet, each once. Unknown or expired sessions contribute nothing.
  virtual Result<std::vector<ChunkRef>> missing_upload_chunks(
      int64_t user_id, const std::vector<std::string>& upload_ids, int64_t now) = 0;
  // Persists upload sessions (and their manifests) in one transaction.
  virtual Result<void> save_uploads(const std::vector<StagedUpload>& uploads) = 0;
  // The ids of the user's live upload sessions staged in `group`.
  virtual Result<std::vector<std::string>> group_uploads(int64_t user_id, const std::string& group,
                                                         int64_t now) = 0;
  // Applies operations in one transaction, each atomic on its own: an op that fails or conflicts
  // changes nothing and does not stop the others. One result per op, in order. A put that
  // carries its file (staged, without an upload id) stores its manifest too.
  // With `home_span`: the actor's home feed position (its namespace's journal head) before and
  // after the batch. The namespace is locked from the transaction's start, so everything
  // between the two is this batch's.
  // With `request`: a repeat of a request this user made within the day (the same id) gets the
  // results recorded then and changes nothing (`home_span`, if asked, is empty: before ==
  // after == -1); the same id with another fingerprint is kConflict.
  virtual Result<std::vector<OpResult>> commit(const Actor& actor, const std::vector<TreeOp>& ops,
                                               FeedSpan* home_span = nullptr,
                                               const RequestKey* request = nullptr) = 0;
  // An encoded manifest this user may read: one a version of theirs or of a folder or file shared
  // with them, or one of their upload sessions, references; with `scope_path` (a path of the
  // user's view), only such a version or session at or under it. kNotFound otherwise.
  virtual Result<Bytes> get_manifest(int64_t user_id, const Digest& digest,
                                     const std::string& scope_path = {}) = 0;
  // The same for many manifests in one read transaction and a few set-based queries: those of
  // `digests` this user may read, each once, in the order first asked for; others are left out.
  virtual Result<std::vector<std::pair<Digest, Bytes>>> get_manifests(
      int64_t user_id, const std::vector<Digest>& digests, const std::string& scope_path = {}) = 0;
  // A folder's live children, or the single entry when `path` names a file, in the actor's view
  // (a path may lead into a folder shared with them). kNotFound if absent.
  virtual Result<Listing> list(const Actor& actor, const std::string& path) = 0;
  // Everything below the folder `path` in one snapshot, parents before children (by depth, then
  // name); a folder or file shared with the actor appears as its mount, not listed into. A file
  // at `path` is listed alone, as by list().
  virtual Result<Listing> list_tree(const Actor& actor, const std::string& path) = 0;
  // The folder (or file) at `path` as it was at `at_ms` (milliseconds since the epoch; `path` as
  // it was then): its children then, or with `recursive` everything below it then, as
  // list_tree() orders them, each file at the version it had then. kNotFound if nothing was
  // there, or if some file's version of then is gone (emptied from the trash, or past the
  // retention period), naming the files.
  virtual Result<Listing> list_at(const Actor& actor, const std::string& path, int64_t at_ms,
                                  bool recursive) = 0;
  // The changes to what is at `path` now (and to what was deleted from it), newest first.
  virtual Result<LogPage> log(const Actor& actor, const std::string& path,
                              const LogQuery& query) = 0;
  // The current state of every node of the actor's view changed after `after`, each feed's
  // changes oldest first: the home namespace's, then each shared folder's. One snapshot.
  virtual Result<ChangesPage> changes(const Actor& actor, const FeedCursor& after, int limit) = 0;
  // The versions of a file, newest first: of the live file at `path`, or (node_id != 0) of any
  // node of the namespace, deleted ones too. kNotFound, or kInvalidArgument for a folder.
  virtual Result<FileHistory> history(const Actor& actor, const std::string& path,
                                      int64_t node_id) = 0;
  // Most recently deleted first.
  virtual Result<std::vector<TrashItem>> trash(int64_t namespace_id) = 0;
  // Deletes for good every deleted node of the namespace (deleted before `deleted_before`, if
  // given) and its versions, and refunds the owner's quota; one transaction.
  virtual Result<TrashPurged> empty_trash(int64_t namespace_id,
                                          std::optional<int64_t> deleted_before, int64_t now) = 0;
  virtual Result<QuotaUsage> quota(int64_t user_id) = 0;
  // nullopt: unlimited.
  virtual Result<void> set_quota(int64_t user_id, std::optional<uint64_t> limit) = 0;
  // Calls `changed(namespace_id)` after each committed change to a namespace's change feed: on
  // PostgreSQL those any daemon on the database makes (LISTEN/NOTIFY), on SQLite this
  // process's. `gap()` when some may have been missed. Empty functions stop it.
  virtual Result<void> watch_changes(std::function<void(int64_t)> changed,
                                     std::function<void()> gap) = 0;
  // Who saw namespace `ns` change after its journal position `after` (-1: not known, count
  // every share as changed): its owner, and each grantee of a folder or file in it that changed
  // since (something under it was put, moved in or out, deleted...). `head` is the position the
  // answer is as of: pass it as `after` next time.
  struct Audience {
    std::vector<int64_t> users;
    int64_t head = 0;
  };
  virtual Result<Audience> audience(int64_t ns, int64_t after) = 0;
};

// Folders and files shared between users, and links anyone holding the URL may download from.
class SharingStore {
 public:
  virtual ~SharingStore() = default;

  // kPermissionDenied (naming the role) if any of `paths` of the actor's view lies in a folder
  // shared with them that they may not change. For early refusals (an upload session); the
  // commit checks again inside its own transaction.
  virtual Result<void> check_write(const Actor& actor, const std::vector<std::string>& paths) = 0;
  // Shares the folder or file at `path` of the actor's home namespace with `grantee`, or changes
  // the role of an existing share. A new grantee sees it at /Shared/NAME (NAME (2) if that is
  // taken). kInvalidArgument for the root or oneself, kPermissionDenied for something inside a
  // share; kNotFound for an unknown user or path.
  virtual Result<ShareInfo> share(const Actor& actor, const std::string& path,
                                  const std::string& grantee, Role role) = 0;
  // The owner takes the share of `path` from `grantee`; or (grantee empty) a grantee leaves the
  // folder shared with them at `path`. The grantee's mount goes with it. kNotFound if no such
  // share.
  virtual Result<void> unshare(const Actor& actor, const std::string& path,
                               const std::string& grantee) = 0;
  // The shares the actor owns and those shared with them; only those at or under `path` if not
  // empty.
  virtual Result<std::vector<ShareInfo>> shares(const Actor& actor, const std::string& path) = 0;
  // A link to the file or folder at `path` of the actor's view, stored by its token's hash.
  // kPermissionDenied for a viewer (a link shares), kNotFound for no such path.
  virtual Result<LinkInfo> create_link(const Actor& actor, const std::string& path,
                                       const Digest& token_hash,
                                       std::optional<int64_t> expires_at) = 0;
  // The links the actor made, and the links others made into the actor's files (an editor's,
  // into a folder the actor shares); with a scoped token, those into its folder alone.
  virtual Result<std::vector<LinkInfo>> links(const Actor& actor) = 0;
  // Revokes a link the actor made or one into the actor's files, by id or (id 0) by its token's
  // hash; kNotFound otherwise (or outside the token's folder). Revoking twice keeps the first
  // time. Links also end on their own when their creator loses the right to share what they
  // point at (a share taken away or made read-only).
  virtual Result<void> revoke_link(const Actor& actor, int64_t link_id,
                                   const std::optional<Digest>& token_hash = std::nullopt) = 0;
  // What the link with this token serves. kNotFound for an unknown, revoked or expired link, a
  // deleted node, or a creator who was disabled: all look alike.
  virtual Result<LinkTarget> open_link(const Digest& token_hash, int64_t now) = 0;
};

// What keeps the store small and sound: garbage collection, retention, expired sessions, and
// damage found by cairnd check or by reads that verify what they serve.
class MaintenanceStore {
 public:
  virtual ~MaintenanceStore() = default;

  // From one consistent snapshot: the stored chunks that no version and no upload session
  // references and that have no copy (standalone, or in a pack) created at or after `cutoff`.
  virtual Result<std::vector<Digest>> gc_candidates(int64_t cutoff) = 0;
  // Forgets those of `candidates` that, checked again inside this transaction, are still
  // referenced by nothing (versions created since `recent_since` and every upload session) and
  // still have no copy newer than `cutoff`: their places in packs and every user's claim to
  // them. Their objects of their own are marked doomed, to be removed by gc_delete_chunks; a
  // doomed chunk is held by nobody and located for nobody. With no candidates it returns at
  // once, without a write transaction (which, on PostgreSQL, would read every upload session and
  // so conflict with every commit running beside it).
  virtual Result<GcSwept> gc_sweep(const std::vector<Digest>& candidates, int64_t recent_since,
                                   int64_t cutoff) = 0;
  // For each of `doomed` that is still doomed (no upload recorded it since the sweep), calls
  // `remove` to delete its object and forgets it, in transactions that take each chunk's row
  // first (see record_chunk). `remove` must treat an absent object as removed; it runs again if
  // a transaction is retried. Returns how many were removed.
  virtual Result<int64_t> gc_delete_chunks(
      const std::vector<Digest>& doomed,
      const std::function<Result<void>(const Digest&)>& remove) = 0;
  // Retires `pack` at `now` if it holds no chunk any more. Returns whether it did.
  virtual Result<bool> gc_retire_pack(const Digest& pack, int64_t now) = 0;
  virtual Result<std::vector<PackUsage>> gc_pack_usage() = 0;
  // The chunks a pack still holds, in pack order.
  virtual Result<std::vector<ChunkLocation>> gc_pack_chunks(const Digest& pack) = 0;
  // Those of them that start in [offset, offset + length): what a read of that range verifies.
  virtual Result<std::vector<ChunkLocation>> pack_chunks_in(const Digest& pack, uint64_t offset,
                                                            uint64_t length) = 0;
  // Moves the chunks of `old_packs` that they still hold and `entries` lists into `new_pack`, a
  // pack the daemon wrote and verified, and retires every one of `old_packs`, in one
  // transaction. Returns how many chunks moved.
  virtual Result<int64_t> gc_replace_packs(const std::vector<Digest>& old_packs,
                                           const Digest& new_pack, uint64_t new_size,
                                           const std::vector<PackEntry>& entries, int64_t now) = 0;
  // Forgets a retired pack once its object is deleted.
  virtual Result<void> gc_forget_pack(const Digest& pack) = 0;
  // Forgets one copy of `chunk` that was found damaged or missing: its object of its own (`pack`
  // nullopt) or its place in `pack`. If no copy of it is left, it is recorded as damaged (held
  // by nobody, located for nobody) until an upload of its bytes repairs it. Idempotent.
  //
  // `confirm` runs inside the transaction once the copy's row is taken (an upload of the same
  // chunk takes it too, see record_chunk): it looks at the bytes again and takes a damaged
  // object out of sight (BlobStore::quarantine). If it answers false, the copy is sound after
  // all (replaced meanwhile) and nothing changes; so does a copy the index no longer records.
  enum class CopyFate { kSound, kForgotten, kLost };
  virtual Result<CopyFate> forget_damaged_copy(const ChunkRef& chunk,
                                               const std::optional<Digest>& pack, int64_t now,
                                               const std::string& detail,
                                               const std::function<Result<bool>()>& confirm) = 0;
  // Records as damaged those of `chunks` that have no copy recorded at all (found so by
  // check_metadata). Returns how many it recorded.
  virtual Result<int64_t> record_lost_chunks(const std::vector<ChunkRef>& chunks, int64_t now,
                                             const std::string& detail) = 0;
  virtual Result<std::vector<DamagedChunk>> damaged_chunks() = 0;
  // Finds which manifests need the damaged chunks not yet looked up (a scan of every manifest,
  // done once per newly damaged chunk). Returns how many chunks it looked up.
  virtual Result<int64_t> index_damage() = 0;
  // Every version that needs a damaged chunk (as far as index_damage has found).
  virtual Result<std::vector<DamagedVersion>> damaged_versions() = 0;
  // The live files of the user's view (within `scope_path`, if given) whose current versions
  // need damaged chunks.
  virtual Result<std::vector<FileToRepair>> files_to_repair(int64_t user_id,
                                                            const std::string& scope_path) = 0;
  // Checks the metadata's own invariants: every version's manifest is stored, every chunk a
  // version needs has a copy (or is known damaged), the closure matches the tree, quotas match
  // the files, journals do not run ahead of their namespaces, and pack index rows lie inside
  // packs that exist. One read snapshot.
  virtual Result<MetadataCheck> check_metadata() = 0;
  // The chunks stored as objects of their own (not doomed), with their sizes.
  virtual Result<std::vector<ChunkRef>> stored_chunks() = 0;
  // Deletes expired upload sessions; returns how many.
  virtual Result<int64_t> expire_uploads(int64_t now) = 0;
  // Writes a consistent copy of the metadata, as of one moment, to a new file `dest` while the
  // store is in use; returns its size. kInvalidArgument for a store that cannot (PostgreSQL).
  virtual Result<uint64_t> backup_to(const std::string& dest) = 0;
  // What the store holds, for `cairnd stats`. One read snapshot; every figure is a count or sum
  // over whole tables, so it takes a moment on a large store.
  virtual Result<StoreStats> stats() = 0;
  // Deletes web sessions and sign-in codes that ended (expired, signed out, used, or revoked
  // with the token that made them); returns how many. API tokens stay, revoked or not, for the
  // admin's record.
  virtual Result<int64_t> forget_ended_sessions(int64_t now) = 0;
  // In every namespace: forgets versions superseded before `cutoff` (heads stay) and empties the
  // trash of what was deleted before it.
  virtual Result<RetentionReport> apply_retention(int64_t cutoff, int64_t now) = 0;
};

// The metadata store: one object that plays every role, so that each service is handed the
// roles it needs. daemon/store/sql/ implements it once, for SQLite and PostgreSQL.
class MetadataStore : public IdentityStore,
                      public ChunkIndex,
                      public TreeStore,
                      public SharingStore,
                      public MaintenanceStore {
 public:
  ~MetadataStore() override = default;
};

}  // namespace cairn::store
