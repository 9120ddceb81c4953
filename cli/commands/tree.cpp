// mkdir, mv, rm, history, restore, trash, conflicts, quota: organising files and getting them
// back. Inside a working copy a PATH is local (relative to the current folder) and the command
// acts on the working copy and the server together; outside one it is a remote path (/a/b).

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <optional>

#include "cli/client/net/fetch_file.h"
#include "cli/client/printer.h"
#include "cli/client/state/session.h"
#include "cli/client/sync/pull.h"
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

// One op; its result, or the transport error.
Result<protocol::CommitResult> commit_one(ApiClient& api, CommitOp op) {
  protocol::CommitRequest req;
  req.device = api.endpoint().device;
  req.ops.push_back(std::move(op));
  CAIRN_ASSIGN_OR_RETURN(auto resp, api.commit(req));
  if (resp.results.empty()) return make_error(ErrorCode::kInternal, "server sent no result");
  return resp.results[0];
}

// A result that is not ok or unchanged, as an error.
Result<protocol::CommitResult> expect_done(Result<protocol::CommitResult> r) {
  if (!r) return r;
  if (r->status == OpStatus::kOk || r->status == OpStatus::kUnchanged) return r;
  const ErrorCode code =
      r->status == OpStatus::kConflict ? ErrorCode::kConflict : error_code_from_name(r->error_code);
  return make_error(code, r->message.empty() ? "refused by the server" : r->message);
}

// Rewrites the base records at `from` and under it to `to`.
Result<void> move_base(Session& s, const std::string& from, const std::string& to) {
  CAIRN_ASSIGN_OR_RETURN(auto base, s.state->load_base());
  std::vector<BaseRecord> upserts;
  std::vector<std::string> removals;
  for (const auto& [path, b] : base) {
    if (path != from && !is_below(path, from)) continue;
    BaseRecord moved = b;
    moved.path = to + path.substr(from.size());
    removals.push_back(path);
    upserts.push_back(std::move(moved));
  }
  return s.state->update(upserts, removals, {});
}

// Where `rel` goes in .cairn/trash: a folder per deletion time, numbered if that place is taken.
std::string trash_place(const Session& s, const std::string& rel) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d-%H%M%S", &tm);
  const std::string stem = s.state->state_dir() + "/trash/" + buf;
  for (int n = 1;; ++n) {
    const std::string dest = (n == 1 ? stem : stem + "-" + std::to_string(n)) + "/" + rel;
    if (!local_exists(dest)) return dest;
  }
}

