#pragma once

// The inside of the SQL metadata store (SQLite and PostgreSQL through one implementation),
// shared by its files, one per concern. Nothing outside daemon/store/ includes this: the rest of
// the daemon sees MetadataStore (daemon/store/metadata_store.h) and open_metadata_store.
//
//   metadata_schema.cpp    the migrations, one list per engine, and migrate()
//   metadata_rows.cpp      row readers and small helpers every concern uses
//   metadata_tx.cpp        Tx: what one transaction knows and checks (views and mounts, folders,
//                          scope, quota charges, the journal)
//   metadata_tree.cpp      commits (put, mkdir, delete, move, restore, undelete), list
//   metadata_feed.cpp      the change feed (changes, and Tx::entries for its pages)
//   metadata_batch.cpp     commits of many new files at once, with set-based statements
//   metadata_identity.cpp  settings, users, tokens, authentication, who hears of changes
//   metadata_chunks.cpp    chunks, packs, upload sessions, manifests, locating copies
//   metadata_gc.cpp        garbage collection, damaged copies, check
//   metadata_sharing.cpp   shares and links
//   metadata_history.cpp   history, the trash, quotas, retention

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
#include "common/paths.h"
#include "common/remote_path.h"
#include "daemon/store/metadata_store.h"
#include "daemon/store/sql/sql.h"

namespace cairn::store::sqlstore {

using sql::Rows;
using sql::Session;
using sql::TxMode;

inline int kind_code(NodeKind kind) { return static_cast<int>(kind); }
NodeKind kind_from_code(int64_t code);

// When `a` acts, in milliseconds: what the journal records.
inline int64_t at_ms(const Actor& a) { return a.now_ms != 0 ? a.now_ms : a.now * 1000; }

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
Entry entry_from_row(const sql::Row& r, size_t c);

User user_from_row(const sql::Row& r);

// The columns upload_from_row reads, in its order: an upload session.
constexpr const char* kUploadColumns =
    "path, kind, mode, mtime_ns, symlink_target, manifest_hash, size, base_seq, expires_at, "
    "node_id, upload_id, group_id";

StagedUpload upload_from_row(const sql::Row& r);

constexpr const char* kUserColumns = "user_id, name, home_namespace_id, disabled, created_at";

inline sql::Value batch_value(const Digest& d) { return sql::to_value(d.bytes()); }
inline sql::Value batch_value(int64_t id) { return sql::to_value(id); }

// Runs `run(in_list, params)` for `items` (digests or ids) in batches of 500: `in_list` is
// "?k, ?k+1, ..." for the batch's items, numbered after the `fixed` parameters that lead
// `params`. One query per batch, not one per item: on PostgreSQL each query is a round trip.
template <typename T, typename F>
Result<void> in_batches(const std::vector<T>& items, const std::vector<sql::Value>& fixed,
                        F&& run) {
  constexpr size_t kPerQuery = 500;
  for (size_t begin = 0; begin < items.size(); begin += kPerQuery) {
    const size_t end = std::min(items.size(), begin + kPerQuery);
    std::string in;
    std::vector<sql::Value> params = fixed;
    for (size_t i = begin; i < end; ++i) {
      in += (i == begin ? "?" : ", ?") + std::to_string(params.size() + 1);
      params.push_back(batch_value(items[i]));
    }
    CAIRN_RETURN_IF_ERROR(run(in, params));
  }
  return {};
}

void collect_digests(const Rows& r, size_t column, std::unordered_set<Digest>& out);

// Rows per multi-row statement: within both engines' limits on parameters (SQLite 32,766,
// PostgreSQL 65,535) at 12 columns, and short enough that one statement stays cheap to plan.
constexpr size_t kRowsPerStatement = 256;

// Runs `head` VALUES (row), (row), ... `tail` for `rows`, kRowsPerStatement at a time, and
// hands each statement's result to `each` (for RETURNING). Every value is its own parameter,
// numbered in order, which SQLite compiles fastest (sqlite_database.cpp).
template <typename F>
Result<void> insert_rows(Session& s, const std::string& head,
                         const std::vector<std::vector<sql::Value>>& rows, const std::string& tail,
                         F&& each) {
  for (size_t begin = 0; begin < rows.size(); begin += kRowsPerStatement) {
    const size_t end = std::min(rows.size(), begin + kRowsPerStatement);
    std::string text = head + " VALUES ";
    std::vector<sql::Value> params;
    for (size_t i = begin; i < end; ++i) {
      text += i == begin ? "(" : ", (";
      for (size_t c = 0; c < rows[i].size(); ++c) {
        text += (c == 0 ? "?" : ", ?") + std::to_string(params.size() + 1);
        params.push_back(rows[i][c]);
      }
      text += ')';
    }
    CAIRN_ASSIGN_OR_RETURN(auto r, s.run(text + tail, params));
    CAIRN_RETURN_IF_ERROR(each(r));
  }
  return {};
}

Result<void> insert_rows(Session& s, const std::string& head,
                         const std::vector<std::vector<sql::Value>>& rows,
                         const std::string& tail = "");

// Inserts the locations of a pack's chunks, readable by `reader` (0: anyone who holds them).
Result<void> insert_pack_chunks(Session& s, const Digest& pack, int64_t reader,
                                const std::vector<PackEntry>& entries);

// Every chunk that the manifests selected by `manifest_query` (one column: manifest_hash, with
// `args`) list.
Result<void> chunks_of_manifests(Session& s, const std::string& manifest_query,
                                 const std::vector<sql::Value>& args,
                                 std::unordered_set<Digest>& out);

// A chunk's place in `pack` from a row holding pack_offset, stored_size, size, codec and
// stored_xxh3 of pack_chunks, in that order, from column `first` on.
ChunkLocation location_from_row(const sql::Row& row, int first, const Digest& hash,
                                const Digest& pack);

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
std::string numbered_name(const std::string& name, int n, bool file);

// Marks `e` as the grantee sees `m`: their role and the owner; for a shared file, also the
// mount's id (the id their working copy knows it by) in place of the owner's.
void show_as_mount(const Mount& m, Entry& e);

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
std::string id_list(const std::vector<int64_t>& ids);

// The statements one transaction needs, over its session, and what it learns as it goes (the
// acting user's mounts, folders resolved, namespace owners). One per transaction; never shared.
class Tx {
 public:
  explicit Tx(Session& s) : s_(s) {}

