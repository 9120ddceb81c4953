#include "cli/client/sync/push_plan.h"

#include <algorithm>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/paths.h"

namespace cairn::client {
namespace {

// The scan's entries in path order: as the scanner gives them (it sorts them bytewise, the order
// of the base map's keys), or sorted here if a caller's scan is not.
std::vector<const LocalEntry*> in_path_order(const ScanResult& scan) {
  std::vector<const LocalEntry*> order;
  order.reserve(scan.entries.size());
  for (const auto& e : scan.entries) order.push_back(&e);
  auto by_path = [](const LocalEntry* a, const LocalEntry* b) { return a->path < b->path; };
  if (!std::is_sorted(order.begin(), order.end(), by_path)) {
    std::sort(order.begin(), order.end(), by_path);
  }
  return order;
}

// Walks the scan and the base together, in path order, and calls `visit(entry, record)` once
// for each path in either: the entry is null for a path only the base has, the record null for
// one only the scan has. One pass, no lookup per path: a no-change push of a large tree is
// mostly this and the scan.
template <typename Visit>
void side_by_side(const ScanResult& scan, const std::map<std::string, BaseRecord>& base,
                  Visit&& visit) {
  auto b = base.begin();
  for (const LocalEntry* e : in_path_order(scan)) {
    int order = 1;
    for (; b != base.end() && (order = b->first.compare(e->path)) < 0; ++b) {
      visit(nullptr, &b->second);
    }
    if (b != base.end() && order == 0) {
      visit(e, &b->second);
      ++b;
    } else {
      visit(e, nullptr);
    }
  }
  for (; b != base.end(); ++b) visit(nullptr, &b->second);
}

}  // namespace

void SharedAreas::add(std::string rel, bool read_only, std::string why) {
  if (read_only) read_only_.emplace_back(rel, std::move(why));
  all_.push_back(std::move(rel));
}

const std::string* SharedAreas::refused_at(const std::string& rel) const {
  for (const auto& [folder, why] : read_only_) {
    if (is_within(rel, folder)) return &why;
  }
  return nullptr;
}

bool SharedAreas::is_mount(const std::string& rel) const {
  return std::any_of(read_only_.begin(), read_only_.end(),
                     [&](const auto& r) { return !r.first.empty() && r.first == rel; });
}

bool SharedAreas::theirs(const std::string& rel) const {
  return std::any_of(all_.begin(), all_.end(), [&](const auto& f) { return is_within(rel, f); });
}

void SharedAreas::moved(const std::string& from, const std::string& to) {
  auto follow = [&](std::string& folder) {
    if (!folder.empty() && is_within(folder, from)) folder = to + folder.substr(from.size());
  };
  for (auto& [folder, why] : read_only_) follow(folder);
  for (auto& folder : all_) follow(folder);
}

void rebase(std::map<std::string, BaseRecord>& base, const std::string from, const std::string to) {
  std::vector<BaseRecord> moved;
  for (const auto& old : subtree_paths(base, from)) {
    auto it = base.find(old);
    BaseRecord b = std::move(it->second);
    b.path = to + old.substr(from.size());
    moved.push_back(std::move(b));
    base.erase(it);
  }
  for (auto& b : moved) base[b.path] = std::move(b);
}

namespace {

using Fresh = std::unordered_map<uint64_t, const LocalEntry*>;

// The scanned entries the base does not know, by inode; hard links (ambiguous) left out.
Fresh fresh_by_inode(const ScanResult& scan, const std::map<std::string, BaseRecord>& base) {
  Fresh by_inode;
  std::unordered_set<uint64_t> shared;
  for (const auto& e : scan.entries) {
    if (base.count(e.path) != 0) continue;
    if (!by_inode.emplace(e.inode, &e).second) shared.insert(e.inode);
  }
  for (uint64_t i : shared) by_inode.erase(i);
  return by_inode;
}

using Here = std::unordered_map<std::string, const LocalEntry*>;

// One folder move at a time, shallowest first, until none is left: a folder's move carries its
// subtree, so the next one is looked for in the rewritten base.
void find_folder_moves(const ScanResult& scan, const Here& here,
                       std::map<std::string, BaseRecord>& base, std::vector<LocalMove>& moves) {
  for (bool again = true; again;) {
    again = false;
    auto by_inode = fresh_by_inode(scan, base);
    for (const auto& [path, b] : base) {
      if (b.kind != NodeKind::kFolder || b.node_id == 0 || here.count(path) != 0) continue;
      auto match = by_inode.find(b.inode);
      if (match == by_inode.end() || match->second->kind != NodeKind::kFolder ||
          is_below(match->second->path, path)) {
        continue;
      }
      bool files = false;
      bool witness = false;
      for (const auto& inside : subtree_paths(base, path)) {
        const BaseRecord& child = base.at(inside);
        if (inside == path || child.kind == NodeKind::kFolder) continue;
        files = true;
        auto moved = here.find(match->second->path + inside.substr(path.size()));
        if (moved != here.end() && moved->second->inode == child.inode) {
          witness = true;
          break;
        }
      }
      if (files && !witness) continue;
      const std::string to = match->second->path;
      moves.push_back({path, to, b.node_id, true});
      rebase(base, path, to);
      again = true;
      break;
    }
  }
}

void find_file_moves(const ScanResult& scan, const Here& here,
                     std::map<std::string, BaseRecord>& base, const Fingerprint& fingerprint,
                     std::vector<LocalMove>& moves) {
  auto by_inode = fresh_by_inode(scan, base);
  std::unordered_set<std::string> taken;
  std::vector<std::pair<std::string, std::string>> found;
  std::vector<const BaseRecord*> unmatched;
  for (const auto& [path, b] : base) {
    if (b.kind == NodeKind::kFolder || b.node_id == 0 || here.count(path) != 0) continue;
    auto match = by_inode.find(b.inode);
    // The same inode, kind, size and mtime. A record made while its file was racily clean
    // (scanner.h) holds no mtime: the same inode then counts if the content is the same.
    auto same_file = [&](const LocalEntry& e) {
      if (e.kind != b.kind || e.size != b.size || e.target != b.target) return false;
      if (e.mtime_ns == b.mtime_ns) return true;
      if (b.mtime_ns != 0) return false;
      if (b.kind != NodeKind::kFile || b.xxh3 == 0) return b.kind != NodeKind::kFile;
      auto fp = fingerprint(e.path);
      return fp && *fp == b.xxh3;
    };
    if (match != by_inode.end() && same_file(*match->second) &&
        taken.insert(match->second->path).second) {
      found.emplace_back(path, match->second->path);
    } else if (b.kind == NodeKind::kFile && b.xxh3 != 0) {
      unmatched.push_back(&b);
    }
  }
  // By content: the new file of the same size and fingerprint (read only for size matches).
  std::unordered_map<uint64_t, std::vector<const LocalEntry*>> fresh_by_size;
  for (const auto& e : scan.entries) {
    if (e.kind == NodeKind::kFile && base.count(e.path) == 0 && taken.count(e.path) == 0) {
      fresh_by_size[e.size].push_back(&e);
    }
  }
  for (const BaseRecord* b : unmatched) {
    auto same_size = fresh_by_size.find(b->size);
    if (same_size == fresh_by_size.end()) continue;
    for (const LocalEntry* e : same_size->second) {
      if (taken.count(e->path) != 0) continue;
      auto fp = fingerprint(e->path);
      if (fp && *fp == b->xxh3) {
        taken.insert(e->path);
        found.emplace_back(b->path, e->path);
        break;
      }
    }
  }
  for (const auto& [from, to] : found) {
    const int64_t node = base.at(from).node_id;
    moves.push_back({from, to, node, false});
    rebase(base, from, to);
  }
}

}  // namespace

std::vector<LocalMove> find_local_moves(const ScanResult& scan,
                                        std::map<std::string, BaseRecord>& base,
                                        const Fingerprint& fingerprint) {
  std::vector<LocalMove> moves;
  Here here;
  for (const auto& e : scan.entries) here.emplace(e.path, &e);
  find_folder_moves(scan, here, base, moves);
  find_file_moves(scan, here, base, fingerprint, moves);
  return moves;
}

void drop_refused_moves(std::vector<LocalMove>& moves, const SharedAreas& shared) {
  std::erase_if(moves, [&](const LocalMove& m) {
    if (shared.is_mount(m.from)) return shared.refused_at(m.to) != nullptr;
    return shared.refused_at(m.from) != nullptr || shared.refused_at(m.to) != nullptr;
  });
}

Result<void> guard_mass_delete(const ScanResult& scan,
                               const std::map<std::string, BaseRecord>& planned, uint64_t limit,
                               bool allow) {
  uint64_t files = 0;
  uint64_t doomed = 0;
  side_by_side(scan, planned, [&](const LocalEntry* e, const BaseRecord* b) {
    if (b == nullptr || b->kind == NodeKind::kFolder) return;
    ++files;
    if (e == nullptr) ++doomed;
  });
  if (allow || !(doomed > limit || (doomed > 1 && doomed * 2 > files))) return {};
  return make_error(ErrorCode::kInvalidArgument,
                    "this push would delete " + std::to_string(doomed) + " of " +
                        std::to_string(files) +
                        " synced files on the server; nothing was sent. If that is what you "
                        "want, push again with --allow-mass-delete (deleted files stay in "
                        "the server's trash)");
}

bool same_paths(const ScanResult& scan, const std::map<std::string, BaseRecord>& base) {
  if (scan.entries.size() != base.size()) return false;
  bool same = true;
  side_by_side(scan, base, [&](const LocalEntry* e, const BaseRecord* b) {
    same = same && e != nullptr && b != nullptr;
  });
  return same;
}

BaseRecord refreshed_record(const BaseRecord& b, const LocalEntry& e) {
  BaseRecord same = b;
  same.mtime_ns = base_from_stat(e, 0, 0).mtime_ns;  // 0 while racily clean.
  same.inode = e.inode;
  same.mode = e.mode;
  return same;
}

namespace {

// A path's change inside a read-only shared folder: only a real change is kept here (and
// reported); a file whose stat moved but whose bytes did not has nothing to send.
void keep_or_refresh(const LocalEntry& e, const BaseRecord* b, const std::string& why,
                     const Fingerprint& fingerprint, PushPlan& plan) {
  if (e.kind == NodeKind::kFile && b != nullptr && b->kind == NodeKind::kFile &&
      b->size == e.size && b->xxh3 != 0 && same_permissions(b->mode, e.mode)) {
    auto fp = fingerprint(e.path);
    if (fp && *fp == b->xxh3) {
      plan.refreshed.push_back(refreshed_record(*b, e));
      return;
    }
  }
  if (e.kind == NodeKind::kFolder && b != nullptr) return;
  ++plan.changes_unsent;
  plan.skipped.push_back(e.path + ": not pushed: " + why + "; the change stays here");
}

// Deleted here: every base path the scan lacks (`gone`), deepest first, but those in read-only
// folders (kept, and reported). A folder that became a file takes what this copy knew inside it
// along first, into `delete_first`, so that the folder itself goes only if nothing else is in it.
void plan_deletions(const std::vector<const BaseRecord*>& gone, const SharedAreas& shared,
                    const std::vector<const BaseRecord*>& replaced, PushPlan& plan) {
  for (const BaseRecord* b : gone) {
    if (const std::string* why = shared.refused_at(b->path)) {
      ++plan.changes_unsent;
      plan.skipped.push_back(b->path + " (deleted here): not pushed: " + *why +
                             "; the change stays here");
      continue;
    }
    plan.deletions.push_back(b);
  }
  std::sort(plan.deletions.begin(), plan.deletions.end(),
            [](const BaseRecord* a, const BaseRecord* b) { return a->path > b->path; });
  for (const BaseRecord* b : replaced) {
    if (b->kind == NodeKind::kFolder) {
      for (const BaseRecord* d : plan.deletions) {
        if (is_below(d->path, b->path)) plan.delete_first.push_back(d);
      }
      std::erase_if(plan.deletions,
                    [&](const BaseRecord* d) { return is_below(d->path, b->path); });
    }
    plan.delete_first.push_back(b);
  }
}

}  // namespace

PushPlan plan_push(const ScanResult& scan, const std::map<std::string, BaseRecord>& base,
                   const SharedAreas& shared, const SettleRule& settle,
                   const Fingerprint& fingerprint) {
  PushPlan plan;
  const int64_t settled_before = settle.now_ns - settle.settle_ms * int64_t{1'000'000};
  std::vector<const BaseRecord*> replaced;
  std::vector<const BaseRecord*> gone;
  side_by_side(scan, base, [&](const LocalEntry* here, const BaseRecord* b) {
    if (here == nullptr) {
      gone.push_back(b);
      return;
    }
    const LocalEntry& e = *here;
    if (e.kind != NodeKind::kFolder) ++plan.files_scanned;
    if (b != nullptr && same_stat(e, *b)) return;
    if (const std::string* why = shared.refused_at(e.path)) {
      keep_or_refresh(e, b, *why, fingerprint, plan);
      return;
    }
    // A path that turned from file to folder or back: its old node must go before the new
    // one can take the name.
    if (b != nullptr && b->kind != e.kind &&
        (b->kind == NodeKind::kFolder || e.kind == NodeKind::kFolder)) {
      replaced.push_back(b);
    }
    if (e.kind == NodeKind::kFolder) {
      if (b == nullptr || b->kind != NodeKind::kFolder || !same_permissions(b->mode, e.mode)) {
        plan.new_folders.push_back(&e);
      }
      return;
    }
    if (settle.settle_ms > 0 && e.kind == NodeKind::kFile && e.mtime_ns > settled_before) {
      // Modified a moment ago: perhaps still being written. The next round sends it.
      ++plan.files_deferred;
      plan.skipped.push_back(e.path + ": modified less than " + std::to_string(settle.settle_ms) +
                             " ms ago; sent once it settles");
      return;
    }
    plan.candidates.push_back({&e, b, {}});
    if (e.kind == NodeKind::kFile && !shared.theirs(e.path)) {
      const uint64_t before = b != nullptr && b->kind == NodeKind::kFile ? b->size : 0;
      if (e.size > before) plan.quota_growth += e.size - before;
    }
  });
  plan_deletions(gone, shared, replaced, plan);
  plan.candidates.shrink_to_fit();  // Held to the end of the push, as the scan is.
  return plan;
}

}  // namespace cairn::client
