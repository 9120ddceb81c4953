#pragma once

#include <string>

#include "daemon/store/blob_store.h"

namespace cairn::store {

// Chunks as files under ROOT/chunks/ab/cd/<sha256 hex>. Writes go to ROOT/tmp first, are fsynced,
// renamed into place, and the directory is fsynced, so a crash leaves either the whole chunk or
// nothing. Safe from any thread.
class LocalBlobStore final : public BlobStore {
 public:
  // Creates ROOT/chunks and ROOT/tmp if needed and removes temporary files a crash left behind.
  static Result<std::unique_ptr<LocalBlobStore>> open(const std::string& root);

  Result<std::unique_ptr<BlobWriter>> begin_put(const Digest& digest, uint64_t size) override;
  Result<Bytes> get(const Digest& digest) override;
  Result<BlobReadInfo> read_info(const Digest& digest) override;
  Result<std::optional<uint64_t>> stat(const Digest& digest) override;
  std::string describe() const override { return "local disk " + root_; }

  std::string path_for(const Digest& digest) const;
  const std::string& root() const { return root_; }

 private:
  explicit LocalBlobStore(std::string root) : root_(std::move(root)) {}
  std::string root_;
};

}  // namespace cairn::store
