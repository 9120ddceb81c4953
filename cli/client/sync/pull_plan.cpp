#include "cli/client/sync/pull_plan.h"

#include <algorithm>
#include <optional>
#include <set>
#include <unordered_set>

#include "common/bytes.h"
#include "common/hash.h"
#include "common/paths.h"

namespace cairn::client {

using protocol::Entry;

Result<std::string> read_feed(RemoteTree& server, std::string cursor, Changes& changed) {
  while (true) {
    CAIRN_ASSIGN_OR_RETURN(auto page, server.changes(cursor, kFeedPage));
    for (auto& e : page.changes) changed[e.node_id] = std::move(e);
    cursor = page.cursor;
    if (!page.has_more) return cursor;
  }
}

// Adds what the remote `folders` hold, listed from the server, to `changed`: a folder that
// arrives as one entry of the feed (moved in), or one whose move could not be made here.
Result<void> list_into(RemoteTree& server, std::vector<std::string> folders, Changes& changed) {
  while (!folders.empty()) {
    const std::string folder = std::move(folders.back());
    folders.pop_back();
    CAIRN_ASSIGN_OR_RETURN(auto listing, server.list(folder));
    for (auto& e : listing.entries) {
      if (e.kind == NodeKind::kFolder) folders.push_back(e.path);
      changed.try_emplace(e.node_id, std::move(e));
    }
  }
  return {};
}

// A folder moved into this working copy's folder from outside it arrives as one entry (its
// own): adds what it holds, listed from the server, to `changed`.
Result<void> list_moved_in(RemoteTree& server, const Session& session,
                           const std::map<std::string, BaseRecord>& base, Changes& changed) {
  std::set<int64_t> known;
  for (const auto& [path, b] : base) known.insert(b.node_id);
  std::vector<std::string> folders;
  for (const auto& [node, e] : changed) {
    auto rel = session.to_local(e.path);
    if (e.change == "move" && e.kind == NodeKind::kFolder && !e.deleted && rel && !rel->empty() &&
        known.count(node) == 0) {
      folders.push_back(e.path);
    }
  }
  return list_into(server, std::move(folders), changed);
}

namespace {

// Builds the departures: one pass over the feed, in node order.
class DepartureScan {
 public:
  DepartureScan(const Changes& changed, const std::map<std::string, BaseRecord>& base,
                LocalView& local, Departures& out)
      : changed_(changed), base_(base), local_(local), out_(out) {}

  // A base path whose node is no longer there: to the trash if unchanged here.
  void leave(const BaseRecord& old) {
    if (!left_.insert(old.path).second) return;
    auto now = local_.stat(old.path);
    if (!now) {
      out_.forget.push_back(old.path);
    } else if (old.kind == NodeKind::kFolder) {
      out_.to_trash.push_back(&old);  // Removed later only if empty.
    } else if (local_.unchanged_since(*now, old)) {
      out_.to_trash.push_back(&old);
    } else {
      // Edited here, deleted there: the edit wins. Forgetting the base makes the next push
      // upload it again.
      out_.forget.push_back(old.path);
      out_.skipped.push_back(old.path +
                             ": deleted on the server but edited here; kept (push to restore it)");
    }
  }

  // A folder that left (moved out of this working copy's folder, or deleted where its files have
  // no changes of their own: a shared folder one left) takes all it held. A node the feed names
  // alive is placed by its own entry, and so is all that is inside it here: such a node may only
  // seem to be inside the folder that left (a folder swapped with one it held, or another node
  // at the same path).
  void leave_subtree(const std::string& top) {
    auto placed_elsewhere = [&](std::string p) {
      while (p != top && is_below(p, top)) {
        auto it = base_.find(p);
        if (it != base_.end() && it->second.node_id != 0) {
          auto own = changed_.find(it->second.node_id);
          if (own != changed_.end() && !own->second.deleted) return true;
        }
        p = p.substr(0, p.rfind('/'));
      }
      return false;
    };
    for (const auto& inside : subtree_paths(base_, top)) {
      if (!placed_elsewhere(inside)) leave(base_.at(inside));
    }
  }

