// mkdir, mv, rm, history, restore, trash, conflicts, quota: organising files and getting them
// back. Inside a working copy a PATH is local (relative to the current folder) and the command
// acts on the working copy and the server together; outside one it is a remote path (/a/b).

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <optional>

#include "cli/client/net/fetch_file.h"
#include "cli/client/printer.h"
#include "cli/client/state/session.h"
#include "cli/client/sync/pull.h"
#include "cli/client/sync/tree_ops.h"
#include "cli/client/tree/local_tree.h"
#include "cli/client/tree/scanner.h"
#include "cli/commands/commands.h"
#include "cli/commands/exit_codes.h"
#include "cli/commands/place.h"
#include "common/conflict_name.h"
#include "common/protocol/protocol.h"
#include "common/remote_path.h"

namespace cairn::cli {
namespace {

namespace fs = std::filesystem;
using client::ApiClient;
using client::BaseRecord;
using client::Printer;
using client::Session;
using protocol::CommitOp;
using protocol::NodeKind;
using protocol::OpStatus;

// Brings the working copy up to date after a server-side restore.
// Returns what the caller should add to its message if that did not fully work.
std::string pull_after(Session& s) {
  Printer quiet(client::OutputMode::kQuiet);
  auto pulled = client::pull(s, {}, quiet);
  if (!pulled) return "; pull failed: " + pulled.error().message() + " (run cairn pull)";
  if (!pulled->errors.empty()) return "; pull: " + pulled->errors.front();
  return "";
}

// Takes the working copy's lock when the command runs in one.
Result<void> lock_here(Place& place) {
  if (!place.session) return {};
  return place.session->state->lock_for_writing();
}

// After a server-side change in a working copy, pulls it; returns what to add to the message
// ("" when the pull worked). Releases this command's lock first: pull() takes it itself.
std::string follow_server(Place& place) {
  if (!place.session) return "";
  place.session->state.reset();
  auto again = client::open_session(place.session->root);
  return again ? pull_after(*again) : "; " + again.error().message() + " (run cairn pull)";
}

int run_mkdir(CommandContext& ctx, const std::string& path) {
  Printer printer(mode_of(ctx));
  auto place = open_place(ctx);
  if (!place) return fail(printer, "mkdir", place.error());
  auto t = resolve(ctx, *place, path);
  if (!t) return fail(printer, "mkdir", t.error());
  ApiClient api(place->endpoint);
  Session* session = place->session ? &*place->session : nullptr;
  auto r = client::make_folder(api, session, t->remote, t->rel, path);
  if (!r) return fail(printer, "mkdir", r.error());
  printer.document("mkdir",
                   "{\"path\":" + protocol::json_quote(t->remote) +
                       ",\"created\":" + (r->status == OpStatus::kOk ? "true" : "false") + "}",
                   {(r->status == OpStatus::kOk ? "created " : "exists: ") + t->remote});
  return kExitOk;
}

int run_mv(CommandContext& ctx, const std::string& src, const std::string& dst) {
  Printer printer(mode_of(ctx));
  auto place = open_place(ctx);
  if (!place) return fail(printer, "mv", place.error());
  auto from = resolve(ctx, *place, src);
  if (!from) return fail(printer, "mv", from.error());
  auto to = resolve(ctx, *place, dst);
  if (!to) return fail(printer, "mv", to.error());
  if (from->remote == "/" || (from->rel && from->rel->empty())) {
    return fail(printer, "mv", Error(ErrorCode::kInvalidArgument, "cannot move the root"));
  }
  ApiClient api(place->endpoint);
  if (!place->session) {
    auto moved = client::move_on_server(api, from->remote, to->remote);
    if (!moved) return fail(printer, "mv", moved.error());
    printer.document("mv",
                     "{\"from\":" + protocol::json_quote(from->remote) +
                         ",\"to\":" + protocol::json_quote(*moved) + "}",
                     {"moved " + from->remote + " -> " + *moved});
    return kExitOk;
  }
  Session& s = *place->session;
  auto done = client::move_in_working_copy(s, api, *from->rel, *to->rel, src, dst);
  if (!done) return fail(printer, "mv", done.error());
  if (!done->warning.empty()) printer.warn(done->warning);
  printer.document("mv",
                   "{\"from\":" + protocol::json_quote(from->remote) +
                       ",\"to\":" + protocol::json_quote(s.to_remote(done->to_rel)) + "}",
                   {"moved " + *from->rel + " -> " + done->to_rel +
                    (done->on_server ? "" : " (not on the server yet: push to upload it)")});
  return kExitOk;
}

int run_rm(CommandContext& ctx, const std::string& path, bool recursive) {
  Printer printer(mode_of(ctx));
  auto place = open_place(ctx);
  if (!place) return fail(printer, "rm", place.error());
  auto t = resolve(ctx, *place, path);
  if (!t) return fail(printer, "rm", t.error());
  if (t->remote == "/" || (t->rel && t->rel->empty())) {
    return fail(printer, "rm", Error(ErrorCode::kInvalidArgument, "cannot delete the root"));
  }
  ApiClient api(place->endpoint);
  if (!place->session) {
    if (auto removed = client::remove_on_server(api, t->remote, path, recursive); !removed) {
      return fail(printer, "rm", removed.error());
    }
    printer.document("rm", "{\"path\":" + protocol::json_quote(t->remote) + "}",
                     {"deleted " + t->remote + " (cairn trash restore brings it back)"});
    return kExitOk;
  }
  auto synced = client::remove_in_working_copy(*place->session, api, *t->rel, path, recursive);
  if (!synced) return fail(printer, "rm", synced.error());
  printer.document("rm", "{\"path\":" + protocol::json_quote(t->remote) + "}",
                   {"deleted " + *t->rel +
                    (*synced ? " (cairn trash restore brings it back)"
                             : " (it was never pushed; it is in .cairn/trash)")});
  return kExitOk;
}

int run_history(CommandContext& ctx, const std::string& path) {
  Printer printer(mode_of(ctx));
  auto place = open_place(ctx);
  if (!place) return fail(printer, "history", place.error());
  auto t = resolve(ctx, *place, path);
  if (!t) return fail(printer, "history", t.error());
  ApiClient api(place->endpoint);
  auto h = api.history(t->remote);
  if (!h) return fail(printer, "history", h.error());
  std::vector<std::string> lines;
  for (size_t i = 0; i < h->versions.size(); ++i) {
    const auto& v = h->versions[i];
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%5lld  ", static_cast<long long>(v.version));
    lines.push_back(
        buf + client::human_time(v.created_at) + "  " + client::human_bytes(v.size) + "  " +
        client::printable((v.author.empty() ? "(deleted user)" : v.author) + "@" + v.device) +
        (i == 0 ? "  (current)" : ""));
  }
  if (lines.empty()) lines.push_back("no versions");
  printer.document("history", protocol::encode_json(*h), lines);
  return kExitOk;
}

// `restore PATH --at TIME`: the server's folder (or file) as it was then, in one transaction.
int run_restore_at(Printer& printer, Place& place, const Target& t, int64_t at_ms) {
  const std::string command = "restore";
  ApiClient api(place.endpoint);
  if (auto locked = lock_here(place); !locked) return fail(printer, command, locked.error());
  auto r = client::restore_at_on_server(api, t.remote, at_ms);
  if (!r) return fail(printer, command, r.error());
  std::string what = r->status == OpStatus::kOk
                         ? "restored " + t.remote + ": " + std::to_string(r->changed) +
                               " brought back, " + std::to_string(r->deleted) +
                               " made since moved to the trash"
                         : t.remote + " is already as it was then";
  const std::string trouble = follow_server(place);
  what += trouble;
  printer.document(command,
                   "{\"path\":" + protocol::json_quote(t.remote) + ",\"at_ms\":" +
                       std::to_string(at_ms) + ",\"entries\":" + std::to_string(r->published) +
                       ",\"changed\":" + std::to_string(r->changed) +
                       ",\"deleted\":" + std::to_string(r->deleted) + "}",
                   {what});
  return trouble.empty() ? kExitOk : kExitError;
}

// Local time to the second, for the log.
std::string local_time_ms(int64_t at_ms) {
  const std::time_t t = static_cast<std::time_t>(at_ms / 1000);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

int run_log(CommandContext& ctx, const std::string& path, const std::string& since, int limit) {
  const std::string command = "log";
  Printer printer(mode_of(ctx));
  auto since_ms = parse_at(since);
  if (!since_ms) return fail(printer, command, since_ms.error());
  auto place = open_place(ctx);
  if (!place) return fail(printer, command, place.error());
  auto t = resolve(ctx, *place, path.empty() ? (place->session ? "." : "/") : path);
  if (!t) return fail(printer, command, t.error());
  ApiClient api(place->endpoint);
  protocol::LogResponse all;
  int64_t before = 0;
  do {
    const int want =
        limit > 0 ? std::min(1000, limit - static_cast<int>(all.entries.size())) : 1000;
    auto page = api.log(t->remote, before, since_ms->value_or(0), want);
    if (!page) return fail(printer, command, page.error());
    for (auto& e : page->entries) all.entries.push_back(std::move(e));
    before = page->next_before;
    all.next_before = before;
  } while (before != 0 && (limit <= 0 || static_cast<int>(all.entries.size()) < limit));
  std::vector<std::string> lines;
  for (const auto& e : all.entries) {
    std::string line = local_time_ms(e.at_ms) + "  " + client::printable(e.op);
    line.append(e.op.size() < 8 ? 8 - e.op.size() : 1, ' ');
    line +=
        client::printable(e.op == "move" && !e.from.empty() ? e.from + " -> " + e.path : e.path);
    if (e.kind == NodeKind::kFolder && e.path != "/") line += "/";
    if (e.kind != NodeKind::kFolder && (e.op == "put" || e.op == "restore")) {
      line += "  (version " + std::to_string(e.version) + ")";
    }
    if (!e.author.empty()) line += "  " + client::printable(e.author + "@" + e.device);
    lines.push_back(std::move(line));
  }
  if (lines.empty()) lines.push_back("no changes");
  if (all.next_before != 0) lines.push_back("... and older changes (without --limit: all)");
  printer.document(command, protocol::encode_json(all), lines);
  return kExitOk;
}

int run_restore(CommandContext& ctx, const std::string& path, int64_t version,
                const std::string& to_local, const std::string& command, const std::string& at) {
  Printer printer(mode_of(ctx));
  auto when = parse_at(at);
  if (!when) return fail(printer, command, when.error());
  if (*when && (version > 0 || !to_local.empty())) {
    return fail(printer, command,
                Error(ErrorCode::kInvalidArgument,
                      "--at restores a whole folder or file as it was; it goes without --version "
                      "and --to (cairn get PATH LOCAL --at TIME writes a copy instead)"));
  }
  auto place = open_place(ctx);
  if (!place) return fail(printer, command, place.error());
  auto t = resolve(ctx, *place, path);
  if (!t) return fail(printer, command, t.error());
  if (*when) return run_restore_at(printer, *place, *t, **when);
  ApiClient api(place->endpoint);

  if (!to_local.empty()) {
    // A copy of that version, here; the server is not changed.
    auto chosen = client::find_file_version(api, t->remote, version);
    if (!chosen) return fail(printer, command, chosen.error());
    fs::path dest(to_local);
    if (dest.is_relative()) dest = fs::absolute(fs::path(ctx.directory) / dest);
    auto got = client::fetch_file(api, chosen->manifest, chosen->size, chosen->mode,
                                  dest.lexically_normal().string());
    if (!got) return fail(printer, command, got.error());
    printer.document(command,
                     "{\"path\":" + protocol::json_quote(t->remote) +
                         ",\"version\":" + std::to_string(chosen->version) +
                         ",\"to\":" + protocol::json_quote(dest.string()) +
                         ",\"size\":" + std::to_string(got->size) + "}",
                     {"wrote version " + std::to_string(chosen->version) + " of " + t->remote +
                      " to " + dest.string() + " (" + client::human_bytes(got->size) + ")"});
    return kExitOk;
  }

  if (auto locked = lock_here(*place); !locked) return fail(printer, command, locked.error());
  Session* session = place->session ? &*place->session : nullptr;
  auto r = client::restore_on_server(api, session, t->remote, t->rel, version);
  if (!r) return fail(printer, command, r.error());
  std::string what = version > 0
                         ? "restored version " + std::to_string(version) + " of " + t->remote
                         : "restored " + t->remote + " from the trash";
  if (r->status == OpStatus::kOk) {
    what += r->version > 0 ? " (now version " + std::to_string(r->version) + ")" : "";
  } else {
    what = t->remote + " already has that content";
  }
  const std::string trouble = follow_server(*place);
  what += trouble;
  printer.document(command,
                   "{\"path\":" + protocol::json_quote(t->remote) +
                       ",\"version\":" + std::to_string(r->version) +
                       ",\"changed\":" + (r->status == OpStatus::kOk ? "true" : "false") + "}",
                   {what});
  return trouble.empty() ? kExitOk : kExitError;  // The server side is done either way.
}

int run_trash(CommandContext& ctx, const std::string& action, const std::string& path,
              const std::string& to, bool yes) {
  const std::string command = "trash";
  Printer printer(mode_of(ctx));
  auto place = open_place(ctx);
  if (!place) return fail(printer, command, place.error());
  ApiClient api(place->endpoint);
  if (action == "ls" || action.empty()) {
    auto bin = api.trash();
    if (!bin) return fail(printer, command, bin.error());
    std::vector<std::string> lines;
    for (const auto& e : bin->entries) {
      std::string line = client::human_time(e.deleted_at) + "  " + e.path;
      if (e.kind == NodeKind::kFolder) {
        line += "/  (" + std::to_string(e.files) + " files, " + client::human_bytes(e.size) + ")";
      } else {
        line += "  (" + client::human_bytes(e.size) + ")";
      }
      lines.push_back(std::move(line));
    }
    if (lines.empty()) lines.push_back("the trash is empty");
    printer.document(command, protocol::encode_json(*bin), lines);
    return kExitOk;
  }
  if (action == "empty") {
    if (!yes) {
      return fail(printer, command,
                  Error(ErrorCode::kInvalidArgument,
                        "this deletes everything in the trash for good; add --yes to go on"));
    }
    auto emptied = api.empty_trash();
    if (!emptied) return fail(printer, command, emptied.error());
    printer.document(command, protocol::encode_json(*emptied),
                     {"emptied the trash: " + std::to_string(emptied->nodes) + " items, " +
                      client::human_bytes(emptied->bytes) + " freed from the quota"});
    return kExitOk;
  }
  if (action != "restore") {
    return fail(printer, command,
                Error(ErrorCode::kInvalidArgument,
                      "unknown action " + action + " (expected ls, restore or empty)"));
  }
  if (path.empty()) {
    return fail(printer, command, Error(ErrorCode::kInvalidArgument, "restore needs a PATH"));
  }
  auto t = resolve(ctx, *place, path);
  if (!t) return fail(printer, command, t.error());
  std::string to_remote;
  if (!to.empty()) {
    auto dest = resolve(ctx, *place, to);
    if (!dest) return fail(printer, command, dest.error());
    to_remote = dest->remote;
  }
  if (auto locked = lock_here(*place); !locked) return fail(printer, command, locked.error());
  auto binned = client::in_trash(api, t->remote);
  if (!binned) return fail(printer, command, binned.error());
  auto r =
      client::expect_done(client::commit_one(api, CommitOp::undelete(binned->node_id, to_remote)));
  if (!r) return fail(printer, command, r.error());
  std::string what = "restored " + t->remote +
                     (to_remote.empty() || to_remote == t->remote ? "" : " to " + to_remote);
  const std::string trouble = follow_server(*place);
  what += trouble;
  printer.document(command,
                   "{\"path\":" + protocol::json_quote(t->remote) +
                       ",\"to\":" + protocol::json_quote(r->path) + "}",
                   {what});
  return trouble.empty() ? kExitOk : kExitError;
}

int run_conflicts(CommandContext& ctx) {
  Printer printer(mode_of(ctx));
  auto place = open_place(ctx);
  if (!place) return fail(printer, "conflicts", place.error());
  std::vector<std::string> found;
  if (place->session) {
    auto scan = client::scan_tree(place->session->root);
    if (!scan) return fail(printer, "conflicts", scan.error());
    for (const auto& e : scan->entries) {
      if (is_conflicted_copy(remote_basename("/" + e.path))) found.push_back(e.path);
    }
  } else {
    ApiClient api(place->endpoint);
    std::string cursor;
    while (true) {
      auto page = api.changes(cursor, 5000);
      if (!page) return fail(printer, "conflicts", page.error());
      for (const auto& e : page->changes) {
        if (!e.deleted && is_conflicted_copy(remote_basename(e.path))) found.push_back(e.path);
      }
      cursor = page->cursor;
      if (!page->has_more) break;
    }
    std::sort(found.begin(), found.end());
  }
  std::string json = "{\"conflicts\":[";
  std::vector<std::string> lines;
  for (size_t i = 0; i < found.size(); ++i) {
    json += (i == 0 ? "" : ",") + protocol::json_quote(found[i]);
    lines.push_back(found[i]);
  }
  json += "]}";
  if (lines.empty()) {
    lines.push_back("no conflicted copies");
  } else {
    lines.push_back("(keep what you want in the original, then delete the copy: cairn rm)");
  }
  printer.document("conflicts", json, lines);
  return kExitOk;
}

int run_quota(CommandContext& ctx) {
  Printer printer(mode_of(ctx));
  auto place = open_place(ctx);
  if (!place) return fail(printer, "quota", place.error());
  ApiClient api(place->endpoint);
  auto q = api.quota();
  if (!q) return fail(printer, "quota", q.error());
  std::string line = "used " + client::human_bytes(q->used);
  if (q->limit) {
    const double share =
        *q->limit == 0 ? 100.0
                       : 100.0 * static_cast<double>(q->used) / static_cast<double>(*q->limit);
    char pct[32];
    std::snprintf(pct, sizeof(pct), " (%.1f%%)", share);
    line += " of " + client::human_bytes(*q->limit) + pct;
  } else {
    line += " (no limit)";
  }
  line += "; current files and the trash count, history is free";
  printer.document("quota", protocol::encode_json(*q), {line});
  return kExitOk;
}

}  // namespace

void add_tree_commands(CLI::App& app, CommandContext& ctx) {
  const char* path_help = "Path in the working copy, or a remote path like /docs outside one";

  auto* mkdir =
      app.add_subcommand("mkdir", "Create a folder (and its parents) here and on the server");
  static std::string mkdir_path;
  mkdir->add_option("PATH", mkdir_path, path_help)->required();
  add_output_flags(mkdir, ctx);
  mkdir->callback([&ctx] { ctx.exit_code = run_mkdir(ctx, mkdir_path); });

  auto* mv = app.add_subcommand(
      "mv",
      "Rename or move a file or folder, here and on the server, in one step. Files keep "
      "their history; nothing is uploaded again. Into an existing folder if TARGET is one");
  static std::string mv_from;
  static std::string mv_to;
  mv->add_option("SOURCE", mv_from, path_help)->required();
  mv->add_option("TARGET", mv_to, "New path, or an existing folder to move into")->required();
  add_output_flags(mv, ctx);
  mv->callback([&ctx] { ctx.exit_code = run_mv(ctx, mv_from, mv_to); });

  auto* rm = app.add_subcommand(
      "rm",
      "Delete a file or folder here and on the server. The server keeps it in the trash "
      "(cairn trash restore); the local copy goes to .cairn/trash");
  static std::string rm_path;
  static bool rm_recursive = false;
  rm->add_option("PATH", rm_path, path_help)->required();
  rm->add_flag("-r,--recursive", rm_recursive, "Delete a folder and everything in it");
  add_output_flags(rm, ctx);
  rm->callback([&ctx] { ctx.exit_code = run_rm(ctx, rm_path, rm_recursive); });

  auto* history = app.add_subcommand(
      "history", "List a file's versions, newest first: number, time, size, who and from where");
  static std::string history_path;
  history->add_option("PATH", history_path, path_help)->required();
  add_output_flags(history, ctx);
  history->callback([&ctx] { ctx.exit_code = run_history(ctx, history_path); });

  auto* log = app.add_subcommand(
      "log",
      "What changed on the server, newest first: when, what (put, mkdir, move, delete, "
      "restore, share, unshare), where, by whom and from which device");
  log->footer(
      "PATH: what is there now, and what was deleted from it (default: the working copy, or "
      "/ outside one).\n\n"
      "  cairn log /docs --since 3d\n"
      "  cairn log /ci --limit 0 --json");
  static std::string log_path;
  static std::string log_since;
  static int log_limit = 0;
  log->add_option("PATH", log_path, path_help);
  log->add_option("--since", log_since,
                  "Only changes made since TIME (a date, a date and time, 3d, @UNIX_SECONDS)");
  log->add_option("--limit", log_limit, "Show at most this many changes, the newest (0: all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  add_output_flags(log, ctx);
  log->callback([&ctx] { ctx.exit_code = run_log(ctx, log_path, log_since, log_limit); });

  auto* restore = app.add_subcommand(
      "restore",
      "Bring back an old version (as a new version: instant, nothing is uploaded) or a deleted "
      "file or folder. Inside a working copy the result is pulled. With --to, write a copy to a "
      "local file instead and leave the server as it is");
  static std::string restore_path;
  static int64_t restore_version = 0;
  static std::string restore_to;
  restore->add_option("PATH", restore_path, path_help)->required();
  restore
      ->add_option("--version", restore_version,
                   "Version number from cairn history; without it, PATH comes back from the "
                   "trash (with --to: the newest version)")
      ->check(CLI::NonNegativeNumber);
  restore->add_option("--to", restore_to, "Write that version to this local file (must not exist)");
  static std::string restore_at;
  restore->add_option("--at", restore_at,
                      std::string(kAtHelp) +
                          ". The folder (or file) at PATH then becomes, on the server, what it "
                          "was: files as they were come back as new versions (deleted ones "
                          "too), and what was made since goes to the trash; one transaction");
  add_output_flags(restore, ctx);
  restore->callback([&ctx] {
    ctx.exit_code =
        run_restore(ctx, restore_path, restore_version, restore_to, "restore", restore_at);
  });

  auto* trash = app.add_subcommand(
      "trash",
      "What was deleted, on the server: `trash` or `trash ls` lists it, `trash restore PATH "
      "[--to NEW]` brings one back with everything deleted with it, `trash empty --yes` deletes "
      "it all for good. The trash counts against the quota");
  static std::string trash_action;
  static std::string trash_path;
  static std::string trash_to;
  static bool trash_yes = false;
  trash->add_option("ACTION", trash_action, "ls (default), restore or empty")
      ->check(CLI::IsMember({"ls", "restore", "empty"}));
  trash->add_option("PATH", trash_path, "restore: the path it had");
  trash->add_option("--to", trash_to, "restore: put it here instead of its old place");
  trash->add_flag("--yes", trash_yes, "empty: really delete everything in the trash");
  add_output_flags(trash, ctx);
  trash->callback(
      [&ctx] { ctx.exit_code = run_trash(ctx, trash_action, trash_path, trash_to, trash_yes); });

  auto* conflicts = app.add_subcommand(
      "conflicts",
      "List conflicted copies: when two places changed a file, both versions are kept, the "
      "later one as 'NAME (conflicted copy from DEVICE DATE TIME).EXT' beside it");
  add_output_flags(conflicts, ctx);
  conflicts->callback([&ctx] { ctx.exit_code = run_conflicts(ctx); });

  auto* quota = app.add_subcommand("quota", "Show how much of your quota is used");
  add_output_flags(quota, ctx);
  quota->callback([&ctx] { ctx.exit_code = run_quota(ctx); });
}

}  // namespace cairn::cli
