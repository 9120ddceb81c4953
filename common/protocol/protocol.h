#pragma once

// Request and response types of the /v1 HTTP API, and their JSON encoding. The wire format is
// described in docs/protocol.md; this header is its C++ face. The JSON library stays inside
// common/protocol/ (json_codec.h and its files): callers see only these structs and
// encode_json / decode_json.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/chunker.h"
#include "common/error.h"
#include "common/hash.h"
#include "common/manifest.h"
#include "common/pack.h"

namespace cairn::protocol {

inline constexpr int kProtocolVersion = 1;

enum class NodeKind { kFile, kFolder, kSymlink };
std::string_view node_kind_name(NodeKind kind);
std::optional<NodeKind> node_kind_from_name(std::string_view name);

// Of a node's mode, Cairn keeps the permission bits: read, write and execute for owner, group
// and others. Never setuid, setgid or sticky: a file arrives with no more power than its bytes.
inline constexpr uint32_t kPermissionBits = 0777;
// The mode of a node whose sender did not say (a peer from before modes travelled sent only
// whether a file is executable). A symlink's own mode means nothing on Linux.
constexpr uint32_t default_mode(NodeKind kind, bool executable = false) {
  if (kind == NodeKind::kFile) return executable ? 0755 : 0644;
  return kind == NodeKind::kFolder ? 0755 : 0777;
}

// How a server takes packs (common/pack.h).
struct PackConfig {
  uint32_t chunk_limit = 0;  // Chunks shorter than this travel in packs; longer ones may too.
  uint64_t target_size = 16 * 1024 * 1024;  // A client closes a pack once it is this large.
  uint64_t max_size = 64 * 1024 * 1024;     // The largest pack the server accepts.
  uint32_t max_chunks = PackLimits::kMaxPackEntries;
};

// GET /v1/config: what a client must know before it cuts files.
struct ServerConfig {
  int protocol_version = kProtocolVersion;
  ChunkerParams chunking;
  uint32_t max_batch = 1000;         // Files or chunks in one request.
  uint64_t max_json_body_bytes = 0;  // Largest JSON request body the daemon accepts.
  std::string server_version;
  std::optional<PackConfig> packs;  // Absent: every chunk is uploaded on its own.
};

// GET /v1/whoami
struct WhoAmI {
  std::string user;
  int64_t user_id = 0;
};

// A chunk the daemon does not have for this user, with the URL to PUT its bytes to. The URL
// carries its own short-lived signature: no bearer token is sent with it.
// Where to PUT a missing chunk. A relative URL is the daemon's own (signed, no bearer token); an
// absolute one is the blob store's (pre-signed): send `headers` with it exactly as given, then
// report the upload with POST /v1/chunks/confirm.
struct ChunkUpload {
  Digest hash;
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
};

// POST /v1/chunks/check: which of these chunks must the caller upload?
struct CheckChunksRequest {
  std::vector<ChunkRef> chunks;
  // Locate only: the manifests these chunks are read for. A chunk of a manifest the caller may
  // read (a file of a folder shared with them) is located even though they never uploaded it.
  std::vector<Digest> manifests;
  // Check only: how many bytes the files these chunks are for will add to the caller's quota
  // once committed. If that is more than is left, nothing is granted (kQuotaExceeded), before
  // any byte travels.
  std::optional<uint64_t> commit_bytes;
};
struct CheckChunksResponse {
  std::vector<ChunkUpload> missing;
  std::optional<uint64_t> quota_left;  // Absent: no limit.
};

// POST /v1/packs: where to PUT a pack the client has built. Answered with a ChunkUpload whose
// hash is the pack's.
struct PackUploadRequest {
  Digest pack;  // SHA-256 of the pack's bytes.
  uint64_t size = 0;
};

// POST /v1/packs/confirm: a pack put straight into the blob store, with its entries (offsets
// from the start of the pack).
struct ConfirmPackRequest {
  Digest pack;
  uint64_t size = 0;
  std::vector<PackEntry> entries;
};

// The answer to a pack PUT to the daemon and to /v1/packs/confirm.
struct PackStored {
  uint32_t chunks = 0;  // Chunks now recorded for the uploader.
};

// One GET that returns the stored bytes of one or more chunks, back to back. `parts` carry
// offsets from the start of the response body; a part's bytes decode with its codec to its
// length and must hash to its address.
struct ChunkRead {
  std::string url;  // Relative: the daemon's own; absolute: the blob store's (pre-signed).
  std::vector<std::pair<std::string, std::string>> headers;  // Send exactly as given.
  uint64_t length = 0;                                       // Bytes the GET returns.
  std::vector<PackEntry> parts;
};

// POST /v1/chunks/locate (body: CheckChunksRequest): how to read these chunks. Chunks the caller
// may not read, or that do not exist, are left out, and both look the same.
struct LocateResponse {
  std::vector<ChunkRead> reads;
};

// POST /v1/manifests: many manifests in one round trip, for downloads of many files.
struct ManifestsRequest {
  std::vector<Digest> manifests;
};
// The encoded manifests the caller may read, each once (hex in JSON); others are left out.
struct ManifestsResponse {
  std::vector<std::pair<Digest, Bytes>> manifests;
};

// One file, folder or symlink to stage for a commit.
struct FileUpload {
  std::string path;
  NodeKind kind = NodeKind::kFile;
  uint32_t mode = default_mode(NodeKind::kFile);  // Permission bits (kPermissionBits).
  int64_t mtime_ns = 0;
  std::string symlink_target;    // Symlinks only.
  std::vector<ChunkRef> chunks;  // Files only; empty for an empty file.
  // The version the client last saw (nullopt for a new path), of `node_id`: a base is a node and
  // a version of it, never a number alone, so base_version needs node_id.
  std::optional<int64_t> base_version;
  // The node the client last saw at this path (0: none). If it has moved since, the version
  // follows it to its new path: an edit of a file renamed elsewhere lands in the renamed file.
  int64_t node_id = 0;
};

// POST /v1/uploads: stage files. Sessions persist until committed or expired.
struct InitUploadsRequest {
  std::vector<FileUpload> files;
  // Sessions staged under one group (a name the client makes up: 16-64 of [0-9A-Za-z_-]) are
  // committed together by one publish op, all at once or not at all. Folders may be staged
  // only in a group.
  std::string group;
};
struct UploadSession {
  std::string upload_id;
  std::string path;
  std::string manifest;  // Hex address of the file's manifest ("" for folders and symlinks).
};
struct InitUploadsResponse {
  std::vector<UploadSession> uploads;  // In request order.
  std::vector<ChunkUpload> missing;    // Every chunk still missing, once each.
  int64_t expires_at = 0;              // Unix seconds.
};

// POST /v1/commit: apply operations, each atomically and independently of the others.
enum class OpKind { kPut, kMkdir, kDelete, kMove, kRestore, kUndelete, kPublish, kRestoreAt };
struct CommitOp {
  OpKind kind = OpKind::kPut;
  std::string upload_id;                // kPut of a staged upload session
  std::string path;                     // kMkdir, kDelete, kMove (from), kRestore
  std::optional<int64_t> base_version;  // kDelete: refuse if the head moved past it
  // kPut without a session: the file (or symlink) itself, whose chunks the caller already holds
  // on the server; one request and one transaction. A chunk it does not hold fails the op.
  std::optional<FileUpload> file;
  std::string to;  // kMove: the new path; kUndelete: where to (empty: its old place)
  // kUndelete: the node in the trash. kMove, kDelete: if set, the node to move or delete,
  // wherever it is now (what took its name at `path` is not touched); a delete's base_version
  // is a version of that node. A delete of a folder that names its node removes it only if it
  // is empty (the client deletes what it knew inside first), so what others added since stays.
  // kRestore: if set, the node the client means, which must be the one at `path`.
  int64_t node_id = 0;
  int64_t version = 0;  // kRestore: the version whose content becomes the new head
  // kMkdir: the folder's permission bits; an existing folder takes them too. Not given: a new
  // folder gets default_mode, an existing one keeps its own.
  std::optional<uint32_t> mode;
  // kPublish: the group of upload sessions to commit, all under `path`; with `mirror`, what is
  // under `path` and not in the group goes to the trash in the same transaction.
  std::string group;
  bool mirror = false;
  // kRestoreAt: the folder or file that was at `path` at this time (milliseconds since the
  // epoch) becomes what it was then, at `path`: old contents as new versions, deleted files back,
  // what was made since to the trash; all or none.
  int64_t at_ms = 0;

