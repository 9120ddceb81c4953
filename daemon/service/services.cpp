#include "daemon/service/services.h"

#include <atomic>
#include <charconv>
#include <chrono>
#include <thread>
#include <unordered_set>

#include "common/manifest.h"
#include "common/paths.h"
#include "common/remote_path.h"
#include "daemon/service/parse.h"
#include "daemon/service/wire.h"

namespace cairn::service {
namespace {

constexpr std::string_view kTokenPrefix = "cairn_";
// A cursor lists the position in each feed of the user's view: "c2." then "FEED:SEQ" pairs
// joined by '.', FEED 0 for the home namespace and a share id for each shared folder.
constexpr std::string_view kCursorPrefix = "c2.";

std::string encode_cursor(const store::FeedCursor& cursor) {
  std::string out(kCursorPrefix);
  bool first = true;
  for (const auto& [feed, seq] : cursor) {
    if (!first) out += '.';
    first = false;
    out += std::to_string(feed) + ":" + std::to_string(seq);
  }
  return out;
}

// nullopt for anything that is not such a cursor: the caller resets. A cursor of schema 4
// ("c1.NS.SEQ", the home namespace's alone) still counts for the home namespace `home`.
std::optional<store::FeedCursor> decode_cursor(std::string_view cursor, int64_t home) {
  constexpr std::string_view kOldPrefix = "c1.";
  if (cursor.substr(0, kOldPrefix.size()) == kOldPrefix) {
    cursor.remove_prefix(kOldPrefix.size());
    const size_t dot = cursor.find('.');
    if (dot == std::string_view::npos) return std::nullopt;
    auto ns = parse_int(cursor.substr(0, dot));
    auto seq = parse_int(cursor.substr(dot + 1));
    if (!ns || !seq || *ns != home || *seq < 0) return std::nullopt;
    return store::FeedCursor{{0, *seq}};
  }
  if (cursor.substr(0, kCursorPrefix.size()) != kCursorPrefix) return std::nullopt;
  cursor.remove_prefix(kCursorPrefix.size());
  store::FeedCursor out;
  while (!cursor.empty()) {
    const size_t dot = cursor.find('.');
    const std::string_view part = cursor.substr(0, dot);
    const size_t colon = part.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    auto feed = parse_int(part.substr(0, colon));
    auto seq = parse_int(part.substr(colon + 1));
    if (!feed || !seq || *feed < 0 || *seq < 0 || out.size() > 10000) return std::nullopt;
    out[*feed] = *seq;
    if (dot == std::string_view::npos) break;
    cursor.remove_prefix(dot + 1);
  }
  return out;
}

}  // namespace

store::Actor RequestContext::actor() const {
  store::Actor a;
  a.user_id = user.user_id;
  a.namespace_id = user.home_namespace_id;
  a.device = device.empty() ? std::string("unknown") : device;
  a.now = now;
  a.token_hash = user.token_hash;
  a.scope_path = user.scope.path == "/" ? std::string() : user.scope.path;
  return a;
}

Result<void> Services::in_scope(const RequestContext& ctx, std::string_view path) {
  const std::string& scope = ctx.user.scope.path;
  if (is_within(path, scope)) return {};
  return make_error(ErrorCode::kPermissionDenied, "this token is limited to " + scope + "; " +
                                                      std::string(path) + " is outside it");
}

Result<void> Services::may_write(const RequestContext& ctx,
                                 std::initializer_list<std::string_view> paths) {
  if (ctx.user.scope.read_only) {
    return make_error(ErrorCode::kPermissionDenied,
                      "this token is read-only: it can list, download and sync down, not change "
                      "anything (cairnd token create makes one that can)");
  }
  for (const auto p : paths) CAIRN_RETURN_IF_ERROR(in_scope(ctx, p));
  return {};
}

int64_t SystemClock::now_seconds() const {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Services::Services(store::MetadataStore& metadata, store::BlobStore& blobs, ServiceConfig config,
                   Bytes signing_key, const Clock& clock)
    : metadata_(metadata),
      blobs_(blobs),
      config_(std::move(config)),
      signer_(std::move(signing_key)),
      clock_(clock) {}

protocol::ServerConfig Services::server_config() const {
  protocol::ServerConfig c;
  c.chunking = config_.chunking;
  c.max_batch = config_.max_batch;
  c.max_json_body_bytes = config_.max_json_body_bytes;
  c.server_version = config_.version;
  if (config_.packs.chunk_limit > 0) c.packs = config_.packs;
  return c;
}

std::string Services::new_token() { return std::string(kTokenPrefix) + to_hex(secure_random(32)); }

Digest Services::hash_token(std::string_view token) { return sha256(as_bytes(token)); }

Result<store::User> Services::authenticate(std::string_view header) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() <= kBearer.size() || header.substr(0, kBearer.size()) != kBearer) {
    return make_error(ErrorCode::kUnauthenticated,
                      "missing bearer token (send Authorization: Bearer <token>)");
  }
  const std::string_view token = header.substr(kBearer.size());
  if (token.substr(0, kTokenPrefix.size()) != kTokenPrefix || token.size() > 256) {
    return make_error(ErrorCode::kUnauthenticated, "invalid, revoked or expired token");
  }
  const Digest hash = hash_token(token);
  CAIRN_ASSIGN_OR_RETURN(auto user, metadata_.authenticate(hash, now()));
  user.token_hash = hash;
  return user;
}

