#pragma once

// The daemon's services: plain C++ over the stores, with no HTTP in sight. A handler
// authenticates, builds a RequestContext, calls one method with protocol structs and turns the
// Result into a response. Every method is safe to call from any thread.

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/chunker.h"
#include "common/error.h"
#include "common/pack.h"
#include "common/protocol/protocol.h"
#include "daemon/service/url_signer.h"
#include "daemon/service/verified_read.h"
#include "daemon/store/blob_store.h"
#include "daemon/store/metadata_store.h"

namespace cairn::service {

// Wall-clock seconds. Tests substitute a manual clock.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_seconds() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t now_seconds() const override;
};

struct RequestContext {
  store::User user;
  std::string device;
  int64_t now = 0;

  // Who acts, for the store: from the user's home namespace, with the token to check again
  // inside the transaction.
  store::Actor actor() const;
};

struct ServiceConfig {
  ChunkerParams chunking;
  protocol::PackConfig packs;  // chunk_limit 0: clients are not asked to pack.
  int64_t upload_ttl_seconds = 24 * 3600;
  int64_t chunk_url_ttl_seconds = 3600;
  uint32_t max_batch = 1000;
  uint64_t max_json_body_bytes = 32 * 1024 * 1024;
  std::string version;
};

// A chunk or pack upload authorised by a signed URL, granted to one token of a user: the upload
// is recorded only while that token is still valid.
struct ChunkPutGrant {
  int64_t user_id = 0;
  Digest digest;
  uint64_t size = 0;
  int64_t token_id = 0;
};

// What GET /v1/chunks/{hash} and GET /v1/packs/{hash} send: a local object streamed and verified
// on the way, a stored object to redirect to, or (for a chunk inside a pack read through the
// chunk endpoint) its bytes, decoded and verified.
struct ChunkBody {
  store::BlobReadInfo object;
  std::shared_ptr<VerifiedRead> stream;
  std::optional<Bytes> bytes;
};

// cairnd check: what to look at.
struct CheckOptions {
  // Share of stored objects (0..100) whose bytes are read and verified: 0 checks the metadata
  // and that every object exists with its size; 100 reads everything.
  double read_percent = 0;
  // Bytes per second read at most, so that a check beside a serving daemon leaves it room.
  // 0: no limit.
  uint64_t max_bytes_per_second = 0;
};

// Where a check is, for progress lines.
struct CheckProgress {
  std::string phase;  // "metadata", "objects"
  uint64_t objects_done = 0;
  uint64_t objects_total = 0;
  uint64_t bytes_read = 0;
};

// What cairnd check found.
struct CheckReport {
  std::vector<std::string> problems;  // Metadata that disagrees with itself or with the store.
  std::vector<store::DamagedChunk> damaged;      // Chunks with no sound copy, found or known.
  std::vector<store::DamagedVersion> needed_by;  // The versions that need them.
  int64_t copies_forgotten = 0;  // Damaged or missing copies found by this run (and set aside).
  int64_t versions = 0;
  int64_t manifests = 0;
  int64_t chunks = 0;         // Distinct chunks the versions need.
  uint64_t objects = 0;       // Stored objects looked at (chunks and packs).
  uint64_t objects_read = 0;  // Of those, read and verified.
  uint64_t bytes_read = 0;
  double seconds = 0;
  bool clean() const { return problems.empty() && damaged.empty(); }
};

// cairnd gc: what to collect.
struct GcOptions {
  // Nothing younger than this is collected: chunks and packs stored since (they may belong to a
  // push that has not committed yet; an upload session lives 24 h), and packs retired since
  // (a client may still be reading a range it was sent). Default 25 h.
  int64_t grace_seconds = 25 * 3600;
  // A pack whose live chunks take less than this share of its chunk bytes is rewritten without
  // the dead ones (merged with other packs gc rewrites).
  double rewrite_below = 0.5;
};

// What a gc run did.
struct GcReport {
  int64_t uploads_expired = 0;
  int64_t chunks_deleted = 0;  // Chunks no version or upload session references.
  int64_t chunk_objects_deleted = 0;
  int64_t packs_rewritten = 0;  // Old packs whose live chunks were copied (and that retired).
  int64_t packs_written = 0;    // New packs they were merged into.
  int64_t chunks_moved = 0;     // Live chunks copied out of rewritten packs.
  int64_t packs_deleted = 0;
  uint64_t bytes_freed = 0;           // Of deleted pack objects.
  std::vector<std::string> problems;  // Damaged chunks dropped while rewriting, and the like.
  // Retention (when set): old versions forgotten, trash purged, logical bytes refunded.
  int64_t versions_expired = 0;
  int64_t trash_purged = 0;
  uint64_t trash_bytes = 0;
};

