#pragma once

// The `cairn` subcommands: each declares its CLI11 flags and calls the client library.

#include <CLI/CLI.hpp>
#include <string>

namespace cairn::cli {

// Flags every subcommand accepts, and where the command's exit code goes.
struct CommandContext {
  bool json = false;
  bool quiet = false;
  std::string directory = ".";  // -C DIR
  int exit_code = 0;
};

void add_working_copy_commands(CLI::App& app, CommandContext& ctx);
void add_remote_commands(CLI::App& app, CommandContext& ctx);

}  // namespace cairn::cli