 private:
  const Changes& changed_;
  const std::map<std::string, BaseRecord>& base_;
  LocalView& local_;
  Departures& out_;
  std::unordered_set<std::string> left_;
};

}  // namespace

Departures plan_departures(const Session& session, const Changes& changed,
                           const std::map<std::string, BaseRecord>& base,
                           std::vector<std::string> detached, LocalView& local) {
  Departures out;
  std::map<int64_t, const BaseRecord*> base_by_node;
  for (const auto& [path, b] : base) {
    if (b.node_id != 0) base_by_node[b.node_id] = &b;
  }
  DepartureScan scan(changed, base, local, out);
  const size_t detached_before = detached.size();
  for (const auto& [node, e] : changed) {
    auto rel = session.to_local(e.path);
    auto by_node = base_by_node.find(node);
    const BaseRecord* was = by_node == base_by_node.end() ? nullptr : by_node->second;
    // Folders (and files) whose share ended: their local copy stays, as the user's own files,
    // no longer synced (push leaves them alone), and the user is told so.
    if (e.deleted && e.change == "unshare" && was != nullptr) {
      for (const auto& inside : subtree_paths(base, was->path)) out.forget.push_back(inside);
      detached.push_back(was->path);
      out.shares_ended.push_back(was->path);
      continue;
    }
    if (!rel) {
      if (was != nullptr) scan.leave_subtree(was->path);
      continue;
    }
    if (rel->empty()) continue;
    if (!e.deleted) out.live.emplace_back(*rel, &e);
    // A node that moved or was deleted: its old local path is no longer its home. A folder
    // still at its old path could not be moved here: all it held leaves with it.
    if (was == nullptr || (!e.deleted && was->path == *rel)) continue;
    if (was->kind == NodeKind::kFolder) {
      scan.leave_subtree(was->path);
    } else {
      scan.leave(*was);
    }
  }
  // Something arriving where a detached copy is (the share given again): synced again, and what
  // is here meets it as any unsynced local file would.
  std::erase_if(detached, [&](const std::string& top) {
    return std::any_of(out.live.begin(), out.live.end(),
                       [&](const auto& l) { return is_within(l.first, top); });
  });
  out.detached_changed = detached.size() != detached_before || !out.shares_ended.empty();
  out.detached = std::move(detached);
  for (const auto& [rel, e] : out.live) {
    for (const BaseRecord* old : out.to_trash)
      out.make_room = out.make_room || overlaps(rel, old->path);
  }
  return out;
}

namespace {

// What one live node needs, or nullopt when nothing (after noting errors and conflicts).
Result<std::optional<ArrivalStep>> plan_arrival(std::string rel, const Entry& e,
                                                const std::map<std::string, BaseRecord>& base,
                                                LocalView& view, Arrivals& out) {
  using Step = std::optional<ArrivalStep>;
  auto b_it = base.find(rel);
  const BaseRecord* b = b_it == base.end() ? nullptr : &b_it->second;
  // A symlink (or a file) where the server has a folder: what is below it is not written.
  if (auto way = view.writable(rel); !way) {
    out.errors.push_back(rel + ": " + way.error().message());
    return Step();
  }
  auto local = view.stat(rel);
  const bool exists = local.has_value();
  if (!exists && local.error().code() != ErrorCode::kNotFound) {
    out.errors.push_back(rel + ": " + local.error().message());
    return Step();
  }
  ArrivalStep step;
  step.rel = std::move(rel);
  step.entry = &e;
  if (exists) step.local = std::make_unique<LocalEntry>(std::move(*local));
  const LocalEntry* here = step.local.get();
  if (e.kind == NodeKind::kFolder) {
    if (exists && here->kind != NodeKind::kFolder) {
      out.conflicts.push_back(step.rel + ": a folder on the server, a file here");
      return Step();
    }
    // A folder this copy knows (perhaps moved or renamed there) that was deleted here: the
    // delete is the next push's to send, for what this copy held in it.
    if (!exists && b != nullptr && b->node_id == e.node_id) return Step();
    step.action = Arrival::kFolder;
    return Step(std::move(step));
  }
  if (b != nullptr && b->node_id == e.node_id && b->version == e.version &&
      b->manifest == e.manifest && b->target == e.symlink_target && b->kind == e.kind) {
    // The server's version is the one we last synced (often our own push, seen again in the
    // feed): nothing new from there. Whatever changed here since (an edit, a delete) is a local
    // change for the next push, not a conflict.
    return Step();
  }
  const bool modified_here = exists && (b == nullptr || !view.unchanged_since(*here, *b));
  if (!modified_here && exists && b != nullptr && b->node_id == e.node_id &&
      b->kind == NodeKind::kFile && e.kind == NodeKind::kFile && here->kind == NodeKind::kFile &&
      b->manifest == e.manifest) {
    step.action = Arrival::kModeOnly;  // A new version of the same bytes: only the mode changed.
    return Step(std::move(step));
  }
  if (modified_here) {
    // Same content on both sides is no conflict: adopt the server's version as the base.
    bool same = false;
    if (here->kind == NodeKind::kFile && e.kind == NodeKind::kFile && here->size == e.size) {
      CAIRN_ASSIGN_OR_RETURN(same, view.same_content(step.rel, e, step.manifest));
    }
    if (here->kind == NodeKind::kSymlink && e.kind == NodeKind::kSymlink) {
      same = here->target == e.symlink_target;
    }
    if (same) {
      step.action = Arrival::kAdopt;
      return Step(std::move(step));
    }
    // Both sides changed it: keep both (pull.cpp sets the local one aside).
    step.set_aside_first = true;
    step.had_base = b != nullptr;
  }
  step.replaces_unchanged = exists && !modified_here;
  step.action = e.kind == NodeKind::kSymlink ? Arrival::kSymlink : Arrival::kDownload;
  return Step(std::move(step));
}

}  // namespace

PathHashes::PathHashes(std::vector<uint64_t> hashes) : sorted_(std::move(hashes)) {
  std::sort(sorted_.begin(), sorted_.end());
}

uint64_t PathHashes::of(std::string_view path) { return xxh3_64(as_bytes(path)); }

bool PathHashes::contains(std::string_view path) const {
  return std::binary_search(sorted_.begin(), sorted_.end(), of(path));
}

Result<Arrivals> plan_arrivals(Departures& departures,
                               const std::map<std::string, BaseRecord>& base, LocalView& local) {
  Arrivals out;
  std::vector<uint64_t> arriving;
  arriving.reserve(departures.live.size());
  for (const auto& [rel, e] : departures.live) arriving.push_back(PathHashes::of(rel));
  out.arriving = PathHashes(std::move(arriving));
  for (auto& [rel, e] : departures.live) {
    CAIRN_ASSIGN_OR_RETURN(auto step, plan_arrival(std::move(rel), *e, base, local, out));
    if (step) out.steps.push_back(std::move(*step));
  }
  departures.live = {};
  return out;
}

}  // namespace cairn::client
