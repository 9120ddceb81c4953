// login and ls: commands that talk to the server, with or without a working copy.

#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/client/net/config.h"
#include "cli/client/printer.h"
#include "cli/client/state/session.h"
#include "cli/commands/commands.h"
#include "cli/commands/exit_codes.h"
#include "cli/commands/place.h"
#include "common/remote_path.h"

namespace cairn::cli {
namespace {

namespace fs = std::filesystem;
using client::OutputMode;
using client::Printer;

// One line from stdin; at a terminal, asked for with `prompt` on stderr and not echoed.
Result<std::string> read_secret(const char* prompt) {
  const bool terminal = ::isatty(STDIN_FILENO) != 0;
  struct termios saved {};
  if (terminal) {
    std::fputs(prompt, stderr);
    std::fflush(stderr);
    if (::tcgetattr(STDIN_FILENO, &saved) == 0) {
      struct termios quiet = saved;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
  }
  std::string line;
  const bool got = static_cast<bool>(std::getline(std::cin, line));
  if (terminal) {
    ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    std::fputs("\n", stderr);
  }
  if (!got && line.empty()) return std::string();
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

int run_login(CommandContext& ctx, const std::string& url, std::string token) {
  Printer printer(mode_of(ctx));
  auto parsed = client::parse_remote_url(url);
  if (!parsed) {
    printer.error("login", parsed.error());
    return exit_code_for(parsed.error());
  }
  if (token.empty()) token = client::env("CAIRN_TOKEN").value_or("");
  if (token.empty() || token == "-") {
    // Off the command line, where every user of the machine can read it (ps): from stdin, or
    // typed at a prompt that does not echo.
    auto read = read_secret("token: ");
    if (!read) {
      printer.error("login", read.error());
      return exit_code_for(read.error());
    }
    token = std::move(*read);
  } else if (!client::env("CAIRN_TOKEN")) {
    printer.warn(
        "a token on the command line is visible to other users of this machine (ps); "
        "prefer `cairn login URL` and paste it at the prompt, or pipe it to --token -");
  }
  if (token.empty()) {
    Error e(ErrorCode::kInvalidArgument,
            "no token: paste it at the prompt, pipe it to --token -, or set CAIRN_TOKEN");
    printer.error("login", e);
    return exit_code_for(e);
  }
  client::ApiClient api({parsed->server, token, client::device_name(), ""});
  auto who = api.whoami();
  if (!who) {
    printer.error("login", who.error());
    return exit_code_for(who.error());
  }
  if (auto saved = client::save_user_config({parsed->server, token}); !saved) {
    printer.error("login", saved.error());
    return exit_code_for(saved.error());
  }
  printer.kv(
      {{"server", parsed->server}, {"user", who->user}, {"config", client::user_config_path()}});
  return kExitOk;
}

// PATH inside a working copy is relative to the current folder; outside one (or when it starts
// with '/' and is not a local path inside the working copy) it is a remote path.
Result<std::pair<client::ServerEndpoint, std::string>> resolve_path(const CommandContext& ctx,
                                                                    const std::string& path) {
  const fs::path cwd = fs::absolute(ctx.directory).lexically_normal();
  auto session = client::open_session(cwd.string());
  if (session) {
    fs::path local = fs::path(path).is_absolute() ? fs::path(path) : cwd / path;
    local = local.lexically_normal();
    const auto rel = local.lexically_relative(session->root);
    const std::string rel_text = rel.generic_string();
    if (!rel.empty() && rel_text.rfind("..", 0) != 0) {
      std::string r = rel_text == "." ? "" : rel_text;
      while (!r.empty() && r.back() == '/') r.pop_back();
      CAIRN_ASSIGN_OR_RETURN(std::string remote, normalize_remote_path(session->to_remote(r)));
      return std::make_pair(session->endpoint, remote);
    }
    if (path.empty() || path[0] != '/') {
      return make_error(ErrorCode::kInvalidArgument, path + " is outside the working copy");
    }
    CAIRN_ASSIGN_OR_RETURN(std::string remote, normalize_remote_path(path));
    return std::make_pair(session->endpoint, remote);
  }
  if (session.error().code() != ErrorCode::kNotFound) return std::move(session).error();
  CAIRN_ASSIGN_OR_RETURN(auto endpoint, client::resolve_endpoint(""));
  CAIRN_ASSIGN_OR_RETURN(std::string remote, normalize_remote_path(path.empty() ? "/" : path));
  return std::make_pair(endpoint, remote);
}

int run_ls(CommandContext& ctx, const std::string& path, const std::string& at) {
  Printer printer(mode_of(ctx));
  auto where = resolve_path(ctx, path);
  if (!where) {
    printer.error("ls", where.error());
    return exit_code_for(where.error());
  }
  auto when = parse_at(at);
  if (!when) {
    printer.error("ls", when.error());
    return exit_code_for(when.error());
  }
  client::ApiClient api(where->first);
  auto listing = *when ? api.list_at(where->second, **when) : api.list(where->second);
  if (!listing) {
    printer.error("ls", listing.error());
    return exit_code_for(listing.error());
  }
  printer.listing(*listing);
  return kExitOk;
}

}  // namespace

void add_remote_commands(CLI::App& app, CommandContext& ctx) {
  auto* login = app.add_subcommand(
      "login", "Check a token against a server and remember both (file mode 0600)");
  static std::string login_url;
  static std::string login_token;
  login->add_option("URL", login_url, "Server URL, e.g. http://127.0.0.1:8080")->required();
  login->add_option("--token", login_token,
                    "Token from `cairnd user add`; `-` reads it from stdin. Without it (and "
                    "without CAIRN_TOKEN) it is read from stdin, at a terminal from a prompt "
                    "that does not echo: a token on the command line shows in ps");
  add_output_flags(login, ctx);
  login->callback([&ctx] { ctx.exit_code = run_login(ctx, login_url, login_token); });

  auto* ls = app.add_subcommand("ls", "List a remote folder (or show one file)");
  static std::string ls_path;
  static std::string ls_at;
  ls->add_option("PATH", ls_path,
                 "Path in the working copy, or a remote path like /docs outside one");
  ls->add_option("--at", ls_at, kAtHelp);
  add_output_flags(ls, ctx);
  ls->callback(
      [&ctx] { ctx.exit_code = run_ls(ctx, ls_path.empty() ? std::string(".") : ls_path, ls_at); });
}

}  // namespace cairn::cli