  // Checks again, inside the transaction that acts, that the actor's token is valid and its user
  // enabled: a revocation that lands while a request is on its way wins.
  Result<void> still_authorised(const Actor& a);

  // The folders shared with `user_id`, loaded once per transaction: every role check of the
  // transaction sees the grants as they are in it.
  Result<const std::vector<Mount>*> mounts(int64_t user_id);

  // Where `path` of the acting user's view lives: in their home namespace, or, below a folder
  // shared with them or at a file shared with them, in its owner's namespace. A shared folder's
  // own path (the mount) is in the home namespace: the grantee may move it.
  Result<Place> place(const Actor& a, const std::string& path);

  // The mount (of a folder or a file shared with the acting user) at exactly `path`, if any.
  Result<const Mount*> mount_at(const Actor& a, const std::string& path);

  // place(), except that a mount's own path leads into the shared folder: where to list it.
  Result<Place> place_contents(const Actor& a, const std::string& path);

  // Marks an entry of the home namespace that is a mount with the user's role and the owner. A
  // shared file's mount shows the owner's file as it is now (under the mount's path and id).
  Result<void> mark_mount(const Actor& a, Entry& e);

  // The folder or file at `path` of the actor's own namespace, which `what` (share, unshare)
  // acts on.
  Result<int64_t> owned_node(const Actor& a, const std::string& path, const std::string& what);

  // A path of `p`'s namespace as the acting user sees it.
  static std::string to_view(const Place& p, const std::string& ns_path);

  // The actor for a change at `p`, `view_path` naming it in the user's view. A viewer is refused
  // with kPermissionDenied and a message that names the role.
  static Result<Actor> writer(const Actor& a, const Place& p, const std::string& view_path);

  // A token's scope (`scope`, a path of the user's view) as a path of `p`'s namespace: empty when
  // all of it that the user sees is in scope.
  static std::string scope_at(const std::string& scope, const Place& p);

  // Whether `node` is one the actor may touch: anywhere in a namespace of their own, only below
  // the shared folder in someone else's, and within the token's scope. Deleted nodes too (their
  // place is where they were deleted from).
  Result<bool> in_scope(const Actor& a, int64_t node);

