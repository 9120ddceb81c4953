#include "cli/client/net/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/remote_path.h"

namespace cairn::client {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

std::string user_config_path() {
  if (auto p = env("CAIRN_CONFIG")) return *p;
  if (auto xdg = env("XDG_CONFIG_HOME")) return *xdg + "/cairn/config";
  const auto home = env("HOME").value_or("/root");
  return home + "/.config/cairn/config";
}

Result<UserConfig> load_user_config() {
  UserConfig config;
  std::ifstream in(user_config_path());
  if (!in) return config;
  std::string line;
  while (std::getline(in, line)) {
    const size_t eq = line.find('=');
    if (line.empty() || line[0] == '#' || eq == std::string::npos) continue;
    auto trim = [](std::string s) {
      const size_t b = s.find_first_not_of(" \t");
      const size_t e = s.find_last_not_of(" \t\r");
      return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
    };
    const std::string key = trim(line.substr(0, eq));
    const std::string value = trim(line.substr(eq + 1));
    if (key == "server") config.server = value;
    if (key == "token") config.token = value;
  }
  return config;
}

Result<void> save_user_config(const UserConfig& config) {
  namespace fs = std::filesystem;
  const std::string path = user_config_path();
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec) return make_error(ErrorCode::kIo, "create " + path + ": " + ec.message());
  const std::string temp = path + ".tmp";
  // Created 0600 from the start: the token never sits in a world-readable file.
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return make_error(ErrorCode::kIo, "write " + temp + ": " + std::strerror(errno));
  std::ostringstream text;
  text << "# cairn client configuration (written by cairn login)\n"
       << "server = " << config.server << "\n"
       << "token = " << config.token << "\n";
  const std::string s = text.str();
  const bool ok = ::write(fd, s.data(), s.size()) == static_cast<ssize_t>(s.size()) &&
                  ::fchmod(fd, 0600) == 0 && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(temp.c_str(), path.c_str()) != 0) {
    ::unlink(temp.c_str());
    return make_error(ErrorCode::kIo, "write " + path + ": " + std::strerror(errno));
  }
  return {};
}

Result<RemoteUrl> parse_remote_url(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos ||
      (url.substr(0, scheme_end) != "http" && url.substr(0, scheme_end) != "https")) {
    return make_error(ErrorCode::kInvalidArgument,
                      "expected a URL like http://HOST:PORT/PATH, got '" + std::string(url) + "'");
  }
  const size_t path_start = url.find('/', scheme_end + 3);
  RemoteUrl out;
  out.server = std::string(url.substr(0, path_start));
  if (out.server.size() == scheme_end + 3) {
    return make_error(ErrorCode::kInvalidArgument, "URL has no host: " + std::string(url));
  }
  if (path_start != std::string_view::npos) {
    CAIRN_ASSIGN_OR_RETURN(out.path, normalize_remote_path(url.substr(path_start)));
  }
  return out;
}

std::string cache_dir() {
  if (auto xdg = env("XDG_CACHE_HOME")) return *xdg + "/cairn";
  if (auto home = env("HOME")) return *home + "/.cache/cairn";
  return "";
}

std::string device_name() {
  if (auto d = env("CAIRN_DEVICE")) return *d;
  char host[256] = {0};
  if (::gethostname(host, sizeof(host) - 1) == 0 && host[0] != '\0') return host;
  return "unknown";
}

}  // namespace cairn::client
