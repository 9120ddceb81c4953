#pragma once

#include <memory>
#include <string>

#include "daemon/store/blob_store.h"
#include "daemon/store/s3/s3_client.h"

namespace cairn::store {

// Objects in an S3-compatible bucket: chunks as "<prefix>chunks/<sha256 hex>", packs as
// "<prefix>packs/<sha256 hex>". Clients move bytes to and from the bucket themselves through
// pre-signed URLs; every upload URL signs the x-amz-checksum-sha256 header, so the store refuses a
// body that does not hash to the object's name, and every ranged read signs its Range header, so
// a grant for one chunk of a pack reads that chunk and nothing else. Uploads land under
// "incoming/<user id>/[packs/]<hex>", which only that user's grant can write; adopting one copies
// it into place inside the store (no bytes through the daemon) and deletes it. So a user can only
// come to hold a chunk by uploading it, never by naming a hash someone else uploaded. The
// daemon's own writes (tools, tests) are verified before they are sent. Safe from any thread.
class S3BlobStore final : public BlobStore {
 public:
  // Opens the bucket named by an s3:// URL with credentials from the environment, and checks
  // that it is reachable.
  static Result<std::unique_ptr<S3BlobStore>> open(const std::string& url);
  S3BlobStore(s3::Location location, s3::Credentials credentials);

  using BlobStore::read_info;
  Result<std::unique_ptr<BlobWriter>> begin_put(const ObjectId& id, uint64_t size) override;
  Result<Bytes> get(const ObjectId& id) override;
  Result<Bytes> get_range(const ObjectId& id, ByteRange range) override;
  Result<BlobReadInfo> read_info(const ObjectId& id,
                                 const std::optional<ByteRange>& range) override;
  Result<std::optional<uint64_t>> stat(const ObjectId& id) override;
  Result<void> remove(const ObjectId& id) override;
  bool takes_direct_uploads() const override { return true; }
  std::optional<DirectRequest> direct_upload(int64_t user_id, const ObjectId& id, uint64_t size,
                                             int64_t ttl_seconds) override;
  Result<bool> adopt_direct_upload(int64_t user_id, const ObjectId& id, uint64_t size) override;
  Result<void> discard_direct_upload(int64_t user_id, const ObjectId& id) override;
  std::string describe() const override;

  // Where an object lives in the bucket.
  static std::string key_for(const ObjectId& id);
  // Where a user's direct upload of an object lands until it is adopted.
  static std::string staging_key_for(int64_t user_id, const ObjectId& id);
  s3::Client& client() { return client_; }

  // Sends verified bytes; used by the writer.
  Result<void> upload(const ObjectId& id, ByteView bytes);

 private:
  s3::Client client_;
};

// Creates the bucket if it does not exist (for tests and first-time set-up).
Result<void> create_bucket(s3::Client& client);

}  // namespace cairn::store
