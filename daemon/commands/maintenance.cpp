// cairnd gc, check and retention: keeping the store small, sound and as old as wanted.

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>

#include "common/bytes.h"
#include "common/duration.h"
#include "common/file_io.h"
#include "common/protocol/protocol.h"
#include "daemon/commands/commands.h"
#include "daemon/commands/data_folder.h"

namespace cairn::admin {

namespace {

// Makes `path` (a finished file) durable under its name: fsync it, rename it to `final_path`,
// fsync the folder.
Result<void> publish_file(const std::string& path, const std::string& final_path) {
  CAIRN_RETURN_IF_ERROR(fsync_path(path));
  if (::rename(path.c_str(), final_path.c_str()) != 0) {
    return errno_error("rename to " + final_path, errno);
  }
  const size_t slash = final_path.rfind('/');
  return fsync_path(slash == std::string::npos ? "."
                    : slash == 0               ? "/"
                                               : final_path.substr(0, slash));
}

int run_backup(const CommandContext& ctx, const std::string& to) {
  if (to.empty()) return fail(Error(ErrorCode::kInvalidArgument, "--to needs a file name"));
  if (::access(to.c_str(), F_OK) == 0) {
    return fail(Error(ErrorCode::kAlreadyExists,
                      to + " exists: name a new file, so that no backup is overwritten"));
  }
  auto d = open_daemon(ctx.data, false);
  if (!d) return fail(d.error());
  const std::string tmp = to + ".partial-" + std::to_string(::getpid());
  auto bytes = (*d)->metadata->backup_to(tmp);
  if (!bytes) {
    ::unlink(tmp.c_str());
    return fail(bytes.error());
  }
  if (auto published = publish_file(tmp, to); !published) {
    ::unlink(tmp.c_str());
    return fail(published.error());
  }
  const std::string blobs = (*d)->blobs->describe();
  emit({{"file", to}, {"bytes", *bytes}, {"blobs", blobs}}, [&] {
    std::printf("backed up the metadata (%s) to %s\n", human_bytes(*bytes).c_str(), to.c_str());
    std::printf("the chunks are in %s: back them up too (docs/cli.md, \"Backups\")\n",
                blobs.c_str());
  });
  return kExitOk;
}

int run_gc(const CommandContext& ctx, const std::string& grace) {
  auto seconds = parse_duration(grace);
  if (!seconds) return fail(seconds.error());
  auto d = open_daemon(ctx.data, false);
  if (!d) return fail(d.error());
  service::GcOptions options;
  options.grace_seconds = *seconds;
  auto r = (*d)->services->maintenance().collect_garbage(options);
  if (!r) return fail(r.error());
  for (const auto& problem : r->problems) std::fprintf(stderr, "cairnd gc: %s\n", problem.c_str());
  const int rc = r->problems.empty() ? kExitOk : kExitError;
  if (json_output()) {
    emit({{"users_deleted", r->users_deleted},
          {"uploads_expired", r->uploads_expired},
          {"sessions_forgotten", r->sessions_forgotten},
          {"chunks_deleted", r->chunks_deleted},
          {"chunk_objects_deleted", r->chunk_objects_deleted},
          {"packs_rewritten", r->packs_rewritten},
          {"packs_written", r->packs_written},
          {"chunks_moved", r->chunks_moved},
          {"packs_deleted", r->packs_deleted},
          {"bytes_freed", r->bytes_freed},
          {"versions_expired", r->versions_expired},
          {"trash_purged", r->trash_purged},
          {"trash_bytes", r->trash_bytes},
          {"problems", r->problems}},
         [] {});
    return rc;
  }
  for (const auto& user : r->users_deleted) std::printf("purged user %s\n", user.c_str());
  if (r->versions_expired != 0 || r->trash_purged != 0) {
    std::printf(
        "retention: forgot %lld old versions; emptied %lld items from the trash (%llu "
        "bytes)\n",
        static_cast<long long>(r->versions_expired), static_cast<long long>(r->trash_purged),
        static_cast<unsigned long long>(r->trash_bytes));
  }
  std::printf(
      "removed %lld expired upload sessions, %lld ended web sessions and %lld unreferenced "
      "chunks (%lld chunk objects); "
      "rewrote %lld packs into %lld (%lld live chunks moved); deleted %lld packs (%llu "
      "bytes)\n",
      static_cast<long long>(r->uploads_expired), static_cast<long long>(r->sessions_forgotten),
      static_cast<long long>(r->chunks_deleted), static_cast<long long>(r->chunk_objects_deleted),
      static_cast<long long>(r->packs_rewritten), static_cast<long long>(r->packs_written),
      static_cast<long long>(r->chunks_moved), static_cast<long long>(r->packs_deleted),
      static_cast<unsigned long long>(r->bytes_freed));
  return rc;
}

// cairnd check: runs the check and reports it, as text or JSON.
int cmd_check(service::Services& services, const service::CheckOptions& options, bool progress) {
  const bool tty = ::isatty(2) != 0;
  auto show = [&](const service::CheckProgress& p) {
    std::string line = "check: " + p.phase;
    if (p.objects_total != 0) {
      line += ": " + std::to_string(p.objects_done) + " of " + std::to_string(p.objects_total) +
              " objects, " + human_bytes(p.bytes_read) + " read";
    }
    if (tty) {
      std::fprintf(stderr, "\r%-78s", line.c_str());
    } else {
      std::fprintf(stderr, "%s\n", line.c_str());
    }
  };
  auto report = services.maintenance().check(options, progress ? std::function(show) : nullptr);
  if (progress && tty) std::fprintf(stderr, "\r%-78s\r", "");
  if (!report) return fail(report.error());
  const auto& r = *report;

  protocol::CheckResult out;
  out.clean = r.clean();
  out.seconds = r.seconds;
  out.versions = r.versions;
  out.manifests = r.manifests;
  out.chunks = r.chunks;
  out.objects = r.objects;
  out.objects_read = r.objects_read;
  out.bytes_read = r.bytes_read;
  out.copies_set_aside = r.copies_forgotten;
  out.problems = r.problems;
  for (const auto& d : r.damaged) {
    protocol::CheckDamage damage{d.hash, d.size, d.found_at, d.detail, {}};
    for (const auto& v : r.needed_by) {
      if (v.chunk == d.hash) {
        damage.needed_by.push_back({v.owner, v.path, v.node_id, v.version, v.head, v.deleted});
      }
    }
    out.damaged.push_back(std::move(damage));
  }
  if (json_output()) {
    std::printf("%s\n", protocol::encode_json(out).c_str());
    return out.clean ? kExitOk : kExitDamage;
  }

  for (const auto& problem : out.problems) std::printf("problem: %s\n", problem.c_str());
  for (const auto& d : out.damaged) {
    std::printf("damaged: chunk %s (%s): %s\n", d.hash.hex().c_str(), human_bytes(d.size).c_str(),
                d.detail.c_str());
    if (d.needed_by.empty()) std::printf("  needed by no version\n");
    for (const auto& n : d.needed_by) {
      std::printf("  needed by %s:%s version %lld%s%s\n", n.owner.c_str(), n.path.c_str(),
                  static_cast<long long>(n.version), n.head ? " (current)" : "",
                  n.deleted ? " (in the trash)" : "");
    }
  }
  std::printf(
      "checked %lld versions, %lld manifests, %lld chunks; %llu stored objects, %llu read "
      "(%s) in %.1f s\n",
      static_cast<long long>(out.versions), static_cast<long long>(out.manifests),
      static_cast<long long>(out.chunks), static_cast<unsigned long long>(out.objects),
      static_cast<unsigned long long>(out.objects_read), human_bytes(out.bytes_read).c_str(),
      out.seconds);
  if (out.clean) {
    std::printf("no damage found\n");
    return kExitOk;
  }
  std::printf(
      "%zu damaged chunks, %zu problems; %lld damaged copies set aside by this run. A push or "
      "sync from a working copy that holds the files repairs them\n",
      out.damaged.size(), out.problems.size(), static_cast<long long>(out.copies_set_aside));
  return kExitDamage;
}

struct CheckFlags {
  bool read_all = false;
  std::string subset;
  std::string rate = "256M";
  bool progress = false;
};

int run_check(const CommandContext& ctx, const CheckFlags& flags) {
  service::CheckOptions options;
  if (flags.read_all) options.read_percent = 100;
  if (!flags.subset.empty()) {
    std::string n = flags.subset;
    if (!n.empty() && n.back() == '%') n.pop_back();
    double percent = -1;
    auto [p, ec] = std::from_chars(n.data(), n.data() + n.size(), percent);
    if (ec != std::errc() || p != n.data() + n.size() || percent <= 0 || percent > 100) {
      return fail(
          Error(ErrorCode::kInvalidArgument,
                "--read-data-subset takes a share above 0 and at most 100%, not " + flags.subset));
    }
    options.read_percent = percent;
  }
  auto rate = parse_size(flags.rate);
  if (!rate) return fail(rate.error());
  options.max_bytes_per_second = rate->value_or(0);
  auto d = open_daemon(ctx.data, false);
  if (!d) return fail(d.error());
  return cmd_check(*(*d)->services, options, flags.progress || ::isatty(2) != 0);
}

// Sets the retention when `value` is given ("all" or a number of days); shows it either way.
int run_retention(const CommandContext& ctx, const std::string& value) {
  auto d = open_daemon(ctx.data, false);
  if (!d) return fail(d.error());
  auto& services = *(*d)->services;
  if (!value.empty()) {
    std::optional<int64_t> days;
    if (value != "all") {
      int64_t n = -1;
      const char* end = value.data() + value.size();
      auto [p, ec] = std::from_chars(value.data(), end, n);
      if (ec != std::errc() || p != end || n < 0) {
        return fail(Error(ErrorCode::kInvalidArgument,
                          "DAYS is a number of days (0 or more) or 'all', not " + value));
      }
      days = n;
    }
    if (auto set = services.maintenance().set_retention_days(days); !set) return fail(set.error());
  }
  auto days = services.maintenance().retention_days();
  if (!days) return fail(days.error());
  emit({{"retention_days", *days ? Json(**days) : Json(nullptr)}}, [&] {
    if (*days) {
      std::printf("gc keeps %lld days of history and trash\n", static_cast<long long>(**days));
    } else {
      std::printf("gc keeps all history and trash\n");
    }
  });
  return kExitOk;
}

// a / b, or null when there is nothing to divide by.
Json ratio(uint64_t a, uint64_t b) {
  return b == 0 ? Json(nullptr) : Json(static_cast<double>(a) / static_cast<double>(b));
}

std::string ratio_text(const Json& r) {
  if (r.is_null()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", r.get<double>());
  return buf;
}

int run_stats(const CommandContext& ctx) {
  auto d = open_daemon(ctx.data, false);
  if (!d) return fail(d.error());
  auto st = (*d)->metadata->stats();
  if (!st) return fail(st.error());
  const uint64_t stored = st->pack_bytes + st->loose_bytes;
  const Json dedup = ratio(st->versions_bytes, st->chunk_bytes);
  const Json compression = ratio(st->chunk_bytes, stored);
  const Json oldest = st->oldest_version_at ? Json(iso_time(*st->oldest_version_at)) : Json();
  emit({{"users", st->users},
        {"files", st->files},
        {"folders", st->folders},
        {"versions", st->versions},
        {"current_bytes", st->current_bytes},
        {"versions_bytes", st->versions_bytes},
        {"trash_items", st->trash_items},
        {"trash_bytes", st->trash_bytes},
        {"chunks", st->chunks},
        {"chunk_bytes", st->chunk_bytes},
        {"packs", st->packs},
        {"pack_bytes", st->pack_bytes},
        {"loose_chunks", st->loose_chunks},
        {"loose_bytes", st->loose_bytes},
        {"stored_bytes", stored},
        {"dedup_ratio", dedup},
        {"compression_ratio", compression},
        {"oldest_version", oldest}},
       [&] {
         std::printf("users          %lld\n", static_cast<long long>(st->users));
         std::printf("files          %lld in %lld folders, %s\n", static_cast<long long>(st->files),
                     static_cast<long long>(st->folders), human_bytes(st->current_bytes).c_str());
         std::printf("versions       %lld kept (current and history), %s in all\n",
                     static_cast<long long>(st->versions), human_bytes(st->versions_bytes).c_str());
         std::printf("trash          %lld items, %s\n", static_cast<long long>(st->trash_items),
                     human_bytes(st->trash_bytes).c_str());
         std::printf("chunks         %lld distinct, %s before compression\n",
                     static_cast<long long>(st->chunks), human_bytes(st->chunk_bytes).c_str());
         std::printf("stored         %s: %lld packs (%s), %lld loose chunks (%s)\n",
                     human_bytes(stored).c_str(), static_cast<long long>(st->packs),
                     human_bytes(st->pack_bytes).c_str(), static_cast<long long>(st->loose_chunks),
                     human_bytes(st->loose_bytes).c_str());
         std::printf("dedup          %s (all versions' bytes / distinct chunk bytes)\n",
                     ratio_text(dedup).c_str());
         std::printf("compression    %s (chunk bytes / stored bytes)\n",
                     ratio_text(compression).c_str());
         std::printf("oldest version %s\n",
                     oldest.is_null() ? "-" : oldest.get<std::string>().c_str());
       });
  return kExitOk;
}

}  // namespace

void add_maintenance_commands(CLI::App& app, CommandContext& ctx) {
  auto* stats = app.add_subcommand(
      "stats",
      "What the store holds: users, files, versions, logical and stored bytes, dedup and "
      "compression ratios, chunks and packs, the trash, the oldest version kept. Reads only; safe "
      "while serve runs");
  add_common_options(stats, ctx);
  stats->callback([&ctx] { ctx.exit_code = run_stats(ctx); });

  auto* backup = app.add_subcommand(
      "backup",
      "Copy the metadata (SQLite) to a new file, consistent as of one moment, while serve runs. "
      "Restore: stop serve, put the copy in place as DATA/metadata.db (no -wal or -shm beside "
      "it), start serve. Chunks are not in it: copy DATA/blobs (or the bucket) too. PostgreSQL "
      "metadata is backed up with pg_dump instead. Exit 3 if the file exists");
  add_common_options(backup, ctx);
  static std::string backup_to;
  backup->add_option("--to", backup_to, "The new file to write")->required();
  backup->callback([&ctx] { ctx.exit_code = run_backup(ctx, backup_to); });

  auto* gc = app.add_subcommand(
      "gc",
      "Delete what nothing references: expired upload sessions, chunks no version or upload "
      "session needs, and packs left empty; rewrite packs that are mostly dead. Safe while "
      "serve runs; run one at a time.");
  add_common_options(gc, ctx);
  static std::string grace = "25h";
  gc->add_option("--grace", grace,
                 "Keep anything stored or retired more recently than this (e.g. 90m, 25h, 2d, or "
                 "seconds); it may belong to a push in progress or a download under way. Keep it "
                 "above the 24 h an upload session lives")
      ->capture_default_str();
  gc->callback([&ctx] { ctx.exit_code = run_gc(ctx, grace); });

  auto* check = app.add_subcommand(
      "check",
      "Verify the store: the metadata's invariants (every version's manifest stored, every "
      "chunk it needs located, closure, quotas, journals, packs and their index), that every "
      "stored object exists with its size, and with --read-data its bytes. Damaged or missing "
      "copies are set aside (blobs/quarantine/ on local disk) and forgotten, so that the next "
      "push or sync of a file that holds them repairs them. Prints each damaged chunk and every "
      "file version that needs it. Safe while serve runs. Exit 0 clean, 7 damage or "
      "inconsistency found, 1 error");
  add_common_options(check, ctx);
  static CheckFlags flags;
  auto* read_all = check->add_flag("--read-data", flags.read_all,
                                   "Read and verify every stored object (chunk and pack)");
  check
      ->add_option("--read-data-subset", flags.subset,
                   "Read and verify a random N% of stored objects (e.g. 10%); a daily run of "
                   "10% reads everything about every ten days")
      ->excludes(read_all);
  check
      ->add_option("--max-rate", flags.rate,
                   "Read at most this many bytes per second (e.g. 100M, or unlimited), to leave "
                   "a serving daemon room")
      ->capture_default_str();
  check->add_flag("--progress", flags.progress,
                  "Print progress on stderr (default when stderr is a terminal)");
  check->callback([&ctx] { ctx.exit_code = run_check(ctx, flags); });

  auto* retention = app.add_subcommand(
      "retention",
      "Show or set how long gc keeps old versions and the trash. Default: everything, for "
      "ever. With DAYS set, `cairnd gc` forgets versions superseded more than DAYS days ago and "
      "empties the trash of what was deleted before then; current versions are never touched");
  static std::string value;
  retention->add_option("DAYS", value,
                        "Days to keep (0 or more), or 'all' to keep "
                        "everything; without it, show the setting");
  add_common_options(retention, ctx);
  retention->callback([&ctx] { ctx.exit_code = run_retention(ctx, value); });
}

}  // namespace cairn::admin
