// cairnd init, serve and migrate: setting up a data folder and serving it.

#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <string>
#include <utility>

#include "common/chunker.h"
#include "common/file_io.h"
#include "common/protocol/log.h"
#include "daemon/api/handlers.h"
#include "daemon/api/rate_limit.h"
#include "daemon/api/router.h"
#include "daemon/commands/commands.h"
#include "daemon/commands/data_folder.h"
#include "daemon/http/server.h"
#include "daemon/service/notifier.h"
#include "daemon/store/sql_metadata_store.h"
#include "daemon/web/web_routes.h"

namespace cairn::admin {

namespace {

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
  std::string log_level = "info";
  std::string metrics_token_file;
};

// The token that may read /metrics from other hosts: the file's first line. A file others can
// read (or its group write) is refused, as ssh refuses a key file others can read; 600 and 640
// pass.
Result<std::string> read_metrics_token(const std::string& file) {
  if (file.empty()) return std::string();
  struct stat st {};
  if (::stat(file.c_str(), &st) != 0) return errno_error("--metrics-token-file " + file);
  if ((st.st_mode & 027) != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "--metrics-token-file " + file +
                          " can be read by others: chmod 600 it (or 640 for a group)");
  }
  std::ifstream in(file);
  std::string token;
  std::getline(in, token);
  while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  if (token.size() < 16) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "--metrics-token-file " + file + " must hold a token of 16 characters or more");
  }
  return token;
}

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
  auto level = log::parse_level(flags.log_level);
  if (!level) return fail(level.error());
  log::set_level(*level);
  auto metrics_token = read_metrics_token(flags.metrics_token_file);
  if (!metrics_token) return fail(metrics_token.error());
  auto d = open_daemon(data, false);
  if (!d) return fail(d.error());
  if (auto expired = (*d)->services->maintenance().collect_expired_uploads(); !expired) {
    return fail(expired.error());
  }

  // Declared before the server, so that it outlives every connection subscribed to it.
  service::Notifier notifier(*(*d)->metadata, (*d)->clock);
  if (auto started = notifier.start(); !started) return fail(started.error());
  api::Router router;
  api::RateLimiter limiter(*limits);
  api::register_routes(router, *(*d)->services, &limiter, &notifier,
                       api::MetricsAccess{*metrics_token});
  web::add_web_routes(router, *(*d)->services, web::WebOptions{tls});
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
  const std::string url = std::string(tls ? "https" : "http") + "://" + (v6 ? "[" : "") +
                          options.host + (v6 ? "]" : "") + ":" + std::to_string(server.port());
  // The first line on stdout says where: scripts and tests wait for it.
  emit({{"listening", url}}, [&] { std::printf("listening on %s\n", url.c_str()); });
  std::fflush(stdout);
  log::info("start", "serving",
            {{"version", kVersion},
             {"data", data},
             {"url", url},
             {"metadata", describe_metadata((*d)->backends.metadata)},
             {"blobs", (*d)->blobs->describe()}});
  server.run();
  log::info("stop", "stopped: every request in flight was answered");
  return kExitOk;
}

int run_init(const CommandContext& ctx, const Backends& wanted, const ChunkerParams& chunking) {
  if (auto valid = chunking.validate(); !valid) return fail(valid.error());
  auto d = open_daemon(ctx.data, true, wanted, chunking);
  if (!d) return fail(d.error());
  const auto& c = (*d)->services->config().chunking;
  const std::string metadata = describe_metadata((*d)->backends.metadata);
  const std::string blobs = (*d)->blobs->describe();
  emit({{"data", ctx.data},
        {"metadata", metadata},
        {"blobs", blobs},
        {"chunking", {{"min", c.min_size}, {"avg", c.avg_size}, {"max", c.max_size}}}},
       [&] {
         std::printf(
             "initialised %s (metadata: %s; blobs: %s; chunks min %u / avg %u / max %u bytes)\n",
             ctx.data.c_str(), metadata.c_str(), blobs.c_str(), c.min_size, c.avg_size, c.max_size);
       });
  return kExitOk;
}

int run_migrate(const CommandContext& ctx) {
  auto d = open_daemon(ctx.data, false);
  if (!d) return fail(d.error());
  const std::string metadata = describe_metadata((*d)->backends.metadata);
  emit({{"schema_version", store::metadata_schema_version()}, {"metadata", metadata}}, [&] {
    std::printf("metadata schema is at version %d (%s)\n", store::metadata_schema_version(),
                metadata.c_str());
  });
  return kExitOk;
}

}  // namespace

