// cairnd: the Cairn server and its admin commands.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "common/bytes.h"
#include "common/chunker.h"
#include "common/duration.h"
#include "daemon/api/handlers.h"
#include "daemon/api/rate_limit.h"
#include "daemon/api/router.h"
#include "daemon/http/server.h"
#include "daemon/service/notifier.h"
#include "daemon/service/services.h"
#include "daemon/store/local_blob_store.h"
#include "daemon/store/sql/postgres_database.h"
#include "daemon/store/sql_metadata_store.h"

namespace {

using namespace cairn;  // NOLINT(google-build-using-namespace): main() is the program's edge.

constexpr const char* kVersion = "0.1.0";

// Exit codes, documented in `cairnd --help` and docs/cli.md.
constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitConflict = 3;
constexpr int kExitDamage = 7;

int fail(const Error& e) {
  std::fprintf(stderr, "cairnd: %s\n", e.message().c_str());
  if (e.code() == ErrorCode::kInvalidArgument) return kExitUsage;
  if (e.code() == ErrorCode::kAlreadyExists || e.code() == ErrorCode::kConflict) {
    return kExitConflict;
  }
  return kExitError;
}

// Where a data folder's metadata and chunks live. Written by `init` to DATA/cairnd.conf; a folder
// without one uses the embedded defaults inside it.
struct Backends {
  std::string metadata;
  std::string blobs;
};

std::string conf_path(const std::string& data) { return data + "/cairnd.conf"; }

Backends default_backends(const std::string& data) {
  return {data + "/metadata.db", data + "/blobs"};
}

Result<std::optional<Backends>> read_conf(const std::string& data) {
  std::ifstream in(conf_path(data));
  if (!in) return std::optional<Backends>();
  Backends b = default_backends(data);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    const size_t eq = line.find(" = ");
    const std::string key = line.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : line.substr(eq + 3);
    if (key == "metadata") {
      b.metadata = value;
    } else if (key == "blobs") {
      b.blobs = value;
    } else {
      return make_error(ErrorCode::kCorrupt, conf_path(data) + ":" + std::to_string(number) +
                                                 ": expected 'metadata = ...' or 'blobs = ...'");
    }
  }
  return std::optional<Backends>(b);
}

// Written 0600: a metadata URL may carry a password.
Result<void> write_conf(const std::string& data, const Backends& b) {
  const std::string tmp = conf_path(data) + ".tmp";
  {
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return make_error(ErrorCode::kIo, "create " + tmp + ": " + std::strerror(errno));
    const std::string text =
        "# Written by cairnd init. Every daemon sharing these backends serves the same files.\n"
        "metadata = " +
        b.metadata + "\nblobs = " + b.blobs + "\n";
    const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                    ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) return make_error(ErrorCode::kIo, "write " + tmp + ": " + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), conf_path(data).c_str()) != 0) {
    return make_error(ErrorCode::kIo, "rename " + tmp + ": " + std::strerror(errno));
  }
  return {};
}

// What a metadata location looks like in messages and logs: no password.
std::string describe_metadata(const std::string& location) {
  if (store::sql::is_postgres_url(location)) return store::sql::redact_postgres_url(location);
  return "sqlite " + location;
}

