#pragma once

// Where the client finds its server and token: the environment (CAIRN_SERVER, CAIRN_TOKEN) over
// the working copy's settings over the user's config file (written by `cairn login`).

#include <optional>
#include <string>
#include <string_view>

#include "common/error.h"

namespace cairn::client {

struct UserConfig {
  std::string server;  // "http://host:port"
  std::string token;
};

// $CAIRN_CONFIG, else $XDG_CONFIG_HOME/cairn/config, else ~/.config/cairn/config.
std::string user_config_path();
// A missing file is an empty config, not an error.
Result<UserConfig> load_user_config();
// Writes the file with mode 0600 (it holds a secret), atomically.
Result<void> save_user_config(const UserConfig& config);

// "http://host:port/some/path" split into the server and a canonical remote path.
struct RemoteUrl {
  std::string server;
  std::string path = "/";
};
Result<RemoteUrl> parse_remote_url(std::string_view url);

// Where the client keeps what it may lose: $XDG_CACHE_HOME/cairn, else ~/.cache/cairn ("" if
// neither is known). Not created here.
std::string cache_dir();

// This machine's name for version metadata and conflicted copies ($CAIRN_DEVICE or hostname).
std::string device_name();

// Non-empty value of an environment variable.
std::optional<std::string> env(const char* name);

}  // namespace cairn::client
