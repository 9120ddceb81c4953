#pragma once

// Folders and files shared between users, and links anyone holding the URL may download from. Part
// of Services (services.h).

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/service/service_base.h"

namespace cairn::service {

// Folders and files shared between users, and links anyone holding the URL may download from.
class SharingService : public ServiceBase {
 public:
  explicit SharingService(const ServiceBase& base) : ServiceBase(base) {}

  Result<protocol::ShareInfo> share(const RequestContext& ctx, const protocol::ShareRequest& req);
  // `user` empty: the caller leaves a folder shared with them.
  Result<void> unshare(const RequestContext& ctx, std::string_view path, std::string_view user);
  Result<protocol::SharesResponse> shares(const RequestContext& ctx, std::string_view path);
  // A link to `req.path` (expiring if asked); its URL (relative: "/l/TOKEN") is in the answer
  // and nowhere else: only the token's hash is stored.
  Result<protocol::LinkInfo> create_link(const RequestContext& ctx,
                                         const protocol::LinkRequest& req);
  Result<protocol::LinksResponse> links(const RequestContext& ctx);
  // By id, or (id 0) by the token of its URL.
  Result<void> revoke_link(const RequestContext& ctx, int64_t link_id, std::string_view token = {});
  // What a live link points at (a snapshot: a file, or a folder and everything in it), for
  // anyone holding its URL. kNotFound for anything but a live link.
  Result<store::LinkTarget> link_target(std::string_view token);
  // GET /l/TOKEN[/INNER]: the link's content (a file, or a folder as `archive`), or `inner`, a
  // file inside a linked folder (its path relative to the folder); `range`: bytes of a file.
  Result<std::unique_ptr<LinkStream>> open_link(
      std::string_view token, std::string_view inner = {},
      std::optional<std::pair<uint64_t, uint64_t>> range = std::nullopt,
      Archive archive = Archive::kTar);
  // What the caller reads through the web page: a file (the bytes [first, second) of it, if
  // `range`) or a folder as `archive`, as `target` describes it from the caller's own listings
  // or history. Its chunks are read with the caller's rights (target.reader_id is set here).
  Result<std::unique_ptr<LinkStream>> stream(
      const RequestContext& ctx, store::LinkTarget target,
      std::optional<std::pair<uint64_t, uint64_t>> range = std::nullopt,
      Archive archive = Archive::kTar);
};

}  // namespace cairn::service