// Everything a command needs from an initialised data folder.
struct Daemon {
  Backends backends;
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

// `path` made absolute against the working folder, without following symlinks.
std::string absolute_path(const std::string& path) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  if (ec) return path;
  std::string out = abs.lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

// Opens the data folder. With `init`, makes it if needed, records `wanted` backends (empty fields
// mean the embedded defaults) and applies `chunking` to a new store; an existing store keeps its
// chunking, so a second daemon joins the first.
Result<std::unique_ptr<Daemon>> open_daemon(const std::string& data, bool init,
                                            const Backends& wanted = {},
                                            const ChunkerParams& chunking = {}) {
  namespace fs = std::filesystem;
  std::error_code ec;
  CAIRN_ASSIGN_OR_RETURN(auto conf, read_conf(data));
  Backends backends = conf ? *conf : default_backends(data);
  if (init) {
    fs::create_directories(data, ec);
    if (ec) return make_error(ErrorCode::kIo, "create " + data + ": " + ec.message());
    // The data folder holds the URL-signing key (in metadata.db) and every user's bytes: its
    // owner's alone, even if it existed before (files made later are private by the umask).
    if (::chmod(data.c_str(), 0700) != 0) {
      return make_error(ErrorCode::kIo, "make " + data + " private: " + std::strerror(errno));
    }
    // Absolute paths: cron and systemd run later commands from other folders.
    Backends chosen = default_backends(absolute_path(data));
    if (!wanted.metadata.empty()) {
      chosen.metadata = store::sql::is_postgres_url(wanted.metadata)
                            ? wanted.metadata
                            : absolute_path(wanted.metadata);
    }
    if (!wanted.blobs.empty()) {
      chosen.blobs = wanted.blobs.find("://") != std::string::npos ? wanted.blobs
                                                                   : absolute_path(wanted.blobs);
    }
    if (conf && (conf->metadata != chosen.metadata || conf->blobs != chosen.blobs)) {
      return make_error(ErrorCode::kAlreadyExists, data + " is already set up for metadata " +
                                                       describe_metadata(conf->metadata) +
                                                       " and blobs " + conf->blobs + " (see " +
                                                       conf_path(data) + ")");
    }
    backends = chosen;
  } else if (!conf && !fs::exists(backends.metadata, ec)) {
    return make_error(ErrorCode::kNotFound,
                      data + " is not a cairnd data folder (run: cairnd init --data " + data + ")");
  }
  auto d = std::make_unique<Daemon>();
  d->backends = backends;
  auto metadata = store::open_metadata_store(backends.metadata, init);
  if (!metadata) {
    return std::move(metadata).error().with_context("metadata " +
                                                    describe_metadata(backends.metadata));
  }
  d->metadata = std::move(*metadata);
  auto blobs = store::open_blob_store(backends.blobs);
  if (!blobs) return std::move(blobs).error().with_context("blobs " + backends.blobs);
  d->blobs = std::move(*blobs);
  if (init && !conf) CAIRN_RETURN_IF_ERROR(write_conf(data, backends));

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
  // Chunks shorter than the minimum chunk size (whole small files and the tails of large ones)
  // travel in packs; larger chunks gain little from packing and stay objects of their own.
  CAIRN_ASSIGN_OR_RETURN(config.packs.chunk_limit,
                         setting_u32(*d->metadata, "pack_chunk_limit", config.chunking.min_size));
  CAIRN_ASSIGN_OR_RETURN(const uint32_t pack_target,
                         setting_u32(*d->metadata, "pack_target_size", 16 * 1024 * 1024));
  config.packs.target_size = pack_target;
  config.packs.max_size = std::max<uint64_t>(64 * 1024 * 1024, 2 * uint64_t{pack_target});
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

// "15G", "500M", "1.5T", "4096", "unlimited" -> bytes (binary units: K = 1024); nullopt for
// unlimited.
Result<std::optional<uint64_t>> parse_size(const std::string& text) {
  if (text == "unlimited" || text == "none") return std::optional<uint64_t>();
  const char* end = text.data() + text.size();
  double value = 0;
  auto [p, ec] = std::from_chars(text.data(), end, value);
  std::string unit(p, static_cast<size_t>(end - p));
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (unit.size() > 1 && unit.back() == 'B') unit.pop_back();
  if (unit.size() > 1 && unit.back() == 'I') unit.pop_back();
  double scale = 0;
  if (unit.empty() || unit == "B") scale = 1;
  if (unit == "K") scale = 1024.0;
  if (unit == "M") scale = 1024.0 * 1024;
  if (unit == "G") scale = 1024.0 * 1024 * 1024;
  if (unit == "T") scale = 1024.0 * 1024 * 1024 * 1024;
  if (ec != std::errc() || p == text.data() || value < 0 || scale == 0 || value * scale > 9.0e18) {
    return make_error(ErrorCode::kInvalidArgument,
                      "not a size: " + text + " (use e.g. 500M, 15G, 2T, bytes, or unlimited)");
  }
  return std::optional<uint64_t>(static_cast<uint64_t>(value * scale));
}

// cairnd check: runs the check and reports it, as text or JSON.
int cmd_check(service::Services& services, const service::CheckOptions& options, bool json,
              bool progress) {
  const bool tty = ::isatty(2) != 0;
  auto show = [&](const service::CheckProgress& p) {
    std::string line = "check: " + p.phase;
    if (p.objects_total != 0) {
      line += ": " + std::to_string(p.objects_done) + " of " + std::to_string(p.objects_total) +
              " objects, " + human_bytes(p.bytes_read) + " read";
    }
    if (tty) {
      std::fprintf(stderr, "\r%-78s", line.c_str());
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
  };
  auto report = services.check(options, progress ? std::function(show) : nullptr);
  if (progress && tty) std::fprintf(stderr, "\r%-78s\r", "");
  if (!report) return fail(report.error());
  const auto& r = *report;

  protocol::CheckResult out;
  out.clean = r.clean();
  out.seconds = r.seconds;
  out.versions = r.versions;
  out.manifests = r.manifests;
  out.chunks = r.chunks;
  out.objects = r.objects;
  out.objects_read = r.objects_read;
  out.bytes_read = r.bytes_read;
  out.copies_set_aside = r.copies_forgotten;
  out.problems = r.problems;
  for (const auto& d : r.damaged) {
    protocol::CheckDamage damage{d.hash, d.size, d.found_at, d.detail, {}};
    for (const auto& v : r.needed_by) {
      if (v.chunk == d.hash) {
        damage.needed_by.push_back({v.owner, v.path, v.node_id, v.version, v.head, v.deleted});
      }
    }
    out.damaged.push_back(std::move(damage));
  }
  if (json) {
    std::printf("%s\n", protocol::encode_json(out).c_str());
    return out.clean ? kExitOk : kExitDamage;
  }

  for (const auto& problem : out.problems) std::printf("problem: %s\n", problem.c_str());
  for (const auto& d : out.damaged) {
    std::printf("damaged: chunk %s (%s): %s\n", d.hash.hex().c_str(), human_bytes(d.size).c_str(),
                d.detail.c_str());
    if (d.needed_by.empty()) std::printf("  needed by no version\n");
    for (const auto& n : d.needed_by) {
      std::printf("  needed by %s:%s version %lld%s%s\n", n.owner.c_str(), n.path.c_str(),
                  static_cast<long long>(n.version), n.head ? " (current)" : "",
                  n.deleted ? " (in the trash)" : "");
    }
  }
  std::printf(
      "checked %lld versions, %lld manifests, %lld chunks; %llu stored objects, %llu read "
      "(%s) in %.1f s\n",
      static_cast<long long>(out.versions), static_cast<long long>(out.manifests),
      static_cast<long long>(out.chunks), static_cast<unsigned long long>(out.objects),
      static_cast<unsigned long long>(out.objects_read), human_bytes(out.bytes_read).c_str(),
      out.seconds);
  if (out.clean) {
    std::printf("no damage found\n");
    return kExitOk;
  }
  std::printf(
      "%zu damaged chunks, %zu problems; %lld damaged copies set aside by this run. A push or "
      "sync from a working copy that holds the files repairs them\n",
      out.damaged.size(), out.problems.size(), static_cast<long long>(out.copies_set_aside));
  return kExitDamage;
}

// cairnd serve's flags.
struct ServeFlags {
  std::string listen = "127.0.0.1:8080";
  int workers = 8;
  std::string tls_cert;
  std::string tls_key;
  bool allow_plain_http = false;
  std::string rate_limit = "200/s,2000";
  int idle_timeout_s = 120;
  int max_connections = 0;
};

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

int cmd_serve(const std::string& data, const ServeFlags& flags) {
  auto where = parse_listen(flags.listen);
  if (!where) return fail(where.error());
  const bool tls = !flags.tls_cert.empty() || !flags.tls_key.empty();
  if (!tls && !is_loopback(where->first) && !flags.allow_plain_http) {
    // Tokens travel in every request: in clear text they belong on this machine only.
    return fail(Error(ErrorCode::kInvalidArgument,
                      "refusing plain HTTP on " + where->first +
                          ": tokens would cross the network in clear text. Serve HTTPS with "
                          "--tls-cert FILE --tls-key FILE, or (behind a TLS proxy) pass "
                          "--allow-plain-http"));
  }
  auto limits = api::parse_rate_limit(flags.rate_limit);
  if (!limits) return fail(limits.error());
  auto d = open_daemon(data, false);
  if (!d) return fail(d.error());
  if (auto expired = (*d)->services->collect_expired_uploads(); !expired) {
    return fail(expired.error());
  }

  // Declared before the server, so that it outlives every connection subscribed to it.
  service::Notifier notifier(*(*d)->metadata, (*d)->clock);
  if (auto started = notifier.start(); !started) return fail(started.error());
  api::Router router;
  api::RateLimiter limiter(*limits);
  api::register_routes(router, *(*d)->services, &limiter, &notifier);
  http::ServerOptions options;
  options.host = where->first;
  options.port = where->second;
  options.worker_threads = flags.workers;
  options.tls_cert_file = flags.tls_cert;
  options.tls_key_file = flags.tls_key;
  options.max_json_body_bytes = (*d)->services->config().max_json_body_bytes;
  options.idle_timeout_seconds = flags.idle_timeout_s;
  options.max_connections = flags.max_connections;
  options.max_stream_body_bytes = std::max<uint64_t>((*d)->services->config().chunking.max_size,
                                                     (*d)->services->config().packs.max_size);
  http::Server server(router, options);
  if (auto listening = server.listen(); !listening) return fail(listening.error());

  const bool v6 = options.host.find(':') != std::string::npos;
  std::printf("listening on %s://%s%s%s:%u\n", tls ? "https" : "http", v6 ? "[" : "",
              options.host.c_str(), v6 ? "]" : "", static_cast<unsigned>(server.port()));
  std::fflush(stdout);
  std::fprintf(stderr, "cairnd %s: serving %s (metadata: %s; blobs: %s)\n", kVersion, data.c_str(),
               describe_metadata((*d)->backends.metadata).c_str(), (*d)->blobs->describe().c_str());
  server.run();
  std::fprintf(stderr, "cairnd: stopped\n");
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  // Everything cairnd creates (metadata, blobs, temporary files) is its owner's alone.
  ::umask(077);
  CLI::App app{
      "cairnd - the Cairn file storage and sync server.\n\n"
      "Quick start:\n"
      "  cairnd init --data /srv/cairn\n"
      "  cairnd user add alice --data /srv/cairn     # prints alice's token\n"
      "  cairnd serve --data /srv/cairn --listen 127.0.0.1:8080\n\n"
      "Exit codes: 0 ok, 1 error, 2 bad usage or input, 3 already exists or conflict, 7 (check)\n"
      "damage or inconsistency found."};
  app.require_subcommand(1);
  app.set_version_flag("--version", kVersion);

  std::string data = "./cairn-data";
  auto add_data = [&](CLI::App* cmd) {
    cmd->add_option("--data", data, "Data folder (metadata.db and blobs/)")
        ->envname("CAIRND_DATA")
        ->capture_default_str();
  };

  auto* init = app.add_subcommand(
      "init",
      "Set up a data folder. Defaults: SQLite metadata and chunks on local disk inside it. With "
      "--metadata and --blobs pointing at a PostgreSQL database and an S3 bucket that are already "
      "set up, joins them: that is how a second daemon is added.");
  add_data(init);
  Backends wanted;
  init->add_option("--metadata", wanted.metadata,
                   "postgresql://USER[:PASSWORD]@HOST:PORT/DB, or a SQLite file (default: "
                   "DATA/metadata.db). Unset parts come from the PG* environment variables and "
                   "~/.pgpass (or passfile=... in the URL), as for psql");
  init->add_option("--blobs", wanted.blobs,
                   "s3://BUCKET?endpoint=URL&region=R[&style=path|virtual][&prefix=P], or a "
                   "folder (default: DATA/blobs). S3 credentials come from AWS_ACCESS_KEY_ID, "
                   "AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN or ~/.aws/credentials");
  ChunkerParams chunking;
  init->add_option("--chunk-min", chunking.min_size, "Minimum chunk size in bytes")
      ->capture_default_str();
  init->add_option("--chunk-avg", chunking.avg_size, "Average chunk size in bytes (a power of two)")
      ->capture_default_str();
  init->add_option("--chunk-max", chunking.max_size, "Maximum chunk size in bytes")
      ->capture_default_str();

  auto* serve = app.add_subcommand("serve", "Serve the HTTP API until SIGINT or SIGTERM");
  add_data(serve);
  ServeFlags serve_flags;
  serve
      ->add_option("--listen", serve_flags.listen,
                   "HOST:PORT to listen on (port 0 picks a free one). Plain HTTP only on "
                   "loopback unless --tls-cert/--tls-key or --allow-plain-http")
      ->capture_default_str();
  serve->add_option("--workers", serve_flags.workers, "Threads that run request handlers")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  serve
      ->add_option("--tls-cert", serve_flags.tls_cert,
                   "Serve HTTPS with this certificate (PEM; the chain, server first)")
      ->check(CLI::ExistingFile);
  serve->add_option("--tls-key", serve_flags.tls_key, "The certificate's private key (PEM)")
      ->check(CLI::ExistingFile);
  serve->add_flag("--allow-plain-http", serve_flags.allow_plain_http,
                  "Serve plain HTTP on a non-loopback address (only behind a TLS proxy)");
  serve
      ->add_option("--rate-limit", serve_flags.rate_limit,
                   "Requests each token may make: RATE/s[,BURST] (a token bucket; over it the "
                   "answer is 429 with Retry-After), or off")
      ->capture_default_str();
  serve
      ->add_option("--idle-timeout", serve_flags.idle_timeout_s,
                   "Seconds a connection may stay silent (no byte of a request arriving, none of "
                   "an answer leaving) before it is closed; a slow upload that keeps moving is "
                   "never cut off")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  serve
      ->add_option("--max-connections", serve_flags.max_connections,
                   "Open HTTP connections at most (0: what the open-files limit leaves room "
                   "for). At the limit the longest idle keep-alive connection is closed; with "
                   "none idle a new one gets 503")
      ->check(CLI::Range(0, 1 << 20))
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
  auto* user_disable = user->add_subcommand(
      "disable", "Disable a user: every token of theirs is refused from the next request on");
  user_disable->add_option("NAME", user_name, "User name")->required();
  add_data(user_disable);
  auto* user_enable = user->add_subcommand("enable", "Enable a disabled user again");
  user_enable->add_option("NAME", user_name, "User name")->required();
  add_data(user_enable);
  auto* user_quota = user->add_subcommand(
      "quota",
      "Show or set a user's quota: the logical bytes of current files plus the trash (history "
      "is free). A commit that would pass it fails and changes nothing");
  user_quota->add_option("NAME", user_name, "User name")->required();
  std::string quota_size;
  user_quota->add_option("SIZE", quota_size,
                         "New limit: 500M, 15G, 2T (binary units), bytes, or unlimited; "
                         "without it, show the current one");
  add_data(user_quota);

  auto* token = app.add_subcommand("token", "Manage tokens");
  token->require_subcommand(1);
  auto* token_create = token->add_subcommand(
      "create", "Create another token for a user; prints it alone on the last line of stdout");
  std::string token_label = "";
  token_create->add_option("NAME", user_name, "User name")->required();
  token_create->add_option("--label", token_label, "A note to remember the token by");
  std::string token_expires;
  token_create->add_option("--expires", token_expires,
                           "Refuse the token after this long (e.g. 90m, 12h, 30d); default never");
  bool token_read_only = false;
  token_create->add_flag("--read-only", token_read_only,
                         "The token can list, download and sync down, but change nothing");
  std::string token_path;
  token_create->add_option("--path", token_path,
                           "The token reaches only this remote folder and what is under it "
                           "(e.g. /ci for a build job)");
  add_data(token_create);
  auto* token_list = token->add_subcommand(
      "list", "List a user's tokens: id, label, created, expires, revoked (never the token)");
  token_list->add_option("NAME", user_name, "User name")->required();
  add_data(token_list);
  auto* token_revoke = token->add_subcommand(
      "revoke", "Revoke a token by its id (see token list): refused from the next request on");
  int64_t token_id = 0;
  token_revoke->add_option("NAME", user_name, "User name")->required();
  token_revoke->add_option("ID", token_id, "Token id from `cairnd token list`")->required();
  add_data(token_revoke);

  auto* gc = app.add_subcommand(
      "gc",
      "Delete what nothing references: expired upload sessions, chunks no version or upload "
      "session needs, and packs left empty; rewrite packs that are mostly dead. Safe while "
      "serve runs; run one at a time.");
  add_data(gc);
  std::string grace = "25h";
  gc->add_option("--grace", grace,
                 "Keep anything stored or retired more recently than this (e.g. 90m, 25h, 2d, or "
                 "seconds); it may belong to a push in progress or a download under way. Keep it "
                 "above the 24 h an upload session lives")
      ->capture_default_str();

  auto* check = app.add_subcommand(
      "check",
      "Verify the store: the metadata's invariants (every version's manifest stored, every "
      "chunk it needs located, closure, quotas, journals, packs and their index), that every "
      "stored object exists with its size, and with --read-data its bytes. Damaged or missing "
      "copies are set aside (blobs/quarantine/ on local disk) and forgotten, so that the next "
      "push or sync of a file that holds them repairs them. Prints each damaged chunk and every "
      "file version that needs it. Safe while serve runs. Exit 0 clean, 7 damage or "
      "inconsistency found, 1 error");
  add_data(check);
  bool check_read_all = false;
  std::string check_subset;
  std::string check_rate = "256M";
  bool check_json = false;
  bool check_progress = false;
  auto* read_all = check->add_flag("--read-data", check_read_all,
                                   "Read and verify every stored object (chunk and pack)");
  check
      ->add_option("--read-data-subset", check_subset,
                   "Read and verify a random N% of stored objects (e.g. 10%); a daily run of "
                   "10% reads everything about every ten days")
      ->excludes(read_all);
  check
      ->add_option("--max-rate", check_rate,
                   "Read at most this many bytes per second (e.g. 100M, or unlimited), to leave "
                   "a serving daemon room")
      ->capture_default_str();
  check->add_flag("--json", check_json, "Print the report as JSON on stdout");
  check->add_flag("--progress", check_progress,
                  "Print progress on stderr (default when stderr is a terminal)");

  auto* retention = app.add_subcommand(
      "retention",
      "Show or set how long gc keeps old versions and the trash. Default: everything, for "
      "ever. With DAYS set, `cairnd gc` forgets versions superseded more than DAYS days ago and "
      "empties the trash of what was deleted before then; current versions are never touched");
  std::string retention_value;
  retention->add_option("DAYS", retention_value,
                        "Days to keep (0 or more), or 'all' to keep "
                        "everything; without it, show the setting");
  add_data(retention);

  auto* migrate = app.add_subcommand(
      "migrate", "Apply pending metadata schema migrations (serve also applies them at start)");
  add_data(migrate);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error is exit 2, as documented.
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }

  if (init->parsed()) {
    if (auto valid = chunking.validate(); !valid) return fail(valid.error());
    auto d = open_daemon(data, true, wanted, chunking);
    if (!d) return fail(d.error());
    const auto& c = (*d)->services->config().chunking;
    std::printf("initialised %s (metadata: %s; blobs: %s; chunks min %u / avg %u / max %u bytes)\n",
                data.c_str(), describe_metadata((*d)->backends.metadata).c_str(),
                (*d)->blobs->describe().c_str(), c.min_size, c.avg_size, c.max_size);
    return kExitOk;
  }
  if (serve->parsed()) return cmd_serve(data, serve_flags);

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
  if (user_quota->parsed()) {
    if (!quota_size.empty()) {
      auto limit = parse_size(quota_size);
      if (!limit) return fail(limit.error());
      if (auto set = services.set_quota(user_name, *limit); !set) return fail(set.error());
    }
    auto found = (*d)->metadata->find_user(user_name);
    if (!found) return fail(found.error());
    auto q = (*d)->metadata->quota(found->user_id);
    if (!q) return fail(q.error());
    std::printf("%s: %s used of %s\n", user_name.c_str(), human_bytes(q->used).c_str(),
                q->limit ? human_bytes(*q->limit).c_str() : "unlimited");
    return kExitOk;
  }
  if (retention->parsed()) {
    if (!retention_value.empty()) {
      std::optional<int64_t> days;
      if (retention_value != "all") {
        int64_t n = -1;
        const char* end = retention_value.data() + retention_value.size();
        auto [p, ec] = std::from_chars(retention_value.data(), end, n);
        if (ec != std::errc() || p != end || n < 0) {
          return fail(
              Error(ErrorCode::kInvalidArgument,
                    "DAYS is a number of days (0 or more) or 'all', not " + retention_value));
        }
        days = n;
      }
      if (auto set = services.set_retention_days(days); !set) return fail(set.error());
    }
    auto days = services.retention_days();
    if (!days) return fail(days.error());
    if (*days) {
      std::printf("gc keeps %lld days of history and trash\n", static_cast<long long>(**days));
    } else {
      std::printf("gc keeps all history and trash\n");
    }
    return kExitOk;
  }
  if (user_disable->parsed() || user_enable->parsed()) {
    const bool off = user_disable->parsed();
    if (auto set = services.set_user_disabled(user_name, off); !set) return fail(set.error());
    std::printf("%s %s\n", off ? "disabled" : "enabled", user_name.c_str());
    return kExitOk;
  }
  if (token_list->parsed()) {
    auto tokens = services.list_tokens(user_name);
    if (!tokens) return fail(tokens.error());
    auto when = [](const std::optional<int64_t>& t) {
      if (!t) return std::string("-");
      const std::time_t seconds = *t;
      std::tm tm{};
      ::gmtime_r(&seconds, &tm);
      char buf[32];
      std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
      return std::string(buf);
    };
    std::printf("%-6s %-20s %-21s %-21s %-21s %s\n", "id", "label", "created", "expires", "revoked",
                "scope");
    for (const auto& t : *tokens) {
      std::string scope = t.scope.read_only ? "read-only" : "";
      if (!t.scope.path.empty()) scope += (scope.empty() ? "" : " ") + t.scope.path;
      std::printf("%-6lld %-20s %-21s %-21s %-21s %s\n", static_cast<long long>(t.token_id),
                  t.label.c_str(), when(t.created_at).c_str(), when(t.expires_at).c_str(),
                  when(t.revoked_at).c_str(), scope.empty() ? "-" : scope.c_str());
    }
    return kExitOk;
  }
  if (token_revoke->parsed()) {
    if (auto revoked = services.revoke_token(user_name, token_id); !revoked) {
      return fail(revoked.error());
    }
    std::printf("revoked token %lld of %s\n", static_cast<long long>(token_id), user_name.c_str());
    return kExitOk;
  }
  if (token_create->parsed()) {
    std::optional<int64_t> ttl;
    if (!token_expires.empty()) {
      auto seconds = parse_duration(token_expires);
      if (!seconds) return fail(seconds.error());
      ttl = *seconds;
    }
    auto t = services.create_token(user_name, token_label, ttl, {token_read_only, token_path});
    if (!t) return fail(t.error());
    std::printf("%s\n", t->c_str());
    return kExitOk;
  }
  if (migrate->parsed()) {
    std::printf("metadata schema is at version %d (%s)\n", store::metadata_schema_version(),
                describe_metadata((*d)->backends.metadata).c_str());
    return kExitOk;
  }
  if (check->parsed()) {
    service::CheckOptions options;
    if (check_read_all) options.read_percent = 100;
    if (!check_subset.empty()) {
      std::string n = check_subset;
      if (!n.empty() && n.back() == '%') n.pop_back();
      double percent = -1;
      auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), percent);
      if (ec != std::errc() || p != n.data() + n.size() || percent <= 0 || percent > 100) {
        return fail(Error(
            ErrorCode::kInvalidArgument,
            "--read-data-subset takes a share above 0 and at most 100%, not " + check_subset));
      }
      options.read_percent = percent;
    }
    auto rate = parse_size(check_rate);
    if (!rate) return fail(rate.error());
    options.max_bytes_per_second = rate->value_or(0);
    return cmd_check(services, options, check_json, check_progress || ::isatty(2) != 0);
  }
  if (gc->parsed()) {
    auto seconds = parse_duration(grace);
    if (!seconds) return fail(seconds.error());
    service::GcOptions options;
    options.grace_seconds = *seconds;
    auto r = services.collect_garbage(options);
    if (!r) return fail(r.error());
    for (const auto& problem : r->problems)
      std::fprintf(stderr, "cairnd gc: %s\n", problem.c_str());
    if (r->versions_expired != 0 || r->trash_purged != 0) {
      std::printf(
          "retention: forgot %lld old versions; emptied %lld items from the trash (%llu "
          "bytes)\n",
          static_cast<long long>(r->versions_expired), static_cast<long long>(r->trash_purged),
          static_cast<unsigned long long>(r->trash_bytes));
    }
    std::printf(
        "removed %lld expired upload sessions and %lld unreferenced chunks (%lld chunk objects); "
        "rewrote %lld packs into %lld (%lld live chunks moved); deleted %lld packs (%llu "
        "bytes)\n",
        static_cast<long long>(r->uploads_expired), static_cast<long long>(r->chunks_deleted),
        static_cast<long long>(r->chunk_objects_deleted),
        static_cast<long long>(r->packs_rewritten), static_cast<long long>(r->packs_written),
        static_cast<long long>(r->chunks_moved), static_cast<long long>(r->packs_deleted),
        static_cast<unsigned long long>(r->bytes_freed));
    return r->problems.empty() ? kExitOk : kExitError;
  }
  return kExitUsage;
}
