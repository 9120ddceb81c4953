#pragma once

// Owns all of the client's output. Human mode prints text to stdout, warnings and errors to
// stderr, and progress to stderr only when stderr is a terminal. JSON mode prints exactly one
// JSON document to stdout (errors included) and no progress. Quiet mode prints errors only.
// Thread-safe.

#include <mutex>
#include <string>
#include <vector>

#include "cli/client/reports.h"
#include "common/bytes.h"
#include "common/error.h"
#include "common/protocol/protocol.h"

namespace cairn::client {

enum class OutputMode { kHuman, kJson, kQuiet };

class Printer {
 public:
  explicit Printer(OutputMode mode);

  OutputMode mode() const { return mode_; }
  bool progress_enabled() const { return progress_; }

  void line(const std::string& text);  // Human mode only, stdout.
  void warn(const std::string& text);  // Human mode only, stderr.
  void progress(const std::string& text);
  void clear_progress();

  // A failed command: a message on stderr, or {"error": {...}} in JSON mode.
  void error(const std::string& command, const Error& error);

  void sync_report(const SyncReport& report);
  // Something a long-running command wants known (--watch going offline, coming back): a line
  // on stderr, or in JSON mode one line {"event": EVENT, "message": MESSAGE} on stdout.
  void event(const std::string& event, const std::string& message);
  // A sync round: pull then push. `one_line`: JSON on one line (a stream of rounds, --watch).
  void sync_round(const SyncRound& round, bool one_line = false);
  void status_report(const StatusReport& report);
  void listing(const protocol::ListResponse& listing);
  void kv(const std::vector<std::pair<std::string, std::string>>& fields);
  // A command's result: in JSON mode the object `json_object` (a JSON text) with "command" added;
  // in human mode `lines`.
  void document(const std::string& command, const std::string& json_object,
                const std::vector<std::string>& lines);

 private:
  void human_report(const SyncReport& report);

  OutputMode mode_;
  bool progress_;
  bool progress_shown_ = false;
  std::mutex mu_;
};

using cairn::human_bytes;  // common/bytes.h
// "2026-11-26 08:15" in local time; "-" for 0.
std::string human_time(int64_t unix_seconds);
// `text` from the server (a name, a device) made safe for a terminal: control characters (C0,
// DEL and C1 as UTF-8), which could move the cursor or rewrite the screen, become '?'.
std::string printable(std::string_view text);

}  // namespace cairn::client
