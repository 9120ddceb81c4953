#pragma once

// mkdir, mv, rm and restore as operations on the server and, inside a working copy, on the
// working copy with it: the server acts first (if it refuses, nothing here has changed), then
// the local files and the base records follow. `cairn`'s commands (cli/commands/tree.cpp) parse
// arguments and print; everything they change is changed here.

#include <cstdint>
#include <optional>
#include <string>

#include "cli/client/net/api_client.h"
#include "cli/client/state/session.h"
#include "common/error.h"
#include "common/protocol/protocol.h"

namespace cairn::client {

// One commit op; its result, or the transport error.
Result<protocol::CommitResult> commit_one(ApiClient& api, protocol::CommitOp op);

// A result that is not ok or unchanged, as an error (kConflict for a conflict).
Result<protocol::CommitResult> expect_done(Result<protocol::CommitResult> r);

// mkdir: the folder on the server and, with a session, here (recorded in the base).
Result<protocol::CommitResult> make_folder(ApiClient& api, Session* session,
                                           const std::string& remote,
                                           const std::optional<std::string>& rel,
                                           const std::string& label);

// mv on the server alone: into `to` if it is a folder, as mv does. Returns where it went.
Result<std::string> move_on_server(ApiClient& api, const std::string& from, std::string to);

struct LocalMoveDone {
  std::string to_rel;      // Where it went (into `to` when that is a folder here).
  bool on_server = false;  // False for what was never pushed: moved here only.
  std::string warning;     // Something that did not work but need not fail the move.
};

// mv in a working copy, of `from_rel` to `to_rel` (relative paths; `src` and `dst` as the user
// wrote them, for messages). The server's node moves first, then the file here and its records.
Result<LocalMoveDone> move_in_working_copy(Session& s, ApiClient& api, const std::string& from_rel,
                                           std::string to_rel, const std::string& src,
                                           const std::string& dst);

// rm on the server alone; a folder only if `recursive`.
Result<void> remove_on_server(ApiClient& api, const std::string& remote, const std::string& label,
                              bool recursive);

// rm in a working copy: the version this copy last saw is deleted on the server (a newer one
// there is a kConflict), then the local copy goes to .cairn/trash (it may hold edits never
// pushed) and its records go. Returns whether the server knew it.
Result<bool> remove_in_working_copy(Session& s, ApiClient& api, const std::string& rel,
                                    const std::string& label, bool recursive);

// The newest trash entry that was at `remote`.
Result<protocol::TrashEntry> in_trash(ApiClient& api, const std::string& remote);

// Version `version` (0: the newest) of the file at `remote`, live or in the trash; a file's
// version only (a symlink's is kInvalidArgument).
Result<protocol::VersionInfo> find_file_version(ApiClient& api, const std::string& remote,
                                                int64_t version);

// Brings the folder or file that was at `remote` at `at_ms` back to how it was then, at `remote`,
// in one server transaction: contents as new versions, deleted files back, what was made since to
// the trash. The result counts what changed and what went to the trash.
Result<protocol::CommitResult> restore_at_on_server(ApiClient& api, const std::string& remote,
                                                    int64_t at_ms);

// Restores `version` of the file at `remote` as its new head; in a working copy, of the node
// this copy knows at `rel`. Version 0: brings `remote` back from the trash (kInvalidArgument if
// it is not deleted).
Result<protocol::CommitResult> restore_on_server(ApiClient& api, Session* session,
                                                 const std::string& remote,
                                                 const std::optional<std::string>& rel,
                                                 int64_t version);

}  // namespace cairn::client