Result<std::pair<store::User, std::string>> Services::add_user(const std::string& name) {
  CAIRN_ASSIGN_OR_RETURN(std::string clean, normalize_remote_name(name));
  if (clean != name || name.size() > 64 || name.find(' ') != std::string::npos) {
    return make_error(ErrorCode::kInvalidArgument,
                      "user names are 1-64 characters without spaces, '/' or control characters");
  }
  CAIRN_ASSIGN_OR_RETURN(auto user, metadata_.create_user(name, now()));
  std::string token = new_token();
  CAIRN_RETURN_IF_ERROR(metadata_.add_token(user.user_id, hash_token(token), "initial", now()));
  return std::make_pair(std::move(user), std::move(token));
}

Result<std::string> Services::create_token(const std::string& user_name, const std::string& label,
                                           std::optional<int64_t> ttl_seconds,
                                           const store::TokenScope& scope) {
  CAIRN_ASSIGN_OR_RETURN(auto user, metadata_.find_user(user_name));
  if (ttl_seconds && *ttl_seconds <= 0) {
    return make_error(ErrorCode::kInvalidArgument, "a token's lifetime must be positive");
  }
  std::optional<int64_t> expires;
  if (ttl_seconds) expires = now() + *ttl_seconds;
  store::TokenScope clean = scope;
  if (!clean.path.empty()) {
    CAIRN_ASSIGN_OR_RETURN(clean.path, normalize_remote_path(clean.path));
  }
  std::string token = new_token();
  CAIRN_RETURN_IF_ERROR(
      metadata_.add_token(user.user_id, hash_token(token), label, now(), expires, clean));
  return token;
}

Result<std::vector<store::TokenInfo>> Services::list_tokens(const std::string& user_name) {
  CAIRN_ASSIGN_OR_RETURN(auto user, metadata_.find_user(user_name));
  return metadata_.list_tokens(user.user_id);
}

Result<void> Services::revoke_token(const std::string& user_name, int64_t token_id) {
  CAIRN_ASSIGN_OR_RETURN(auto user, metadata_.find_user(user_name));
  return metadata_.revoke_token(user.user_id, token_id, now());
}

Result<void> Services::set_user_disabled(const std::string& user_name, bool disabled) {
  CAIRN_ASSIGN_OR_RETURN(auto user, metadata_.find_user(user_name));
  return metadata_.set_user_disabled(user.user_id, disabled);
}

// --- chunks ----------------------------------------------------------------------------------

std::string Services::sign_url(std::string_view purpose, std::string_view where,
                               const std::string& hex, const UrlSigner::Fields& fields) const {
  return signer_.sign(purpose, where, hex, fields, now() + config_.chunk_url_ttl_seconds);
}

