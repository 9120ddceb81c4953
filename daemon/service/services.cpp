// Services, the one object that holds every service, and what they share (service_base.h).

#include "daemon/service/services.h"

#include <chrono>

#include "common/paths.h"

namespace cairn::service {

store::Actor RequestContext::actor() const {
  store::Actor a;
  a.user_id = user.user_id;
  a.namespace_id = user.home_namespace_id;
  a.device = device.empty() ? std::string("unknown") : device;
  a.now = now;
  a.now_ms = now_ms;
  a.token_hash = user.token_hash;
  a.scope_path = user.scope.path == "/" ? std::string() : user.scope.path;
  return a;
}

Result<void> ServiceBase::in_scope(const RequestContext& ctx, std::string_view path) {
  const std::string& scope = ctx.user.scope.path;
  if (is_within(path, scope)) return {};
  return make_error(ErrorCode::kPermissionDenied, "this token is limited to " + scope + "; " +
                                                      std::string(path) + " is outside it");
}

Result<void> ServiceBase::may_write(const RequestContext& ctx,
                                    std::initializer_list<std::string_view> paths) {
  if (ctx.user.scope.read_only) {
    return make_error(ErrorCode::kPermissionDenied,
                      "this token is read-only: it can list, download and sync down, not change "
                      "anything (cairnd token create makes one that can)");
  }
  for (const auto p : paths) CAIRN_RETURN_IF_ERROR(in_scope(ctx, p));
  return {};
}

int64_t SystemClock::now_seconds() const {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t SystemClock::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Services::Services(store::MetadataStore& metadata, store::BlobStore& blobs, ServiceConfig config,
                   Bytes signing_key, const Clock& clock)
    : config_(std::move(config)),
      clock_(clock),
      base_(metadata, blobs, config_, clock),
      identity_(base_),
      chunks_(base_, std::move(signing_key)),
      files_(base_, chunks_),
      sharing_(base_),
      maintenance_(base_, chunks_) {}

protocol::ServerConfig Services::server_config() const {
  protocol::ServerConfig c;
  c.chunking = config_.chunking;
  c.max_batch = config_.max_batch;
  c.max_json_body_bytes = config_.max_json_body_bytes;
  c.server_version = config_.version;
  if (config_.packs.chunk_limit > 0) c.packs = config_.packs;
  return c;
}

}  // namespace cairn::service
