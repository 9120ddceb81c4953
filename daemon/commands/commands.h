#pragma once

// The `cairnd` subcommands: each group declares its CLI11 flags and calls the services. A
// command's callback runs after parsing and leaves its exit code in the context.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>

#include "common/error.h"
#include "common/version.h"

namespace cairn::admin {

// Exit codes, documented in `cairnd --help` and docs/cli.md.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitConflict = 3;
inline constexpr int kExitDamage = 7;

// What every subcommand shares: the data folder it works on, and its exit code.
struct CommandContext {
  std::string data = "./cairn-data";
  int exit_code = kExitUsage;
};

// --data (or CAIRND_DATA), which every subcommand takes.
void add_data_option(CLI::App* cmd, CommandContext& ctx);

// Prints `e` as cairnd's error and returns the exit code its kind maps to.
int fail(const Error& e);

// "15G", "500M", "1.5T", "4096", "unlimited" -> bytes (binary units: K = 1024); nullopt for
// unlimited.
Result<std::optional<uint64_t>> parse_size(const std::string& text);

// init, serve, migrate.
void add_setup_commands(CLI::App& app, CommandContext& ctx);
// user add/list/disable/enable/quota, token create/list/revoke.
void add_account_commands(CLI::App& app, CommandContext& ctx);
// gc, check, retention.
void add_maintenance_commands(CLI::App& app, CommandContext& ctx);

}  // namespace cairn::admin