Result<std::vector<int64_t>> Services::verify_url(std::string_view purpose, const std::string& hex,
                                                  const std::map<std::string, std::string>& query,
                                                  const std::vector<std::string>& names,
                                                  std::string_view what,
                                                  std::string_view where_from) const {
  return signer_.verify(purpose, hex, query, names, now(), what, where_from);
}

Result<std::vector<ChunkRef>> Services::unheld_chunks(int64_t user_id,
                                                      std::vector<ChunkRef> chunks) {
  // Once each, in first-seen order.
  std::unordered_set<Digest> seen;
  std::vector<ChunkRef> unique;
  for (const auto& c : chunks) {
    if (seen.insert(c.hash).second) unique.push_back(c);
  }
  std::vector<Digest> digests;
  digests.reserve(unique.size());
  for (const auto& c : unique) digests.push_back(c.hash);
  CAIRN_ASSIGN_OR_RETURN(auto present, metadata_.user_has_chunks(user_id, digests));
  std::vector<ChunkRef> out;
  for (size_t i = 0; i < unique.size(); ++i) {
    if (!present[i]) out.push_back(unique[i]);
  }
  return out;
}

Result<std::vector<protocol::ChunkUpload>> Services::missing_chunks(const store::User& user,
                                                                    std::vector<ChunkRef> chunks) {
  CAIRN_ASSIGN_OR_RETURN(auto unheld, unheld_chunks(user.user_id, std::move(chunks)));
  std::vector<protocol::ChunkUpload> out;
  out.reserve(unheld.size());
  for (const auto& c : unheld) out.push_back(upload_grant(user, c));
  return out;
}

protocol::ChunkUpload Services::upload_grant(const store::User& user, const ChunkRef& chunk) const {
  // Straight to the blob store when it takes direct uploads (adopting one there needs the token,
  // so a revoked token's uploads are never recorded); through the daemon otherwise.
  if (auto direct = blobs_.direct_upload(user.user_id, chunk.hash, chunk.length,
                                         config_.chunk_url_ttl_seconds)) {
    return {chunk.hash, std::move(direct->url), std::move(direct->headers)};
  }
  // The URL names the token it was granted to (`t`): the upload is recorded only while that
  // token is valid, so revoking a token ends its uploads at once, not when their URLs expire.
  return {
      chunk.hash,
      sign_url(
          "PUT", "/v1/chunks/", chunk.hash.hex(),
          {{"u", user.user_id}, {"t", user.token_id}, {"n", static_cast<int64_t>(chunk.length)}}),
      {}};
}

Result<std::vector<ChunkRef>> Services::adopt_stored_chunks(int64_t user_id,
                                                            const std::vector<ChunkRef>& chunks) {
  // Each adoption is a few round trips to the blob store; a batch runs them side by side.
  constexpr size_t kParallel = 8;
  std::vector<std::optional<Result<bool>>> outcomes(chunks.size());
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};  // One failure (a store that is down) ends the whole batch.
  auto work = [&] {
    for (size_t i = next.fetch_add(1); i < chunks.size() && !failed.load(); i = next.fetch_add(1)) {
      const ChunkRef& c = chunks[i];
      // The copy into place happens inside the transaction that records the chunk, after its
      // row is taken: gc's deletion of the same chunk takes that row too (record_chunk).
      bool absent = false;
      auto recorded =
          metadata_.record_chunk(user_id, c.hash, c.length, now(), [&]() -> Result<void> {
            CAIRN_ASSIGN_OR_RETURN(const bool there,
                                   blobs_.adopt_direct_upload(user_id, c.hash, c.length));
            absent = !there;
            if (absent) return make_error(ErrorCode::kNotFound, "no upload of " + c.hash.hex());
            return {};
          });
      Result<bool> adopted = true;
      if (recorded) {
        // Recorded: the upload has done its work. Left over, it would only be garbage.
        (void)blobs_.discard_direct_upload(user_id, c.hash);
      } else if (absent) {
        // Another push of this user may have adopted the same upload a moment ago.
        adopted = metadata_.user_can_read_chunk(user_id, c.hash);
      } else {
        adopted = std::move(recorded).error();
      }
      if (!adopted) failed = true;
      outcomes[i] = std::move(adopted);
    }
  };
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < std::min(kParallel, chunks.size()); ++t) helpers.emplace_back(work);
  work();
  for (auto& h : helpers) h.join();

  std::vector<ChunkRef> absent;
  for (const auto& o : outcomes) {
    if (o && !*o) return o->error();
  }
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (!**outcomes[i]) absent.push_back(chunks[i]);
  }
  return absent;
}

