#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "daemon/store/metadata_store.h"

namespace cairn::sqlite {
class Database;
}

namespace cairn::store {

// MetadataStore on one SQLite file in WAL mode with synchronous=FULL: a commit that returned is
// on disk. One connection behind a mutex: SQLite admits one writer at a time anyway, and the
// daemon's write transactions are short. Safe from any thread.
class SqliteMetadataStore final : public MetadataStore {
 public:
  // Opens or creates the database and applies pending migrations.
  static Result<std::unique_ptr<SqliteMetadataStore>> open(const std::string& path, bool create);
  ~SqliteMetadataStore() override;

  Result<std::string> get_or_init_setting(const std::string& key,
                                          const std::string& initial) override;
  Result<User> create_user(const std::string& name, int64_t now) override;
  Result<std::vector<User>> list_users() override;
  Result<User> find_user(const std::string& name) override;
  Result<void> add_token(int64_t user_id, const Digest& token_hash, const std::string& label,
                         int64_t now) override;
  Result<User> authenticate(const Digest& token_hash, int64_t now) override;
  Result<std::vector<bool>> user_has_chunks(int64_t user_id,
                                            const std::vector<Digest>& digests) override;
  Result<void> record_chunk(int64_t user_id, const Digest& digest, uint64_t size,
                            int64_t now) override;
  Result<void> save_uploads(const std::vector<StagedUpload>& uploads) override;
  Result<std::vector<protocol::CommitResult>> commit(
      const Actor& actor, const std::vector<protocol::CommitOp>& ops) override;
  Result<int64_t> expire_uploads(int64_t now) override;
  Result<Bytes> get_manifest(int64_t user_id, const Digest& digest) override;
  Result<bool> user_can_read_chunk(int64_t user_id, const Digest& digest) override;
  Result<protocol::ListResponse> list(int64_t namespace_id, const std::string& path) override;
  Result<ChangesPage> changes(int64_t namespace_id, int64_t after_seq, int limit) override;

 private:
  explicit SqliteMetadataStore(std::unique_ptr<sqlite::Database> db);

  std::mutex mu_;
  std::unique_ptr<sqlite::Database> db_;
};

}  // namespace cairn::store