  // Where the node a link points at is in the actor's view: in their own namespace, or under a
  // folder or file shared with them. Empty if it is deleted or out of their sight.
  Result<std::string> link_path(const Actor& a, int64_t ns, int64_t node);

  // Revokes the links `user` made into namespace `ns` that no share of theirs as an editor
  // covers any more: after a share is taken away or made read-only.
  Result<void> revoke_unshared_links(int64_t user, int64_t ns, int64_t now);
  // Ends a share, as `cairn unshare` does, given its row (share_id, mount_namespace_id,
  // mount_node_id, grantee_id, namespace_id, root_node_id): the grantee's mount is purged and
  // journaled as "unshare" (their client keeps its copy as their own), the owner's log says so,
  // and the grantee's links into the owner's folder are revoked.
  Result<void> end_share(const Actor& a, const sql::Row& share);

  // The nodes a token limited to `scope` (a path of the user's view) reaches, each with
  // everything under it: what is at that path, and every folder or file shared with the user
  // whose mount is under it. nullopt: no limit.
  Result<std::optional<std::vector<Root>>> scope_roots(int64_t user_id, const std::string& scope);

  // The manifests of `digests` that committed versions the user may read reference (in a
  // namespace of theirs, or under a folder or file shared with them; within `roots` if given),
  // each with the authors of those versions: committing proved each author held every chunk.
  // Manifests the user may not read are absent.
  Result<std::unordered_map<Digest, std::vector<int64_t>>> manifest_authors(
      int64_t user_id, const std::vector<Digest>& digests,
      const std::optional<std::vector<Root>>& roots);

  // Adds to `out` every copy of `digests` that one of `readers` may read: any copy of a chunk
  // they hold (its own object, or a pack the daemon verified or they uploaded), and the copy in
  // a pack of theirs of a chunk they only claim.
  Result<void> gather_copies(const std::vector<Digest>& digests,
                             const std::vector<int64_t>& readers, Copies& out);

  Result<int64_t> root_of(int64_t ns);

  Result<std::optional<NodeRow>> live_child(int64_t ns, int64_t parent, const std::string& name);

  // Resolves a canonical path to a live node; nullopt if any segment is missing.
  Result<std::optional<NodeRow>> resolve(int64_t ns, const std::string& path);

  // Appends a journal entry for `node` of namespace `ns` at the namespace's next sequence number,
  // made by `a`: with the node's place and state as they are now (call it after the change). The
  // UPDATE serialises commits to one namespace; commits to different namespaces do not wait.
  // `from_parent`: a moved node's old parent.
  Result<void> journal(const Actor& a, int64_t ns, int64_t node, const char* op,
                       std::optional<int64_t> from_parent = std::nullopt);

  // Creates a node under `parent` with its closure rows: one per ancestor plus itself.
  Result<int64_t> create_node(int64_t ns, std::optional<int64_t> parent, const std::string& name,
                              NodeKind kind, int64_t now);

  // Makes every folder of `path` exist (like mkdir -p); returns the last one's node id and
  // whether anything was created.
  Result<std::pair<int64_t, bool>> ensure_folder(const Actor& a, const std::string& path);

  // The live folder at `path`, if there is one; creates nothing (a file in the way: nullopt).
  Result<std::optional<int64_t>> find_folder(const Actor& a, const std::string& path);

  // ensure_folder, or (create false) find_folder: nullopt at the first missing segment.
  Result<std::optional<std::pair<int64_t, bool>>> walk_folders(const Actor& a,
                                                               const std::string& path,
                                                               bool create);

  // Forgets resolved folders: after an op is rolled back, deletes or moves nodes.
  void forget_folders();

  // Charges `delta` logical bytes (negative: refunds) to the quota of the namespace's owner, with
  // one conditional update: kQuotaExceeded, and nothing charged, if it would pass the limit.
  // Inside the transaction that acts, so two racing commits cannot both squeeze under it.
  Result<void> charge(int64_t ns, int64_t delta);

  Result<int64_t> owner_of(int64_t ns);

  // Gives `node` (and so its whole subtree) a new parent and name. The subtree's closure rows to
  // its old ancestors go and rows to the new ones come: two statements, whatever its size.
  Result<void> reparent(int64_t ns, int64_t node, int64_t old_parent, int64_t parent,
                        const std::string& name);

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
  Result<std::optional<NodeInfo>> node_info(int64_t ns, int64_t node);