Result<void> Services::check_chunk_list(const std::vector<ChunkRef>& chunks) const {
  if (chunks.size() > config_.max_batch) {
    return make_error(ErrorCode::kTooLarge,
                      "at most " + std::to_string(config_.max_batch) + " chunks per request");
  }
  for (const auto& c : chunks) {
    if (c.length > config_.chunking.max_size) {
      return make_error(ErrorCode::kInvalidArgument,
                        "chunk " + c.hash.hex() + " is longer than the server's max chunk size");
    }
  }
  return {};
}

Result<protocol::CheckChunksResponse> Services::confirm_chunks(
    const RequestContext& ctx, const protocol::CheckChunksRequest& req) {
  CAIRN_RETURN_IF_ERROR(may_write(ctx));
  CAIRN_RETURN_IF_ERROR(check_chunk_list(req.chunks));
  std::vector<Digest> digests;
  for (const auto& c : req.chunks) digests.push_back(c.hash);
  CAIRN_ASSIGN_OR_RETURN(auto held, metadata_.user_has_chunks(ctx.user.user_id, digests));
  std::vector<ChunkRef> unknown;
  for (size_t i = 0; i < req.chunks.size(); ++i) {
    if (!held[i]) unknown.push_back(req.chunks[i]);
  }
  CAIRN_ASSIGN_OR_RETURN(auto absent, adopt_stored_chunks(ctx.user.user_id, unknown));
  protocol::CheckChunksResponse out;
  for (const auto& c : absent) out.missing.push_back(upload_grant(ctx.user, c));
  return out;
}

Result<protocol::CheckChunksResponse> Services::check_chunks(
    const RequestContext& ctx, const protocol::CheckChunksRequest& req) {
  CAIRN_RETURN_IF_ERROR(may_write(ctx));
  CAIRN_RETURN_IF_ERROR(check_chunk_list(req.chunks));
  protocol::CheckChunksResponse out;
  // Quota is charged when files are committed; a client that says what its commit will add is
  // refused here, before it sends bytes that could never be committed.
  CAIRN_ASSIGN_OR_RETURN(auto quota, metadata_.quota(ctx.user.user_id));
  if (quota.limit) {
    out.quota_left = *quota.limit > quota.used ? *quota.limit - quota.used : 0;
    if (req.commit_bytes && *req.commit_bytes > *out.quota_left) {
      return make_error(ErrorCode::kQuotaExceeded,
                        "over quota: these files need " + std::to_string(*req.commit_bytes) +
                            " bytes and " + std::to_string(*out.quota_left) + " of " +
                            std::to_string(*quota.limit) +
                            " are left; nothing was uploaded. Empty the trash or delete files, "
                            "or ask the admin for more (cairnd user quota)");
    }
  }
  CAIRN_ASSIGN_OR_RETURN(out.missing, missing_chunks(ctx.user, req.chunks));
  return out;
}

Result<ChunkPutGrant> Services::authorize_chunk_put(
    std::string_view hex, const std::map<std::string, std::string>& query) const {
  CAIRN_ASSIGN_OR_RETURN(const Digest digest, parse_digest(hex));
  CAIRN_ASSIGN_OR_RETURN(auto f, verify_url("PUT", digest.hex(), query, {"u", "t", "n"},
                                            "chunk upload", "POST /v1/chunks/check"));
  const int64_t user_id = f[0];
  const int64_t token_id = f[1];
  const int64_t size = f[2];
  if (size <= 0) {
    return make_error(ErrorCode::kPermissionDenied, "chunk upload URL names no chunk size");
  }
  if (static_cast<uint64_t>(size) > config_.chunking.max_size) {
    return make_error(ErrorCode::kTooLarge, "chunk larger than the server's max chunk size");
  }
  return ChunkPutGrant{user_id, digest, static_cast<uint64_t>(size), token_id};
}

