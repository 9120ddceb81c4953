#include "cli/commands/place.h"

#include <chrono>
#include <filesystem>

#include "cli/commands/exit_codes.h"
#include "common/duration.h"
#include "common/remote_path.h"

namespace cairn::cli {

namespace fs = std::filesystem;

Result<Place> open_place(const CommandContext& ctx) {
  Place place;
  const fs::path cwd = fs::absolute(ctx.directory).lexically_normal();
  auto session = client::open_session(cwd.string());
  if (session) {
    place.endpoint = session->endpoint;
    place.session = std::move(*session);
    return place;
  }
  if (session.error().code() != ErrorCode::kNotFound) return std::move(session).error();
  CAIRN_ASSIGN_OR_RETURN(place.endpoint, client::resolve_endpoint(""));
  return place;
}

Result<Target> resolve(const CommandContext& ctx, const Place& place, const std::string& path) {
  Target t;
  if (place.session) {
    const fs::path cwd = fs::absolute(ctx.directory).lexically_normal();
    fs::path local = fs::path(path).is_absolute() ? fs::path(path) : cwd / path;
    local = local.lexically_normal();
    const auto rel = local.lexically_relative(place.session->root);
    const std::string rel_text = rel.generic_string();
    if (!rel.empty() && rel_text.rfind("..", 0) != 0) {
      std::string r = rel_text == "." ? "" : rel_text;
      while (!r.empty() && r.back() == '/') r.pop_back();
      if (r == client::kStateDir || r.rfind(std::string(client::kStateDir) + "/", 0) == 0) {
        return make_error(ErrorCode::kInvalidArgument, path + " is inside .cairn");
      }
      CAIRN_ASSIGN_OR_RETURN(t.remote, normalize_remote_path(place.session->to_remote(r)));
      t.rel = r;
      return t;
    }
    return make_error(ErrorCode::kInvalidArgument,
                      path + " is outside the working copy " + place.session->root);
  }
  CAIRN_ASSIGN_OR_RETURN(t.remote, normalize_remote_path(path.empty() ? "/" : path));
  return t;
}

Result<std::optional<int64_t>> parse_at(const std::string& text) {
  if (text.empty()) return std::optional<int64_t>();
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  CAIRN_ASSIGN_OR_RETURN(const int64_t at, parse_point_in_time(text, now_ms));
  return std::optional<int64_t>(at);
}

int report_exit(const client::SyncReport& r) {
  if (r.corrupt) return kExitCorrupt;
  if (r.no_space) return kExitNoSpace;
  if (!r.errors.empty()) return kExitError;
  // Conflicts, and changes that stay here (a viewer's, or files still being written): the
  // command finished, but local and remote do not agree.
  if (!r.conflicts.empty() || r.changes_unsent != 0 || r.files_deferred != 0) {
    return kExitConflict;
  }
  return kExitOk;
}

int fail(client::Printer& printer, const std::string& command, const Error& e) {
  printer.error(command, e);
  return exit_code_for(e);
}

}  // namespace cairn::cli
