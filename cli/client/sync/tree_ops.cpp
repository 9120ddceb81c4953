#include "cli/client/sync/tree_ops.h"

#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <map>
#include <vector>

#include "cli/client/tree/local_tree.h"
#include "cli/client/tree/scanner.h"
#include "common/paths.h"
#include "common/remote_path.h"

namespace cairn::client {
namespace {

namespace fs = std::filesystem;
using protocol::CommitOp;
using protocol::OpStatus;

bool local_exists(const std::string& abs, struct stat* st = nullptr) {
  struct stat s {};
  const bool ok = ::lstat(abs.c_str(), &s) == 0;
  if (st != nullptr) *st = s;
  return ok;
}

// Rewrites the base records at `from` and under it to `to`.
Result<void> move_base(Session& s, const std::string& from, const std::string& to) {
  CAIRN_ASSIGN_OR_RETURN(auto base, s.state->load_base());
  std::vector<BaseRecord> upserts;
  std::vector<std::string> removals;
  for (const auto& [path, b] : base) {
    if (!is_within(path, from)) continue;
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
    auto st = stat_entry(s.root, folder);
    if (!st) continue;
    // A folder's own id comes from its parent's listing.
    const size_t up = folder.rfind('/');
    CAIRN_ASSIGN_OR_RETURN(
        auto parent, api.list(s.to_remote(up == std::string::npos ? "" : folder.substr(0, up))));
    for (const auto& e : parent.entries) {
      if (e.path == s.to_remote(folder)) {
        upserts.push_back(base_from_stat(*st, 0, e.node_id));
        break;
      }
    }
  }
  return s.state->update(upserts, {}, {});
}

Error folder_needs_r(const std::string& label) {
  return Error(ErrorCode::kInvalidArgument,
               label + " is a folder: use -r to delete it and everything in it");
}

}  // namespace

Result<protocol::CommitResult> commit_one(ApiClient& api, CommitOp op) {
  protocol::CommitRequest req;
  req.device = api.endpoint().device;
  req.ops.push_back(std::move(op));
  CAIRN_ASSIGN_OR_RETURN(auto resp, api.commit(req));
  if (resp.results.empty()) return make_error(ErrorCode::kInternal, "server sent no result");
  return resp.results[0];
}

Result<protocol::CommitResult> expect_done(Result<protocol::CommitResult> r) {
  if (!r) return r;
  if (r->status == OpStatus::kOk || r->status == OpStatus::kUnchanged) return r;
  const ErrorCode code =
      r->status == OpStatus::kConflict ? ErrorCode::kConflict : error_code_from_name(r->error_code);
  return make_error(code, r->message.empty() ? "refused by the server" : r->message);
}

Result<protocol::CommitResult> make_folder(ApiClient& api, Session* session,
                                           const std::string& remote,
                                           const std::optional<std::string>& rel,
                                           const std::string& label) {
  if (session != nullptr) {
    CAIRN_RETURN_IF_ERROR(session->state->lock_for_writing());
    struct stat st {};
    if (local_exists(session->root + "/" + *rel, &st) && !S_ISDIR(st.st_mode)) {
      return make_error(ErrorCode::kAlreadyExists, label + " is a file here");
    }
  }
  CAIRN_ASSIGN_OR_RETURN(auto r, expect_done(commit_one(api, CommitOp::mkdir(remote))));
  if (session == nullptr) return r;
  LocalTree tree(session->root);
  if (auto made = tree.make_folders(*rel); !made)
    return std::move(made).error().with_context(label);
  if (auto st = stat_entry(session->root, *rel)) {
    CAIRN_RETURN_IF_ERROR(session->state->update({base_from_stat(*st, 0, r.node_id)}, {}, {}));
  }
  return r;
}

Result<std::string> move_on_server(ApiClient& api, const std::string& from, std::string to) {
  // Into an existing folder, as mv does.
  if (auto l = api.list(to); l && !(l->entries.size() == 1 && l->entries[0].path == to)) {
    to = join_remote_path(to, remote_basename(from));
  }
  CAIRN_RETURN_IF_ERROR(expect_done(commit_one(api, CommitOp::move(from, to))));
  return to;
}

Result<LocalMoveDone> move_in_working_copy(Session& s, ApiClient& api, const std::string& from_rel,
                                           std::string to_rel, const std::string& src,
                                           const std::string& dst) {
  CAIRN_RETURN_IF_ERROR(s.state->lock_for_writing());
  struct stat st {};
  if (local_exists(s.root + "/" + to_rel, &st) && S_ISDIR(st.st_mode) && to_rel != from_rel) {
    to_rel = to_rel.empty() ? std::string(remote_basename("/" + from_rel))
                            : to_rel + "/" + std::string(remote_basename("/" + from_rel));
  }
  if (to_rel == from_rel) {
    return make_error(ErrorCode::kInvalidArgument, "source and target are the same");
  }
  if (is_below(to_rel, from_rel)) {
    return make_error(ErrorCode::kInvalidArgument, "cannot move " + src + " into itself");
  }
  // A case-only rename names the same file on a case-insensitive disk: that is not a clash.
  struct stat target {};
  struct stat source {};
  const bool source_here = local_exists(s.root + "/" + from_rel, &source);
  if (local_exists(s.root + "/" + to_rel, &target) &&
      !(source_here && target.st_ino == source.st_ino && target.st_dev == source.st_dev)) {
    return make_error(ErrorCode::kAlreadyExists, dst + " already exists");
  }
  CAIRN_ASSIGN_OR_RETURN(auto base, s.state->load_base());
  auto known = base.find(from_rel);
  if (!source_here && known == base.end()) {
    return make_error(ErrorCode::kNotFound, "no such file or folder: " + src);
  }
  LocalMoveDone done;
  done.to_rel = to_rel;
  done.on_server = known != base.end();
  if (done.on_server) {
    // The server first: if it refuses, nothing here has changed.
    CAIRN_RETURN_IF_ERROR(expect_done(commit_one(
        api, CommitOp::move(s.to_remote(from_rel), s.to_remote(to_rel), known->second.node_id))));
  }
  if (source_here) {
    // Checked free above (a case-only rename may find itself there): replacing is allowed.
    LocalTree tree(s.root);
    if (auto moved = tree.rename(from_rel, to_rel, /*replace=*/true); !moved) {
      return make_error(ErrorCode::kIo, "moved on the server, but not here: " +
                                            moved.error().message() + " (cairn pull applies it)");
    }
  }
  CAIRN_RETURN_IF_ERROR(move_base(s, from_rel, to_rel));
  if (done.on_server) {
    if (auto parents = record_parents(s, api, to_rel); !parents) {
      done.warning = "could not record the new folders: " + parents.error().message();
    }
  }
  return done;
}

Result<void> remove_on_server(ApiClient& api, const std::string& remote, const std::string& label,
                              bool recursive) {
  CAIRN_ASSIGN_OR_RETURN(auto l, api.list(remote));
  const bool file = l.entries.size() == 1 && l.entries[0].path == remote;
  if (!file && !recursive) return folder_needs_r(label);
  CAIRN_RETURN_IF_ERROR(expect_done(commit_one(api, CommitOp::remove(remote, std::nullopt))));
  return {};
}

Result<bool> remove_in_working_copy(Session& s, ApiClient& api, const std::string& rel,
                                    const std::string& label, bool recursive) {
  CAIRN_RETURN_IF_ERROR(s.state->lock_for_writing());
  struct stat st {};
  const bool here = local_exists(s.root + "/" + rel, &st);
  CAIRN_ASSIGN_OR_RETURN(auto base, s.state->load_base());
  auto known = base.find(rel);
  if (!here && known == base.end()) {
    return make_error(ErrorCode::kNotFound, "no such file or folder: " + label);
  }
  const bool folder = here ? S_ISDIR(st.st_mode) : known->second.kind == NodeKind::kFolder;
  if (folder && !recursive) return folder_needs_r(label);
  if (known != base.end()) {
    // A file: that version of that node, or nothing (an edit or a replacement made elsewhere
    // wins). A folder: everything in it, as asked.
    std::optional<int64_t> guard;
    if (!folder && known->second.version > 0) guard = known->second.version;
    const int64_t node = folder ? 0 : known->second.node_id;
    auto r = expect_done(commit_one(api, CommitOp::remove(s.to_remote(rel), guard, node)));
    if (!r && r.error().code() == ErrorCode::kConflict) {
      return make_error(ErrorCode::kConflict,
                        label +
                            " changed on the server since you last pulled; pull, look, and "
                            "delete again");
    }
    if (!r) return std::move(r).error();
  }
  // The local copy goes to .cairn/trash, not away: it may hold edits never pushed.
  if (here) {
    const std::string dest = trash_place(s, rel);
    std::error_code ec;
    fs::create_directories(fs::path(dest).parent_path(), ec);
    LocalTree tree(s.root);
    auto moved = ec ? Result<void>(Error(ErrorCode::kIo, ec.message())) : tree.move_out(rel, dest);
    if (!moved) {
      return make_error(ErrorCode::kIo,
                        "deleted on the server, but not here: " + moved.error().message());
    }
  }
  std::vector<std::string> removals;
  for (const auto& [p, b] : base) {
    if (is_within(p, rel)) removals.push_back(p);
  }
  CAIRN_RETURN_IF_ERROR(s.state->update({}, removals, {}));
  return known != base.end();
}

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

Result<protocol::VersionInfo> find_file_version(ApiClient& api, const std::string& remote,
                                                int64_t version) {
  auto h = api.history(remote);
  if (!h && h.error().code() == ErrorCode::kNotFound) {
    auto binned = in_trash(api, remote);
    if (binned && binned->kind != NodeKind::kFolder) h = api.history("", binned->node_id);
  }
  if (!h) return std::move(h).error();
  const protocol::VersionInfo* chosen = nullptr;
  for (const auto& v : h->versions) {
    if (version == 0 ? chosen == nullptr : v.version == version) chosen = &v;
  }
  if (chosen == nullptr) {
    return make_error(ErrorCode::kNotFound, "no version " + std::to_string(version) + " of " +
                                                remote + " (see cairn history)");
  }
  if (chosen->kind != NodeKind::kFile) {
    return make_error(ErrorCode::kInvalidArgument,
                      "that version is a symlink to " + chosen->symlink_target);
  }
  return *chosen;
}

Result<protocol::CommitResult> restore_at_on_server(ApiClient& api, const std::string& remote,
                                                    int64_t at_ms) {
  return expect_done(commit_one(api, CommitOp::restore_at(remote, at_ms)));
}

Result<protocol::CommitResult> restore_on_server(ApiClient& api, Session* session,
                                                 const std::string& remote,
                                                 const std::optional<std::string>& rel,
                                                 int64_t version) {
  if (version > 0) {
    // In a working copy, the version is one of the file this copy knows at that path.
    int64_t node = 0;
    if (session != nullptr && rel) {
      if (auto base = session->state->load_base(); base) {
        if (auto known = base->find(*rel); known != base->end()) node = known->second.node_id;
      }
    }
    return expect_done(commit_one(api, CommitOp::restore(remote, version, node)));
  }
  auto binned = in_trash(api, remote);
  if (!binned) {
    // Live files need a version number.
    if (auto live = api.list(remote); live) {
      return make_error(ErrorCode::kInvalidArgument,
                        remote + " is not deleted: give --version N (see cairn history)");
    }
    return std::move(binned).error();
  }
  return expect_done(commit_one(api, CommitOp::undelete(binned->node_id)));
}

}  // namespace cairn::client