Result<std::unique_ptr<store::BlobWriter>> Services::begin_chunk_put(const ChunkPutGrant& grant) {
  return blobs_.begin_put(grant.digest, grant.size);
}

Result<void> Services::finish_chunk_put(const ChunkPutGrant& grant, store::BlobWriter& writer) {
  // Verified and durable first, then published inside the transaction that records it, once
  // the chunk's row is taken: a gc deleting the same chunk takes that row too, so the two never
  // cross (see MetadataStore::record_chunk). A crash after publishing and before the commit
  // leaves an unindexed object (collected later), never an index entry without bytes.
  CAIRN_RETURN_IF_ERROR(writer.seal());
  return metadata_.record_chunk(
      grant.user_id, grant.digest, grant.size, now(), [&] { return writer.commit(); },
      grant.token_id);
}

// --- files -----------------------------------------------------------------------------------

Result<store::StagedUpload> Services::stage_file(const RequestContext& ctx,
                                                 const protocol::FileUpload& f) const {
  store::StagedUpload u;
  auto path = normalize_remote_path(f.path);
  if (!path) return std::move(path).error().with_context("upload " + f.path.substr(0, 200));
  if (*path == "/") return make_error(ErrorCode::kInvalidArgument, "cannot upload to /");
  u.path = std::move(*path);
  u.user_id = ctx.user.user_id;
  u.namespace_id = ctx.user.home_namespace_id;
  u.kind = f.kind;
  u.mtime_ns = f.mtime_ns;
  u.base_version = f.base_version;
  u.node_id = f.node_id;
  if (u.base_version && u.node_id == 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "base_version needs node_id (a base is a version of a node): " + u.path);
  }
  u.created_at = ctx.now;
  switch (f.kind) {
    case protocol::NodeKind::kFolder:
      return make_error(ErrorCode::kInvalidArgument,
                        "folders are created with a mkdir op in POST /v1/commit");
    case protocol::NodeKind::kSymlink:
      if (f.symlink_target.empty() || f.symlink_target.size() > kMaxPathBytes ||
          f.symlink_target.find('\0') != std::string::npos) {
        return make_error(ErrorCode::kInvalidArgument,
                          "symlink target must be 1-4096 bytes without NUL: " + u.path);
      }
      u.symlink_target = f.symlink_target;
      u.size = f.symlink_target.size();
      break;
    case protocol::NodeKind::kFile: {
      for (const auto& c : f.chunks) {
        if (c.length > config_.chunking.max_size) {
          return make_error(ErrorCode::kInvalidArgument,
                            "chunk longer than the server's max chunk size in " + u.path);
        }
      }
      Manifest manifest(f.chunks);
      u.mode = f.mode;
      u.size = manifest.total_size();
      u.manifest = manifest.encode();
      u.manifest_hash = sha256(u.manifest);
      u.chunks = std::move(manifest);
      break;
    }
  }
  return u;
}

Result<protocol::InitUploadsResponse> Services::init_uploads(
    const RequestContext& ctx, const protocol::InitUploadsRequest& req) {
  if (req.files.empty()) return make_error(ErrorCode::kInvalidArgument, "no files to upload");
  if (req.files.size() > config_.max_batch) {
    return make_error(ErrorCode::kTooLarge,
                      "at most " + std::to_string(config_.max_batch) + " files per request");
  }
  CAIRN_RETURN_IF_ERROR(may_write(ctx));
  std::vector<store::StagedUpload> staged;
  std::vector<ChunkRef> all_chunks;
  protocol::InitUploadsResponse out;
  out.expires_at = ctx.now + config_.upload_ttl_seconds;
  for (const auto& f : req.files) {
    CAIRN_ASSIGN_OR_RETURN(store::StagedUpload u, stage_file(ctx, f));
    CAIRN_RETURN_IF_ERROR(in_scope(ctx, u.path));
    u.upload_id = to_hex(secure_random(16));
    u.expires_at = out.expires_at;
    all_chunks.insert(all_chunks.end(), f.chunks.begin(), f.chunks.end());
    out.uploads.push_back(
        {u.upload_id, u.path, u.manifest_hash ? u.manifest_hash->hex() : std::string()});
    staged.push_back(std::move(u));
  }
  std::vector<std::string> paths;
  for (const auto& u : staged) paths.push_back(u.path);
  CAIRN_RETURN_IF_ERROR(metadata_.check_write(ctx.actor(), paths));
  CAIRN_ASSIGN_OR_RETURN(out.missing, missing_chunks(ctx.user, std::move(all_chunks)));
  CAIRN_RETURN_IF_ERROR(metadata_.save_uploads(staged));
  return out;
}