void add_setup_commands(CLI::App& app, CommandContext& ctx) {
  auto* init = app.add_subcommand(
      "init",
      "Set up a data folder. Defaults: SQLite metadata and chunks on local disk inside it. With "
      "--metadata and --blobs pointing at a PostgreSQL database and an S3 bucket that are already "
      "set up, joins them: that is how a second daemon is added.");
  add_common_options(init, ctx);
  static Backends wanted;
  init->add_option("--metadata", wanted.metadata,
                   "postgresql://USER[:PASSWORD]@HOST:PORT/DB, or a SQLite file (default: "
                   "DATA/metadata.db). Unset parts come from the PG* environment variables and "
                   "~/.pgpass (or passfile=... in the URL), as for psql");
  init->add_option("--blobs", wanted.blobs,
                   "s3://BUCKET?endpoint=URL&region=R[&style=path|virtual][&prefix=P], or a "
                   "folder (default: DATA/blobs). S3 credentials come from AWS_ACCESS_KEY_ID, "
                   "AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN or ~/.aws/credentials");
  static ChunkerParams chunking;
  init->add_option("--chunk-min", chunking.min_size, "Minimum chunk size in bytes")
      ->capture_default_str();
  init->add_option("--chunk-avg", chunking.avg_size, "Average chunk size in bytes (a power of two)")
      ->capture_default_str();
  init->add_option("--chunk-max", chunking.max_size, "Maximum chunk size in bytes")
      ->capture_default_str();
  init->callback([&ctx] { ctx.exit_code = run_init(ctx, wanted, chunking); });

  auto* serve = app.add_subcommand("serve", "Serve the HTTP API until SIGINT or SIGTERM");
  add_common_options(serve, ctx);
  static ServeFlags flags;
  serve
      ->add_option("--listen", flags.listen,
                   "HOST:PORT to listen on (port 0 picks a free one). Plain HTTP only on "
                   "loopback unless --tls-cert/--tls-key or --allow-plain-http")
      ->capture_default_str();
  serve->add_option("--workers", flags.workers, "Threads that run request handlers")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  serve
      ->add_option("--tls-cert", flags.tls_cert,
                   "Serve HTTPS with this certificate (PEM; the chain, server first)")
      ->check(CLI::ExistingFile);
  serve->add_option("--tls-key", flags.tls_key, "The certificate's private key (PEM)")
      ->check(CLI::ExistingFile);
  serve->add_flag("--allow-plain-http", flags.allow_plain_http,
                  "Serve plain HTTP on a non-loopback address (only behind a TLS proxy)");
  serve
      ->add_option("--rate-limit", flags.rate_limit,
                   "Requests each token may make: RATE/s[,BURST] (a token bucket; over it the "
                   "answer is 429 with Retry-After), or off")
      ->capture_default_str();
  serve
      ->add_option("--idle-timeout", flags.idle_timeout_s,
                   "Seconds a connection may stay silent (no byte of a request arriving, none of "
                   "an answer leaving) before it is closed; a slow upload that keeps moving is "
                   "never cut off")
      ->check(CLI::Range(1, 86400))
      ->capture_default_str();
  serve
      ->add_option("--max-connections", flags.max_connections,
                   "Open HTTP connections at most (0: what the open-files limit leaves room "
                   "for). At the limit the longest idle keep-alive connection is closed; with "
                   "none idle a new one gets 503")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str();
  serve
      ->add_option("--log-level", flags.log_level,
                   "Log lines below this level are dropped: debug, info (every request's access "
                   "line), warn or error. Logs are JSON lines on stderr (docs/operations.md)")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}))
      ->capture_default_str();
  serve
      ->add_option(
          "--metrics-token-file", flags.metrics_token_file,
          "A file (mode 600 or 640) whose first line is a token that may read /metrics from "
          "other hosts, sent as Authorization: Bearer TOKEN (Prometheus: "
          "bearer_token_file). Without it /metrics answers loopback clients only")
      ->type_name("FILE");
  serve->callback([&ctx] { ctx.exit_code = cmd_serve(ctx.data, flags); });

  auto* migrate = app.add_subcommand(
      "migrate", "Apply pending metadata schema migrations (serve also applies them at start)");
  add_common_options(migrate, ctx);
  migrate->callback([&ctx] { ctx.exit_code = run_migrate(ctx); });
}

}  // namespace cairn::admin
