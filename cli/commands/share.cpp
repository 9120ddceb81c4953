// share, unshare, shares: folders and files shared between users; link: URLs that download without
// a token; web: a one-time sign-in URL for the web page. Inside a working copy a PATH is local;
// outside one it is a remote path (/a/b).

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <ctime>
#include <string>

#include "cli/client/net/api_client.h"
#include "cli/client/printer.h"
#include "cli/commands/commands.h"
#include "cli/commands/exit_codes.h"
#include "cli/commands/place.h"
#include "common/duration.h"
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

std::string when(int64_t t) {
  const std::time_t seconds = t;
  std::tm tm{};
  ::localtime_r(&seconds, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M", &tm);
  return buf;
}

int run_link(CommandContext& ctx, const std::string& path, const std::string& expires, bool list,
             const std::string& revoke) {
  Printer printer(mode_of(ctx));
  auto place = open_place(ctx);
  if (!place) return fail(printer, "link", place.error());
  ApiClient api(place->endpoint);
  if (!revoke.empty()) {
    // An id from `cairn link --list`, or the URL itself.
    int64_t id = 0;
    std::string token;
    const size_t at = revoke.rfind("/l/");
    if (at != std::string::npos) {
      token = revoke.substr(at + 3);
    } else {
      auto [p, ec] = std::from_chars(revoke.data(), revoke.data() + revoke.size(), id);
      if (ec != std::errc() || p != revoke.data() + revoke.size() || id <= 0) {
        return fail(printer, "link",
                    Error(ErrorCode::kInvalidArgument,
                          "--revoke takes a link's id (cairn link --list) or its URL"));
      }
    }
    if (auto done = api.revoke_link(id, token); !done) return fail(printer, "link", done.error());
    printer.document("link", "{\"revoked\":true}", {"revoked; the URL now answers 404"});
    return kExitOk;
  }
  if (list) {
    auto all = api.links();
    if (!all) return fail(printer, "link", all.error());
    std::vector<std::string> lines;
    for (const auto& l : all->links) {
      std::string state = l.revoked      ? "revoked"
                          : l.expires_at ? "expires " + when(*l.expires_at)
                                         : "no expiry";
      lines.push_back(std::to_string(l.link_id) + "  " + (l.path.empty() ? "(gone)" : l.path) +
                      "  " + state + (l.created_by.empty() ? "" : "  made by " + l.created_by));
    }
    if (lines.empty()) lines.push_back("no links");
    printer.document("link", protocol::encode_json(*all), lines);
    return kExitOk;
  }
  if (path.empty()) {
    return fail(printer, "link",
                Error(ErrorCode::kInvalidArgument, "link needs a PATH (or --list, --revoke)"));
  }
  auto t = resolve(ctx, *place, path);
  if (!t) return fail(printer, "link", t.error());
  protocol::LinkRequest req{t->remote, std::nullopt};
  if (!expires.empty()) {
    auto seconds = parse_duration(expires);
    if (!seconds) return fail(printer, "link", seconds.error());
    req.expires_in = *seconds;
  }
  auto made = api.create_link(req);
  if (!made) return fail(printer, "link", made.error());
  made->url = place->endpoint.base_url + made->url;
  std::string note = made->expires_at ? "until " + when(*made->expires_at) : "until revoked";
  printer.document("link", protocol::encode_json(*made),
                   {made->url, "anyone with this URL can download " + made->path + " (" + note +
                                   "; a folder comes as a tar); cairn link --revoke " +
                                   std::to_string(made->link_id) + " ends it"});
  return kExitOk;
}

// Opens `url` in the user's browser when there is a desktop to show it on; true if a browser
// was started. The URL goes as one argument, never through a shell.
bool open_in_browser(const std::string& url) {
  if (std::getenv("DISPLAY") == nullptr && std::getenv("WAYLAND_DISPLAY") == nullptr) return false;
  const pid_t child = fork();
  if (child < 0) return false;
  if (child == 0) {
    const int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      dup2(null, STDIN_FILENO);
      dup2(null, STDOUT_FILENO);
      dup2(null, STDERR_FILENO);
    }
    execlp("xdg-open", "xdg-open", url.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  return waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

int run_web(CommandContext& ctx, const std::string& path, bool no_open) {
  Printer printer(mode_of(ctx));
  auto place = open_place(ctx);
  if (!place) return fail(printer, "web", place.error());
  std::string open_path;
  if (!path.empty()) {
    auto t = resolve(ctx, *place, path);
    if (!t) return fail(printer, "web", t.error());
    open_path = t->remote;
  }
  ApiClient api(place->endpoint);
  auto made = api.web_signin(open_path);
  if (!made) return fail(printer, "web", made.error());
  // The server's answer is a path of its own; anything else is not followed.
  if (made->url.rfind("/web/signin?code=", 0) != 0) {
    return fail(
        printer, "web",
        Error(ErrorCode::kInvalidArgument, "the server answered with an unexpected sign-in URL"));
  }
  made->url = place->endpoint.base_url + made->url;
  const bool opened =
      !no_open && printer.mode() != client::OutputMode::kJson && open_in_browser(made->url);
  printer.document("web", protocol::encode_json(*made),
                   {made->url, std::string(opened ? "opened in your browser; " : "") +
                                   "the link signs you in once, until " + when(made->expires_at) +
                                   ". Keep it to yourself: it acts as you"});
  return kExitOk;
}

}  // namespace

void add_share_commands(CLI::App& app, CommandContext& ctx) {
  const char* path_help =
      "Folder or file in the working copy, or a remote path like /docs outside one";

  auto* share = app.add_subcommand(
      "share",
      "Share a folder or a single file with another user, or change their role. A viewer can "
      "list, download and sync it; an editor can also change it. It appears in their files "
      "under /Shared, where they may move it");
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
      "Stop sharing a folder or file with USER; or, without USER, leave one someone shares with "
      "you (it leaves your files; its owner keeps it)");
  static std::string unshare_path;
  static std::string unshare_user;
  unshare->add_option("PATH", unshare_path, path_help)->required();
  unshare->add_option("USER", unshare_user, "Who to take it from (the owner only)");
  add_output_flags(unshare, ctx);
  unshare->callback([&ctx] { ctx.exit_code = run_unshare(ctx, unshare_path, unshare_user); });

  auto* shares = app.add_subcommand(
      "shares",
      "List the folders and files you share and those shared with you (at or under PATH)");
  static std::string shares_path;
  shares->add_option("PATH", shares_path, path_help);
  add_output_flags(shares, ctx);
  shares->callback([&ctx] { ctx.exit_code = run_shares(ctx, shares_path); });

  auto* link = app.add_subcommand(
      "link",
      "Print a URL that downloads PATH without a token (plain curl works; a folder comes as a "
      "tar stream). --list shows your links, --revoke ID|URL ends one (it then answers 404)");
  static std::string link_path;
  static std::string link_expires;
  static bool link_list = false;
  static std::string link_revoke;
  link->add_option("PATH", link_path,
                   "File or folder in the working copy, or a remote path like /docs outside one");
  link->add_option("--expires", link_expires, "Stop working after this long (e.g. 7d, 12h)");
  link->add_flag("--list", link_list, "List your links");
  link->add_option("--revoke", link_revoke, "End a link: its id from --list, or its URL");
  add_output_flags(link, ctx);
  link->callback(
      [&ctx] { ctx.exit_code = run_link(ctx, link_path, link_expires, link_list, link_revoke); });

  auto* web = app.add_subcommand(
      "web",
      "Print a one-time URL that signs you in to the server's web page (browse, download, "
      "history, trash), and open it in your browser when there is one. It works once, within "
      "five minutes, with your token's rights; the session it starts lasts 12 hours at most. "
      "With PATH, the page opens on that folder or file");
  static std::string web_path;
  static bool web_no_open = false;
  web->add_option("PATH", web_path, path_help);
  web->add_flag("--no-open", web_no_open, "Only print the URL");
  add_output_flags(web, ctx);
  web->callback([&ctx] { ctx.exit_code = run_web(ctx, web_path, web_no_open); });
}

}  // namespace cairn::cli
