// cairnd: the Cairn server and its admin commands.

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>

#include "common/chunker.h"
#include "daemon/api/handlers.h"
#include "daemon/api/router.h"
#include "daemon/http/server.h"
#include "daemon/service/services.h"
#include "daemon/store/local_blob_store.h"
#include "daemon/store/sql_metadata_store.h"

namespace {

using namespace cairn;  // NOLINT(google-build-using-namespace): main() is the program's edge.

constexpr const char* kVersion = "0.1.0";

// Exit codes, documented in `cairnd --help` and docs/cli.md.
constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitConflict = 3;

int fail(const Error& e) {
  std::fprintf(stderr, "cairnd: %s\n", e.message().c_str());
  if (e.code() == ErrorCode::kInvalidArgument) return kExitUsage;
  if (e.code() == ErrorCode::kAlreadyExists || e.code() == ErrorCode::kConflict) {
    return kExitConflict;
  }
  return kExitError;
}

std::string metadata_path(const std::string& data) { return data + "/metadata.db"; }
std::string blobs_path(const std::string& data) { return data + "/blobs"; }

// Everything a command needs from an initialised data folder.
struct Daemon {
  std::unique_ptr<store::MetadataStore> metadata;
  std::unique_ptr<store::BlobStore> blobs;
  service::SystemClock clock;
  std::unique_ptr<service::Services> services;
};

Result<uint32_t> setting_u32(store::MetadataStore& m, const char* key, uint32_t initial) {
  CAIRN_ASSIGN_OR_RETURN(std::string text, m.get_or_init_setting(key, std::to_string(initial)));
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) {
    return make_error(ErrorCode::kCorrupt, std::string("bad setting ") + key + "=" + text);
  }
  return v;
}

// Opens the data folder. With `create`, makes it (and applies `chunking`) if needed.
Result<std::unique_ptr<Daemon>> open_daemon(const std::string& data, bool create,
                                            const ChunkerParams& chunking = {}) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (create) {
    fs::create_directories(data, ec);
    if (ec) return make_error(ErrorCode::kIo, "create " + data + ": " + ec.message());
  } else if (!fs::exists(metadata_path(data), ec)) {
    return make_error(ErrorCode::kNotFound,
                      data + " is not a cairnd data folder (run: cairnd init --data " + data + ")");
  }
  auto d = std::make_unique<Daemon>();
  CAIRN_ASSIGN_OR_RETURN(d->metadata, store::open_metadata_store(metadata_path(data), create));
  CAIRN_ASSIGN_OR_RETURN(d->blobs, store::open_blob_store(blobs_path(data)));

  // The server owns the chunking parameters: they are fixed at init and handed to every client,
  // so that all clients cut the same file at the same places.
  service::ServiceConfig config;
  config.version = kVersion;
  CAIRN_ASSIGN_OR_RETURN(config.chunking.min_size,
                         setting_u32(*d->metadata, "chunk_min_size", chunking.min_size));
  CAIRN_ASSIGN_OR_RETURN(config.chunking.avg_size,
                         setting_u32(*d->metadata, "chunk_avg_size", chunking.avg_size));
  CAIRN_ASSIGN_OR_RETURN(config.chunking.max_size,
                         setting_u32(*d->metadata, "chunk_max_size", chunking.max_size));
  CAIRN_RETURN_IF_ERROR(config.chunking.validate());
  CAIRN_ASSIGN_OR_RETURN(std::string key_hex, d->metadata->get_or_init_setting(
                                                  "url_signing_key", to_hex(secure_random(32))));
  auto key = from_hex(key_hex);
  if (!key || key->size() < 16) return make_error(ErrorCode::kCorrupt, "bad url_signing_key");
  d->services = std::make_unique<service::Services>(*d->metadata, *d->blobs, config,
                                                    std::move(*key), d->clock);
  return d;
}

Result<std::pair<std::string, uint16_t>> parse_listen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return make_error(ErrorCode::kInvalidArgument, "--listen takes HOST:PORT, got " + listen);
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string port_text = listen.substr(colon + 1);
  uint16_t port = 0;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || p != port_text.data() + port_text.size()) {
    return make_error(ErrorCode::kInvalidArgument, "bad port in --listen: " + port_text);
  }
  return std::make_pair(host, port);
}

