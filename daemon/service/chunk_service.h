#pragma once

// Chunks and packs: which the server lacks, signed URLs to put and get them, verifying and
// recording what arrives, locating what a client reads, and damage found on the way. Part of
// Services (services.h).

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/pack.h"
#include "daemon/service/service_base.h"
#include "daemon/service/url_signer.h"
#include "daemon/service/verified_read.h"

namespace cairn::service {

class ChunkService;

// A pack arriving through the daemon, verified chunk by chunk as its bytes stream in: nothing is
// recorded unless every chunk hashes to its address. Owned by one connection.
class PackReceiver {
 public:
  PackReceiver(ChunkService& chunks, ChunkPutGrant grant, std::unique_ptr<store::BlobWriter> writer,
               const PackLimits& limits);
  Result<void> write(ByteView bytes);
  // Verifies, makes the pack durable and records its chunks for the uploader.
  Result<protocol::PackStored> finish();

 private:
  ChunkService& chunks_;
  ChunkPutGrant grant_;
  std::unique_ptr<store::BlobWriter> writer_;
  PackVerifier verifier_;
};

// Chunks and packs: which the server lacks, signed URLs to put and get them, verifying and
// recording what arrives, locating what a client reads, and damage found on the way.
class ChunkService : public ServiceBase {
 public:
  // `signing_key` signs the daemon's own chunk and pack URLs; every daemon sharing a database
  // shares it.
  ChunkService(const ServiceBase& base, Bytes signing_key)
      : ServiceBase(base), signer_(std::move(signing_key)) {}

  Result<protocol::CheckChunksResponse> check_chunks(const RequestContext& ctx,
                                                     const protocol::CheckChunksRequest& req);
  // Verifies a signed chunk URL's query parameters. kPermissionDenied if forged or expired.
  Result<ChunkPutGrant> authorize_chunk_put(std::string_view hex,
                                            const std::map<std::string, std::string>& query) const;
  // A grant for a chunk the caller sends through the daemon on a session of theirs (the web
  // page), not through a signed URL: the same checks as check_chunks (a writable token, a
  // sensible size), and recorded only while the session's token is valid.
  Result<ChunkPutGrant> session_chunk_put(const RequestContext& ctx, std::string_view hex,
                                          uint64_t size);
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
  // A copy of `chunk` (its own object, or its place in `pack`) did not verify or is missing:
  // looks again and, if so, sets the object aside and forgets the copy, so that the chunk counts
  // as missing and the next upload of its bytes repairs it. Logged. Safe from any thread.
  Result<store::MaintenanceStore::CopyFate> report_damage(const ChunkRef& chunk,
                                                          const std::optional<Digest>& pack,
                                                          const std::string& detail);
  // The files of the caller's view whose current versions need damaged chunks, for clients
  // that have them to send those bytes back.
  Result<protocol::RepairsResponse> repairs(const RequestContext& ctx);

  // For the file service, which commits what was uploaded through this one.
  // The distinct chunks of `chunks` this user does not hold, in first-seen order.
  Result<std::vector<ChunkRef>> unheld_chunks(int64_t user_id, std::vector<ChunkRef> chunks);
  Result<std::vector<protocol::ChunkUpload>> missing_chunks(const store::User& user,
                                                            std::vector<ChunkRef> chunks);
  // Adopts the user's finished direct uploads of `chunks` into the blob store and records them
  // for the user; returns the chunks the user has not uploaded.
  Result<std::vector<ChunkRef>> adopt_stored_chunks(int64_t user_id,
                                                    const std::vector<ChunkRef>& chunks);

 private:
  protocol::ChunkUpload upload_grant(const store::User& user, const ChunkRef& chunk) const;
  // kTooLarge for more than max_batch chunks, kInvalidArgument for a chunk over max_size.
  Result<void> check_chunk_list(const std::vector<ChunkRef>& chunks) const;
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

  UrlSigner signer_;
};

}  // namespace cairn::service
