#pragma once

// Who may use the server: users, their tokens (shown once, stored hashed) and quotas, and
// authentication of every request. Part of Services
// (services.h).

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/service/service_base.h"

namespace cairn::service {

// Who may use the server: users, their tokens (shown once, stored hashed) and quotas, and
// authentication of every request.
class IdentityService : public ServiceBase {
 public:
  explicit IdentityService(const ServiceBase& base) : ServiceBase(base) {}

  // A new random bearer token: "cairn_" + 64 hex characters (256 bits).
  static std::string new_token();
  // What the store keeps of a token. Tokens carry 256 random bits, so a plain SHA-256 is as hard
  // to reverse as a slow password hash and lets the lookup be one index probe.
  static Digest hash_token(std::string_view token);
  // The user behind "Bearer <token>". kUnauthenticated otherwise.
  Result<store::User> authenticate(std::string_view authorization_header) const;
  // Creates a user and a first token; returns the token, which is shown once and never stored.
  Result<std::pair<store::User, std::string>> add_user(const std::string& name);
  // Another token for a user, valid for `ttl_seconds` if given, limited to `scope`; returns it
  // (shown once).
  Result<std::string> create_token(const std::string& user_name, const std::string& label,
                                   std::optional<int64_t> ttl_seconds = std::nullopt,
                                   const store::TokenScope& scope = {});
  Result<std::vector<store::TokenInfo>> list_tokens(const std::string& user_name);
  Result<void> revoke_token(const std::string& user_name, int64_t token_id);
  Result<void> set_user_disabled(const std::string& user_name, bool disabled);
  // cairnd user delete: disables the user now; gc purges them after `grace_seconds` (>= 0).
  // Returns when (Unix seconds). Enabling the user before then cancels it.
  Result<int64_t> schedule_user_deletion(const std::string& user_name, int64_t grace_seconds);
  // cairnd user quota NAME SIZE (nullopt: unlimited).
  Result<void> set_quota(const std::string& user_name, std::optional<uint64_t> limit);

  // The web page's sessions (docs/web.md). A session is a token of its own kind, kept in an
  // HttpOnly cookie, made from the API token that signed in (or the one behind a sign-in code):
  // the same user and scope, never outliving it, revoked with it.
  static constexpr int64_t kWebSessionSeconds = 12 * 3600;
  static constexpr int64_t kSignInCodeSeconds = 300;
  struct WebSession {
    std::string secret;  // The cookie's value, shown once; only its hash is stored.
    int64_t expires_at = 0;
    store::User user;
  };
  // Signs in with an API token or a sign-in code (used up by this call). kUnauthenticated for
  // anything else, with the same message whatever the reason.
  Result<WebSession> start_web_session(std::string_view token_or_code);
  // The user of a live session, by its cookie's value. kUnauthenticated otherwise.
  Result<store::User> web_session_user(std::string_view secret) const;
  // Signs out: the session (a user from web_session_user) is revoked.
  Result<void> end_web_session(const store::User& session);
  // A code that signs its holder in once, as `caller` (an API token), within
  // kSignInCodeSeconds. Returned with its expiry.
  Result<std::pair<std::string, int64_t>> create_signin_code(const store::User& caller);
  // Whom a live sign-in code would sign in, without using it up.
  Result<store::User> signin_code_user(std::string_view code) const;

 private:
  // The user behind a token of `kind`, by the token's text. kUnauthenticated otherwise.
  Result<store::User> token_user(std::string_view token, store::TokenKind kind) const;
};

}  // namespace cairn::service
