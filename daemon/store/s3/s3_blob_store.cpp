#include "daemon/store/s3/s3_blob_store.h"

namespace cairn::store {
namespace {

constexpr int64_t kReadUrlTtlSeconds = 3600;

// Buffers one chunk (chunks are at most a few MiB) and sends it on commit, after checking it.
class S3BlobWriter final : public BlobWriter {
 public:
  S3BlobWriter(S3BlobStore& store, ObjectId id, uint64_t size)
      : store_(store), id_(id), size_(size) {
    bytes_.reserve(size);
  }

  Result<void> write(ByteView bytes) override {
    if (bytes_.size() + bytes.size() > size_) {
      return make_error(ErrorCode::kTooLarge,
                        id_.describe() + " body longer than its declared size");
    }
    bytes_.insert(bytes_.end(), bytes.begin(), bytes.end());
    return {};
  }

  Result<void> seal() override {
    if (sealed_) return {};
    if (bytes_.size() != size_ || sha256(bytes_) != id_.digest) {
      return make_error(ErrorCode::kCorrupt, "bytes do not match " + id_.describe());
    }
    sealed_ = true;
    return {};
  }

  Result<void> commit() override {
    CAIRN_RETURN_IF_ERROR(seal());
    return store_.upload(id_, bytes_);  // A PUT: as repeatable as commit() must be.
  }