  // Brings back the most recently deleted node of this name and kind, so that a path deleted and
  // created again keeps one history; otherwise creates a new node.
  // `head_seq`, if given, receives the node's head version (0 for a new node).
  Result<int64_t> revive_or_create(const Actor& a, int64_t parent, const std::string& name,
                                   NodeKind kind, int64_t* head_seq = nullptr);

  Result<std::optional<VersionRow>> version(int64_t ns, int64_t node, int64_t seq);

  Result<std::string> node_path(int64_t ns, int64_t node);

  // The current state of a node as the API shows it.
  Result<Entry> entry(int64_t ns, int64_t node_id, const std::string* known_path);
  // The same for many nodes of a namespace, by id: one query per few hundred, and each folder's
  // path looked up once per transaction (a page of the change feed names a thousand nodes in a
  // few dozen folders). Ids that are not nodes of `ns` are left out.
  Result<std::unordered_map<int64_t, Entry>> entries(int64_t ns, const std::vector<int64_t>& ids);

  // Sound copies of `digests` were stored: they are no longer lost.
  Result<void> forget_damage(const std::vector<Digest>& digests);

  Result<bool> user_has_chunk(int64_t user_id, const Digest& d);

  // Which of `digests` the user holds or claims (see MetadataStore::locate_chunks): one query
  // per 500 digests, not one per digest (a 1 GiB file has about a thousand chunks, and on
  // PostgreSQL each query is a round trip).
  Result<std::unordered_set<Digest>> held_chunks(int64_t user_id,
                                                 const std::vector<Digest>& digests);
  // Asks once which of `digests` the user holds, so that held_chunks answers for them from
  // memory for the rest of this transaction: a commit of a thousand files makes a few queries,
  // not one per file. Valid because a commit never takes a chunk from a user.
  Result<void> prefetch_held(int64_t user_id, const std::vector<Digest>& digests);

  static std::vector<Digest> digests_of(const Manifest& m);

  // One op of a commit by `a` (acting from their home namespace), in the namespace its paths
  // lead to. `file`: the file a put carries, if it does.
  Result<OpResult> apply(const Actor& a, const TreeOp& op);

  // Commits a staged upload session, and ends it.
  Result<OpResult> put(const Actor& a, const std::string& upload_id);
  // Commits every live session of `group` (all at or under `root`, a path of the actor's view),
  // each as a new head on top of what is there, then (`mirror`) moves what else is under `root`
  // to the trash; ends the sessions. kConflict, kNotFound... if any of it cannot be done: the
  // caller's savepoint then undoes all of it. metadata_publish.cpp.
  Result<OpResult> publish(const Actor& a, const std::string& group, const std::string& root,
                           bool mirror);
  // The live nodes under the folder `root` (a view path) that are neither in `keep` nor hold
  // anything in it go to the trash; returns how many were deleted (folders count once).
  Result<int64_t> mirror_under(const Actor& a, const std::string& root,
                               const std::unordered_set<std::string>& keep);
  // The tree as it was (metadata_point_in_time.cpp). The node at `p` at `at_ms`, if one was
  // there (live). Inside a folder shared with the user the walk starts at the shared folder:
  // what its owner kept at that path before is not the user's to see.
  Result<std::optional<NodeRow>> resolve_at(const Place& p, int64_t at_ms);
  // Entries of namespace `ns` at `at_ms`: the node `node` itself (`self`, named `path`), or what
  // was below it then down to `depth` levels (parents first, by depth then name), named under
  // `path`. Each file at the version it had then; kNotFound naming the files whose version of
  // then is gone.
  Result<std::vector<Entry>> entries_at(int64_t ns, int64_t node, const std::string& path,
                                        int64_t at_ms, bool self, int depth);
  // kRestoreAt: the folder or file at view path `path` then becomes what it was at `at_ms`.
  Result<OpResult> restore_at(const Actor& a, const std::string& path, int64_t at_ms);
  // Makes the live node at `path` of the actor's namespace (creating it, or reviving a deleted
  // one of the same name and kind) the file or symlink that `from` was, at its version
  // `from_seq`: a new version copying that one's fields. Unchanged if it already has that content.
  Result<OpResult> put_version_of(const Actor& a, const std::string& path, int64_t from,
                                  int64_t from_seq);
  // Commits a file that came with the commit: its manifest is stored here.
  Result<OpResult> put_file(const Actor& a, const StagedUpload& u);
  // Both: finds the namespace of the file's path, then put_staged.
  Result<OpResult> put_placed(const Actor& a, const StagedUpload& u,
                              const std::optional<Manifest>& given);
  // In the actor's namespace: `given` is the file's manifest when the caller has it decoded.
  Result<OpResult> put_staged(const Actor& a, const StagedUpload& u,
                              const std::optional<Manifest>& given);
  Result<OpResult> mkdir(const Actor& a, const std::string& path, std::optional<uint32_t> mode);
  // `expect_node`, if set, must be the node at `path` (see TreeOp::node_id).
  Result<OpResult> remove(const Actor& a, const std::string& path, std::optional<int64_t> base,
                          int64_t expect_node);
  Result<OpResult> move(const Actor& a, const std::string& from, const std::string& to,
                        int64_t expect_node);
  Result<OpResult> restore(const Actor& a, const std::string& path, int64_t version,
                           int64_t expect_node);
  Result<OpResult> undelete(const Actor& a, int64_t node, const std::string& to);

