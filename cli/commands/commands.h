#pragma once

// The `cairn` subcommands: each declares its CLI11 flags and calls the client library.

#include <CLI/CLI.hpp>
#include <string>

#include "cli/client/printer.h"

namespace cairn::cli {

// Flags every subcommand accepts, and where the command's exit code goes.
struct CommandContext {
  bool json = false;
  bool quiet = false;
  std::string directory = ".";  // -C DIR
  int exit_code = 0;
};

// The printer mode the flags ask for.
inline client::OutputMode mode_of(const CommandContext& ctx) {
  return ctx.json    ? client::OutputMode::kJson
         : ctx.quiet ? client::OutputMode::kQuiet
                     : client::OutputMode::kHuman;
}

// --json and -q, which every subcommand takes.
inline void add_output_flags(CLI::App* cmd, CommandContext& ctx) {
  cmd->add_flag("--json", ctx.json, "Print one JSON object instead of text");
  cmd->add_flag("-q,--quiet", ctx.quiet, "Print errors only");
}

void add_working_copy_commands(CLI::App& app, CommandContext& ctx);
void add_remote_commands(CLI::App& app, CommandContext& ctx);
void add_tree_commands(CLI::App& app, CommandContext& ctx);
void add_share_commands(CLI::App& app, CommandContext& ctx);
void add_sync_commands(CLI::App& app, CommandContext& ctx);
void add_copy_commands(CLI::App& app, CommandContext& ctx);

}  // namespace cairn::cli