class Services;

// What a link serves, produced piece by piece as it is sent.
class LinkStream {
 public:
  virtual ~LinkStream() = default;
  virtual uint64_t size() const = 0;  // Exactly what next() will produce in all.
  virtual std::string filename() const = 0;
  virtual bool is_tar() const = 0;
  // The next piece, valid until the next call; empty at the end. An error ends the stream early
  // (the receiver sees fewer bytes than announced).
  virtual Result<ByteView> next() = 0;
};

// A pack arriving through the daemon, verified chunk by chunk as its bytes stream in: nothing is
// recorded unless every chunk hashes to its address. Owned by one connection.
class PackReceiver {
 public:
  PackReceiver(Services& services, ChunkPutGrant grant, std::unique_ptr<store::BlobWriter> writer,
               const PackLimits& limits);
  Result<void> write(ByteView bytes);
  // Verifies, makes the pack durable and records its chunks for the uploader.
  Result<protocol::PackStored> finish();

 private:
  Services& services_;
  ChunkPutGrant grant_;
  std::unique_ptr<store::BlobWriter> writer_;
  PackVerifier verifier_;
};

class Services {
 public:
  // `signing_key` signs chunk upload URLs; every daemon sharing a database shares it.
  Services(store::MetadataStore& metadata, store::BlobStore& blobs, ServiceConfig config,
           Bytes signing_key, const Clock& clock);

  const ServiceConfig& config() const { return config_; }
  int64_t now() const { return clock_.now_seconds(); }
  protocol::ServerConfig server_config() const;

  // --- identities ---
  // A new random bearer token: "cairn_" + 64 hex characters (256 bits).
  static std::string new_token();
  // What the store keeps of a token. Tokens carry 256 random bits, so a plain SHA-256 is as hard
  // to reverse as a slow password hash and lets the lookup be one index probe.
  static Digest hash_token(std::string_view token);
  // The user behind "Bearer <token>". kUnauthenticated otherwise.
  Result<store::User> authenticate(std::string_view authorization_header) const;
  // Creates a user and a first token; returns the token, which is shown once and never stored.
  Result<std::pair<store::User, std::string>> add_user(const std::string& name);
  // Another token for a user, valid for `ttl_seconds` if given, limited to `scope`; returns it
  // (shown once).
  Result<std::string> create_token(const std::string& user_name, const std::string& label,
                                   std::optional<int64_t> ttl_seconds = std::nullopt,
                                   const store::TokenScope& scope = {});
  Result<std::vector<store::TokenInfo>> list_tokens(const std::string& user_name);
  Result<void> revoke_token(const std::string& user_name, int64_t token_id);
  Result<void> set_user_disabled(const std::string& user_name, bool disabled);

  // --- chunks ---
  Result<protocol::CheckChunksResponse> check_chunks(const RequestContext& ctx,
                                                     const protocol::CheckChunksRequest& req);
  // Verifies a signed chunk URL's query parameters. kPermissionDenied if forged or expired.
  Result<ChunkPutGrant> authorize_chunk_put(std::string_view hex,
                                            const std::map<std::string, std::string>& query) const;
  Result<std::unique_ptr<store::BlobWriter>> begin_chunk_put(const ChunkPutGrant& grant);
  // Verifies and stores the chunk, then records it for the uploading user.
  Result<void> finish_chunk_put(const ChunkPutGrant& grant, store::BlobWriter& writer);
  // Confirms chunks the client uploaded straight to the blob store: each one the store now holds
  // with the right size is recorded for the user. Returns, with fresh upload grants, the chunks
  // that are still missing.
  Result<protocol::CheckChunksResponse> confirm_chunks(const RequestContext& ctx,
                                                       const protocol::CheckChunksRequest& req);
  // Where to stream a chunk from, or its bytes. kNotFound unless this user holds it (absent and
  // "someone else's" look the same) or `query` is a read URL signed for them by locate_chunks.
  Result<ChunkBody> chunk_read(const RequestContext& ctx, std::string_view hex,
                               const std::map<std::string, std::string>& query = {});
  // How to read each of these chunks, neighbours in one pack merged into one read. Chunks the
  // user does not hold are left out.
  Result<protocol::LocateResponse> locate_chunks(const RequestContext& ctx,
                                                 const protocol::CheckChunksRequest& req);

