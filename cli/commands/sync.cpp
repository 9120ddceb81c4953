// sync: one reconcile round, rounds until local and remote agree (--wait), or for as long as it
// runs (--watch).

#include "cli/client/sync/sync.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>

#include "cli/client/tree/ignore.h"
#include "cli/commands/commands.h"
#include "cli/commands/exit_codes.h"
#include "common/protocol/protocol.h"

namespace cairn::cli {
namespace {

namespace fs = std::filesystem;
using client::Printer;

// SIGINT / SIGTERM during --watch: finish the round in progress, then stop.
std::atomic<bool> g_stop{false};
int g_wake_fd = -1;

void on_signal(int) {
  g_stop = true;
  if (g_wake_fd >= 0) {
    const char byte = 1;
    const int saved = errno;
    (void)!::write(g_wake_fd, &byte, 1);
    errno = saved;
  }
}

int round_exit(const client::SyncRound& r) {
  if (r.pull.corrupt || r.push.corrupt) return kExitCorrupt;
  if (r.pull.no_space || r.push.no_space) return kExitNoSpace;
  if (!r.pull.errors.empty() || !r.push.errors.empty()) return kExitError;
  if (!r.pull.conflicts.empty() || !r.push.conflicts.empty()) return kExitConflict;
  if (r.push.changes_unsent != 0) return kExitConflict;  // A viewer's changes stay here.
  return kExitOk;
}

struct SyncFlags {
  client::SyncOptions options;
  bool wait = false;
  bool watch = false;
  double timeout_s = 0;
  client::WatchOptions watching;
};

int run_sync(CommandContext& ctx, SyncFlags& flags) {
  Printer printer(mode_of(ctx));
  const std::string dir = fs::absolute(fs::path(ctx.directory)).lexically_normal().string();
  auto session = client::open_session(dir);
  if (!session) {
    printer.error("sync", session.error());
    return exit_code_for(session.error());
  }

  if (flags.watch) {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) g_wake_fd = fds[1];
    struct sigaction sa {};
    sa.sa_handler = on_signal;
    ::sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    auto watched = client::sync_watch(*session, flags.options, flags.watching, printer, g_stop,
                                      g_wake_fd >= 0 ? fds[0] : -1);
    if (!watched) {
      printer.error("sync", watched.error());
      return exit_code_for(watched.error());
    }
    printer.line("stopped");
    return kExitOk;
  }

  if (!flags.wait) {
    auto round = client::sync_once(*session, flags.options, printer);
    if (!round) {
      printer.error("sync", round.error());
      return exit_code_for(round.error());
    }
    printer.sync_round(*round);
    return round_exit(*round);
  }

  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (flags.timeout_s > 0) {
    deadline = std::chrono::steady_clock::now() +
               std::chrono::milliseconds(static_cast<int64_t>(flags.timeout_s * 1000));
  }
  auto outcome = client::sync_wait(*session, flags.options, printer, deadline);
  if (!outcome) {
    printer.error("sync", outcome.error());
    return exit_code_for(outcome.error());
  }
  printer.sync_round(outcome->last);
  if (const int code = round_exit(outcome->last); code != kExitOk) return code;
  if (outcome->agreed) {
    if (!outcome->status.conflicts.empty()) {
      printer.warn(std::to_string(outcome->status.conflicts.size()) +
                   " conflicted copies in the working copy (cairn conflicts lists them)");
      return kExitConflict;
    }
    printer.line("in sync");
    return kExitOk;
  }
  if (outcome->stuck) {
    printer.warn("not in sync: " + std::to_string(outcome->status.local.size()) +
                 " local changes cannot be sent (see `skipped` above and cairn status)");
    return kExitConflict;
  }
  printer.warn("not in sync after " + std::to_string(static_cast<int64_t>(flags.timeout_s)) +
               " s: the tree kept changing");
  return kExitError;
}

int run_check_ignore(CommandContext& ctx, const std::vector<std::string>& paths) {
  Printer printer(mode_of(ctx));
  const fs::path here = fs::absolute(fs::path(ctx.directory)).lexically_normal();
  auto session = client::open_session(here.string());
  if (!session) {
    printer.error("check-ignore", session.error());
    return exit_code_for(session.error());
  }
  client::IgnoreRules rules(session->root);
  std::string json = "{\"paths\":[";
  std::vector<std::string> lines;
  bool any = false;
  for (size_t i = 0; i < paths.size(); ++i) {
    const fs::path abs = (here / paths[i]).lexically_normal();
    std::string rel = abs.lexically_relative(session->root).generic_string();
    if (rel == ".") rel.clear();
    if (rel.empty() || rel.rfind("..", 0) == 0) {
      printer.error("check-ignore",
                    Error(ErrorCode::kInvalidArgument,
                          paths[i] + " is not inside the working copy " + session->root));
      return kExitUsage;
    }
    std::error_code ec;
    const bool folder = fs::is_directory(abs, ec) || paths[i].ends_with("/");
    auto m = rules.explain(rel, folder);
    const bool ignored = m && !m->negated;
    any = any || ignored;
    json += std::string(i == 0 ? "" : ",") + "{\"path\":" + protocol::json_quote(rel) +
            ",\"ignored\":" + (ignored ? "true" : "false");
    if (m) {
      json += ",\"source\":" + protocol::json_quote(m->source) +
              ",\"line\":" + std::to_string(m->line) +
              ",\"pattern\":" + protocol::json_quote(m->pattern) +
              ",\"via\":" + protocol::json_quote(m->via);
      const std::string rule = m->source + ":" + std::to_string(m->line) + ": " + m->pattern;
      if (!ignored) {
        lines.push_back(rel + "\tnot ignored: re-included by " + rule);
      } else if (!m->via.empty()) {
        lines.push_back(rel + "\tignored: its folder " + m->via + " is, by " + rule);
      } else {
        lines.push_back(rel + "\tignored by " + rule);
      }
    } else {
      lines.push_back(rel + "\tnot ignored");
    }
    json += "}";
  }
  json += "]}";
  printer.document("check-ignore", json, lines);
  // As git check-ignore: 0 when something is ignored, 1 when nothing is.
  return any ? kExitOk : kExitError;
}

}  // namespace