// One item per op for the store: the op in the store's terms, with a put's file staged (its
// manifest encoded and decoded once, here) and every path canonical.
Result<store::TreeOp> Services::tree_op(const RequestContext& ctx,
                                        const protocol::CommitOp& op) const {
  store::TreeOp out;
  out.kind = to_store(op.kind);
  out.upload_id = op.upload_id;
  out.base_version = op.base_version;
  out.node_id = op.node_id;
  out.version = op.version;
  out.mode = op.mode;
  if (op.kind == protocol::OpKind::kPut) {
    if (op.file) {
      CAIRN_ASSIGN_OR_RETURN(out.file, stage_file(ctx, *op.file));
    }
    return out;
  }
  if (op.kind != protocol::OpKind::kUndelete) {
    auto path = normalize_remote_path(op.path);
    if (!path) return std::move(path).error().with_context("commit " + op.path.substr(0, 200));
    out.path = std::move(*path);
  }
  if (op.kind == protocol::OpKind::kMove ||
      (op.kind == protocol::OpKind::kUndelete && !op.to.empty())) {
    auto to = normalize_remote_path(op.to);
    if (!to) return std::move(to).error().with_context("commit to " + op.to.substr(0, 200));
    out.to = std::move(*to);
  }
  return out;
}

Result<protocol::CommitResponse> Services::commit(const RequestContext& ctx,
                                                  const protocol::CommitRequest& req) {
  if (req.ops.empty()) return make_error(ErrorCode::kInvalidArgument, "no operations to commit");
  if (req.ops.size() > config_.max_batch) {
    return make_error(ErrorCode::kTooLarge,
                      "at most " + std::to_string(config_.max_batch) + " operations per request");
  }
  std::vector<store::TreeOp> ops;
  ops.reserve(req.ops.size());
  std::vector<ChunkRef> carried;  // The chunks of the files that came with the request.
  for (const auto& op : req.ops) {
    CAIRN_ASSIGN_OR_RETURN(auto item, tree_op(ctx, op));
    if (item.file && item.file->chunks) {
      const auto& chunks = item.file->chunks->chunks();
      carried.insert(carried.end(), chunks.begin(), chunks.end());
    }
    ops.push_back(std::move(item));
  }
  CAIRN_RETURN_IF_ERROR(may_write(ctx));
  for (const auto& op : ops) {
    if (op.kind == store::OpKind::kUndelete) {
      // Where the node was is checked by the store, inside the transaction that acts.
      if (!op.to.empty()) CAIRN_RETURN_IF_ERROR(in_scope(ctx, op.to));
      continue;
    }
    CAIRN_RETURN_IF_ERROR(in_scope(ctx, op.file ? op.file->path : op.path));
    if (!op.to.empty()) CAIRN_RETURN_IF_ERROR(in_scope(ctx, op.to));
  }
  store::Actor actor = ctx.actor();
  if (!req.device.empty()) actor.device = req.device.substr(0, 128);
  // Chunks uploaded straight to the blob store and not confirmed yet: a HEAD each, before any
  // version that needs them can become visible. (Clients that confirm leave nothing here, and a
  // store that takes uploads through the daemon has recorded every chunk already.)
  std::vector<std::string> put_ids;
  for (const auto& op : ops) {
    if (op.kind == store::OpKind::kPut && !op.file) put_ids.push_back(op.upload_id);
  }
  if (!put_ids.empty() && blobs_.takes_direct_uploads()) {
    CAIRN_ASSIGN_OR_RETURN(auto unconfirmed,
                           metadata_.missing_upload_chunks(actor.user_id, put_ids, ctx.now));
    CAIRN_RETURN_IF_ERROR(adopt_stored_chunks(actor.user_id, unconfirmed));
  }
  if (!carried.empty() && blobs_.takes_direct_uploads()) {
    CAIRN_ASSIGN_OR_RETURN(auto unconfirmed, unheld_chunks(actor.user_id, std::move(carried)));
    CAIRN_RETURN_IF_ERROR(adopt_stored_chunks(actor.user_id, unconfirmed));
  }
  CAIRN_ASSIGN_OR_RETURN(auto results, metadata_.commit(actor, ops));
  protocol::CommitResponse out;
  out.results.reserve(results.size());
  for (auto& r : results) out.results.push_back(to_wire(std::move(r)));
  return out;
}