int cmd_serve(const std::string& data, const std::string& listen, int workers) {
  auto where = parse_listen(listen);
  if (!where) return fail(where.error());
  auto d = open_daemon(data, false);
  if (!d) return fail(d.error());
  if (auto expired = (*d)->services->collect_expired_uploads(); !expired) {
    return fail(expired.error());
  }

  api::Router router;
  api::register_routes(router, *(*d)->services);
  http::ServerOptions options;
  options.host = where->first;
  options.port = where->second;
  options.worker_threads = workers;
  options.max_json_body_bytes = (*d)->services->config().max_json_body_bytes;
  options.max_stream_body_bytes = (*d)->services->config().chunking.max_size;
  http::Server server(router, options);
  if (auto listening = server.listen(); !listening) return fail(listening.error());

  const bool v6 = options.host.find(':') != std::string::npos;
  std::printf("listening on http://%s%s%s:%u\n", v6 ? "[" : "", options.host.c_str(), v6 ? "]" : "",
              static_cast<unsigned>(server.port()));
  std::fflush(stdout);
  std::fprintf(stderr, "cairnd %s: serving %s (metadata: sqlite, blobs: local disk)\n", kVersion,
               data.c_str());
  server.run();
  std::fprintf(stderr, "cairnd: stopped\n");
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "cairnd - the Cairn file storage and sync server.\n\n"
      "Quick start:\n"
      "  cairnd init --data /srv/cairn\n"
      "  cairnd user add alice --data /srv/cairn     # prints alice's token\n"
      "  cairnd serve --data /srv/cairn --listen 127.0.0.1:8080\n\n"
      "Exit codes: 0 ok, 1 error, 2 bad usage or input, 3 already exists or conflict."};
  app.require_subcommand(1);
  app.set_version_flag("--version", kVersion);

  std::string data = "./cairn-data";
  auto add_data = [&](CLI::App* cmd) {
    cmd->add_option("--data", data, "Data folder (metadata.db and blobs/)")
        ->envname("CAIRND_DATA")
        ->capture_default_str();
  };

  auto* init = app.add_subcommand("init", "Create a data folder (SQLite metadata, local chunks)");
  add_data(init);
  ChunkerParams chunking;
  init->add_option("--chunk-min", chunking.min_size, "Minimum chunk size in bytes")
      ->capture_default_str();
  init->add_option("--chunk-avg", chunking.avg_size, "Average chunk size in bytes (a power of two)")
      ->capture_default_str();
  init->add_option("--chunk-max", chunking.max_size, "Maximum chunk size in bytes")
      ->capture_default_str();

  auto* serve = app.add_subcommand("serve", "Serve the HTTP API until SIGINT or SIGTERM");
  add_data(serve);
  std::string listen = "127.0.0.1:8080";
  serve->add_option("--listen", listen, "HOST:PORT to listen on (port 0 picks a free one)")
      ->capture_default_str();
  int workers = 8;
  serve->add_option("--workers", workers, "Threads that run request handlers")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();

  auto* user = app.add_subcommand("user", "Manage users");
  user->require_subcommand(1);
  auto* user_add = user->add_subcommand(
      "add", "Create a user; prints its first token alone on the last line of stdout");
  std::string user_name;
  user_add->add_option("NAME", user_name, "User name")->required();
  add_data(user_add);
  auto* user_list = user->add_subcommand("list", "List users");
  add_data(user_list);

  auto* token = app.add_subcommand("token", "Manage tokens");
  token->require_subcommand(1);
  auto* token_create = token->add_subcommand(
      "create", "Create another token for a user; prints it alone on the last line of stdout");
  std::string token_label = "";
  token_create->add_option("NAME", user_name, "User name")->required();
  token_create->add_option("--label", token_label, "A note to remember the token by");
  add_data(token_create);

  auto* gc = app.add_subcommand("gc", "Delete expired upload sessions");
  add_data(gc);

  CLI11_PARSE(app, argc, argv);

  if (init->parsed()) {
    if (auto valid = chunking.validate(); !valid) return fail(valid.error());
    auto d = open_daemon(data, true, chunking);
    if (!d) return fail(d.error());
    const auto& c = (*d)->services->config().chunking;
    std::printf("initialised %s (chunks min %u / avg %u / max %u bytes)\n", data.c_str(),
                c.min_size, c.avg_size, c.max_size);
    return kExitOk;
  }
  if (serve->parsed()) return cmd_serve(data, listen, workers);

  auto d = open_daemon(data, false);
  if (!d) return fail(d.error());
  auto& services = *(*d)->services;

  if (user_add->parsed()) {
    auto made = services.add_user(user_name);
    if (!made) return fail(made.error());
    std::printf("created user %s\n%s\n", made->first.name.c_str(), made->second.c_str());
    return kExitOk;
  }
  if (user_list->parsed()) {
    auto users = (*d)->metadata->list_users();
    if (!users) return fail(users.error());
    for (const auto& u : *users) {
      std::printf("%s%s\n", u.name.c_str(), u.disabled ? " (disabled)" : "");
    }
    return kExitOk;
  }
  if (token_create->parsed()) {
    auto t = services.create_token(user_name, token_label);
    if (!t) return fail(t.error());
    std::printf("%s\n", t->c_str());
    return kExitOk;
  }
  if (gc->parsed()) {
    auto n = services.collect_expired_uploads();
    if (!n) return fail(n.error());
    std::printf("removed %lld expired upload sessions\n", static_cast<long long>(*n));
    return kExitOk;
  }
  return kExitUsage;
}
