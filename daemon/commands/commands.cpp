#include "daemon/commands/commands.h"

#include <cctype>
#include <charconv>
#include <cstdio>

#include "common/duration.h"

namespace cairn::admin {

namespace {

// One command runs per process: --json is the process's output mode.
bool g_json = false;

void print_line(const Json& doc) {
  std::printf("%s\n", doc.dump(-1, ' ', false, Json::error_handler_t::replace).c_str());
  std::fflush(stdout);
}

}  // namespace

void add_common_options(CLI::App* cmd, CommandContext& ctx) {
  cmd->add_option("--data", ctx.data, "Data folder (metadata.db and blobs/)")
      ->envname("CAIRND_DATA")
      ->capture_default_str();
  cmd->add_flag("--json", g_json,
                "Print the result as one JSON object on stdout (an error as {\"error\": "
                "{\"code\", \"message\"}}); the exit code is the same");
}

bool json_output() { return g_json; }

void emit(const Json& doc, const std::function<void()>& text) {
  if (g_json) {
    print_line(doc);
  } else {
    text();
  }
}

std::string iso_time(int64_t unix_seconds) { return utc_text(unix_seconds * 1000); }

int fail(const Error& e) {
  if (g_json) {
    print_line({{"error", {{"code", error_code_name(e.code())}, {"message", e.message()}}}});
  } else {
    std::fprintf(stderr, "cairnd: %s\n", e.message().c_str());
  }
  if (e.code() == ErrorCode::kInvalidArgument) return kExitUsage;
  if (e.code() == ErrorCode::kAlreadyExists || e.code() == ErrorCode::kConflict) {
    return kExitConflict;
  }
  return kExitError;
}

Result<std::optional<uint64_t>> parse_size(const std::string& text) {
  if (text == "unlimited" || text == "none") return std::optional<uint64_t>();
  const char* end = text.data() + text.size();
  double value = 0;
  auto [p, ec] = std::from_chars(text.data(), end, value);
  std::string unit(p, static_cast<size_t>(end - p));
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (unit.size() > 1 && unit.back() == 'B') unit.pop_back();
  if (unit.size() > 1 && unit.back() == 'I') unit.pop_back();
  double scale = 0;
  if (unit.empty() || unit == "B") scale = 1;
  if (unit == "K") scale = 1024.0;
  if (unit == "M") scale = 1024.0 * 1024;
  if (unit == "G") scale = 1024.0 * 1024 * 1024;
  if (unit == "T") scale = 1024.0 * 1024 * 1024 * 1024;
  if (ec != std::errc() || p == text.data() || value < 0 || scale == 0 || value * scale > 9.0e18) {
    return make_error(ErrorCode::kInvalidArgument,
                      "not a size: " + text + " (use e.g. 500M, 15G, 2T, bytes, or unlimited)");
  }
  return std::optional<uint64_t>(static_cast<uint64_t>(value * scale));
}

}  // namespace cairn::admin
