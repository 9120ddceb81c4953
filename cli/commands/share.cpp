// share, unshare, shares: folders shared between users. Inside a working copy a PATH is local;
// outside one it is a remote path (/a/b).

#include <string>

#include "cli/client/api_client.h"
#include "cli/client/printer.h"
#include "cli/commands/commands.h"
#include "cli/commands/exit_codes.h"
#include "cli/commands/place.h"
#include "common/protocol/protocol.h"

namespace cairn::cli {
namespace {

using client::ApiClient;
using client::Printer;

int run_share(CommandContext& ctx, const std::string& path, const std::string& user,
              const std::string& role) {
  Printer printer(mode_of(ctx));
  auto place = open_place(ctx);
  if (!place) return fail(printer, "share", place.error());
  auto t = resolve(ctx, *place, path);
  if (!t) return fail(printer, "share", t.error());
  ApiClient api(place->endpoint);
  auto info = api.share({t->remote, user, role});
  if (!info) return fail(printer, "share", info.error());
  printer.document(
      "share", protocol::encode_json(*info),
      {"shared " + info->path + " with " + info->user + " as " + info->role + " (" + info->user +
       " finds it under /Shared; cairn unshare " + path + " " + info->user + " takes it back)"});
  return kExitOk;
}

int run_unshare(CommandContext& ctx, const std::string& path, const std::string& user) {
  Printer printer(mode_of(ctx));
  auto place = open_place(ctx);
  if (!place) return fail(printer, "unshare", place.error());
  auto t = resolve(ctx, *place, path);
  if (!t) return fail(printer, "unshare", t.error());
  ApiClient api(place->endpoint);
  if (auto done = api.unshare(t->remote, user); !done) {
    return fail(printer, "unshare", done.error());
  }
  const std::string line =
      user.empty() ? "left " + t->remote +
                         " (it is no longer in your files; its owner keeps it; a pull moves "
                         "the local copy to .cairn/trash)"
                   : "stopped sharing " + t->remote + " with " + user;
  printer.document("unshare",
                   "{\"path\":" + protocol::json_quote(t->remote) +
                       ",\"user\":" + protocol::json_quote(user) + "}",
                   {line});
  return kExitOk;
}

int run_shares(CommandContext& ctx, const std::string& path) {
  Printer printer(mode_of(ctx));
  auto place = open_place(ctx);
  if (!place) return fail(printer, "shares", place.error());
  std::string remote;
  if (!path.empty()) {
    auto t = resolve(ctx, *place, path);
    if (!t) return fail(printer, "shares", t.error());
    remote = t->remote;
  }
  ApiClient api(place->endpoint);
  auto all = api.shares(remote);
  if (!all) return fail(printer, "shares", all.error());
  auto me = api.whoami();
  if (!me) return fail(printer, "shares", me.error());
  std::vector<std::string> lines;
  for (const auto& s : all->shares) {
    if (s.owner == me->user) {
      lines.push_back(s.path + "  shared with " + s.user + " as " + s.role);
    } else {
      lines.push_back(s.path + "  " + s.owner + "'s, you are " +
                      (s.role == "editor" ? "an editor" : "a viewer"));
    }
  }
  if (lines.empty()) lines.push_back(remote.empty() ? "nothing is shared" : "nothing shared there");
  printer.document("shares", protocol::encode_json(*all), lines);
  return kExitOk;
}

}  // namespace

void add_share_commands(CLI::App& app, CommandContext& ctx) {
  const char* path_help = "Folder in the working copy, or a remote path like /docs outside one";

  auto* share = app.add_subcommand(
      "share",
      "Share a folder with another user, or change their role. A viewer can list, download and "
      "sync it; an editor can also change it. It appears in their files under /Shared");
  static std::string share_path;
  static std::string share_user;
  static std::string share_role = "viewer";
  share->add_option("PATH", share_path, path_help)->required();
  share->add_option("USER", share_user, "Who to share it with")->required();
  share->add_option("--role", share_role, "viewer (default) or editor")
      ->check(CLI::IsMember({"viewer", "editor"}));
  add_output_flags(share, ctx);
  share->callback([&ctx] { ctx.exit_code = run_share(ctx, share_path, share_user, share_role); });

  auto* unshare = app.add_subcommand(
      "unshare",
      "Stop sharing a folder with USER; or, without USER, leave a folder someone shares with "
      "you (it leaves your files; its owner keeps it)");
  static std::string unshare_path;
  static std::string unshare_user;
  unshare->add_option("PATH", unshare_path, path_help)->required();
  unshare->add_option("USER", unshare_user, "Who to take it from (the owner only)");
  add_output_flags(unshare, ctx);
  unshare->callback([&ctx] { ctx.exit_code = run_unshare(ctx, unshare_path, unshare_user); });

  auto* shares = app.add_subcommand(
      "shares", "List the folders you share and those shared with you (at or under PATH)");
  static std::string shares_path;
  shares->add_option("PATH", shares_path, path_help);
  add_output_flags(shares, ctx);
  shares->callback([&ctx] { ctx.exit_code = run_shares(ctx, shares_path); });
}

}  // namespace cairn::cli
