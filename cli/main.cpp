// cairn: the Cairn command-line client.

#include <malloc.h>
#include <stdlib.h>

#include <CLI/CLI.hpp>
#include <filesystem>

#include "cli/client/net/api_client.h"
#include "cli/commands/commands.h"
#include "cli/commands/exit_codes.h"
#include "common/version.h"
#include "lib/man/man_page.h"

int main(int argc, char** argv) {
  // Buffers of a megabyte or more (pack builders, chunk buffers) come from mmap and go back to
  // the system when freed. Left to itself, glibc raises this threshold after the first large
  // free, and 16 MiB packs freed in one thread's arena then stay resident in it.
  ::mallopt(M_MMAP_THRESHOLD, 1 << 20);
  // Two arenas for the hashing, upload and download threads, not glibc's one per thread (up to
  // eight per core): what a thread frees is then reused by the others instead of staying
  // resident in an arena of its own.
  ::mallopt(M_ARENA_MAX, 2);
  cairn::client::global_http_init();
  CLI::App app{
      "cairn - file storage and sync for people who live in a terminal.\n\n"
      "  cairn login http://127.0.0.1:8080 --token T\n"
      "  cairn clone http://127.0.0.1:8080/docs docs && cd docs\n"
      "  cairn status; cairn push; cairn pull\n"
      "  cairn put build/ /ci/42/; cairn get /ci/42/build out; cairn cat /ci/42/build/VERSION\n\n"
      "Environment: CAIRN_SERVER and CAIRN_TOKEN override stored settings; CAIRN_DEVICE names\n"
      "this machine; CAIRN_CONFIG moves the config file; CAIRN_CA_CERT trusts a private CA.\n"
      "Exit codes: 0 ok, 1 error, 2 bad usage or input, 3 conflicts, 4 server unreachable,\n"
      "5 not authorised, 6 not found, 7 data failed verification, 8 no space (server storage\n"
      "full, local disk full, or quota used up)."};
  app.set_version_flag("--version", cairn::kVersion);
  app.require_subcommand(1);
  cairn::cli::CommandContext ctx;
  app.add_option("-C", ctx.directory, "Run as if started in this folder")->type_name("DIR");
  // Before or after the subcommand; read by every connection to the server.
  app.fallthrough();
  app.add_option("--ca-cert",
                 "Trust the server's certificate if this CA (PEM) signed it; "
                 "for a private CA (same as CAIRN_CA_CERT)")
      ->type_name("FILE")
      ->check(CLI::Validator(CLI::ExistingFile).description(""))
      ->each([](const std::string& file) {
        const std::string absolute = std::filesystem::absolute(file).string();
        ::setenv("CAIRN_CA_CERT", absolute.c_str(), 1);
      });
  cairn::cli::add_working_copy_commands(app, ctx);
  cairn::cli::add_remote_commands(app, ctx);
  cairn::cli::add_tree_commands(app, ctx);
  cairn::cli::add_share_commands(app, ctx);
  cairn::cli::add_sync_commands(app, ctx);
  cairn::cli::add_copy_commands(app, ctx);
  if (int rc = cairn::man::write_pages_if_asked(
          argc, argv, app, {"cairn", 1, std::string("cairn ") + cairn::kVersion});
      rc >= 0) {
    return rc;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? 0 : cairn::cli::kExitUsage;
  }
  return ctx.exit_code;
}
