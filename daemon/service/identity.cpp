// IdentityService: users, tokens, authentication and quotas (identity_service.h).

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <thread>
#include <unordered_set>

#include "common/manifest.h"
#include "common/paths.h"
#include "common/remote_path.h"
#include "daemon/service/parse.h"
#include "daemon/service/services.h"
#include "daemon/service/wire.h"

namespace cairn::service {
namespace {

constexpr std::string_view kTokenPrefix = "cairn_";

}  // namespace

std::string IdentityService::new_token() {
  return std::string(kTokenPrefix) + to_hex(secure_random(32));
}

Digest IdentityService::hash_token(std::string_view token) { return sha256(as_bytes(token)); }

Result<store::User> IdentityService::authenticate(std::string_view header) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (header.size() <= kBearer.size() || header.substr(0, kBearer.size()) != kBearer) {
    return make_error(ErrorCode::kUnauthenticated,
                      "missing bearer token (send Authorization: Bearer <token>)");
  }
  return token_user(header.substr(kBearer.size()), store::TokenKind::kApi);
}

Result<store::User> IdentityService::token_user(std::string_view token,
                                                store::TokenKind kind) const {
  auto refused = [] {
    return make_error(ErrorCode::kUnauthenticated, "invalid, revoked or expired token");
  };
  if (token.substr(0, kTokenPrefix.size()) != kTokenPrefix || token.size() > 256) return refused();
  const Digest hash = hash_token(token);
  CAIRN_ASSIGN_OR_RETURN(auto user, metadata_.authenticate(hash, now()));
  // A session cookie is no bearer token, nor a sign-in code a session.
  if (user.token_kind != kind) return refused();
  user.token_hash = hash;
  return user;
}

Result<std::pair<store::User, std::string>> IdentityService::add_user(const std::string& name) {
  CAIRN_ASSIGN_OR_RETURN(std::string clean, normalize_remote_name(name));
  if (clean != name || name.size() > 64 || name.find(' ') != std::string::npos) {
    return make_error(ErrorCode::kInvalidArgument,
                      "user names are 1-64 characters without spaces, '/' or control characters");
  }
  CAIRN_ASSIGN_OR_RETURN(auto user, metadata_.create_user(name, now()));
  std::string token = new_token();
  CAIRN_RETURN_IF_ERROR(metadata_.add_token(user.user_id, hash_token(token), "initial", now()));
  return std::make_pair(std::move(user), std::move(token));
}

Result<std::string> IdentityService::create_token(const std::string& user_name,
                                                  const std::string& label,
                                                  std::optional<int64_t> ttl_seconds,
                                                  const store::TokenScope& scope) {
  CAIRN_ASSIGN_OR_RETURN(auto user, metadata_.find_user(user_name));
  if (ttl_seconds && *ttl_seconds <= 0) {
    return make_error(ErrorCode::kInvalidArgument, "a token's lifetime must be positive");
  }
  std::optional<int64_t> expires;
  if (ttl_seconds) expires = now() + *ttl_seconds;
  store::TokenScope clean = scope;
  if (!clean.path.empty()) {
    CAIRN_ASSIGN_OR_RETURN(clean.path, normalize_remote_path(clean.path));
  }
  std::string token = new_token();
  CAIRN_RETURN_IF_ERROR(
      metadata_.add_token(user.user_id, hash_token(token), label, now(), expires, clean));
  return token;
}

Result<std::vector<store::TokenInfo>> IdentityService::list_tokens(const std::string& user_name) {
  CAIRN_ASSIGN_OR_RETURN(auto user, metadata_.find_user(user_name));
  return metadata_.list_tokens(user.user_id);
}

Result<void> IdentityService::revoke_token(const std::string& user_name, int64_t token_id) {
  CAIRN_ASSIGN_OR_RETURN(auto user, metadata_.find_user(user_name));
  return metadata_.revoke_token(user.user_id, token_id, now());
}

Result<void> IdentityService::set_user_disabled(const std::string& user_name, bool disabled) {
  CAIRN_ASSIGN_OR_RETURN(auto user, metadata_.find_user(user_name));
  return metadata_.set_user_disabled(user.user_id, disabled);
}

Result<int64_t> IdentityService::schedule_user_deletion(const std::string& user_name,
                                                        int64_t grace_seconds) {
  if (grace_seconds < 0) {
    return make_error(ErrorCode::kInvalidArgument, "the grace period cannot be negative");
  }
  CAIRN_ASSIGN_OR_RETURN(auto user, metadata_.find_user(user_name));
  const int64_t when = now() + grace_seconds;
  CAIRN_RETURN_IF_ERROR(metadata_.schedule_user_deletion(user.user_id, when));
  return when;
}

Result<void> IdentityService::set_quota(const std::string& user_name,
                                        std::optional<uint64_t> limit) {
  CAIRN_ASSIGN_OR_RETURN(auto user, metadata_.find_user(user_name));
  return metadata_.set_quota(user.user_id, limit);
}

}  // namespace cairn::service
