#include "cli/client/sync/status.h"

#include <set>

#include "cli/client/tree/file_hasher.h"
#include "cli/client/tree/ignore.h"
#include "cli/client/tree/scanner.h"
#include "common/conflict_name.h"

namespace cairn::client {

using protocol::NodeKind;

Result<StatusReport> status(Session& session, bool check_remote) {
  StatusReport report;
  report.root = session.root;
  report.server = session.endpoint.base_url;
  report.remote_root = session.remote_root;
  CAIRN_ASSIGN_OR_RETURN(auto scan, scan_tree(session.root));
  CAIRN_ASSIGN_OR_RETURN(auto detached, session.state->detached());
  (void)set_aside_detached(scan, detached);  // status changes nothing, not even this list.
  CAIRN_ASSIGN_OR_RETURN(auto base, session.state->load_base());
  forget_ignored(session.root, base);
  report.skipped = scan.skipped;

  std::set<std::string> seen;
  for (const auto& e : scan.entries) {
    seen.insert(e.path);
    const size_t slash = e.path.rfind('/');
    if (is_conflicted_copy(slash == std::string::npos ? e.path : e.path.substr(slash + 1))) {
      report.conflicts.push_back(e.path);
    }
    auto it = base.find(e.path);
    if (it == base.end()) {
      report.local.push_back({e.path + (e.kind == NodeKind::kFolder ? "/" : ""), "added"});
      continue;
    }
    const BaseRecord& b = it->second;
    if (same_stat(e, b)) continue;
    if (e.kind == NodeKind::kFolder && b.kind == NodeKind::kFolder) {
      // A folder's content is its entries'; its own change is its mode.
      if (!same_permissions(e.mode, b.mode)) report.local.push_back({e.path + "/", "modified"});
      continue;
    }
    if (e.kind == NodeKind::kFile && b.kind == NodeKind::kFile && e.size == b.size &&
        same_permissions(e.mode, b.mode) && b.xxh3 != 0) {
      auto fp = fingerprint_file(session.root + "/" + e.path);
      if (fp && *fp == b.xxh3) continue;  // Touched, not changed.
    }
    report.local.push_back({e.path, "modified"});
  }
  for (const auto& [path, b] : base) {
    if (seen.count(path) == 0) {
      report.local.push_back({path + (b.kind == NodeKind::kFolder ? "/" : ""), "deleted"});
    }
  }

  if (!check_remote) return report;
  ApiClient api(session.endpoint);
  CAIRN_ASSIGN_OR_RETURN(std::string cursor, session.state->setting("cursor"));
  std::map<std::string, protocol::Entry> remote;
  while (true) {
    auto page = api.changes(cursor, 1000);
    if (!page) {
      // Offline is a normal state for status: say so and show local changes.
      if (page.error().code() == ErrorCode::kUnavailable) {
        report.remote_error = page.error().message();
        return report;
      }
      return std::move(page).error();
    }
    for (auto& e : page->changes) {
      auto rel = session.to_local(e.path);
      if (rel && !rel->empty()) remote[*rel] = std::move(e);
    }
    cursor = page->cursor;
    if (!page->has_more) break;
  }
  report.remote_checked = true;
  for (const auto& [rel, e] : remote) {
    auto it = base.find(rel);
    if (e.deleted) {
      if (it != base.end() && it->second.node_id == e.node_id) {
        report.remote.push_back({rel, e.change == "unshare" ? "share ended" : "deleted"});
      }
      continue;
    }
    if (it == base.end()) {
      report.remote.push_back({rel + (e.kind == NodeKind::kFolder ? "/" : ""), "added"});
    } else if (e.kind != NodeKind::kFolder &&
               (it->second.version != e.version || it->second.manifest != e.manifest)) {
      report.remote.push_back({rel, "modified"});
    } else if (e.kind == NodeKind::kFolder && !same_permissions(it->second.mode, e.mode)) {
      report.remote.push_back({rel + "/", "modified"});
    }
  }
  return report;
}

}  // namespace cairn::client
