#pragma once

// A working copy opened for a command: its state, where its server is, and who we are there.

#include <memory>
#include <optional>
#include <string>

#include "cli/client/net/api_client.h"
#include "cli/client/state/local_state.h"

namespace cairn::client {

struct Session {
  std::unique_ptr<LocalState> state;
  std::string root;
  std::string remote_root;  // Canonical remote folder this working copy mirrors.
  ServerEndpoint endpoint;

  // Maps a working-copy relative path to its remote path, and back (nullopt if outside, or if
  // the remote path is not canonical: never trust one that is not).
  std::string to_remote(const std::string& rel) const;
  std::optional<std::string> to_local(const std::string& remote) const;
};

// Resolves the server URL and token: environment, then the working copy, then `cairn login`.
// kUnauthenticated if no token is known.
Result<ServerEndpoint> resolve_endpoint(const std::string& working_copy_server);

// Opens the working copy containing `dir`.
Result<Session> open_session(const std::string& dir);

}  // namespace cairn::client
