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
  std::printf("backed up the metadata (%s) to %s\n", human_bytes(*bytes).c_str(), to.c_str());
  std::printf("the chunks are in %s: back them up too (docs/cli.md, \"Backups\")\n",
              (*d)->blobs->describe().c_str());
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
  return r->problems.empty() ? kExitOk : kExitError;
}

// cairnd check: runs the check and reports it, as text or JSON.
int cmd_check(service::Services& services, const service::CheckOptions& options, bool json,
              bool progress) {
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
  if (json) {
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
  bool json = false;
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
  return cmd_check(*(*d)->services, options, flags.json, flags.progress || ::isatty(2) != 0);
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
  if (*days) {
    std::printf("gc keeps %lld days of history and trash\n", static_cast<long long>(**days));
  } else {
    std::printf("gc keeps all history and trash\n");
  }
  return kExitOk;
}

}  // namespace

void add_maintenance_commands(CLI::App& app, CommandContext& ctx) {
  auto* backup = app.add_subcommand(
      "backup",
      "Copy the metadata (SQLite) to a new file, consistent as of one moment, while serve runs. "
      "Restore: stop serve, put the copy in place as DATA/metadata.db (no -wal or -shm beside "
      "it), start serve. Chunks are not in it: copy DATA/blobs (or the bucket) too. PostgreSQL "
      "metadata is backed up with pg_dump instead. Exit 3 if the file exists");
  add_data_option(backup, ctx);
  static std::string backup_to;
  backup->add_option("--to", backup_to, "The new file to write")->required();
  backup->callback([&ctx] { ctx.exit_code = run_backup(ctx, backup_to); });

  auto* gc = app.add_subcommand(
      "gc",
      "Delete what nothing references: expired upload sessions, chunks no version or upload "
      "session needs, and packs left empty; rewrite packs that are mostly dead. Safe while "
      "serve runs; run one at a time.");
  add_data_option(gc, ctx);
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
  add_data_option(check, ctx);
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
  check->add_flag("--json", flags.json, "Print the report as JSON on stdout");
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
  add_data_option(retention, ctx);
  retention->callback([&ctx] { ctx.exit_code = run_retention(ctx, value); });
}

}  // namespace cairn::admin