// Base records for the folders above `rel` that the server made and the base does not know yet,
// with their node ids, so that status stays in sync and later moves of them are recognised.
Result<void> record_parents(Session& s, ApiClient& api, const std::string& rel) {
  CAIRN_ASSIGN_OR_RETURN(auto base, s.state->load_base());
  std::vector<BaseRecord> upserts;
  for (size_t slash = rel.find('/'); slash != std::string::npos; slash = rel.find('/', slash + 1)) {
    const std::string folder = rel.substr(0, slash);
    if (base.count(folder) != 0) continue;
    auto st = client::stat_entry(s.root, folder);
    if (!st) continue;
    // A folder's own id comes from its parent's listing.
    const size_t up = folder.rfind('/');
    CAIRN_ASSIGN_OR_RETURN(
        auto parent, api.list(s.to_remote(up == std::string::npos ? "" : folder.substr(0, up))));
    for (const auto& e : parent.entries) {
      if (e.path == s.to_remote(folder)) {
        upserts.push_back(client::base_from_stat(*st, 0, e.node_id));
        break;
      }
    }
  }
  return s.state->update(upserts, {}, {});
}

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
  if (place->session) {
    if (auto locked = place->session->state->lock_for_writing(); !locked) {
      return fail(printer, "mkdir", locked.error());
    }
    struct stat st {};
    if (local_exists(place->session->root + "/" + *t->rel, &st) && !S_ISDIR(st.st_mode)) {
      return fail(printer, "mkdir", Error(ErrorCode::kAlreadyExists, path + " is a file here"));
    }
  }
  ApiClient api(place->endpoint);
  auto r = expect_done(commit_one(api, CommitOp::mkdir(t->remote)));
  if (!r) return fail(printer, "mkdir", r.error());
  if (place->session) {
    Session& s = *place->session;
    client::LocalTree tree(s.root);
    if (auto made = tree.make_folders(*t->rel); !made) {
      return fail(printer, "mkdir", std::move(made).error().with_context(path));
    }
    if (auto st = client::stat_entry(s.root, *t->rel)) {
      if (auto saved = s.state->update({client::base_from_stat(*st, 0, r->node_id)}, {}, {});
          !saved) {
        return fail(printer, "mkdir", saved.error());
      }
    }
  }
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
    // Into an existing folder, as mv does.
    if (auto l = api.list(to->remote);
        l && !(l->entries.size() == 1 && l->entries[0].path == to->remote)) {
      to->remote = join_remote_path(to->remote, remote_basename(from->remote));
    }
    auto r = expect_done(commit_one(api, CommitOp::move(from->remote, to->remote)));
    if (!r) return fail(printer, "mv", r.error());
    printer.document("mv",
                     "{\"from\":" + protocol::json_quote(from->remote) +
                         ",\"to\":" + protocol::json_quote(to->remote) + "}",
                     {"moved " + from->remote + " -> " + to->remote});
    return kExitOk;
  }

  Session& s = *place->session;
  if (auto locked = s.state->lock_for_writing(); !locked)
    return fail(printer, "mv", locked.error());
  std::string from_rel = *from->rel;
  std::string to_rel = *to->rel;
  struct stat st {};
  if (local_exists(s.root + "/" + to_rel, &st) && S_ISDIR(st.st_mode) && to_rel != from_rel) {
    to_rel = to_rel.empty() ? std::string(remote_basename("/" + from_rel))
                            : to_rel + "/" + std::string(remote_basename("/" + from_rel));
    to->remote = s.to_remote(to_rel);
  }
  if (to_rel == from_rel) {
    return fail(printer, "mv",
                Error(ErrorCode::kInvalidArgument, "source and target are the same"));
  }
  if (is_below(to_rel, from_rel)) {
    return fail(printer, "mv",
                Error(ErrorCode::kInvalidArgument, "cannot move " + src + " into itself"));
  }
  const std::string from_abs = s.root + "/" + from_rel;
  const std::string to_abs = s.root + "/" + to_rel;
  // A case-only rename names the same file on a case-insensitive disk: that is not a clash.
  struct stat target {};
  struct stat source {};
  const bool source_here = local_exists(from_abs, &source);
  if (local_exists(to_abs, &target) &&
      !(source_here && target.st_ino == source.st_ino && target.st_dev == source.st_dev)) {
    return fail(printer, "mv", Error(ErrorCode::kAlreadyExists, dst + " already exists"));
  }
  auto base = s.state->load_base();
  if (!base) return fail(printer, "mv", base.error());
  auto known = base->find(from_rel);
  if (!source_here && known == base->end()) {
    return fail(printer, "mv", Error(ErrorCode::kNotFound, "no such file or folder: " + src));
  }
  std::string note;
  if (known != base->end()) {
    // The server first: if it refuses, nothing here has changed.
    auto r = expect_done(
        commit_one(api, CommitOp::move(from->remote, s.to_remote(to_rel), known->second.node_id)));
    if (!r) return fail(printer, "mv", r.error());
  } else {
    note = " (not on the server yet: push to upload it)";
  }
  if (source_here) {
    // Checked free above (a case-only rename may find itself there): replacing is allowed.
    client::LocalTree tree(s.root);
    if (auto moved = tree.rename(from_rel, to_rel, /*replace=*/true); !moved) {
      return fail(printer, "mv",
                  Error(ErrorCode::kIo, "moved on the server, but not here: " +
                                            moved.error().message() + " (cairn pull applies it)"));
    }
  }
  if (auto moved = move_base(s, from_rel, to_rel); !moved)
    return fail(printer, "mv", moved.error());
  if (known != base->end()) {
    if (auto parents = record_parents(s, api, to_rel); !parents) {
      printer.warn("could not record the new folders: " + parents.error().message());
    }
  }
  printer.document("mv",
                   "{\"from\":" + protocol::json_quote(from->remote) +
                       ",\"to\":" + protocol::json_quote(s.to_remote(to_rel)) + "}",
                   {"moved " + from_rel + " -> " + to_rel + note});
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
  const Error folder_needs_r(ErrorCode::kInvalidArgument,
                             path + " is a folder: use -r to delete it and everything in it");

  if (!place->session) {
    auto l = api.list(t->remote);
    if (!l) return fail(printer, "rm", l.error());
    const bool file = l->entries.size() == 1 && l->entries[0].path == t->remote;
    if (!file && !recursive) return fail(printer, "rm", folder_needs_r);
    auto r = expect_done(commit_one(api, CommitOp::remove(t->remote, std::nullopt)));
    if (!r) return fail(printer, "rm", r.error());
    printer.document("rm", "{\"path\":" + protocol::json_quote(t->remote) + "}",
                     {"deleted " + t->remote + " (cairn trash restore brings it back)"});
    return kExitOk;
  }

  Session& s = *place->session;
  if (auto locked = s.state->lock_for_writing(); !locked)
    return fail(printer, "rm", locked.error());
  const std::string rel = *t->rel;
  const std::string abs = s.root + "/" + rel;
  struct stat st {};
  const bool here = local_exists(abs, &st);
  auto base = s.state->load_base();
  if (!base) return fail(printer, "rm", base.error());
  auto known = base->find(rel);
  if (!here && known == base->end()) {
    return fail(printer, "rm", Error(ErrorCode::kNotFound, "no such file or folder: " + path));
  }
  const bool folder = here ? S_ISDIR(st.st_mode) : known->second.kind == NodeKind::kFolder;
  if (folder && !recursive) return fail(printer, "rm", folder_needs_r);
  if (known != base->end()) {
    // A file: that version of that node, or nothing (an edit or a replacement made elsewhere
    // wins). A folder: everything in it, as asked.
    std::optional<int64_t> guard;
    if (!folder && known->second.version > 0) guard = known->second.version;
    const int64_t node = folder ? 0 : known->second.node_id;
    auto r = expect_done(commit_one(api, CommitOp::remove(t->remote, guard, node)));
    if (!r) {
      if (r.error().code() == ErrorCode::kConflict) {
        return fail(printer, "rm",
                    Error(ErrorCode::kConflict, path + " changed on the server since you last "
                                                       "pulled; pull, look, and delete again"));
      }
      return fail(printer, "rm", r.error());
    }
  }
  // The local copy goes to .cairn/trash, not away: it may hold edits never pushed.
  if (here) {
    const std::string dest = trash_place(s, rel);
    std::error_code ec;
    fs::create_directories(fs::path(dest).parent_path(), ec);
    client::LocalTree tree(s.root);
    auto moved = ec ? Result<void>(Error(ErrorCode::kIo, ec.message())) : tree.move_out(rel, dest);
    if (!moved) {
      return fail(
          printer, "rm",
          Error(ErrorCode::kIo, "deleted on the server, but not here: " + moved.error().message()));
    }
  }
  std::vector<std::string> removals;
  for (const auto& [p, b] : *base) {
    if (is_within(p, rel)) removals.push_back(p);
  }
  if (auto saved = s.state->update({}, removals, {}); !saved)
    return fail(printer, "rm", saved.error());
  printer.document("rm", "{\"path\":" + protocol::json_quote(t->remote) + "}",
                   {"deleted " + rel +
                    (known != base->end() ? " (cairn trash restore brings it back)"
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
    lines.push_back(buf + client::human_time(v.created_at) + "  " + client::human_bytes(v.size) +
                    "  " + v.author + "@" + v.device + (i == 0 ? "  (current)" : ""));
  }
  if (lines.empty()) lines.push_back("no versions");
  printer.document("history", protocol::encode_json(*h), lines);
  return kExitOk;
}

// The newest trash entry that was at `remote`.
Result<protocol::TrashEntry> in_trash(ApiClient& api, const std::string& remote) {
  CAIRN_ASSIGN_OR_RETURN(auto bin, api.trash());
  for (const auto& e : bin.entries) {
    if (e.path == remote) return e;
  }
  return make_error(ErrorCode::kNotFound,
                    remote +
                        " is not in the trash (see cairn trash ls; a file inside a deleted "
                        "folder comes back with its folder)");
}

int run_restore(CommandContext& ctx, const std::string& path, int64_t version,
                const std::string& to_local, const std::string& command) {
  Printer printer(mode_of(ctx));
  auto place = open_place(ctx);
  if (!place) return fail(printer, command, place.error());
  auto t = resolve(ctx, *place, path);
  if (!t) return fail(printer, command, t.error());
  ApiClient api(place->endpoint);

  if (!to_local.empty()) {
    // A copy of that version, here; the server is not changed.
    auto h = api.history(t->remote);
    if (!h && h.error().code() == ErrorCode::kNotFound) {
      auto binned = in_trash(api, t->remote);
      if (binned && binned->kind != NodeKind::kFolder) h = api.history("", binned->node_id);
    }
    if (!h) return fail(printer, command, h.error());
    const protocol::VersionInfo* chosen = nullptr;
    for (const auto& v : h->versions) {
      if (version == 0 ? chosen == nullptr : v.version == version) chosen = &v;
    }
    if (chosen == nullptr) {
      return fail(printer, command,
                  Error(ErrorCode::kNotFound, "no version " + std::to_string(version) + " of " +
                                                  t->remote + " (see cairn history)"));
    }
    if (chosen->kind != NodeKind::kFile) {
      return fail(printer, command,
                  Error(ErrorCode::kInvalidArgument,
                        "that version is a symlink to " + chosen->symlink_target));
    }
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
  Result<protocol::CommitResult> r = make_error(ErrorCode::kInternal, "unreachable");
  std::string what;
  if (version > 0) {
    // In a working copy, the version is one of the file this copy knows at that path.
    int64_t node = 0;
    if (place->session && t->rel) {
      if (auto base = place->session->state->load_base(); base) {
        if (auto known = base->find(*t->rel); known != base->end()) node = known->second.node_id;
      }
    }
    r = expect_done(commit_one(api, CommitOp::restore(t->remote, version, node)));
    what = "restored version " + std::to_string(version) + " of " + t->remote;
  } else {
    auto binned = in_trash(api, t->remote);
    if (!binned) {
      // Live files need a version number.
      if (auto live = api.list(t->remote); live) {
        return fail(printer, command,
                    Error(ErrorCode::kInvalidArgument,
                          t->remote + " is not deleted: give --version N (see cairn history)"));
      }
      return fail(printer, command, binned.error());
    }
    r = expect_done(commit_one(api, CommitOp::undelete(binned->node_id)));
    what = "restored " + t->remote + " from the trash";
  }
  if (!r) return fail(printer, command, r.error());
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
  auto binned = in_trash(api, t->remote);
  if (!binned) return fail(printer, command, binned.error());
  auto r = expect_done(commit_one(api, CommitOp::undelete(binned->node_id, to_remote)));
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
  add_output_flags(restore, ctx);
  restore->callback([&ctx] {
    ctx.exit_code = run_restore(ctx, restore_path, restore_version, restore_to, "restore");
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