void add_sync_commands(CLI::App& app, CommandContext& ctx) {
  auto* check = app.add_subcommand(
      "check-ignore",
      "Say whether PATHs are ignored (not synced) and which .cairnignore rule decides it");
  check->footer(
      "Exit 0 if any PATH is ignored, 1 if none is.\n\n"
      ".cairnignore files use gitignore syntax (*.o, build/, /only-here, **/cache, !keep.o); "
      "any folder may hold one, and its rules apply below that folder. They are synced like "
      "any file. Ignored paths are neither pushed nor pulled; a synced file that becomes "
      "ignored stays on the server as it was.");
  static std::vector<std::string> check_paths;
  check->add_option("PATH", check_paths, "Paths in the working copy")->required();
  add_output_flags(check, ctx);
  check->callback([&ctx] { ctx.exit_code = run_check_ignore(ctx, check_paths); });

  auto* sync = app.add_subcommand(
      "sync",
      "Pull, then push: once, until local and remote agree (--wait), or continuously (--watch)");
  sync->footer(
      "Both sides changed a file: the local version is kept as a conflicted copy beside it; "
      "nothing is lost. --watch follows local changes with inotify and remote ones through "
      "the server's notifications, waits for files still being written, rescans periodically, "
      "and keeps local edits while the server is unreachable (they go when it is back).\n\n"
      "Exit codes (--wait): 0 in sync; 3 conflicted copies present, or local changes that "
      "cannot be sent (a viewer's edits); 4 server unreachable (retried until --timeout); 5 "
      "token refused; 1 still changing at the timeout, or another error.");
  static SyncFlags flags;
  auto* wait = sync->add_flag("--wait", flags.wait,
                              "Repeat rounds until local and remote agree; retry an "
                              "unreachable server until --timeout");
  sync->add_option("--timeout", flags.timeout_s,
                   "With --wait: give up after this many seconds (default: no retries)")
      ->check(CLI::PositiveNumber)
      ->needs(wait);
  sync->add_flag("--watch", flags.watch,
                 "Stay running: watch the tree (inotify) and the server's notifications, sync "
                 "each change, rescan periodically; Ctrl-C stops")
      ->excludes("--wait");
  sync->add_option("--rescan", flags.watching.rescan_ms,
                   "With --watch: a full round at least this often, in ms")
      ->check(CLI::Range(1000, 86'400'000))
      ->capture_default_str();
  sync->add_option("--debounce", flags.watching.debounce_ms,
                   "With --watch: quiet time after a local change before syncing, in ms")
      ->check(CLI::Range(0, 60'000))
      ->capture_default_str();
  sync->add_option("--transfers", flags.options.pull.transfer_threads,
                   "Parallel chunk transfers each way")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  sync->add_flag("--allow-mass-delete", flags.options.push.allow_mass_delete,
                 "Push even if it deletes more than half of the synced files (see push)");
  add_output_flags(sync, ctx);
  sync->callback([&ctx] {
    flags.options.push.transfer_threads = flags.options.pull.transfer_threads;
    ctx.exit_code = run_sync(ctx, flags);
  });
}

}  // namespace cairn::cli
