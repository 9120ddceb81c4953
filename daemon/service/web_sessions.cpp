// IdentityService: the web page's sessions and sign-in codes (identity_service.h, docs/web.md).

#include <algorithm>

#include "daemon/service/services.h"

namespace cairn::service {
namespace {

// A token made from `parent` lives `seconds`, and never longer than `parent`.
int64_t child_expiry(const store::User& parent, int64_t now, int64_t seconds) {
  const int64_t wanted = now + seconds;
  return parent.token_expires_at ? std::min(*parent.token_expires_at, wanted) : wanted;
}

}  // namespace

Result<IdentityService::WebSession> IdentityService::start_web_session(
    std::string_view token_or_code) {
  const int64_t t = now();
  auto signer = token_user(token_or_code, store::TokenKind::kApi);
  if (!signer) {
    // A sign-in code is used up here, by exactly one request: a second gets what a wrong
    // token gets. The session hangs from the token the code was made from.
    CAIRN_ASSIGN_OR_RETURN(signer, token_user(token_or_code, store::TokenKind::kSignInCode));
    CAIRN_ASSIGN_OR_RETURN(bool claimed,
                           metadata_.claim_token(signer->user_id, signer->token_id, t));
    if (!claimed) {
      return make_error(ErrorCode::kUnauthenticated, "invalid, revoked or expired token");
    }
    // The session lives as a session made with that token would: its expiry, not the code's
    // five minutes, bounds it.
    CAIRN_ASSIGN_OR_RETURN(auto tokens, metadata_.list_tokens(signer->user_id));
    auto parent = std::find_if(tokens.begin(), tokens.end(), [&](const store::TokenInfo& info) {
      return info.token_id == signer->token_parent_id;
    });
    if (parent == tokens.end() || parent->revoked_at) {
      return make_error(ErrorCode::kUnauthenticated, "invalid, revoked or expired token");
    }
    signer->token_id = parent->token_id;
    signer->token_expires_at = parent->expires_at;
  }
  WebSession session;
  session.secret = new_token();
  session.expires_at = child_expiry(*signer, t, kWebSessionSeconds);
  CAIRN_RETURN_IF_ERROR(metadata_.add_token(signer->user_id, hash_token(session.secret),
                                            "web session", t, session.expires_at, signer->scope,
                                            store::TokenKind::kWebSession, signer->token_id));
  CAIRN_ASSIGN_OR_RETURN(session.user, web_session_user(session.secret));
  return session;
}

Result<store::User> IdentityService::web_session_user(std::string_view secret) const {
  return token_user(secret, store::TokenKind::kWebSession);
}

Result<void> IdentityService::end_web_session(const store::User& session) {
  if (session.token_kind != store::TokenKind::kWebSession) {
    return make_error(ErrorCode::kInvalidArgument, "not a web session");
  }
  return metadata_.revoke_token(session.user_id, session.token_id, now());
}

Result<std::pair<std::string, int64_t>> IdentityService::create_signin_code(
    const store::User& caller) {
  if (caller.token_kind != store::TokenKind::kApi || caller.token_id == 0) {
    return make_error(ErrorCode::kPermissionDenied, "a sign-in link is made with an API token");
  }
  const int64_t t = now();
  const int64_t expires = child_expiry(caller, t, kSignInCodeSeconds);
  std::string code = new_token();
  CAIRN_RETURN_IF_ERROR(metadata_.add_token(caller.user_id, hash_token(code), "web sign-in link", t,
                                            expires, caller.scope, store::TokenKind::kSignInCode,
                                            caller.token_id));
  return std::make_pair(std::move(code), expires);
}

Result<store::User> IdentityService::signin_code_user(std::string_view code) const {
  return token_user(code, store::TokenKind::kSignInCode);
}

}  // namespace cairn::service