  // Commits, with a few statements for all of them, the puts among `ops` that create a file or
  // symlink where nothing is or was: in the actor's own namespace, in a folder that exists, no
  // node at that name (live, or in the trash to come back), no base, every chunk held, the path
  // named once in `ops`. Their results go into `done` at their ops' places; the rest are left
  // for apply(). Meant for a batch of puts only: it acts before the ops around it, which only
  // puts of other paths cannot notice. Over quota, nothing is done here and apply() tells.
  Result<void> put_new_files(const Actor& a, const std::vector<TreeOp>& ops,
                             std::vector<std::optional<OpResult>>& done);

  // Commits that carry a request id (metadata_requests.cpp): the results recorded for this
  // user's request `key.id`, if it was made within the day (kConflict if it asked something
  // else); and the recording of a new one's, which also forgets this user's older ones.
  Result<std::optional<std::vector<OpResult>>> recorded_request(int64_t user_id,
                                                                const RequestKey& key, int64_t now);
  Result<void> record_request(int64_t user_id, const RequestKey& key,
                              const std::vector<OpResult>& results, int64_t now);

 private:
  // The put of `u` found the head moved past its base: commits it beside the head as a
  // conflicted copy, or finds the copy an earlier try of this same commit made.
  Result<OpResult> put_conflicted_copy(const Actor& a, const StagedUpload& u, int64_t parent,
                                       const std::string& name,
                                       const std::optional<Manifest>& manifest);

  // A put that put_new_files may do.
  struct NewFile {
    size_t op = 0;
    int64_t parent = 0;
    std::string name;
    const StagedUpload* u = nullptr;
    int64_t node = 0;  // Once made.
  };
  Result<std::vector<NewFile>> new_files(const Actor& a, const std::vector<TreeOp>& ops);
  Result<void> create_files(const Actor& a, std::vector<NewFile>& files);

  Session& s_;
  // Live folders by namespace and path, this transaction.
  std::unordered_map<int64_t, std::unordered_map<std::string, int64_t>> folders_;
  std::optional<std::vector<Mount>> mounts_;     // The acting user's mounts, this transaction.
  std::unordered_map<int64_t, int64_t> owners_;  // Namespace owners, this transaction.
  std::map<std::pair<int64_t, int64_t>, std::string> folder_paths_;  // entries(): by (ns, node).
  // prefetch_held's answer: which of the digests asked about for this user are held.
  struct HeldPrefetch {
    int64_t user_id = 0;
    std::unordered_set<Digest> asked;
    std::unordered_set<Digest> held;
  };
  std::optional<HeldPrefetch> held_prefetch_;
};

// What a version counts against the quota: a file's size; symlinks and folders are free.
inline int64_t charged(const std::optional<VersionRow>& v) {
  return v && v->manifest ? v->size : 0;
}

bool same_content(const VersionRow& head, const StagedUpload& u);

// Storage failures abort a commit batch; request-level failures are reported per op.
// A refusal of who is asking (a revoked token, a viewer's write) refuses the whole request.
bool aborts_batch(const Error& e);

// MetadataStore over one sql::Database, SQLite or PostgreSQL. Its methods live in the
// metadata_*.cpp file of their concern (the table at the top of this header).
class SqlMetadataStore final : public MetadataStore {
 public:
  explicit SqlMetadataStore(std::unique_ptr<sql::Database> db) : db_(std::move(db)) {}

