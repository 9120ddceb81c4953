#pragma once

// Content-addressed object storage keyed by SHA-256: chunks, and packs of many small chunks
// (common/pack.h), each named by the hash of its bytes. Implementations are safe to call from
// any thread. Nothing is ever visible under a digest unless its bytes hash to that digest.

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

enum class ObjectKind { kChunk, kPack };

// A stored object. A bare Digest names a chunk, which is what most callers mean.
struct ObjectId {
  ObjectKind kind = ObjectKind::kChunk;
  Digest digest;

  ObjectId() = default;
  ObjectId(const Digest& d) : digest(d) {}  // NOLINT(google-explicit-constructor): a chunk.
  ObjectId(ObjectKind k, const Digest& d) : kind(k), digest(d) {}
  static ObjectId pack(const Digest& d) { return {ObjectKind::kPack, d}; }

  // "chunk 3fa2..." or "pack 3fa2...", for messages.
  std::string describe() const;
  bool operator==(const ObjectId&) const = default;
};

// Bytes [offset, offset + length) of an object.
struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
};

// Streams one object into the store. Owned by one thread. Destroying a writer that was not
// committed discards everything written to it.
class BlobWriter {
 public:
  virtual ~BlobWriter() = default;
  // Appends bytes. kTooLarge once more than the declared size arrives; kIo on a full disk.
  virtual Result<void> write(ByteView bytes) = 0;
  // Verifies size and SHA-256 and makes the bytes durable, not yet visible. kCorrupt on a
  // mismatch (nothing is stored). Idempotent.
  virtual Result<void> seal() = 0;
  // Seals if needed, then makes the object durable and visible under its digest. Repeatable:
  // every call publishes the object again, even if it was removed since the last one (a
  // metadata transaction that publishes it may be retried). Harmless for an object that is
  // already stored.
  virtual Result<void> commit() = 0;
};

// Where to read a stored object (or a range of it) from: a local file to stream, or a URL for
// the client to fetch with `headers`.
struct BlobReadInfo {
  std::string file_path;
  uint64_t offset = 0;       // Of the range within file_path.
  uint64_t size = 0;         // Of the object, or of the range.
  std::string redirect_url;  // Set instead of file_path by stores that clients read directly.
  std::vector<std::pair<std::string, std::string>> headers;  // Signed with redirect_url.
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

  // Starts a streaming write of an object of `size` bytes that must hash to its digest.
  virtual Result<std::unique_ptr<BlobWriter>> begin_put(const ObjectId& id, uint64_t size) = 0;

  // Stores `bytes` under `id`; returns once durable. Idempotent. kCorrupt on a hash mismatch.
  Result<void> put(const ObjectId& id, ByteView bytes);

  // Reads a whole object and verifies it. kNotFound if absent, kCorrupt if the bytes are damaged.
  virtual Result<Bytes> get(const ObjectId& id) = 0;

  // Reads a range of an object, unverified (the caller checks what it holds). kNotFound if the
  // object is absent, kCorrupt if it is shorter than the range.
  virtual Result<Bytes> get_range(const ObjectId& id, ByteRange range) = 0;

  // Where a reader can stream an object, or `range` of it, from. The bytes are not verified here:
  // every reader verifies what it receives. A local store answers kNotFound for an absent object;
  // a remote one may leave that to the read.
  Result<BlobReadInfo> read_info(const ObjectId& id) { return read_info(id, std::nullopt); }
  virtual Result<BlobReadInfo> read_info(const ObjectId& id,
                                         const std::optional<ByteRange>& range) = 0;

  // The stored size of an object, or nullopt if it is absent.
  virtual Result<std::optional<uint64_t>> stat(const ObjectId& id) = 0;

  Result<bool> contains(const ObjectId& id);

  // Deletes an object. Absent is not an error.
  virtual Result<void> remove(const ObjectId& id) = 0;

  // Takes a damaged object out of every reader's sight: kept aside for inspection where the
  // store can (local disk), deleted where it cannot. An upload of the same digest afterwards
  // stores it afresh. Absent is not an error.
  virtual Result<void> quarantine(const ObjectId& id) { return remove(id); }

  // Whether clients upload to this store directly (then direct_upload gives grants and uploads
  // must be adopted); false for stores that take uploads through the daemon.
  virtual bool takes_direct_uploads() const { return false; }

  // For stores that clients write to directly (S3): a pre-signed upload of exactly these bytes
  // by this user, valid for `ttl_seconds`; the store itself rejects a body that does not hash to
  // the object's digest. The upload lands in a place only this grant can write to, so that
  // adopting it later proves this user had the bytes. nullopt for stores that take uploads
  // through the daemon.
  virtual std::optional<DirectRequest> direct_upload(int64_t user_id, const ObjectId& id,
                                                     uint64_t size, int64_t ttl_seconds) {
    (void)user_id;
    (void)id;
    (void)size;
    (void)ttl_seconds;
    return std::nullopt;
  }

  // Makes a finished direct upload of `user_id` part of the store. True if that user's upload
  // of this object (with this size) was there and the object is now stored; false if there was
  // none, which for a store without direct uploads is always the case. The upload stays, so
  // that adopting it again (a retried metadata transaction) stores it again: discard it once
  // the adoption is recorded.
  virtual Result<bool> adopt_direct_upload(int64_t user_id, const ObjectId& id, uint64_t size) {
    (void)user_id;
    (void)id;
    (void)size;
    return false;
  }
  // Deletes `user_id`'s direct upload of `id`, adopted or not. Absent is not an error.
  virtual Result<void> discard_direct_upload(int64_t user_id, const ObjectId& id) {
    (void)user_id;
    (void)id;
    return {};
  }

  // A short description for logs, never with a secret: "local disk /srv/cairn/blobs".
  virtual std::string describe() const = 0;
};

// Opens a blob store from a URL: "s3://BUCKET?endpoint=...&region=..." (see s3/s3_client.h),
// "file:///abs/dir" or a plain directory path.
Result<std::unique_ptr<BlobStore>> open_blob_store(const std::string& url);

}  // namespace cairn::store
