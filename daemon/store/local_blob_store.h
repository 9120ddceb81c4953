#pragma once

#include <string>

#include "daemon/store/blob_store.h"

namespace cairn::store {

// Objects as files: chunks under ROOT/chunks/ab/cd/<sha256 hex>, packs under
// ROOT/packs/ab/<sha256 hex>, damaged objects set aside under ROOT/quarantine/. Writes go to
// ROOT/tmp first, are fsynced, renamed into place, and the directory is fsynced, so a crash leaves
// either the whole object or nothing. Safe from any thread.
class LocalBlobStore final : public BlobStore {
 public:
  // Creates ROOT/chunks, ROOT/packs and ROOT/tmp if needed and removes temporary files a crash
  // left behind (those an hour old: younger ones may be another process's).
  static Result<std::unique_ptr<LocalBlobStore>> open(const std::string& root);

  using BlobStore::read_info;
  Result<std::unique_ptr<BlobWriter>> begin_put(const ObjectId& id, uint64_t size) override;
  Result<Bytes> get(const ObjectId& id) override;
  Result<Bytes> get_range(const ObjectId& id, ByteRange range) override;
  Result<BlobReadInfo> read_info(const ObjectId& id,
                                 const std::optional<ByteRange>& range) override;
  Result<std::optional<uint64_t>> stat(const ObjectId& id) override;
  Result<void> remove(const ObjectId& id) override;
  // Moves the object to ROOT/quarantine/, named by its kind, digest and the time.
  Result<void> quarantine(const ObjectId& id) override;
  std::string describe() const override { return "local disk " + root_; }

  std::string path_for(const ObjectId& id) const;
  const std::string& root() const { return root_; }

 private:
  explicit LocalBlobStore(std::string root) : root_(std::move(root)) {}
  std::string root_;
};

}  // namespace cairn::store
