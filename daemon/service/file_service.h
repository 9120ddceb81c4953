#pragma once

// The file tree: staging and committing files, manifests, listings and the change feed,
// history, the trash and quotas as a user sees them. Part of Services
// (services.h).

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/service/chunk_service.h"
#include "daemon/service/service_base.h"

namespace cairn::service {

// The file tree: staging and committing files, manifests, listings and the change feed,
// history, the trash and quotas as a user sees them.
class FileService : public ServiceBase {
 public:
  FileService(const ServiceBase& base, ChunkService& chunks) : ServiceBase(base), chunks_(chunks) {}

  Result<protocol::InitUploadsResponse> init_uploads(const RequestContext& ctx,
                                                     const protocol::InitUploadsRequest& req);
  Result<protocol::CommitResponse> commit(const RequestContext& ctx,
                                          const protocol::CommitRequest& req);
  Result<Bytes> manifest(const RequestContext& ctx, std::string_view hex);
  // Up to max_batch manifests; those the user may not read are left out.
  Result<protocol::ManifestsResponse> manifests(const RequestContext& ctx,
                                                const protocol::ManifestsRequest& req);
  // `recursive`: everything below the folder, in one snapshot (TreeStore::list_tree). `at_ms`:
  // as it was then (TreeStore::list_at), if the server still knows.
  Result<protocol::ListResponse> list(const RequestContext& ctx, std::string_view path,
                                      bool recursive = false,
                                      std::optional<int64_t> at_ms = std::nullopt);
  // What changed at or under `path`, newest first (TreeStore::log).
  Result<protocol::LogResponse> log(const RequestContext& ctx, std::string_view path,
                                    const store::LogQuery& query);
  Result<protocol::ChangesResponse> changes(const RequestContext& ctx, std::string_view cursor,
                                            int limit);
  // `path` (a live file) or, when node_id != 0, any file of the user's, deleted ones too.
  Result<protocol::HistoryResponse> history(const RequestContext& ctx, std::string_view path,
                                            int64_t node_id);
  Result<protocol::TrashResponse> trash(const RequestContext& ctx);
  Result<protocol::EmptyTrashResponse> empty_trash(const RequestContext& ctx);
  Result<protocol::QuotaResponse> quota(const RequestContext& ctx);

 private:
  // kInvalidArgument if the server cannot say what was there at `at_ms`: before it began to
  // record history, or older than the retention period (`cairnd retention`).
  Result<void> check_time(const RequestContext& ctx, int64_t at_ms) const;
  // A commit op as the store takes it (see commit()).
  Result<store::TreeOp> tree_op(const RequestContext& ctx, const protocol::CommitOp& op) const;
  // A file's validated stage: canonical path, manifest, size. No upload id or expiry. A folder
  // only in a `group`.
  Result<store::StagedUpload> stage_file(const RequestContext& ctx, const protocol::FileUpload& f,
                                         const std::string& group) const;

  ChunkService& chunks_;
};

}  // namespace cairn::service