Result<Bytes> Services::manifest(const RequestContext& ctx, std::string_view hex) {
  CAIRN_ASSIGN_OR_RETURN(const Digest digest, parse_digest(hex));
  return metadata_.get_manifest(ctx.user.user_id, digest, ctx.user.scope.path);
}

Result<protocol::ManifestsResponse> Services::manifests(const RequestContext& ctx,
                                                        const protocol::ManifestsRequest& req) {
  if (req.manifests.size() > config_.max_batch) {
    return make_error(ErrorCode::kTooLarge,
                      "at most " + std::to_string(config_.max_batch) + " manifests per request");
  }
  protocol::ManifestsResponse out;
  std::unordered_set<Digest> seen;
  for (const auto& d : req.manifests) {
    if (!seen.insert(d).second) continue;
    auto body = metadata_.get_manifest(ctx.user.user_id, d, ctx.user.scope.path);
    if (body) {
      out.manifests.emplace_back(d, std::move(*body));
    } else if (body.error().code() != ErrorCode::kNotFound) {
      return std::move(body).error();
    }
  }
  return out;
}

Result<protocol::ListResponse> Services::list(const RequestContext& ctx, std::string_view path) {
  CAIRN_ASSIGN_OR_RETURN(std::string canonical, normalize_remote_path(path));
  CAIRN_RETURN_IF_ERROR(in_scope(ctx, canonical));
  CAIRN_ASSIGN_OR_RETURN(auto listing, metadata_.list(ctx.actor(), canonical));
  return to_wire(std::move(listing));
}

Result<protocol::HistoryResponse> Services::history(const RequestContext& ctx,
                                                    std::string_view path, int64_t node_id) {
  std::string canonical;
  if (node_id == 0) {
    if (path.empty()) return make_error(ErrorCode::kInvalidArgument, "history needs a path");
    CAIRN_ASSIGN_OR_RETURN(canonical, normalize_remote_path(path));
  }
  if (node_id == 0) CAIRN_RETURN_IF_ERROR(in_scope(ctx, canonical));
  CAIRN_ASSIGN_OR_RETURN(auto out, metadata_.history(ctx.actor(), canonical, node_id));
  if (!is_within(out.path, ctx.user.scope.path)) {
    return make_error(ErrorCode::kNotFound, "no file with id " + std::to_string(node_id));
  }
  return to_wire(std::move(out));
}

Result<protocol::TrashResponse> Services::trash(const RequestContext& ctx) {
  CAIRN_ASSIGN_OR_RETURN(auto items, metadata_.trash(ctx.user.home_namespace_id));
  std::erase_if(items, [&](const auto& e) { return !is_within(e.path, ctx.user.scope.path); });
  return to_wire(std::move(items));
}

Result<protocol::EmptyTrashResponse> Services::empty_trash(const RequestContext& ctx) {
  CAIRN_RETURN_IF_ERROR(may_write(ctx, {"/"}));
  CAIRN_ASSIGN_OR_RETURN(auto purged,
                         metadata_.empty_trash(ctx.user.home_namespace_id, std::nullopt, ctx.now));
  return to_wire(purged);
}

