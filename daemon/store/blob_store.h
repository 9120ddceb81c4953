#pragma once

// Content-addressed chunk storage keyed by SHA-256. Implementations are safe to call from any
// thread. Nothing is ever visible under a digest unless its bytes hash to that digest.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/error.h"
#include "common/hash.h"

namespace cairn::store {

// Streams one chunk into the store. Owned by one thread. Destroying a writer that was not
// committed discards everything written to it.
class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  // Appends bytes. kTooLarge once more than the declared size arrives; kIo on a full disk.
  virtual Result<void> write(ByteView bytes) = 0;
  // Verifies size and SHA-256, then makes the chunk durable and visible. kCorrupt on a mismatch
  // (nothing is stored). Idempotent for a digest that is already stored.
  virtual Result<void> commit() = 0;
};

// Where to read a stored chunk from: a local file to stream, or a URL to redirect to.
struct BlobReadInfo {
  std::string file_path;
  uint64_t size = 0;
  std::string redirect_url;  // Set instead of file_path by stores that clients read directly.
};

// A request a client sends to the store itself, bypassing the daemon: a pre-signed URL and the
// headers that were signed with it, to send exactly as given.
struct DirectRequest {
  std::string url;
  std::vector<std::pair<std::string, std::string>> headers;
};

class BlobStore {
 public:
  virtual ~BlobStore() = default;

  // Starts a streaming write of a chunk of `size` bytes that must hash to `digest`.
  virtual Result<std::unique_ptr<BlobWriter>> begin_put(const Digest& digest, uint64_t size) = 0;

  // Stores `bytes` under `digest`; returns once durable. Idempotent. kCorrupt on a hash mismatch.
  virtual Result<void> put(const Digest& digest, ByteView bytes);

  // Reads a whole chunk and verifies it. kNotFound if absent, kCorrupt if the bytes are damaged.
  virtual Result<Bytes> get(const Digest& digest) = 0;

  // Where a reader can stream the chunk from. kNotFound if absent. The bytes are not verified
  // here: every reader verifies what it receives against the digest.
  virtual Result<BlobReadInfo> read_info(const Digest& digest) = 0;

  // The stored size of a chunk, or nullopt if it is absent.
  virtual Result<std::optional<uint64_t>> stat(const Digest& digest) = 0;

  Result<bool> contains(const Digest& digest);

  // For stores that clients write to directly (S3): a pre-signed upload of exactly these bytes
  // by this user, valid for `ttl_seconds`; the store itself rejects a body that does not hash to
  // `digest`. The upload lands in a place only this grant can write to, so that adopting it
  // later proves this user had the bytes. nullopt for stores that take uploads through the
  // daemon.
  // Whether clients upload to this store directly (then direct_upload gives grants and uploads
  // must be adopted); false for stores that take uploads through the daemon.
  virtual bool takes_direct_uploads() const { return false; }

  virtual std::optional<DirectRequest> direct_upload(int64_t user_id, const Digest& digest,
                                                     uint64_t size, int64_t ttl_seconds) {
    (void)user_id;
    (void)digest;
    (void)size;
    (void)ttl_seconds;
    return std::nullopt;
  }

  // Makes a finished direct upload of `user_id` part of the store. True if that user's upload
  // of this chunk (with this size) was there and the chunk is now stored; false if there was
  // none, which for a store without direct uploads is always the case.
  virtual Result<bool> adopt_direct_upload(int64_t user_id, const Digest& digest, uint64_t size) {
    (void)user_id;
    (void)digest;
    (void)size;
    return false;
  }

  // A short description for logs, never with a secret: "local disk /srv/cairn/blobs".
  virtual std::string describe() const = 0;
};

// Opens a blob store from a URL: "s3://BUCKET?endpoint=...&region=..." (see s3/s3_client.h),
// "file:///abs/dir" or a plain directory path.
Result<std::unique_ptr<BlobStore>> open_blob_store(const std::string& url);

}  // namespace cairn::store
