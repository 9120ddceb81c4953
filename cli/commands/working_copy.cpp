// init, clone, status, push, pull: commands that act on a working copy.

#include <filesystem>

#include "cli/client/net/config.h"
#include "cli/client/printer.h"
#include "cli/client/state/session.h"
#include "cli/client/sync/pull.h"
#include "cli/client/sync/push.h"
#include "cli/client/sync/status.h"
#include "cli/commands/commands.h"
#include "cli/commands/exit_codes.h"
#include "cli/commands/place.h"
#include "common/remote_path.h"

namespace cairn::cli {
namespace {

namespace fs = std::filesystem;
using client::OutputMode;
using client::Printer;

std::string resolve_dir(const CommandContext& ctx, const std::string& dir) {
  fs::path p(dir);
  if (p.is_relative()) p = fs::path(ctx.directory) / p;
  return fs::absolute(p).lexically_normal().string();
}

// A --remote or clone argument: a full URL (http://host:port/a/b), or a remote path (/a/b) on the
// server that CAIRN_SERVER or `cairn login` names.
Result<client::RemoteUrl> remote_location(const std::string& remote) {
  if (remote.empty() || remote[0] != '/') return client::parse_remote_url(remote);
  CAIRN_ASSIGN_OR_RETURN(std::string path, normalize_remote_path(remote));
  std::string server = client::env("CAIRN_SERVER").value_or("");
  if (server.empty()) {
    if (auto user = client::load_user_config(); user) server = user->server;
  }
  if (server.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "a remote path like " + path +
                          " needs a server: set CAIRN_SERVER, run `cairn login URL`, or give the "
                          "full URL (http://host:port" +
                          path + ")");
  }
  CAIRN_ASSIGN_OR_RETURN(auto url, client::parse_remote_url(server));
  url.path = path;
  return url;
}

int run_init(CommandContext& ctx, const std::string& dir, const std::string& remote,
             const std::string& command) {
  Printer printer(mode_of(ctx));
  auto url = remote_location(remote);
  if (!url) {
    printer.error(command, url.error());
    return exit_code_for(url.error());
  }
  std::string root = resolve_dir(ctx, dir);
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  auto state = client::LocalState::create(root, url->server, url->path);
  if (!state) {
    printer.error(command, state.error());
    return exit_code_for(state.error());
  }
  if (command == "init") {
    printer.kv({{"working_copy", root}, {"server", url->server}, {"remote_path", url->path}});
    // Offline init is allowed; say early if the server or token will not work.
    auto endpoint = client::resolve_endpoint(url->server);
    if (!endpoint) {
      printer.warn(endpoint.error().message());
    } else if (auto who = client::ApiClient(*endpoint).whoami(); !who) {
      printer.warn(who.error().message());
    }
  }
  return kExitOk;
}

int run_clone(CommandContext& ctx, const std::string& remote, const std::string& dir,
              const client::PullOptions& options) {
  Printer printer(mode_of(ctx));
  auto url = remote_location(remote);
  if (!url) {
    printer.error("clone", url.error());
    return exit_code_for(url.error());
  }
  auto endpoint = client::resolve_endpoint(url->server);
  if (!endpoint) {
    printer.error("clone", endpoint.error());
    return exit_code_for(endpoint.error());
  }
  // Fail before creating anything if the remote folder is not there or not readable.
  if (url->path != "/") {
    auto listing = client::ApiClient(*endpoint).list(url->path);
    if (!listing) {
      printer.error("clone", listing.error());
      return exit_code_for(listing.error());
    }
    if (listing->entries.size() == 1 && listing->entries[0].path == url->path &&
        listing->entries[0].kind != protocol::NodeKind::kFolder) {
      Error e(ErrorCode::kInvalidArgument, url->path + " is a file; clone takes a folder");
      printer.error("clone", e);
      return exit_code_for(e);
    }
  }
  std::string target = dir;
  if (target.empty()) {
    target = url->path == "/" ? std::string("cairn") : std::string(remote_basename(url->path));
  }
  if (int rc = run_init(ctx, target, remote, "clone"); rc != kExitOk) return rc;
  auto session = client::open_session(resolve_dir(ctx, target));
  if (!session) {
    printer.error("clone", session.error());
    return exit_code_for(session.error());
  }
  auto report = client::pull(*session, options, printer, "clone");
  if (!report) {
    printer.error("clone", report.error());
    return exit_code_for(report.error());
  }
  printer.sync_report(*report);
  return report_exit(*report);
}

template <typename F>
int with_session(CommandContext& ctx, const char* command, F&& body) {
  Printer printer(mode_of(ctx));
  auto session = client::open_session(resolve_dir(ctx, "."));
  if (!session) {
    printer.error(command, session.error());
    return exit_code_for(session.error());
  }
  return body(*session, printer);
}

}  // namespace

