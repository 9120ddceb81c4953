#pragma once

// The `cairnd` subcommands: each group declares its CLI11 flags and calls the services. A
// command's callback runs after parsing and leaves its exit code in the context.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
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

// A command's result as JSON (keys in the order they are set).
using Json = nlohmann::ordered_json;

// --data (or CAIRND_DATA) and --json, which every subcommand takes.
void add_common_options(CLI::App* cmd, CommandContext& ctx);

// Whether --json was given: the result is one JSON object on stdout, an error is
// {"error":{"code":...,"message":...}} on stdout, and nothing else goes to stdout.
bool json_output();

// Prints a command's result: with --json, `doc` on one line; otherwise `text` prints it for
// people.
void emit(const Json& doc, const std::function<void()>& text);

// A moment (Unix seconds) as UTC ISO 8601, "2026-12-06T19:20:01.000Z".
std::string iso_time(int64_t unix_seconds);

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
