#include "daemon/store/blob_store.h"

#include "daemon/store/local_blob_store.h"
#include "daemon/store/s3/s3_blob_store.h"

namespace cairn::store {

std::string ObjectId::describe() const {
  return (kind == ObjectKind::kPack ? "pack " : "chunk ") + digest.hex();
}

Result<void> BlobStore::put(const ObjectId& id, ByteView bytes) {
  CAIRN_ASSIGN_OR_RETURN(auto writer, begin_put(id, bytes.size()));
  CAIRN_RETURN_IF_ERROR(writer->write(bytes));
  return writer->commit();
}

Result<bool> BlobStore::contains(const ObjectId& id) {
  CAIRN_ASSIGN_OR_RETURN(auto size, stat(id));
  return size.has_value();
}

Result<std::unique_ptr<BlobStore>> open_blob_store(const std::string& url) {
  if (url.rfind("s3://", 0) == 0) {
    CAIRN_ASSIGN_OR_RETURN(auto store, S3BlobStore::open(url));
    return std::unique_ptr<BlobStore>(std::move(store));
  }
  std::string path = url;
  if (path.rfind("file://", 0) == 0) path = path.substr(7);
  if (path.find("://") != std::string::npos) {
    return make_error(ErrorCode::kInvalidArgument,
                      "unsupported blob store URL: " + url + " (use s3://... or a folder)");
  }
  CAIRN_ASSIGN_OR_RETURN(auto store, LocalBlobStore::open(path));
  return std::unique_ptr<BlobStore>(std::move(store));
}

}  // namespace cairn::store