  Result<void> migrate(const std::string& where, int up_to);

  Result<std::string> get_or_init_setting(const std::string& key,
                                          const std::string& initial) override;

  Result<User> create_user(const std::string& name, int64_t now) override;

  Result<std::vector<User>> list_users() override;

  Result<User> find_user(const std::string& name) override;

  Result<int64_t> add_token(int64_t user_id, const Digest& token_hash, const std::string& label,
                            int64_t now, std::optional<int64_t> expires_at, const TokenScope& scope,
                            TokenKind kind, int64_t parent_id) override;

  Result<std::vector<TokenInfo>> list_tokens(int64_t user_id) override;

  Result<void> revoke_token(int64_t user_id, int64_t token_id, int64_t now) override;

  Result<bool> claim_token(int64_t user_id, int64_t token_id, int64_t now) override;

  Result<void> set_user_disabled(int64_t user_id, bool disabled) override;

  Result<User> authenticate(const Digest& token_hash, int64_t now) override;

  Result<std::vector<bool>> user_has_chunks(int64_t user_id,
                                            const std::vector<Digest>& digests) override;

  Result<void> record_chunk(int64_t user_id, const Digest& digest, uint64_t size, int64_t now,
                            const std::function<Result<void>()>& publish,
                            int64_t token_id) override;

  Result<void> record_pack(int64_t user_id, const Digest& pack, uint64_t size, bool verified,
                           const std::vector<PackEntry>& entries, int64_t now,
                           int64_t token_id) override;

  Result<std::vector<ChunkLocation>> locate_chunks(int64_t user_id,
                                                   const std::vector<Digest>& digests,
                                                   const std::vector<Digest>& manifests,
                                                   const std::string& scope_path) override;

  Result<std::vector<Digest>> gc_candidates(int64_t cutoff) override;

  Result<GcSwept> gc_sweep(const std::vector<Digest>& candidates, int64_t recent_since,
                           int64_t cutoff) override;

  Result<int64_t> gc_delete_chunks(
      const std::vector<Digest>& doomed,
      const std::function<Result<void>(const Digest&)>& remove) override;

  Result<std::vector<PackUsage>> gc_pack_usage() override;

  Result<std::vector<ChunkLocation>> gc_pack_chunks(const Digest& pack) override;
  Result<std::vector<ChunkLocation>> pack_chunks_in(const Digest& pack, uint64_t offset,
                                                    uint64_t length) override;

  Result<int64_t> gc_replace_packs(const std::vector<Digest>& old_packs, const Digest& new_pack,
                                   uint64_t new_size, const std::vector<PackEntry>& entries,
                                   int64_t now) override;

  Result<bool> gc_retire_pack(const Digest& pack, int64_t now) override;

  Result<void> gc_forget_pack(const Digest& pack) override;

  // --- damage ---

  Result<CopyFate> forget_damaged_copy(const ChunkRef& chunk, const std::optional<Digest>& pack,
                                       int64_t now, const std::string& detail,
                                       const std::function<Result<bool>()>& confirm) override;

  Result<int64_t> record_lost_chunks(const std::vector<ChunkRef>& chunks, int64_t now,
                                     const std::string& detail) override;

  Result<std::vector<DamagedChunk>> damaged_chunks() override;

  Result<int64_t> index_damage() override;

  Result<std::vector<DamagedVersion>> damaged_versions() override;

  Result<std::vector<FileToRepair>> files_to_repair(int64_t user_id,
                                                    const std::string& scope_path) override;

  Result<MetadataCheck> check_metadata() override;

  Result<std::vector<ChunkRef>> stored_chunks() override;

  Result<std::vector<ChunkRef>> missing_upload_chunks(int64_t user_id,
                                                      const std::vector<std::string>& upload_ids,
                                                      int64_t now) override;

