// put, get and cat: copies between local paths and the server, with no working copy.

#include <unistd.h>

#include <filesystem>

#include "cli/client/sync/remote_copy.h"
#include "cli/commands/commands.h"
#include "cli/commands/exit_codes.h"
#include "cli/commands/place.h"

namespace cairn::cli {
namespace {

namespace fs = std::filesystem;
using client::Printer;

// A remote path argument: it must start with '/', so that a local path given by mistake in its
// place (`cairn put build ci/x`) is refused instead of going somewhere unexpected.
Result<void> check_remote(const std::string& path) {
  if (path.empty() || path[0] != '/') {
    return make_error(ErrorCode::kInvalidArgument,
                      "'" + path + "' is not a remote path; remote paths start with '/'");
  }
  return {};
}

// A local path argument, relative to -C; a trailing '/' is kept (it says "inside").
std::string local_path(const CommandContext& ctx, const std::string& path) {
  if (fs::path(path).is_absolute() || ctx.directory == ".") return path;
  return (fs::path(ctx.directory) / path).string();
}

// The server to talk to: a working copy's here, else CAIRN_SERVER/CAIRN_TOKEN or `cairn login`.
Result<client::ServerEndpoint> endpoint(const CommandContext& ctx) {
  CAIRN_ASSIGN_OR_RETURN(auto place, open_place(ctx));
  return place.endpoint;
}

int run_put(CommandContext& ctx, const std::vector<std::string>& args,
            const client::CopyOptions& options) {
  Printer printer(mode_of(ctx));
  const std::string& dest = args.back();
  if (auto ok = check_remote(dest); !ok) return fail(printer, "put", ok.error());
  std::vector<std::string> sources;
  for (size_t i = 0; i + 1 < args.size(); ++i) sources.push_back(local_path(ctx, args[i]));
  auto where = endpoint(ctx);
  if (!where) return fail(printer, "put", where.error());
  auto report = client::put(*where, sources, dest, options, printer);
  if (!report) return fail(printer, "put", report.error());
  printer.sync_report(*report);
  return report_exit(*report);
}

int run_get(CommandContext& ctx, const std::vector<std::string>& args, client::CopyOptions options,
            const std::string& at) {
  Printer printer(mode_of(ctx));
  auto when = parse_at(at);
  if (!when) return fail(printer, "get", when.error());
  options.at_ms = *when;
  std::vector<std::string> sources(args.begin(), args.end() - 1);
  for (const auto& s : sources) {
    if (auto ok = check_remote(s); !ok) return fail(printer, "get", ok.error());
  }
  auto where = endpoint(ctx);
  if (!where) return fail(printer, "get", where.error());
  auto report = client::get(*where, sources, local_path(ctx, args.back()), options, printer);
  if (!report) return fail(printer, "get", report.error());
  printer.sync_report(*report);
  return report_exit(*report);
}

int run_cat(CommandContext& ctx, const std::string& path, const std::string& at) {
  Printer printer(mode_of(ctx));
  if (auto ok = check_remote(path); !ok) return fail(printer, "cat", ok.error());
  auto when = parse_at(at);
  if (!when) return fail(printer, "cat", when.error());
  auto where = endpoint(ctx);
  if (!where) return fail(printer, "cat", where.error());
  auto written = client::cat(*where, path, STDOUT_FILENO, *when);
  if (!written) return fail(printer, "cat", written.error());
  return kExitOk;
}

constexpr const char* kPlacement =
    "With one source and a destination that does not end in '/', the destination is the copy; "
    "with a destination ending in '/' (or several sources), each source goes inside it under "
    "its own name. Nothing depends on what already exists, so a script does the same every run.";

}  // namespace

void add_copy_commands(CLI::App& app, CommandContext& ctx) {
  static client::CopyOptions options;
  auto transfer_flags = [](CLI::App* cmd) {
    cmd->add_option("--transfers", options.transfer_threads,
                    "Parallel chunk transfers (keep-alive connections)")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
  };

  auto* put = app.add_subcommand(
      "put", "Upload files and folders to a remote path (no working copy needed)");
  put->footer(std::string(kPlacement) +
              "\n\nOnly chunks the server lacks are sent: a second put of the same files sends "
              "nothing, a rebuilt one sends what changed. A file the server already has as it "
              "is gets no new version; any other becomes a new version on top of the server's "
              "(its history keeps the old one). Nothing is deleted on the server unless "
              "--delete is given.\n\n"
              "The upload is published all at once: files are uploaded and staged first, then "
              "one commit makes every destination current together, so that anyone listing or "
              "getting it meanwhile sees it as it was before the put or as it is after, never "
              "a mix.\n\n"
              "  CAIRN_SERVER=http://ci-cache:8080 CAIRN_TOKEN=... cairn put build/ /ci/42/\n"
              "  cairn put report.html /ci/latest/report.html --json");
  static std::vector<std::string> put_args;
  put->add_option("LOCAL... REMOTE", put_args, "Local files or folders, then a remote path")
      ->required()
      ->expected(2, -1);
  put->add_flag("--delete", options.mirror,
                "Mirror: what the destination holds and the sources do not goes to the server's "
                "trash, in the same step as the upload");
  put->add_flag("--allow-mass-delete", options.allow_mass_delete,
                "With --delete: go on even if it deletes more than half of the destination's "
                "files (and more than one) or more than 1,000; without it such a put is refused "
                "and changes nothing");
  put->add_option("--hash-threads", options.hash_threads,
                  "Threads that chunk and hash files (0: one per core)")
      ->check(CLI::Range(0, 256))
      ->capture_default_str();
  transfer_flags(put);
  add_output_flags(put, ctx);
  put->callback([&ctx] { ctx.exit_code = run_put(ctx, put_args, options); });

  auto* get =
      app.add_subcommand("get", "Download remote files and folders (no working copy needed)");
  get->footer(std::string(kPlacement) +
              "\n\nEvery chunk is verified. Each file is written under a temporary name, made "
              "durable, and renamed into place, replacing a file of the same name; nothing "
              "else at the destination is touched, and nothing is ever written through a "
              "symlink.\n\n"
              "With --at, the remote paths as they were then: deleted files included, files "
              "made since left out, each file as its content was.\n\n"
              "  cairn get /ci/42/build out\n"
              "  cairn get /docs/a.txt /docs/b.txt ./\n"
              "  cairn get /docs --at 2026-11-20 docs-then");
  static std::vector<std::string> get_args;
  static std::string get_at;
  get->add_option("REMOTE... LOCAL", get_args, "Remote paths, then a local path")
      ->required()
      ->expected(2, -1);
  get->add_option("--at", get_at, kAtHelp);
  transfer_flags(get);
  add_output_flags(get, ctx);
  get->callback([&ctx] { ctx.exit_code = run_get(ctx, get_args, options, get_at); });

  auto* cat = app.add_subcommand("cat", "Write a remote file to standard output");
  cat->footer(
      "Every chunk is verified before it is written. If the download fails part-way, what was "
      "written is a prefix of the file and the exit code is not 0.\n\n"
      "  cairn cat /ci/latest/version.txt\n"
      "  cairn cat /etc-backup/hosts --at 3d");
  static std::string cat_path;
  static std::string cat_at;
  cat->add_option("REMOTE", cat_path, "A remote file, like /docs/a.txt")->required();
  cat->add_option("--at", cat_at, kAtHelp);
  add_output_flags(cat, ctx);
  cat->callback([&ctx] { ctx.exit_code = run_cat(ctx, cat_path, cat_at); });
}

}  // namespace cairn::cli
