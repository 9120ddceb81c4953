#include "daemon/store/s3/s3_blob_store.h"

namespace cairn::store {
namespace {

constexpr int64_t kReadUrlTtlSeconds = 3600;

// Buffers one chunk (chunks are at most a few MiB) and sends it on commit, after checking it.
class S3BlobWriter final : public BlobWriter {
 public:
  S3BlobWriter(S3BlobStore& store, Digest digest, uint64_t size)
      : store_(store), digest_(digest), size_(size) {
    bytes_.reserve(size);
  }

  Result<void> write(ByteView bytes) override {
    if (bytes_.size() + bytes.size() > size_) {
      return make_error(ErrorCode::kTooLarge, "chunk body longer than its declared size");
    }
    bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
    return {};
  }

  Result<void> commit() override {
    if (bytes_.size() != size_ || sha256(bytes_) != digest_) {
      return make_error(ErrorCode::kCorrupt, "chunk bytes do not match " + digest_.hex());
    }
    return store_.upload(digest_, bytes_);
  }

 private:
  S3BlobStore& store_;
  Digest digest_;
  uint64_t size_;
  Bytes bytes_;
};

s3::Headers checksum_header(const Digest& digest) {
  return {{"x-amz-checksum-sha256", to_base64(digest.bytes())}};
}

}  // namespace

S3BlobStore::S3BlobStore(s3::Location location, s3::Credentials credentials)
    : client_(std::move(location), std::move(credentials)) {}

Result<std::unique_ptr<S3BlobStore>> S3BlobStore::open(const std::string& url) {
  CAIRN_ASSIGN_OR_RETURN(auto location, s3::parse_location(url));
  CAIRN_ASSIGN_OR_RETURN(auto credentials, s3::load_credentials());
  auto store = std::make_unique<S3BlobStore>(std::move(location), std::move(credentials));
  CAIRN_ASSIGN_OR_RETURN(auto r, store->client_.send("HEAD", "", {}, {}, {}));
  if (r.status == 404) {
    return make_error(ErrorCode::kNotFound, "S3 bucket " + store->client_.location().bucket +
                                                " does not exist at " +
                                                store->client_.location().endpoint);
  }
  if (r.status != 200) return s3::s3_error("S3 HEAD bucket " + store->describe(), r);
  return store;
}

std::string S3BlobStore::describe() const {
  const auto& loc = client_.location();
  return "s3 bucket " + loc.bucket + " at " + loc.endpoint;
}

Result<std::unique_ptr<BlobWriter>> S3BlobStore::begin_put(const Digest& digest, uint64_t size) {
  return std::unique_ptr<BlobWriter>(new S3BlobWriter(*this, digest, size));
}

Result<void> S3BlobStore::upload(const Digest& digest, ByteView bytes) {
  CAIRN_ASSIGN_OR_RETURN(auto r,
                         client_.send("PUT", key_for(digest), {}, checksum_header(digest), bytes));
  if (r.status != 200) return s3::s3_error("S3 PUT chunk " + digest.hex(), r);
  return {};
}

Result<Bytes> S3BlobStore::get(const Digest& digest) {
  CAIRN_ASSIGN_OR_RETURN(auto r, client_.send("GET", key_for(digest), {}, {}, {}));
  if (r.status == 404) return make_error(ErrorCode::kNotFound, "chunk " + digest.hex());
  if (r.status != 200) return s3::s3_error("S3 GET chunk " + digest.hex(), r);
  Bytes out(reinterpret_cast<const std::byte*>(r.body.data()),
            reinterpret_cast<const std::byte*>(r.body.data()) + r.body.size());
  if (sha256(out) != digest) {
    return make_error(ErrorCode::kCorrupt, "stored chunk " + digest.hex() + " is damaged");
  }
  return out;
}

Result<BlobReadInfo> S3BlobStore::read_info(const Digest& digest) {
  // No HEAD first: the reader verifies what it gets, and a missing object answers 404 there.
  BlobReadInfo info;
  info.redirect_url = client_.presign("GET", key_for(digest), {}, kReadUrlTtlSeconds).url;
  return info;
}

Result<std::optional<uint64_t>> S3BlobStore::stat(const Digest& digest) {
  CAIRN_ASSIGN_OR_RETURN(auto r, client_.send("HEAD", key_for(digest), {}, {}, {}));
  if (r.status == 404) return std::optional<uint64_t>();
  if (r.status != 200) return s3::s3_error("S3 HEAD chunk " + digest.hex(), r);
  const std::string length = r.header("content-length");
  uint64_t size = 0;
  for (char c : length) {
    if (c < '0' || c > '9') return make_error(ErrorCode::kInternal, "S3 HEAD: bad Content-Length");
    size = size * 10 + static_cast<uint64_t>(c - '0');
  }
  return std::optional<uint64_t>(size);
}

std::optional<DirectRequest> S3BlobStore::direct_upload(int64_t user_id, const Digest& digest,
                                                        uint64_t size, int64_t ttl_seconds) {
  (void)size;  // The checksum pins the body, and with it the size.
  auto signed_put = client_.presign("PUT", staging_key_for(user_id, digest),
                                    checksum_header(digest), ttl_seconds);
  return DirectRequest{std::move(signed_put.url), std::move(signed_put.headers)};
}

Result<bool> S3BlobStore::adopt_direct_upload(int64_t user_id, const Digest& digest,
                                              uint64_t size) {
  const std::string staging = staging_key_for(user_id, digest);
  CAIRN_ASSIGN_OR_RETURN(auto head, client_.send("HEAD", staging, {}, {}, {}));
  if (head.status == 404) return false;
  if (head.status != 200) return s3::s3_error("S3 HEAD upload " + digest.hex(), head);
  if (head.header("content-length") != std::to_string(size)) {
    (void)client_.send("DELETE", staging, {}, {}, {});
    return false;
  }
  // A copy inside the store; the checksum travels with the object. Copying over a chunk that is
  // already there (another user's) is harmless and costs what a HEAD to find out would.
  const std::string source = "/" + client_.location().bucket + "/" + client_.full_key(staging);
  CAIRN_ASSIGN_OR_RETURN(auto copy,
                         client_.send("PUT", key_for(digest), {},
                                      {{"x-amz-copy-source", s3::uri_encode(source, true)}}, {}));
  // A copy can fail after its 200 status line: the error is then in the body.
  if (copy.status != 200 || copy.body.find("<Error>") != std::string::npos) {
    return s3::s3_error("S3 copy upload " + digest.hex() + " into chunks/", copy);
  }
  CAIRN_ASSIGN_OR_RETURN(auto removed, client_.send("DELETE", staging, {}, {}, {}));
  (void)removed;  // Left over, it is only garbage: the chunk is stored either way.
  return true;
}

Result<void> S3BlobStore::remove(const Digest& digest) {
  CAIRN_ASSIGN_OR_RETURN(auto r, client_.send("DELETE", key_for(digest), {}, {}, {}));
  if (r.status != 204 && r.status != 200 && r.status != 404) {
    return s3::s3_error("S3 DELETE chunk " + digest.hex(), r);
  }
  return {};
}

Result<void> create_bucket(s3::Client& client) {
  CAIRN_ASSIGN_OR_RETURN(auto r, client.send("PUT", "", {}, {}, {}));
  if (r.status == 200 || r.status == 409) return {};  // 409: it exists already.
  return s3::s3_error("S3 create bucket " + client.location().bucket, r);
}

}  // namespace cairn::store
