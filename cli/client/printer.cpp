#include "cli/client/printer.h"

#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

namespace cairn::client {
namespace {

using nlohmann::json;

json string_list(const std::vector<std::string>& v) {
  json a = json::array();
  for (const auto& s : v) a.push_back(s);
  return a;
}

void print_json(const json& j) {
  std::printf("%s\n", j.dump(2, ' ', false, json::error_handler_t::replace).c_str());
  std::fflush(stdout);
}

// One object on one line: a stream of them (sync --watch) stays one object per line.
void print_json_line(const json& j) {
  std::printf("%s\n", j.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
  std::fflush(stdout);
}

std::string format_time(int64_t seconds) {
  if (seconds <= 0) return "-";
  const std::time_t t = seconds;
  std::tm tm{};
  ::localtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M", &tm);
  return buf;
}

// "0644": permission bits as chmod(1) takes them.
std::string mode_octal(uint32_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", mode & protocol::kPermissionBits);
  return buf;
}

// "drwxr-xr-x", as ls -l writes a mode.
std::string mode_string(protocol::NodeKind kind, uint32_t mode) {
  std::string out = kind == protocol::NodeKind::kFolder    ? "d"
                    : kind == protocol::NodeKind::kSymlink ? "l"
                                                           : "-";
  if (kind == protocol::NodeKind::kSymlink) mode = 0777;
  for (int shift = 6; shift >= 0; shift -= 3) {
    out += (mode >> shift) & 4 ? 'r' : '-';
    out += (mode >> shift) & 2 ? 'w' : '-';
    out += (mode >> shift) & 1 ? 'x' : '-';
  }
  return out;
}

}  // namespace

Printer::Printer(OutputMode mode)
    : mode_(mode), progress_(mode == OutputMode::kHuman && ::isatty(STDERR_FILENO) == 1) {}

void Printer::line(const std::string& text) {
  if (mode_ != OutputMode::kHuman) return;
  std::lock_guard lock(mu_);
  std::printf("%s\n", text.c_str());
  std::fflush(stdout);
}

void Printer::warn(const std::string& text) {
  if (mode_ != OutputMode::kHuman) return;
  std::lock_guard lock(mu_);
  if (progress_shown_) {
    std::fprintf(stderr, "\r\033[K");
    progress_shown_ = false;
  }
  std::fprintf(stderr, "warning: %s\n", text.c_str());
}

void Printer::progress(const std::string& text) {
  if (!progress_) return;
  std::lock_guard lock(mu_);
  std::fprintf(stderr, "\r\033[K%s", text.c_str());
  std::fflush(stderr);
  progress_shown_ = true;
}

void Printer::clear_progress() {
  if (!progress_) return;
  std::lock_guard lock(mu_);
  if (progress_shown_) std::fprintf(stderr, "\r\033[K");
  progress_shown_ = false;
}

void Printer::error(const std::string& command, const Error& error) {
  clear_progress();
  if (mode_ == OutputMode::kJson) {
    print_json(
        {{"command", command},
         {"error", {{"code", error_code_name(error.code())}, {"message", error.message()}}}});
    return;
  }
  std::fprintf(stderr, "cairn %s: %s\n", command.c_str(), error.message().c_str());
}

json report_json(const SyncReport& r) {
  const bool up = r.command == "push" || r.command == "put";
  const uint64_t moved = up ? r.chunks_sent : r.chunks_received;
  return {{"command", r.command},
          {"files_scanned", r.files_scanned},
          {"files_changed", r.files_changed},
          {"files_deleted", r.files_deleted},
          {"folders_created", r.folders_created},
          {"chunks_total", r.chunks_total},
          {"chunks_sent", r.chunks_sent},
          {"chunks_received", r.chunks_received},
          {"chunks_reused", r.chunks_reused},
          // Chunks of the changed files that did not cross the wire (already there, or repeats).
          {"chunks_deduplicated", r.chunks_total > moved ? r.chunks_total - moved : 0},
          {"bytes_total", r.bytes_total},
          {"bytes_sent", r.bytes_sent},
          {"bytes_uploaded", r.bytes_uploaded},
          {"packs_sent", r.packs_sent},
          {"bytes_received", r.bytes_received},
          {"bytes_deduplicated", r.bytes_deduplicated},
          {"files_deferred", r.files_deferred},
          {"changes_unsent", r.changes_unsent},
          {"chunks_repaired", r.chunks_repaired},
          {"shares_ended", string_list(r.shares_ended)},
          {"elapsed_ms", r.elapsed_ms},
          {"changed", string_list(r.changed)},
          {"deleted", string_list(r.deleted)},
          {"moved", string_list(r.moved)},
          {"conflicts", string_list(r.conflicts)},
          {"errors", string_list(r.errors)},
          {"skipped", string_list(r.skipped)}};
}

void Printer::sync_report(const SyncReport& r) {
  clear_progress();
  if (mode_ == OutputMode::kJson) {
    print_json(report_json(r));
    return;
  }
  human_report(r);
}

void Printer::event(const std::string& event, const std::string& message) {
  clear_progress();
  if (mode_ == OutputMode::kJson) {
    std::lock_guard lock(mu_);
    print_json_line({{"event", event}, {"message", message}});
    return;
  }
  if (mode_ == OutputMode::kQuiet) return;
  std::lock_guard lock(mu_);
  std::fprintf(stderr, "%s\n", message.c_str());
}

void Printer::sync_round(const SyncRound& round, bool one_line) {
  clear_progress();
  if (mode_ == OutputMode::kJson) {
    json j{{"command", "sync"},
           {"pull", report_json(round.pull)},
           {"push", report_json(round.push)},
           {"in_sync", round.in_sync},
           {"conflicted_copies", string_list(round.conflicted_copies)}};
    if (one_line) {
      std::lock_guard lock(mu_);
      print_json_line(j);
      return;
    }
    print_json(j);
    return;
  }
  human_report(round.pull);
  human_report(round.push);
  for (const auto& c : round.conflicted_copies) warn("conflicted copy: " + c);
}

void Printer::human_report(const SyncReport& r) {
  for (const auto& path : r.shares_ended) {
    warn("the share of " + path +
         " ended: your copy stays here as your own files and is no longer synced (move it "
         "elsewhere to push it as yours, or delete it)");
  }
  for (const auto& s : r.skipped) warn("skipped " + s);
  if (mode_ == OutputMode::kQuiet) {
    for (const auto& c : r.conflicts) std::fprintf(stderr, "conflict: %s\n", c.c_str());
    for (const auto& e : r.errors) std::fprintf(stderr, "error: %s\n", e.c_str());
    return;
  }
  const bool up = r.command == "push" || r.command == "put";
  char summary[512];
  const double secs = static_cast<double>(r.elapsed_ms) / 1000.0;
  if (up) {
    std::snprintf(summary, sizeof(summary),
                  "%s: %llu files scanned, %llu changed, %llu deleted; %llu of %llu chunks sent "
                  "(%s, %s on the wire, %s deduplicated) in %.2f s",
                  r.command.c_str(), static_cast<unsigned long long>(r.files_scanned),
                  static_cast<unsigned long long>(r.files_changed),
                  static_cast<unsigned long long>(r.files_deleted),
                  static_cast<unsigned long long>(r.chunks_sent),
                  static_cast<unsigned long long>(r.chunks_total),
                  human_bytes(r.bytes_sent).c_str(), human_bytes(r.bytes_uploaded).c_str(),
                  human_bytes(r.bytes_deduplicated).c_str(), secs);
  } else {
    std::snprintf(summary, sizeof(summary),
                  "%s: %llu files written, %llu deleted; %llu chunks downloaded (%s), %llu reused "
                  "from local files (%s deduplicated) in %.2f s",
                  r.command.c_str(), static_cast<unsigned long long>(r.files_changed),
                  static_cast<unsigned long long>(r.files_deleted),
                  static_cast<unsigned long long>(r.chunks_received),
                  human_bytes(r.bytes_received).c_str(),
                  static_cast<unsigned long long>(r.chunks_reused),
                  human_bytes(r.bytes_deduplicated).c_str(), secs);
  }
  line(summary);
  if (r.chunks_repaired != 0) {
    line("repaired " + std::to_string(r.chunks_repaired) +
         " chunks the server had lost, from files here");
  }
  for (const auto& m : r.moved) line("moved " + m);
  for (const auto& c : r.conflicts) std::fprintf(stderr, "conflict: %s\n", c.c_str());
  for (const auto& e : r.errors) std::fprintf(stderr, "error: %s\n", e.c_str());
}

void Printer::status_report(const StatusReport& r) {
  clear_progress();
  if (mode_ == OutputMode::kJson) {
    auto changes = [](const std::vector<PathChange>& v) {
      json a = json::array();
      for (const auto& c : v) a.push_back({{"path", c.path}, {"change", c.change}});
      return a;
    };
    json j{{"command", "status"},
           {"root", r.root},
           {"server", r.server},
           {"remote_root", r.remote_root},
           {"local", changes(r.local)},
           {"remote", changes(r.remote)},
           {"skipped", string_list(r.skipped)},
           {"conflicts", string_list(r.conflicts)},
           {"remote_checked", r.remote_checked},
           {"in_sync", r.local.empty() && r.remote.empty() && r.remote_checked}};
    if (!r.remote_error.empty()) j["remote_error"] = r.remote_error;
    print_json(j);
    return;
  }
  if (mode_ == OutputMode::kQuiet) return;
  line("working copy " + r.root + " <-> " + r.server + r.remote_root);
  if (r.local.empty()) {
    line("local: no changes to push");
  } else {
    line("local changes (cairn push):");
    for (const auto& c : r.local) line("  " + c.change + ": " + c.path);
  }
  if (!r.remote_error.empty()) {
    line("remote: not reachable; changes there are unknown");
    warn("remote changes unknown: " + r.remote_error);
  } else if (!r.remote_checked) {
    line("remote: not asked (--offline); changes there are unknown");
  } else if (r.remote.empty()) {
    line("remote: no changes to pull");
  } else {
    line("remote changes (cairn pull):");
    for (const auto& c : r.remote) line("  " + c.change + ": " + c.path);
  }
  if (!r.conflicts.empty()) {
    line("conflicted copies (keep what you want, then cairn rm the copy):");
    for (const auto& c : r.conflicts) line("  " + c);
  }
  for (const auto& s : r.skipped) warn("skipped " + s);
}

void Printer::listing(const protocol::ListResponse& l) {
  if (mode_ == OutputMode::kJson) {
    json entries = json::array();
    for (const auto& e : l.entries) {
      json je{{"path", e.path},
              {"kind", protocol::node_kind_name(e.kind)},
              {"size", e.size},
              {"version", e.version},
              {"mode", mode_octal(e.mode)},
              {"modified_at", e.modified_at}};
      if (e.kind == protocol::NodeKind::kSymlink) je["target"] = e.symlink_target;
      if (!e.share_role.empty()) je["share"] = {{"role", e.share_role}, {"owner", e.shared_by}};
      entries.push_back(std::move(je));
    }
    print_json({{"command", "ls"}, {"path", l.path}, {"entries", std::move(entries)}});
    return;
  }
  if (mode_ == OutputMode::kQuiet) return;
  for (const auto& e : l.entries) {
    std::string name = e.path.substr(e.path.rfind('/') + 1);
    const std::string kind = mode_string(e.kind, e.mode);
    if (e.kind == protocol::NodeKind::kFolder) name += "/";
    if (e.kind == protocol::NodeKind::kSymlink) name += " -> " + e.symlink_target;
    if (!e.share_role.empty()) name += "  (" + e.shared_by + "'s, you are " + e.share_role + ")";
    char buf[128];
    std::snprintf(buf, sizeof(buf), "%s %10s  %-16s v%-4lld ", kind.c_str(),
                  e.kind == protocol::NodeKind::kFolder ? "-" : human_bytes(e.size).c_str(),
                  format_time(e.modified_at).c_str(), static_cast<long long>(e.version));
    line(buf + printable(name));
  }
}

void Printer::kv(const std::vector<std::pair<std::string, std::string>>& fields) {
  if (mode_ == OutputMode::kJson) {
    json j = json::object();
    for (const auto& [k, v] : fields) j[k] = v;
    print_json(j);
    return;
  }
  for (const auto& [k, v] : fields) line(k + ": " + v);
}

void Printer::document(const std::string& command, const std::string& json_object,
                       const std::vector<std::string>& lines) {
  clear_progress();
  if (mode_ == OutputMode::kJson) {
    json j = json::parse(json_object, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) j = json::object();
    j["command"] = command;
    print_json(j);
    return;
  }
  for (const auto& l : lines) line(l);
}

std::string human_time(int64_t unix_seconds) { return format_time(unix_seconds); }

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const auto u = static_cast<unsigned char>(text[i]);
    const auto next = i + 1 < text.size() ? static_cast<unsigned char>(text[i + 1]) : 0;
    if (u == 0xC2 && next >= 0x80 && next <= 0x9F) {
      out += '?';  // A C1 control (U+0080-U+009F) in UTF-8: CSI among them.
      ++i;
    } else {
      out += u < 0x20 || u == 0x7F ? '?' : text[i];
    }
  }
  return out;
}

}  // namespace cairn::client