  // --- packs ---
  // Where to PUT a pack the client has built: the daemon's own signed URL, or the blob store's.
  Result<protocol::ChunkUpload> pack_upload(const RequestContext& ctx,
                                            const protocol::PackUploadRequest& req);
  Result<ChunkPutGrant> authorize_pack_put(std::string_view hex,
                                           const std::map<std::string, std::string>& query) const;
  Result<std::unique_ptr<PackReceiver>> begin_pack_put(const ChunkPutGrant& grant);
  // Records a pack the client put straight into the blob store, for this user only (the daemon
  // never saw its bytes; every reader verifies them).
  Result<protocol::PackStored> confirm_pack(const RequestContext& ctx,
                                            const protocol::ConfirmPackRequest& req);
  // The range of a pack a signed read URL grants, verified as it streams. kPermissionDenied if
  // forged or expired.
  Result<ChunkBody> pack_range_read(std::string_view hex,
                                    const std::map<std::string, std::string>& query);

  // --- damage ---
  // A copy of `chunk` (its own object, or its place in `pack`) did not verify or is missing:
  // looks again and, if so, sets the object aside and forgets the copy, so that the chunk counts
  // as missing and the next upload of its bytes repairs it. Logged. Safe from any thread.
  Result<store::MetadataStore::CopyFate> report_damage(const ChunkRef& chunk,
                                                       const std::optional<Digest>& pack,
                                                       const std::string& detail);
  // The files of the caller's view whose current versions need damaged chunks, for clients
  // that have them to send those bytes back.
  Result<protocol::RepairsResponse> repairs(const RequestContext& ctx);
  // cairnd check: the metadata's invariants, every stored object's presence and size, and (for
  // options.read_percent of them) their bytes. What is damaged is set aside and forgotten as
  // report_damage does. `progress`, if given, is called now and then.
  Result<CheckReport> check(const CheckOptions& options,
                            const std::function<void(const CheckProgress&)>& progress = {});

  // --- files ---
  Result<protocol::InitUploadsResponse> init_uploads(const RequestContext& ctx,
                                                     const protocol::InitUploadsRequest& req);
  Result<protocol::CommitResponse> commit(const RequestContext& ctx,
                                          const protocol::CommitRequest& req);
  Result<Bytes> manifest(const RequestContext& ctx, std::string_view hex);
  // Up to max_batch manifests; those the user may not read are left out.
  Result<protocol::ManifestsResponse> manifests(const RequestContext& ctx,
                                                const protocol::ManifestsRequest& req);
  Result<protocol::ListResponse> list(const RequestContext& ctx, std::string_view path);
  Result<protocol::ChangesResponse> changes(const RequestContext& ctx, std::string_view cursor,
                                            int limit);

  // --- sharing ---
  Result<protocol::ShareInfo> share(const RequestContext& ctx, const protocol::ShareRequest& req);
  // `user` empty: the caller leaves a folder shared with them.
  Result<void> unshare(const RequestContext& ctx, std::string_view path, std::string_view user);
  Result<protocol::SharesResponse> shares(const RequestContext& ctx, std::string_view path);

  // --- links ---
  // A link to `req.path` (expiring if asked); its URL (relative: "/l/TOKEN") is in the answer
  // and nowhere else: only the token's hash is stored.
  Result<protocol::LinkInfo> create_link(const RequestContext& ctx,
                                         const protocol::LinkRequest& req);
  Result<protocol::LinksResponse> links(const RequestContext& ctx);
  // By id, or (id 0) by the token of its URL.
  Result<void> revoke_link(const RequestContext& ctx, int64_t link_id, std::string_view token = {});
  // GET /l/TOKEN, for anyone holding the URL. kNotFound for anything but a live link.
  Result<std::unique_ptr<LinkStream>> open_link(std::string_view token);

