// cairnd user and cairnd token: who may use the server, and with which tokens.

#include <cstdio>
#include <optional>
#include <string>

#include "common/bytes.h"
#include "common/duration.h"
#include "daemon/commands/commands.h"
#include "daemon/commands/data_folder.h"

namespace cairn::admin {

namespace {

int run_user_add(const CommandContext& ctx, const std::string& name) {
  auto d = open_daemon(ctx.data, false);
  if (!d) return fail(d.error());
  auto made = (*d)->services->identity().add_user(name);
  if (!made) return fail(made.error());
  emit({{"user", made->first.name}, {"token", made->second}}, [&] {
    std::printf("created user %s\n%s\n", made->first.name.c_str(), made->second.c_str());
  });
  return kExitOk;
}

int run_user_list(const CommandContext& ctx) {
  auto d = open_daemon(ctx.data, false);
  if (!d) return fail(d.error());
  auto users = (*d)->metadata->list_users();
  if (!users) return fail(users.error());
  Json list = Json::array();
  for (const auto& u : *users) {
    auto q = (*d)->metadata->quota(u.user_id);
    if (!q) return fail(q.error());
    list.push_back({{"name", u.name},
                    {"disabled", u.disabled},
                    {"delete_after", u.delete_after ? Json(iso_time(*u.delete_after)) : Json()},
                    {"created", iso_time(u.created_at)},
                    {"used_bytes", q->used},
                    {"quota_bytes", q->limit ? Json(*q->limit) : Json(nullptr)}});
  }
  emit({{"users", list}}, [&] {
    for (const auto& u : list) {
      const std::string state =
          !u["delete_after"].is_null()
              ? "deleted (purged from " + u["delete_after"].get<std::string>() + ")"
              : (u["disabled"].get<bool>() ? "disabled" : "active");
      std::printf("%-24s %-10s %s used of %s, since %s\n", u["name"].get<std::string>().c_str(),
                  state.c_str(), human_bytes(u["used_bytes"].get<uint64_t>()).c_str(),
                  u["quota_bytes"].is_null()
                      ? "unlimited"
                      : human_bytes(u["quota_bytes"].get<uint64_t>()).c_str(),
                  u["created"].get<std::string>().c_str());
    }
  });
  return kExitOk;
}

int run_user_disable(const CommandContext& ctx, const std::string& name, bool off) {
  auto d = open_daemon(ctx.data, false);
  if (!d) return fail(d.error());
  if (auto set = (*d)->services->identity().set_user_disabled(name, off); !set)
    return fail(set.error());
  emit({{"user", name}, {"disabled", off}},
       [&] { std::printf("%s %s\n", off ? "disabled" : "enabled", name.c_str()); });
  return kExitOk;
}

// Sets the quota when `size` is given; shows it either way.
int run_user_quota(const CommandContext& ctx, const std::string& name, const std::string& size) {
  auto d = open_daemon(ctx.data, false);
  if (!d) return fail(d.error());
  if (!size.empty()) {
    auto limit = parse_size(size);
    if (!limit) return fail(limit.error());
    if (auto set = (*d)->services->identity().set_quota(name, *limit); !set)
      return fail(set.error());
  }
  auto found = (*d)->metadata->find_user(name);
  if (!found) return fail(found.error());
  auto q = (*d)->metadata->quota(found->user_id);
  if (!q) return fail(q.error());
  emit({{"user", name},
        {"used_bytes", q->used},
        {"quota_bytes", q->limit ? Json(*q->limit) : Json(nullptr)}},
       [&] {
         std::printf("%s: %s used of %s\n", name.c_str(), human_bytes(q->used).c_str(),
                     q->limit ? human_bytes(*q->limit).c_str() : "unlimited");
       });
  return kExitOk;
}

// cairnd user delete: what the user shares with others ends at the purge, so it must be asked
// for (--end-shares); a share with them simply ends.
int run_user_delete(const CommandContext& ctx, const std::string& name, const std::string& grace,
                    bool end_shares) {
  auto seconds = parse_duration(grace);
  if (!seconds) return fail(seconds.error());
  auto d = open_daemon(ctx.data, false);
  if (!d) return fail(d.error());
  auto& services = *(*d)->services;
  auto user = (*d)->metadata->find_user(name);
  if (!user) return fail(user.error());
  const service::RequestContext as_user{*user, "cairnd", services.now(), services.now_ms()};
  auto shares = services.sharing().shares(as_user, "");
  if (!shares) return fail(shares.error());
  Json ending = Json::array();
  std::string listed;
  for (const auto& sh : shares->shares) {
    if (sh.owner != name) continue;  // Shared with them: nobody else loses anything.
    ending.push_back({{"path", sh.path}, {"user", sh.user}, {"role", sh.role}});
    listed += (listed.empty() ? "" : ", ") + sh.path + " with " + sh.user + " (" + sh.role + ")";
  }
  if (!ending.empty() && !end_shares) {
    return fail(Error(ErrorCode::kConflict,
                      name + " shares " + listed + ": those users lose access when " + name +
                          " is purged (their copies stay theirs). Pass --end-shares to go "
                          "ahead; nothing was changed"));
  }
  auto when = services.identity().schedule_user_deletion(name, *seconds);
  if (!when) return fail(when.error());
  emit({{"user", name}, {"delete_after", iso_time(*when)}, {"shares_ending", ending}}, [&] {
    std::printf(
        "%s is disabled now (every token refused) and will be purged, with their files, "
        "history and trash, by the first cairnd gc from %s. `cairnd user enable %s` before "
        "then cancels it\n",
        name.c_str(), iso_time(*when).c_str(), name.c_str());
    if (!listed.empty()) std::printf("shares ending then: %s\n", listed.c_str());
  });
  return kExitOk;
}

struct TokenFlags {
  std::string label;
  std::string expires;
  bool read_only = false;
  std::string path;
};

int run_token_create(const CommandContext& ctx, const std::string& name, const TokenFlags& f) {
  std::optional<int64_t> ttl;
  if (!f.expires.empty()) {
    auto seconds = parse_duration(f.expires);
    if (!seconds) return fail(seconds.error());
    ttl = *seconds;
  }
  auto d = open_daemon(ctx.data, false);
  if (!d) return fail(d.error());
  auto t = (*d)->services->identity().create_token(name, f.label, ttl, {f.read_only, f.path});
  if (!t) return fail(t.error());
  emit({{"user", name}, {"token", *t}}, [&] { std::printf("%s\n", t->c_str()); });
  return kExitOk;
}

// A moment as UTC ISO 8601, or "-" for none.
std::string when(const std::optional<int64_t>& t) { return t ? iso_time(*t) : std::string("-"); }

Json when_json(const std::optional<int64_t>& t) { return t ? Json(iso_time(*t)) : Json(nullptr); }

int run_token_list(const CommandContext& ctx, const std::string& name) {
  auto d = open_daemon(ctx.data, false);
  if (!d) return fail(d.error());
  auto tokens = (*d)->services->identity().list_tokens(name);
  if (!tokens) return fail(tokens.error());
  if (json_output()) {
    Json list = Json::array();
    for (const auto& t : *tokens) {
      list.push_back({{"id", t.token_id},
                      {"label", t.label},
                      {"created", iso_time(t.created_at)},
                      {"expires", when_json(t.expires_at)},
                      {"revoked", when_json(t.revoked_at)},
                      {"read_only", t.scope.read_only},
                      {"path", t.scope.path},
                      {"kind", store::token_kind_name(t.kind)},
                      {"parent_id", t.parent_id != 0 ? Json(t.parent_id) : Json(nullptr)}});
    }
    emit({{"user", name}, {"tokens", list}}, [] {});
    return kExitOk;
  }
  std::printf("%-6s %-20s %-25s %-25s %-25s %-16s %s\n", "id", "label", "created", "expires",
              "revoked", "scope", "kind");
  for (const auto& t : *tokens) {
    std::string scope = t.scope.read_only ? "read-only" : "";
    if (!t.scope.path.empty()) scope += (scope.empty() ? "" : " ") + t.scope.path;
    // A web session or a sign-in code says which token made it (revoking that one ends it).
    std::string kind(store::token_kind_name(t.kind));
    if (t.parent_id != 0) kind += " of " + std::to_string(t.parent_id);
    std::printf("%-6lld %-20s %-25s %-25s %-25s %-16s %s\n", static_cast<long long>(t.token_id),
                t.label.c_str(), iso_time(t.created_at).c_str(), when(t.expires_at).c_str(),
                when(t.revoked_at).c_str(), scope.empty() ? "-" : scope.c_str(), kind.c_str());
  }
  return kExitOk;
}

int run_token_revoke(const CommandContext& ctx, const std::string& name, int64_t token_id) {
  auto d = open_daemon(ctx.data, false);
  if (!d) return fail(d.error());
  if (auto revoked = (*d)->services->identity().revoke_token(name, token_id); !revoked) {
    return fail(revoked.error());
  }
  emit({{"user", name}, {"token_id", token_id}, {"revoked", true}}, [&] {
    std::printf("revoked token %lld of %s\n", static_cast<long long>(token_id), name.c_str());
  });
  return kExitOk;
}

void add_user_commands(CLI::App& app, CommandContext& ctx) {
  auto* user = app.add_subcommand("user", "Manage users");
  user->require_subcommand(1);
  static std::string name;
  auto* add = user->add_subcommand(
      "add", "Create a user; prints its first token alone on the last line of stdout");
  add->add_option("NAME", name, "User name")->required();
  add_common_options(add, ctx);
  add->callback([&ctx] { ctx.exit_code = run_user_add(ctx, name); });

  auto* list = user->add_subcommand("list", "List users");
  add_common_options(list, ctx);
  list->callback([&ctx] { ctx.exit_code = run_user_list(ctx); });

  auto* disable = user->add_subcommand(
      "disable", "Disable a user: every token of theirs is refused from the next request on");
  disable->add_option("NAME", name, "User name")->required();
  add_common_options(disable, ctx);
  disable->callback([&ctx] { ctx.exit_code = run_user_disable(ctx, name, true); });

  auto* enable = user->add_subcommand(
      "enable", "Enable a disabled user again (and cancel a deletion not yet purged)");
  enable->add_option("NAME", name, "User name")->required();
  add_common_options(enable, ctx);
  enable->callback([&ctx] { ctx.exit_code = run_user_disable(ctx, name, false); });

  auto* del = user->add_subcommand(
      "delete",
      "Delete a user: disabled at once (every token refused), then purged with their files, "
      "history, trash, tokens and links by the first `cairnd gc` after the grace period; "
      "`cairnd user enable NAME` before then cancels. Chunks nobody else needs are then freed by "
      "gc. Refused (exit 3) if they share folders with others, unless --end-shares");
  del->add_option("NAME", name, "User name")->required();
  static std::string grace = "30d";
  del->add_option("--grace", grace, "How long before gc may purge them (e.g. 30d, 12h, 0)")
      ->capture_default_str();
  static bool end_shares = false;
  del->add_flag("--end-shares", end_shares,
                "Go ahead although they share folders with others: at the purge those users "
                "lose access (their working copies keep what they hold, as their own)");
  add_common_options(del, ctx);
  del->callback([&ctx] { ctx.exit_code = run_user_delete(ctx, name, grace, end_shares); });

  auto* quota = user->add_subcommand(
      "quota",
      "Show or set a user's quota: the logical bytes of current files plus the trash (history "
      "is free). A commit that would pass it fails and changes nothing");
  quota->add_option("NAME", name, "User name")->required();
  static std::string size;
  quota->add_option("SIZE", size,
                    "New limit: 500M, 15G, 2T (binary units), bytes, or unlimited; "
                    "without it, show the current one");
  add_common_options(quota, ctx);
  quota->callback([&ctx] { ctx.exit_code = run_user_quota(ctx, name, size); });
}

void add_token_commands(CLI::App& app, CommandContext& ctx) {
  auto* token = app.add_subcommand("token", "Manage tokens");
  token->require_subcommand(1);
  static std::string name;
  auto* create = token->add_subcommand(
      "create", "Create another token for a user; prints it alone on the last line of stdout");
  static TokenFlags flags;
  create->add_option("NAME", name, "User name")->required();
  create->add_option("--label", flags.label, "A note to remember the token by");
  create->add_option("--expires", flags.expires,
                     "Refuse the token after this long (e.g. 90m, 12h, 30d); default never");
  create->add_flag("--read-only", flags.read_only,
                   "The token can list, download and sync down, but change nothing");
  create->add_option("--path", flags.path,
                     "The token reaches only this remote folder and what is under it "
                     "(e.g. /ci for a build job)");
  add_common_options(create, ctx);
  create->callback([&ctx] { ctx.exit_code = run_token_create(ctx, name, flags); });

  auto* list = token->add_subcommand(
      "list", "List a user's tokens: id, label, created, expires, revoked (never the token)");
  list->add_option("NAME", name, "User name")->required();
  add_common_options(list, ctx);
  list->callback([&ctx] { ctx.exit_code = run_token_list(ctx, name); });

  auto* revoke = token->add_subcommand(
      "revoke", "Revoke a token by its id (see token list): refused from the next request on");
  static int64_t token_id = 0;
  revoke->add_option("NAME", name, "User name")->required();
  revoke->add_option("ID", token_id, "Token id from `cairnd token list`")->required();
  add_common_options(revoke, ctx);
  revoke->callback([&ctx] { ctx.exit_code = run_token_revoke(ctx, name, token_id); });
}

}  // namespace

void add_account_commands(CLI::App& app, CommandContext& ctx) {
  add_user_commands(app, ctx);
  add_token_commands(app, ctx);
}

}  // namespace cairn::admin
