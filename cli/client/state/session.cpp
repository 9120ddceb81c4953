#include "cli/client/state/session.h"

#include "cli/client/net/config.h"
#include "common/remote_path.h"

namespace cairn::client {

std::string Session::to_remote(const std::string& rel) const {
  if (rel.empty()) return remote_root;
  return join_remote_path(remote_root, rel);
}

std::optional<std::string> Session::to_local(const std::string& remote) const {
  // What the server sends is held to the rules it enforces: only a canonical path (no "..", no
  // ".cairn", see common/remote_path.h) maps to a place here.
  auto canonical = normalize_remote_path(remote);
  if (!canonical || *canonical != remote) return std::nullopt;
  if (remote_root == "/") {
    if (remote == "/") return std::string();
    return remote.substr(1);
  }
  if (remote == remote_root) return std::string();
  if (remote.size() > remote_root.size() &&
      remote.compare(0, remote_root.size(), remote_root) == 0 &&
      remote[remote_root.size()] == '/') {
    return remote.substr(remote_root.size() + 1);
  }
  return std::nullopt;
}

Result<ServerEndpoint> resolve_endpoint(const std::string& working_copy_server) {
  CAIRN_ASSIGN_OR_RETURN(auto user, load_user_config());
  ServerEndpoint e;
  e.base_url = env("CAIRN_SERVER")
                   .value_or(!working_copy_server.empty() ? working_copy_server : user.server);
  if (e.base_url.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "no server known: set CAIRN_SERVER or run `cairn login URL --token T`");
  }
  e.token = env("CAIRN_TOKEN").value_or(user.token);
  if (e.token.empty()) {
    return make_error(
        ErrorCode::kUnauthenticated,
        "no token: set CAIRN_TOKEN or run `cairn login " + e.base_url + " --token T`");
  }
  e.device = device_name();
  return e;
}

Result<Session> open_session(const std::string& dir) {
  CAIRN_ASSIGN_OR_RETURN(std::string root, LocalState::find_root(dir));
  Session s;
  CAIRN_ASSIGN_OR_RETURN(s.state, LocalState::open(root));
  s.root = root;
  CAIRN_ASSIGN_OR_RETURN(s.remote_root, s.state->setting("remote_root", "/"));
  CAIRN_ASSIGN_OR_RETURN(std::string server, s.state->setting("server"));
  CAIRN_ASSIGN_OR_RETURN(s.endpoint, resolve_endpoint(server));
  return s;
}

}  // namespace cairn::client
