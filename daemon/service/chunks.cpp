// ChunkService: which chunks the server lacks, signed chunk URLs, and chunks arriving
// through the daemon (chunk_service.h; packs, locating and reads are in packs.cpp).

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <thread>
#include <unordered_set>

#include "common/manifest.h"
#include "common/paths.h"
#include "common/remote_path.h"
#include "daemon/service/parse.h"
#include "daemon/service/services.h"
#include "daemon/service/wire.h"

namespace cairn::service {

std::string ChunkService::sign_url(std::string_view purpose, std::string_view where,
                                   const std::string& hex, const UrlSigner::Fields& fields) const {
  return signer_.sign(purpose, where, hex, fields, now() + config_.chunk_url_ttl_seconds);
}

Result<std::vector<int64_t>> ChunkService::verify_url(
    std::string_view purpose, const std::string& hex,
    const std::map<std::string, std::string>& query, const std::vector<std::string>& names,
    std::string_view what, std::string_view where_from) const {
  return signer_.verify(purpose, hex, query, names, now(), what, where_from);
}

Result<std::vector<ChunkRef>> ChunkService::unheld_chunks(int64_t user_id,
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

Result<std::vector<protocol::ChunkUpload>> ChunkService::missing_chunks(
    const store::User& user, std::vector<ChunkRef> chunks) {
  CAIRN_ASSIGN_OR_RETURN(auto unheld, unheld_chunks(user.user_id, std::move(chunks)));
  std::vector<protocol::ChunkUpload> out;
  out.reserve(unheld.size());
  for (const auto& c : unheld) out.push_back(upload_grant(user, c));
  return out;
}

protocol::ChunkUpload ChunkService::upload_grant(const store::User& user,
                                                 const ChunkRef& chunk) const {
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

Result<std::vector<ChunkRef>> ChunkService::adopt_stored_chunks(
    int64_t user_id, const std::vector<ChunkRef>& chunks) {
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

Result<void> ChunkService::check_chunk_list(const std::vector<ChunkRef>& chunks) const {
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

Result<protocol::CheckChunksResponse> ChunkService::confirm_chunks(
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

Result<protocol::CheckChunksResponse> ChunkService::check_chunks(
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

Result<ChunkPutGrant> ChunkService::authorize_chunk_put(
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

Result<ChunkPutGrant> ChunkService::session_chunk_put(const RequestContext& ctx,
                                                      std::string_view hex, uint64_t size) {
  CAIRN_RETURN_IF_ERROR(may_write(ctx));
  CAIRN_ASSIGN_OR_RETURN(const Digest digest, parse_digest(hex));
  if (size == 0 || size > config_.chunking.max_size) {
    return make_error(ErrorCode::kInvalidArgument,
                      "a chunk is 1 to " + std::to_string(config_.chunking.max_size) +
                          " bytes long on this server, not " + std::to_string(size));
  }
  return ChunkPutGrant{ctx.user.user_id, digest, size, ctx.user.token_id};
}

Result<std::unique_ptr<store::BlobWriter>> ChunkService::begin_chunk_put(
    const ChunkPutGrant& grant) {
  return blobs_.begin_put(grant.digest, grant.size);
}

Result<void> ChunkService::finish_chunk_put(const ChunkPutGrant& grant, store::BlobWriter& writer) {
  // Verified and durable first, then published inside the transaction that records it, once
  // the chunk's row is taken: a gc deleting the same chunk takes that row too, so the two never
  // cross (see MetadataStore::record_chunk). A crash after publishing and before the commit
  // leaves an unindexed object (collected later), never an index entry without bytes.
  CAIRN_RETURN_IF_ERROR(writer.seal());
  return metadata_.record_chunk(
      grant.user_id, grant.digest, grant.size, now(), [&] { return writer.commit(); },
      grant.token_id);
}

}  // namespace cairn::service