  static CommitOp put_upload(std::string upload_id) {
    CommitOp op;
    op.upload_id = std::move(upload_id);
    return op;
  }
  static CommitOp put_file(FileUpload file) {
    CommitOp op;
    op.file = std::move(file);
    return op;
  }
  static CommitOp publish(std::string group, std::string path, bool mirror) {
    CommitOp op;
    op.kind = OpKind::kPublish;
    op.group = std::move(group);
    op.path = std::move(path);
    op.mirror = mirror;
    return op;
  }
  static CommitOp mkdir(std::string path, std::optional<uint32_t> mode = std::nullopt) {
    CommitOp op;
    op.kind = OpKind::kMkdir;
    op.path = std::move(path);
    op.mode = mode;
    return op;
  }
  static CommitOp remove(std::string path, std::optional<int64_t> base_version,
                         int64_t node_id = 0) {
    CommitOp op;
    op.kind = OpKind::kDelete;
    op.path = std::move(path);
    op.base_version = base_version;
    op.node_id = node_id;
    return op;
  }
  static CommitOp move(std::string from, std::string to, int64_t node_id = 0) {
    CommitOp op;
    op.kind = OpKind::kMove;
    op.path = std::move(from);
    op.to = std::move(to);
    op.node_id = node_id;
    return op;
  }
  static CommitOp restore(std::string path, int64_t version, int64_t node_id = 0) {
    CommitOp op;
    op.kind = OpKind::kRestore;
    op.path = std::move(path);
    op.version = version;
    op.node_id = node_id;
    return op;
  }
  static CommitOp restore_at(std::string path, int64_t at_ms) {
    CommitOp op;
    op.kind = OpKind::kRestoreAt;
    op.path = std::move(path);
    op.at_ms = at_ms;
    return op;
  }
  static CommitOp undelete(int64_t node_id, std::string to = "") {
    CommitOp op;
    op.kind = OpKind::kUndelete;
    op.node_id = node_id;
    op.to = std::move(to);
    return op;
  }
};
struct CommitRequest {
  std::string device;
  std::vector<CommitOp> ops;
  // The caller's change-feed cursor ("" for one that has read nothing yet), to have it moved past
  // this commit's own changes (CommitResponse::cursor). Absent: not asked.
  std::optional<std::string> cursor = std::nullopt;
  // Made up by the client for this commit (16-64 of [0-9A-Za-z_-], at random) and sent again
  // with each retry of it: the server answers a repeat with what it answered the first time and
  // changes nothing. Empty: not sent.
  std::string request_id = {};
};
// kCopied: the head had moved past the put's base version, so the file was committed beside it
// as a conflicted copy (`copy`); both contents are kept.
enum class OpStatus { kOk, kUnchanged, kConflict, kError, kCopied };
struct CommitResult {
  OpStatus status = OpStatus::kOk;
  std::string path;
  int64_t node_id = 0;
  int64_t version = 0;     // The new head (kOk, kCopied) or the current head (kConflict,
                           // kUnchanged).
  std::string error_code;  // kError / kConflict: an error_code_name.
  std::string message;
  std::string copy;  // kCopied: the conflicted copy's path (node_id and version are its own).
  // A publish: the sessions it committed, those of them that changed something, and the nodes
  // its mirror moved to the trash.
  int64_t published = 0;
  int64_t changed = 0;
  int64_t deleted = 0;
};
struct CommitResponse {
  std::vector<CommitResult> results;  // In request order.
  // With a request's `cursor`: that cursor moved past the changes this commit made to the
  // caller's own files, if nothing else changed there since the cursor. Reading the feed from it
  // skips only what this commit wrote (and the caller knows from `results`). Absent otherwise.
  std::optional<std::string> cursor = std::nullopt;
};

// A node as listings and the change feed describe it.
struct Entry {
  int64_t node_id = 0;
  std::string path;
  NodeKind kind = NodeKind::kFile;
  bool deleted = false;
  int64_t version = 0;
  uint64_t size = 0;
  uint32_t mode = default_mode(NodeKind::kFile);  // Permission bits; folders have theirs too.
  int64_t mtime_ns = 0;
  // Files only. Held as its 32 bytes, not as hex: a pull keeps every entry of the change feed
  // (a hex string on the heap cost 80 bytes more per file).
  std::optional<Digest> manifest;
  std::string symlink_target;  // Symlinks only.
  int64_t modified_at = 0;     // Unix seconds of the head version.
  // Change feed only: its latest change, "put", "mkdir", "delete", "move", "restore", "share",
  // or "unshare" (a mount that went because its share ended: the grantee's copy is theirs).
  std::string change;
  // A folder someone else shares with the user, where it appears in their tree: their role
  // ("viewer" or "editor") and the owner's name. Empty otherwise.
  std::string share_role;
  std::string shared_by;
};

// Who made a file's head version, and on which device.
struct Attribution {
  std::string author;  // User name.
  std::string device;
};

// GET /v1/list?path=P
struct ListResponse {
  std::string path;
  std::vector<Entry> entries;
  // A folder's plain listing: one per entry, in its order (in JSON, each entry's "author" and
  // "device"). Empty otherwise. Kept beside the entries so that the change feed's stay small.
  std::vector<Attribution> attributions = {};
};

// GET /v1/changes?cursor=C&limit=N
struct ChangesResponse {
  std::vector<Entry> changes;  // Current state of every node changed after the cursor.
  std::string cursor;          // Pass back to continue.
  bool has_more = false;
  bool reset = false;  // The cursor was unknown: this is a full listing.
};

// One version of a file, as GET /v1/history shows it.
struct VersionInfo {
  int64_t version = 0;
  NodeKind kind = NodeKind::kFile;
  uint64_t size = 0;
  uint32_t mode = default_mode(NodeKind::kFile);  // Permission bits.
  int64_t mtime_ns = 0;
  std::string manifest;        // Hex; files only.
  std::string symlink_target;  // Symlinks only.
  std::string author;          // User name.
  std::string device;
  int64_t created_at = 0;  // Unix seconds.
};

// GET /v1/history?path=P (a live file) or ?node_id=N (any node, deleted ones too).
struct HistoryResponse {
  int64_t node_id = 0;
  std::string path;
  bool deleted = false;
  std::vector<VersionInfo> versions;  // Newest first.
};

// One change, as GET /v1/log shows it.
struct LogEntry {
  int64_t seq = 0;    // Its place in the journal of the namespace it happened in.
  int64_t at_ms = 0;  // Milliseconds since the epoch.
  std::string op;     // put, mkdir, delete, move, restore, share, unshare
  std::string path;   // Where the file or folder was once changed.
  std::string from;   // A move: where it was before.
  NodeKind kind = NodeKind::kFile;
  int64_t version = 0;  // Files: the head after the change.
  std::string author;   // User name (empty for changes from before the journal recorded it).
  std::string device;
};

// GET /v1/log?path=P&before=SEQ&since=MS&limit=N: changes to what is at P now (and to what was
// deleted from it), newest first.
struct LogResponse {
  std::vector<LogEntry> entries;
  int64_t next_before = 0;  // Pass as `before` for the next page; 0: there is no more.
};

// What a delete put in the trash: a node deleted whose parent is alive (a deleted folder stands
// for everything that was deleted with it).
struct TrashEntry {
  int64_t node_id = 0;
  std::string path;  // Where it was.
  NodeKind kind = NodeKind::kFile;
  int64_t deleted_at = 0;
  int64_t version = 0;  // Files: the head when it was deleted.
  uint64_t size = 0;    // Files: the head's size; folders: of every file deleted with it.
  uint64_t files = 0;   // Files deleted with it (1 for a file).
};

// GET /v1/trash
struct TrashResponse {
  std::vector<TrashEntry> entries;  // Most recently deleted first.
};

// POST /v1/trash/empty: deletes everything in the trash for good (its versions too).
struct EmptyTrashResponse {
  uint64_t nodes = 0;  // Files, folders and symlinks removed.
  uint64_t bytes = 0;  // Logical bytes no longer counted against the quota.
};

// GET /v1/quota: logical bytes of current files plus the trash; history is free.
struct QuotaResponse {
  uint64_t used = 0;
  std::optional<uint64_t> limit;  // nullopt: unlimited.
};

// GET /v1/repairs: the caller's files whose current versions need chunks the server lost (every
// stored copy was found damaged or missing). A client that has such a file re-reads it and
// uploads those chunks (POST /v1/chunks/check answers them as missing).
struct FileRepair {
  std::string path;  // In the caller's view.
  int64_t node_id = 0;
  int64_t version = 0;
  std::vector<ChunkRef> chunks;  // The lost ones this version needs.
};
struct RepairsResponse {
  std::vector<FileRepair> files;
};

// `cairnd check --json`: what a check of the store found (docs/cli.md).
struct CheckNeed {
  std::string owner;  // User name.
  std::string path;   // In the owner's namespace.
  int64_t node_id = 0;
  int64_t version = 0;
  bool head = false;
  bool deleted = false;
};
struct CheckDamage {
  Digest hash;
  uint64_t size = 0;
  int64_t found_at = 0;
  std::string detail;
  std::vector<CheckNeed> needed_by;
};
struct CheckResult {
  bool clean = true;
  double seconds = 0;
  int64_t versions = 0;
  int64_t manifests = 0;
  int64_t chunks = 0;
  uint64_t objects = 0;
  uint64_t objects_read = 0;
  uint64_t bytes_read = 0;
  int64_t copies_set_aside = 0;
  std::vector<std::string> problems;
  std::vector<CheckDamage> damaged;
};

// POST /v1/shares {path, user, role}: shares a folder, or changes a share's role.
// DELETE /v1/shares?path=P&user=U: the owner takes it back; without user, a grantee leaves.
struct ShareRequest {
  std::string path;
  std::string user;
  std::string role;  // "viewer" or "editor".
};
struct ShareInfo {
  int64_t share_id = 0;
  std::string path;  // The owner's folder, or (shared with the caller) where the caller sees it.
  std::string owner;
  std::string user;  // The grantee.
  std::string role;
  int64_t created_at = 0;
};
// GET /v1/shares[?path=P]: shares the caller owns and those shared with them.
struct SharesResponse {
  std::vector<ShareInfo> shares;
};

// POST /v1/links {path, expires_in}: a URL anyone may download PATH from without a token (a
// folder as a tar stream) until it expires or is revoked (DELETE /v1/links?id=N or ?token=T).
struct LinkRequest {
  std::string path;
  std::optional<int64_t> expires_in;  // Seconds; none: until revoked.
};
struct LinkInfo {
  int64_t link_id = 0;
  std::string path;  // Empty when the file or folder is gone.
  std::string url;   // "/l/TOKEN", relative to the server; only when just created.
  int64_t created_at = 0;
  std::optional<int64_t> expires_at;
  bool revoked = false;
  std::string created_by;  // The creator's user name (GET /v1/links).
};
// GET /v1/links: the caller's links, and links others made into the caller's files.
struct LinksResponse {
  std::vector<LinkInfo> links;
};

// POST /v1/web/signin: a URL, relative to the server, that signs its holder in to the web page
// as the caller, once, until it expires (`cairn web`).
struct WebSignInResponse {
  std::string url;  // "/web/signin?code=CODE"
  int64_t expires_at = 0;
};

// Every error response: {"error":{"code":"not_found","message":"..."}}.
struct ErrorBody {
  std::string code;
  std::string message;
};

// Encodes any of the types above as compact JSON.
template <typename T>
std::string encode_json(const T& value);

// Decodes JSON into one of the types above. kInvalidArgument names the first problem found:
// malformed JSON, a missing field, a field of the wrong type, a bad hash.
template <typename T>
Result<T> decode_json(std::string_view text);
// The busiest request, decoded in one pass without building a JSON tree.
template <>
Result<CheckChunksRequest> decode_json<CheckChunksRequest>(std::string_view text);

std::string_view op_status_name(OpStatus status);

// `text` as a JSON string literal, quotes included; invalid UTF-8 is replaced, never thrown.
std::string json_quote(std::string_view text);

}  // namespace cairn::protocol