Result<protocol::ShareInfo> Services::share(const RequestContext& ctx,
                                            const protocol::ShareRequest& req) {
  CAIRN_ASSIGN_OR_RETURN(std::string path, normalize_remote_path(req.path));
  CAIRN_RETURN_IF_ERROR(may_write(ctx, {path}));
  auto role = store::role_from_name(req.role);
  if (!role) {
    return make_error(ErrorCode::kInvalidArgument,
                      "role must be viewer or editor, not '" + req.role.substr(0, 40) + "'");
  }
  if (req.user.empty() || req.user.size() > 64) {
    return make_error(ErrorCode::kInvalidArgument, "share needs a user name");
  }
  CAIRN_ASSIGN_OR_RETURN(auto info, metadata_.share(ctx.actor(), path, req.user, *role));
  return protocol::ShareInfo{
      info.share_id,  info.path, info.owner, info.grantee, std::string(store::role_name(info.role)),
      info.created_at};
}

Result<void> Services::unshare(const RequestContext& ctx, std::string_view path,
                               std::string_view user) {
  CAIRN_ASSIGN_OR_RETURN(std::string canonical, normalize_remote_path(path));
  CAIRN_RETURN_IF_ERROR(may_write(ctx, {canonical}));
  return metadata_.unshare(ctx.actor(), canonical, std::string(user.substr(0, 64)));
}

Result<protocol::SharesResponse> Services::shares(const RequestContext& ctx,
                                                  std::string_view path) {
  std::string canonical;
  if (!path.empty()) {
    CAIRN_ASSIGN_OR_RETURN(canonical, normalize_remote_path(path));
  }
  CAIRN_ASSIGN_OR_RETURN(auto all, metadata_.shares(ctx.actor(), canonical));
  protocol::SharesResponse out;
  for (const auto& info : all) {
    if (!is_within(info.path, ctx.user.scope.path)) continue;
    out.shares.push_back({info.share_id, info.path, info.owner, info.grantee,
                          std::string(store::role_name(info.role)), info.created_at});
  }
  return out;
}

Result<protocol::QuotaResponse> Services::quota(const RequestContext& ctx) {
  CAIRN_ASSIGN_OR_RETURN(auto usage, metadata_.quota(ctx.user.user_id));
  return to_wire(usage);
}

Result<void> Services::set_quota(const std::string& user_name, std::optional<uint64_t> limit) {
  CAIRN_ASSIGN_OR_RETURN(auto user, metadata_.find_user(user_name));
  return metadata_.set_quota(user.user_id, limit);
}

Result<std::optional<int64_t>> Services::retention_days() {
  CAIRN_ASSIGN_OR_RETURN(auto value, metadata_.setting("retention_days"));
  if (!value) return std::optional<int64_t>();
  int64_t days = 0;
  auto [p, ec] = std::from_chars(value->data(), value->data() + value->size(), days);
  if (ec != std::errc() || p != value->data() + value->size() || days < 0) {
    return make_error(ErrorCode::kCorrupt, "setting retention_days is not a number: " + *value);
  }
  return std::optional<int64_t>(days);
}

Result<void> Services::set_retention_days(std::optional<int64_t> days) {
  if (days && *days < 0) return make_error(ErrorCode::kInvalidArgument, "days must be 0 or more");
  return metadata_.set_setting(
      "retention_days",
      days ? std::optional<std::string>(std::to_string(*days)) : std::optional<std::string>());
}

Result<protocol::ChangesResponse> Services::changes(const RequestContext& ctx,
                                                    std::string_view cursor, int limit) {
  limit = std::clamp(limit, 1, 5000);
  protocol::ChangesResponse out;
  store::FeedCursor after;
  if (!cursor.empty()) {
    auto decoded = decode_cursor(cursor, ctx.user.home_namespace_id);
    if (decoded) {
      after = std::move(*decoded);
    } else {
      out.reset = true;  // Never implies deletes: the client lists again and keeps what it has.
    }
  }
  CAIRN_ASSIGN_OR_RETURN(auto page, metadata_.changes(ctx.actor(), after, limit));
  out.reset = out.reset || page.reset;
  out.changes = to_wire(std::move(page.entries));
  std::erase_if(out.changes,
                [&](const auto& e) { return !is_within(e.path, ctx.user.scope.path); });
  out.has_more = page.has_more;
  out.cursor = encode_cursor(page.cursor);
  return out;
}

Result<int64_t> Services::collect_expired_uploads() { return metadata_.expire_uploads(now()); }

}  // namespace cairn::service