  Result<void> save_uploads(const std::vector<StagedUpload>& uploads) override;
  Result<std::vector<std::string>> group_uploads(int64_t user_id, const std::string& group,
                                                 int64_t now) override;

  Result<std::vector<OpResult>> commit(const Actor& actor, const std::vector<TreeOp>& ops,
                                       FeedSpan* home_span, const RequestKey* request) override;

  Result<int64_t> expire_uploads(int64_t now) override;
  Result<uint64_t> backup_to(const std::string& dest) override { return db_->backup_to(dest); }
  Result<int64_t> forget_ended_sessions(int64_t now) override;
  Result<StoreStats> stats() override;
  Result<void> schedule_user_deletion(int64_t user_id, int64_t delete_after) override;
  Result<std::vector<std::string>> purge_deleted_users(int64_t now) override;

  Result<Bytes> get_manifest(int64_t user_id, const Digest& digest,
                             const std::string& scope_path) override;
  Result<std::vector<std::pair<Digest, Bytes>>> get_manifests(
      int64_t user_id, const std::vector<Digest>& digests, const std::string& scope_path) override;

  Result<bool> user_can_read_chunk(int64_t user_id, const Digest& digest) override;
  Result<bool> pack_recorded_by(int64_t user_id, const Digest& pack, uint64_t size) override;

  Result<Listing> list(const Actor& actor, const std::string& path) override;
  Result<Listing> list_tree(const Actor& actor, const std::string& path) override;
  Result<Listing> list_at(const Actor& actor, const std::string& path, int64_t at_ms,
                          bool recursive) override;
  Result<LogPage> log(const Actor& actor, const std::string& path, const LogQuery& query) override;

  Result<ChangesPage> changes(const Actor& actor, const FeedCursor& after, int limit) override;

  Result<void> check_write(const Actor& actor, const std::vector<std::string>& paths) override;

  Result<ShareInfo> share(const Actor& actor, const std::string& path, const std::string& grantee,
                          Role role) override;

  Result<void> unshare(const Actor& actor, const std::string& path,
                       const std::string& grantee) override;

  Result<std::vector<ShareInfo>> shares(const Actor& actor, const std::string& path) override;

  Result<LinkInfo> create_link(const Actor& actor, const std::string& path,
                               const Digest& token_hash,
                               std::optional<int64_t> expires_at) override;

  Result<std::vector<LinkInfo>> links(const Actor& actor) override;

  Result<void> revoke_link(const Actor& actor, int64_t link_id,
                           const std::optional<Digest>& token_hash) override;

  Result<LinkTarget> open_link(const Digest& token_hash, int64_t now) override;

  Result<std::optional<std::string>> setting(const std::string& key) override;

  Result<void> set_setting(const std::string& key,
                           const std::optional<std::string>& value) override;

  Result<FileHistory> history(const Actor& actor, const std::string& path,
                              int64_t node_id) override;

  Result<std::vector<TrashItem>> trash(int64_t namespace_id) override;

  Result<TrashPurged> empty_trash(int64_t namespace_id, std::optional<int64_t> deleted_before,
                                  int64_t now) override;

  Result<QuotaUsage> quota(int64_t user_id) override;

  Result<void> set_quota(int64_t user_id, std::optional<uint64_t> limit) override;

  Result<void> watch_changes(std::function<void(int64_t)> changed,
                             std::function<void()> gap) override;

  Result<Audience> audience(int64_t ns, int64_t after) override;

  Result<std::vector<Digest>> invalid_tokens(const std::vector<Digest>& token_hashes,
                                             int64_t now) override;

  Result<RetentionReport> apply_retention(int64_t cutoff, int64_t now) override;

 private:
  // kUnauthenticated unless token `token_id` of `user_id` is still valid (0: none to check).
  static Result<void> token_still_valid(Session& s, int64_t user_id, int64_t token_id, int64_t now);

  // Deletes for good the deleted nodes of a namespace (deleted before `before`, if given): their
  // versions go (their chunks become garbage for gc), the nodes stay marked purged so that the
  // change feed still knows them, and their heads are refunded to the owner's quota.
  static Result<TrashPurged> purge_trash(Session& s, int64_t ns, std::optional<int64_t> before,
                                         int64_t now);

  std::unique_ptr<sql::Database> db_;
};

}  // namespace cairn::store::sqlstore
