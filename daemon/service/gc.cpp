// Garbage collection: cairnd gc.
//
// With a retention period set (cairnd retention DAYS), a run first forgets versions that were
// superseded longer ago than that and empties the trash of what was deleted before it; heads are
// never touched. Then:
//
// A chunk is garbage when no version and no upload session references it and every stored copy
// of it is older than the grace period. Candidates come from one read snapshot; a write
// transaction then checks each one again against what was committed or staged meanwhile and
// forgets it (its places in packs and every user's claim to it) in one step, so a commit either
// sees the chunk held and its bytes still there, or does not see it held and is refused. A chunk
// object of its own is doomed by that step and removed afterwards, each inside a transaction
// that takes the chunk's row and finds it still doomed; an upload of the same chunk takes the
// row too before it puts the object in place, so a re-upload racing the removal either comes
// after it (and puts the object back) or keeps it (the chunk is live again). A crash in between
// leaves a doomed row, which the next run removes. Packs are never edited: one left holding nothing
// is retired and deleted after the grace period. Packs mostly dead, and packs less than half the
// target size (the tail of every push; sync --watch makes many), are merged: their live chunks
// (verified on the way) are copied into new packs of about the target size, and the old ones are
// retired the same way. A lone small pack with nothing dead in it is left alone, so that a second
// run with nothing new to collect rewrites nothing. Pack names carry a random nonce, so deleting
// a retired pack can never remove a newer upload.

#include <charconv>
#include <cstdio>
#include <vector>

#include "common/pack.h"
#include "daemon/service/services.h"

