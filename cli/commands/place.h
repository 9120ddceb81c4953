#pragma once

// What the commands that act on paths share: where they run (a working copy, or the server
// alone), what a PATH argument names, and how they fail.

#include <optional>
#include <string>

#include "cli/client/printer.h"
#include "cli/client/state/session.h"
#include "cli/commands/commands.h"
#include "common/error.h"

namespace cairn::cli {

// Where a command runs: in a working copy (session set) or against the server alone.
struct Place {
  std::optional<client::Session> session;
  client::ServerEndpoint endpoint;
};

Result<Place> open_place(const CommandContext& ctx);

// A PATH argument: its remote path, and inside a working copy its path relative to the root.
struct Target {
  std::string remote;
  std::optional<std::string> rel;
};

// Inside a working copy PATH is local (relative to -C or the current folder) and must be inside
// it; outside one it is a remote path.
Result<Target> resolve(const CommandContext& ctx, const Place& place, const std::string& path);

// The exit code of a push, pull, put or get that ran to its end: 7 if data failed verification,
// 1 for errors, 3 if it finished but local and remote do not agree (conflicts, changes left).
int report_exit(const client::SyncReport& r);

// An `--at TIME` argument (common/duration.h: "3d", "2026-11-20", RFC 3339...) in milliseconds
// since the epoch; nullopt when not given (empty).
Result<std::optional<int64_t>> parse_at(const std::string& text);

// What `--at` says in a command's --help.
inline constexpr const char* kAtHelp =
    "As it was at TIME: a date (2026-11-20: the end of that day), a date and time "
    "(2026-11-20T14:30:05Z, or local time without an offset; the end of the second or minute "
    "written), a duration ago (90m, 3d, 2w) or Unix time (@SECONDS, or `date +%s`: the end of "
    "that second; @SECONDS.FRACTION exactly)";

// Prints the error and returns its exit code.
int fail(client::Printer& printer, const std::string& command, const Error& e);

}  // namespace cairn::cli