void add_working_copy_commands(CLI::App& app, CommandContext& ctx) {
  auto* init = app.add_subcommand(
      "init", "Make DIR a working copy of a remote folder (nothing is transferred yet)");
  static std::string init_dir;
  static std::string init_remote;
  init->add_option("DIR", init_dir, "Folder to make a working copy (created if needed)")
      ->required();
  init->add_option("--remote", init_remote,
                   "Server URL and remote folder, e.g. http://127.0.0.1:8080/photos, or a "
                   "remote folder alone (/photos) on the server CAIRN_SERVER or `cairn login` "
                   "names")
      ->required();
  add_output_flags(init, ctx);
  init->callback([&ctx] { ctx.exit_code = run_init(ctx, init_dir, init_remote, "init"); });

  auto* clone = app.add_subcommand("clone", "Create a working copy of a remote folder and pull it");
  static std::string clone_url;
  static std::string clone_dir;
  clone
      ->add_option("URL", clone_url,
                   "Server URL and remote folder, e.g. http://host:8080/docs, or /docs on the "
                   "server CAIRN_SERVER or `cairn login` names")
      ->required();
  clone->add_option("DIR", clone_dir, "Local folder (default: the remote folder's name)");
  static client::PullOptions clone_options;
  clone->add_option("--transfers", clone_options.transfer_threads, "Parallel chunk downloads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  add_output_flags(clone, ctx);
  clone->callback([&ctx] { ctx.exit_code = run_clone(ctx, clone_url, clone_dir, clone_options); });

  auto* status = app.add_subcommand(
      "status", "Show local changes not yet pushed and remote changes not yet pulled");
  static bool offline = false;
  status->add_flag("--offline", offline, "Do not ask the server for remote changes");
  add_output_flags(status, ctx);
  status->callback([&ctx] {
    ctx.exit_code = with_session(ctx, "status", [](client::Session& s, Printer& printer) {
      auto report = client::status(s, !offline);
      if (!report) {
        printer.error("status", report.error());
        return exit_code_for(report.error());
      }
      printer.status_report(*report);
      return kExitOk;
    });
  });

  auto* push = app.add_subcommand(
      "push", "Upload local changes (only chunks the server does not have cross the wire)");
  static client::PushOptions push_options;
  push->add_option("--transfers", push_options.transfer_threads,
                   "Parallel chunk uploads (keep-alive connections)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  push->add_option("--hash-threads", push_options.hash_threads,
                   "Threads that chunk and hash files (0: one per core)")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  push->add_flag("--allow-mass-delete", push_options.allow_mass_delete,
                 "Push even if it deletes more than half of the synced files (and more than "
                 "one) or more than 1,000; without it such a push is refused and sends nothing");
  add_output_flags(push, ctx);
  push->callback([&ctx] {
    ctx.exit_code = with_session(ctx, "push", [](client::Session& s, Printer& printer) {
      auto report = client::push(s, push_options, printer);
      if (!report) {
        printer.error("push", report.error());
        return exit_code_for(report.error());
      }
      printer.sync_report(*report);
      return report_exit(*report);
    });
  });

  auto* pull =
      app.add_subcommand("pull", "Download remote changes; local edits are never overwritten");
  static client::PullOptions pull_options;
  pull->add_option("--transfers", pull_options.transfer_threads, "Parallel chunk downloads")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  add_output_flags(pull, ctx);
  pull->callback([&ctx] {
    ctx.exit_code = with_session(ctx, "pull", [](client::Session& s, Printer& printer) {
      auto report = client::pull(s, pull_options, printer);
      if (!report) {
        printer.error("pull", report.error());
        return exit_code_for(report.error());
      }
      printer.sync_report(*report);
      return report_exit(*report);
    });
  });
}

}  // namespace cairn::cli