  // --- history, trash, quota ---
  // `path` (a live file) or, when node_id != 0, any file of the user's, deleted ones too.
  Result<protocol::HistoryResponse> history(const RequestContext& ctx, std::string_view path,
                                            int64_t node_id);
  Result<protocol::TrashResponse> trash(const RequestContext& ctx);
  Result<protocol::EmptyTrashResponse> empty_trash(const RequestContext& ctx);
  Result<protocol::QuotaResponse> quota(const RequestContext& ctx);
  // cairnd user quota NAME SIZE (nullopt: unlimited).
  Result<void> set_quota(const std::string& user_name, std::optional<uint64_t> limit);
  // cairnd retention: how many days of history and trash gc keeps (nullopt: everything).
  Result<std::optional<int64_t>> retention_days();
  Result<void> set_retention_days(std::optional<int64_t> days);

  // Deletes expired upload sessions; returns how many.
  Result<int64_t> collect_expired_uploads();
  // Deletes expired upload sessions, chunks nothing references, and packs that hold nothing;
  // rewrites packs that are mostly dead. Safe while clients push and pull (see GcOptions). Run
  // one at a time.
  Result<GcReport> collect_garbage(const GcOptions& options);

 private:
  // The distinct chunks of `chunks` this user does not hold, in first-seen order.
  Result<std::vector<ChunkRef>> unheld_chunks(int64_t user_id, std::vector<ChunkRef> chunks);
  // A commit op as the store takes it (see commit()).
  Result<store::TreeOp> tree_op(const RequestContext& ctx, const protocol::CommitOp& op) const;
  // A file's validated stage: canonical path, manifest, size. No upload id or expiry.
  Result<store::StagedUpload> stage_file(const RequestContext& ctx,
                                         const protocol::FileUpload& f) const;
  Result<std::vector<protocol::ChunkUpload>> missing_chunks(const store::User& user,
                                                            std::vector<ChunkRef> chunks);
  protocol::ChunkUpload upload_grant(const store::User& user, const ChunkRef& chunk) const;
  // kTooLarge for more than max_batch chunks, kInvalidArgument for a chunk over max_size.
  Result<void> check_chunk_list(const std::vector<ChunkRef>& chunks) const;
  // Adopts the user's finished direct uploads of `chunks` into the blob store and records them
  // for the user; returns the chunks the user has not uploaded.
  Result<std::vector<ChunkRef>> adopt_stored_chunks(int64_t user_id,
                                                    const std::vector<ChunkRef>& chunks);
  // kPermissionDenied unless the caller's token may change things (at `paths`, if given).
  static Result<void> may_write(const RequestContext& ctx,
                                std::initializer_list<std::string_view> paths = {});
  // kPermissionDenied unless `path` is inside the scope of the caller's token.
  static Result<void> in_scope(const RequestContext& ctx, std::string_view path);
  PackLimits pack_limits() const;
  // A URL of the daemon's own for `hex` under `where` (/v1/chunks/ or /v1/packs/), signed for
  // `purpose` and `fields`, valid for chunk_url_ttl_seconds (see UrlSigner).
  std::string sign_url(std::string_view purpose, std::string_view where, const std::string& hex,
                       const UrlSigner::Fields& fields) const;
  // The values of `names` in such a URL's query; kPermissionDenied if forged or expired.
  Result<std::vector<int64_t>> verify_url(std::string_view purpose, const std::string& hex,
                                          const std::map<std::string, std::string>& query,
                                          const std::vector<std::string>& names,
                                          std::string_view what, std::string_view where_from) const;
  // Reads a copy of `chunk` again: true if it is damaged or missing (a damaged object of its
  // own is then set aside), false if it is sound.
  Result<bool> confirm_damage(const ChunkRef& chunk, const std::optional<Digest>& pack);
  // A whole chunk object: streamed and verified, or a redirect to the blob store.
  Result<ChunkBody> whole_chunk_read(const Digest& digest);
  // A verified stream of a local object's range: report_damage hears of what fails.
  Result<std::shared_ptr<VerifiedRead>> verified_read(const store::BlobReadInfo& info,
                                                      std::vector<PackEntry> parts,
                                                      const std::optional<Digest>& pack);
  friend class PackReceiver;

  store::MetadataStore& metadata_;
  store::BlobStore& blobs_;
  ServiceConfig config_;
  UrlSigner signer_;
  const Clock& clock_;
};

}  // namespace cairn::service