 private:
  S3BlobStore& store_;
  ObjectId id_;
  uint64_t size_;
  Bytes bytes_;
  bool sealed_ = false;
};

s3::Headers checksum_header(const Digest& digest) {
  return {{"x-amz-checksum-sha256", to_base64(digest.bytes())}};
}

std::string range_header(ByteRange range) {
  return "bytes=" + std::to_string(range.offset) + "-" +
         std::to_string(range.offset + range.length - 1);
}

}  // namespace

std::string S3BlobStore::key_for(const ObjectId& id) {
  return (id.kind == ObjectKind::kPack ? "packs/" : "chunks/") + id.digest.hex();
}

std::string S3BlobStore::staging_key_for(int64_t user_id, const ObjectId& id) {
  return "incoming/" + std::to_string(user_id) + "/" +
         (id.kind == ObjectKind::kPack ? "packs/" : "") + id.digest.hex();
}

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

Result<std::unique_ptr<BlobWriter>> S3BlobStore::begin_put(const ObjectId& id, uint64_t size) {
  return std::unique_ptr<BlobWriter>(new S3BlobWriter(*this, id, size));
}

Result<void> S3BlobStore::upload(const ObjectId& id, ByteView bytes) {
  CAIRN_ASSIGN_OR_RETURN(auto r,
                         client_.send("PUT", key_for(id), {}, checksum_header(id.digest), bytes));
  if (r.status != 200) return s3::s3_error("S3 PUT " + id.describe(), r);
  return {};
}

Result<Bytes> S3BlobStore::get(const ObjectId& id) {
  CAIRN_ASSIGN_OR_RETURN(auto r, client_.send("GET", key_for(id), {}, {}, {}));
  if (r.status == 404) return make_error(ErrorCode::kNotFound, id.describe());
  if (r.status != 200) return s3::s3_error("S3 GET " + id.describe(), r);
  Bytes out(reinterpret_cast<const std::byte*>(r.body.data()),
            reinterpret_cast<const std::byte*>(r.body.data()) + r.body.size());
  if (sha256(out) != id.digest) {
    return make_error(ErrorCode::kCorrupt, "stored " + id.describe() + " is damaged");
  }
  return out;
}

Result<Bytes> S3BlobStore::get_range(const ObjectId& id, ByteRange range) {
  if (range.length == 0) return Bytes();
  CAIRN_ASSIGN_OR_RETURN(
      auto r, client_.send("GET", key_for(id), {}, {{"range", range_header(range)}}, {}));
  if (r.status == 404) return make_error(ErrorCode::kNotFound, id.describe());
  if (r.status == 416 || (r.status == 206 && r.body.size() != range.length)) {
    return make_error(ErrorCode::kCorrupt,
                      "stored " + id.describe() + " is shorter than the range asked for");
  }
  if (r.status != 206) return s3::s3_error("S3 GET range of " + id.describe(), r);
  return Bytes(reinterpret_cast<const std::byte*>(r.body.data()),
               reinterpret_cast<const std::byte*>(r.body.data()) + r.body.size());
}

Result<BlobReadInfo> S3BlobStore::read_info(const ObjectId& id,
                                            const std::optional<ByteRange>& range) {
  // No HEAD first: the reader verifies what it gets, and a missing object answers 404 there.
  BlobReadInfo info;
  s3::Headers signed_headers;
  if (range) {
    // Signed, so that the URL reads exactly this range: a pack holds other chunks too.
    signed_headers.emplace_back("range", range_header(*range));
    info.offset = range->offset;
    info.size = range->length;
  }
  auto presigned = client_.presign("GET", key_for(id), signed_headers, kReadUrlTtlSeconds);
  info.redirect_url = std::move(presigned.url);
  info.headers = std::move(presigned.headers);
  return info;
}

Result<std::optional<uint64_t>> S3BlobStore::stat(const ObjectId& id) {
  CAIRN_ASSIGN_OR_RETURN(auto r, client_.send("HEAD", key_for(id), {}, {}, {}));
  if (r.status == 404) return std::optional<uint64_t>();
  if (r.status != 200) return s3::s3_error("S3 HEAD " + id.describe(), r);
  const std::string length = r.header("content-length");
  uint64_t size = 0;
  for (char c : length) {
    if (c < '0' || c > '9') return make_error(ErrorCode::kInternal, "S3 HEAD: bad Content-Length");
    size = size * 10 + static_cast<uint64_t>(c - '0');
  }
  return std::optional<uint64_t>(size);
}

std::optional<DirectRequest> S3BlobStore::direct_upload(int64_t user_id, const ObjectId& id,
                                                        uint64_t size, int64_t ttl_seconds) {
  (void)size;  // The checksum pins the body, and with it the size.
  auto signed_put =
      client_.presign("PUT", staging_key_for(user_id, id), checksum_header(id.digest), ttl_seconds);
  return DirectRequest{std::move(signed_put.url), std::move(signed_put.headers)};
}

Result<bool> S3BlobStore::adopt_direct_upload(int64_t user_id, const ObjectId& id, uint64_t size) {
  const std::string staging = staging_key_for(user_id, id);
  CAIRN_ASSIGN_OR_RETURN(auto head, client_.send("HEAD", staging, {}, {}, {}));
  if (head.status == 404) return false;
  if (head.status != 200) return s3::s3_error("S3 HEAD upload of " + id.describe(), head);
  if (head.header("content-length") != std::to_string(size)) {
    (void)client_.send("DELETE", staging, {}, {}, {});
    return false;
  }
  // A copy inside the store; the checksum travels with the object. Copying over an object that
  // is already there (another user's) is harmless and costs what a HEAD to find out would.
  const std::string source = "/" + client_.location().bucket + "/" + client_.full_key(staging);
  CAIRN_ASSIGN_OR_RETURN(auto copy,
                         client_.send("PUT", key_for(id), {},
                                      {{"x-amz-copy-source", s3::uri_encode(source, true)}}, {}));
  // A copy can fail after its 200 status line: the error is then in the body.
  if (copy.status != 200 || copy.body.find("<Error>") != std::string::npos) {
    return s3::s3_error("S3 copy upload of " + id.describe() + " into place", copy);
  }
  return true;
}

Result<void> S3BlobStore::discard_direct_upload(int64_t user_id, const ObjectId& id) {
  CAIRN_ASSIGN_OR_RETURN(auto r, client_.send("DELETE", staging_key_for(user_id, id), {}, {}, {}));
  if (r.status != 204 && r.status != 200 && r.status != 404) {
    return s3::s3_error("S3 DELETE upload of " + id.describe(), r);
  }
  return {};
}

Result<void> S3BlobStore::remove(const ObjectId& id) {
  CAIRN_ASSIGN_OR_RETURN(auto r, client_.send("DELETE", key_for(id), {}, {}, {}));
  if (r.status != 204 && r.status != 200 && r.status != 404) {
    return s3::s3_error("S3 DELETE " + id.describe(), r);
  }
  return {};
}

Result<void> create_bucket(s3::Client& client) {
  CAIRN_ASSIGN_OR_RETURN(auto r, client.send("PUT", "", {}, {}, {}));
  if (r.status == 200 || r.status == 409) return {};  // 409: it exists already.
  return s3::s3_error("S3 create bucket " + client.location().bucket, r);
}

}  // namespace cairn::store