namespace cairn::service {
namespace {

// Versions committed during the run are checked again; this much slack covers clocks of
// several daemons that disagree a little.
constexpr int64_t kClockSlackSeconds = 300;

// Upper bounds of a pack's header (common/pack.h): magic, version, nonce and count, then per
// chunk its hash, codec and two lengths.
constexpr uint64_t kPackHeaderBytes = 4 + 1 + 16 + 3;
constexpr uint64_t kPackEntryBytes = 32 + 1 + 5 + 5;

// A pack gc may rewrite, and whether it is mostly garbage.
struct Candidate {
  const store::PackUsage* usage = nullptr;
  bool mostly_dead = false;
};

}  // namespace

Result<GcReport> MaintenanceService::collect_garbage(const GcOptions& options) {
  GcReport report;
  const int64_t started = now();
  const int64_t cutoff = started - options.grace_seconds;
  CAIRN_ASSIGN_OR_RETURN(report.uploads_expired, metadata_.expire_uploads(started));
  CAIRN_ASSIGN_OR_RETURN(report.sessions_forgotten, metadata_.forget_ended_sessions(started));
  // Users first: what only they needed is then collected by this same run.
  CAIRN_ASSIGN_OR_RETURN(report.users_deleted, metadata_.purge_deleted_users(started));

  // Retention first, so that what it lets go is collected by this same run.
  CAIRN_ASSIGN_OR_RETURN(const auto keep_days, retention_days());
  if (keep_days) {
    CAIRN_ASSIGN_OR_RETURN(auto retained,
                           metadata_.apply_retention(started - *keep_days * 86400, started));
    report.versions_expired = retained.versions;
    report.trash_purged = retained.nodes;
    report.trash_bytes = retained.bytes;
  }

  CAIRN_ASSIGN_OR_RETURN(auto candidates, metadata_.gc_candidates(cutoff));
  CAIRN_ASSIGN_OR_RETURN(auto swept,
                         metadata_.gc_sweep(candidates, started - kClockSlackSeconds, cutoff));
  report.chunks_deleted = swept.chunks;
  // Each object goes inside a transaction that takes its chunk's row and finds it still
  // doomed: a re-upload of the same chunk since the sweep keeps it (record_chunk).
  CAIRN_ASSIGN_OR_RETURN(report.chunk_objects_deleted,
                         metadata_.gc_delete_chunks(
                             swept.standalone, [&](const Digest& d) { return blobs_.remove(d); }));

  CAIRN_ASSIGN_OR_RETURN(auto packs, metadata_.gc_pack_usage());
  std::vector<Candidate> rewrite;
  for (const auto& p : packs) {
    const store::ObjectId id = store::ObjectId::pack(p.pack);
    if (p.retired_at) {
      if (*p.retired_at > cutoff) continue;  // A reader may still hold a URL into it.
      CAIRN_RETURN_IF_ERROR(blobs_.remove(id));
      CAIRN_RETURN_IF_ERROR(metadata_.gc_forget_pack(p.pack));
      ++report.packs_deleted;
      report.bytes_freed += p.size;
      continue;
    }
    if (p.live_chunks == 0) {
      // Emptied by this sweep or an earlier one. Retired, not deleted: a reader may still hold
      // a URL into it, so the object goes once the grace has passed.
      CAIRN_RETURN_IF_ERROR(metadata_.gc_retire_pack(p.pack, now()));
      continue;
    }
    if (p.created_at >= cutoff) continue;  // Perhaps part of a push still under way.
    // Its chunks' bytes: the pack less its header (bounded from above, so that a pack with
    // nothing dead in it never looks as if it had some).
    const uint64_t header =
        kPackHeaderBytes + kPackEntryBytes * static_cast<uint64_t>(p.chunk_count);
    const uint64_t data = p.size > header ? p.size - header : 0;
    const uint64_t dead = data > p.live_bytes ? data - p.live_bytes : 0;
    const bool mostly_dead =
        dead != 0 && static_cast<double>(p.live_bytes) <
                         options.rewrite_below * static_cast<double>(p.live_bytes + dead);
    const bool small = p.size < config_.packs.target_size / 2;
    if (mostly_dead || small) rewrite.push_back({&p, mostly_dead});
  }
  // A lone small pack with nothing dead in it is as good as it gets: rewriting it would only
  // make the same pack again, on every run.
  if (rewrite.size() == 1 && !rewrite[0].mostly_dead) rewrite.clear();

  // Copy the live chunks of the candidates into new packs of about the target size, checking
  // each chunk on the way: one that no longer hashes right is reported, forgotten and left
  // behind rather than copied. The old packs are retired once their chunks have moved.
  PackBuilder builder;
  std::vector<Digest> sources;
  auto flush = [&]() -> Result<void> {
    if (sources.empty()) return {};
    if (builder.empty()) {  // Nothing sound to copy: the problems say which.
      sources.clear();
      return {};
    }
    CAIRN_ASSIGN_OR_RETURN(const PackBuilder::Built fresh, builder.finish());
    CAIRN_RETURN_IF_ERROR(blobs_.put(store::ObjectId::pack(fresh.digest), fresh.bytes));
    CAIRN_ASSIGN_OR_RETURN(const int64_t moved,
                           metadata_.gc_replace_packs(sources, fresh.digest, fresh.bytes.size(),
                                                      fresh.entries, now()));
    report.chunks_moved += moved;
    report.packs_rewritten += static_cast<int64_t>(sources.size());
    ++report.packs_written;
    sources.clear();
    return {};
  };
  Bytes raw;
  for (const auto& c : rewrite) {
    const store::PackUsage& p = *c.usage;
    CAIRN_ASSIGN_OR_RETURN(auto live, metadata_.gc_pack_chunks(p.pack));
    auto bytes = blobs_.get_range(store::ObjectId::pack(p.pack), {0, p.size});
    if (!bytes) {
      report.problems.push_back("pack " + p.pack.hex() + ": " + bytes.error().message());
      continue;
    }
    for (const auto& loc : live) {
      if (!read_packed_chunk(
              *bytes, {loc.hash, loc.codec, loc.length, loc.stored_length, loc.offset}, raw)) {
        // Forgotten, so that the next push holding it repairs it (see report_damage).
        (void)chunks_.report_damage({loc.hash, loc.length}, p.pack,
                                    "found by gc while copying its pack");
        report.problems.push_back("chunk " + loc.hash.hex() + " in pack " + p.pack.hex() +
                                  " is damaged; not copied, set aside for repair");
        continue;
      }
      builder.add(loc.hash, raw);
    }
    sources.push_back(p.pack);
    if (builder.size() >= config_.packs.target_size) CAIRN_RETURN_IF_ERROR(flush());
  }
  CAIRN_RETURN_IF_ERROR(flush());
  return report;
}

Result<std::optional<int64_t>> MaintenanceService::retention_days() {
  CAIRN_ASSIGN_OR_RETURN(auto value, metadata_.setting("retention_days"));
  if (!value) return std::optional<int64_t>();
  int64_t days = 0;
  auto [p, ec] = std::from_chars(value->data(), value->data() + value->size(), days);
  if (ec != std::errc() || p != value->data() + value->size() || days < 0) {
    return make_error(ErrorCode::kCorrupt, "setting retention_days is not a number: " + *value);
  }
  return std::optional<int64_t>(days);
}

Result<void> MaintenanceService::set_retention_days(std::optional<int64_t> days) {
  if (days && *days < 0) return make_error(ErrorCode::kInvalidArgument, "days must be 0 or more");
  return metadata_.set_setting(
      "retention_days",
      days ? std::optional<std::string>(std::to_string(*days)) : std::optional<std::string>());
}

Result<int64_t> MaintenanceService::collect_expired_uploads() {
  CAIRN_RETURN_IF_ERROR(metadata_.forget_ended_sessions(now()));
  return metadata_.expire_uploads(now());
}

}  // namespace cairn::service
