#pragma once

#include <memory>
#include <string>

#include "daemon/store/blob_store.h"
#include "daemon/store/s3/s3_client.h"

namespace cairn::store {

// Chunks as objects "<prefix>chunks/<sha256 hex>" in an S3-compatible bucket. Clients move chunk
// bytes to and from the bucket themselves through pre-signed URLs; every upload URL signs the
// x-amz-checksum-sha256 header, so the store refuses a body that does not hash to the chunk's
// name. Uploads land under "incoming/<user id>/<hex>", which only that user's grant can write;
// adopting one copies it into chunks/ inside the store (no bytes through the daemon) and deletes
// it. So a user can only come to hold a chunk by uploading it, never by naming a hash someone
// else uploaded. The daemon's own writes (tools, tests) are verified before they are sent. Safe
// from any thread.
class S3BlobStore final : public BlobStore {
 public:
  // Opens the bucket named by an s3:// URL with credentials from the environment, and checks
  // that it is reachable.
  static Result<std::unique_ptr<S3BlobStore>> open(const std::string& url);
  S3BlobStore(s3::Location location, s3::Credentials credentials);

  Result<std::unique_ptr<BlobWriter>> begin_put(const Digest& digest, uint64_t size) override;
  Result<Bytes> get(const Digest& digest) override;
  Result<BlobReadInfo> read_info(const Digest& digest) override;
  Result<std::optional<uint64_t>> stat(const Digest& digest) override;
  bool takes_direct_uploads() const override { return true; }
  std::optional<DirectRequest> direct_upload(int64_t user_id, const Digest& digest, uint64_t size,
                                             int64_t ttl_seconds) override;
  Result<bool> adopt_direct_upload(int64_t user_id, const Digest& digest, uint64_t size) override;
  std::string describe() const override;

  // Removes a chunk (for tests and a future gc). Absent is not an error.
  Result<void> remove(const Digest& digest);
  // Where a chunk lives in the bucket.
  static std::string key_for(const Digest& digest) { return "chunks/" + digest.hex(); }
  // Where a user's direct upload of a chunk lands until it is adopted.
  static std::string staging_key_for(int64_t user_id, const Digest& digest) {
    return "incoming/" + std::to_string(user_id) + "/" + digest.hex();
  }
  s3::Client& client() { return client_; }

  // Sends verified bytes; used by the writer.
  Result<void> upload(const Digest& digest, ByteView bytes);

 private:
  s3::Client client_;
};

// Creates the bucket if it does not exist (for tests and first-time set-up).
Result<void> create_bucket(s3::Client& client);

}  // namespace cairn::store
