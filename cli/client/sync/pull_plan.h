#pragma once

// What a pull decides, apart from what it does. Given the server's changes (each node once, in
// its latest state) and the base records of the last sync, the plan says what leaves its local
// path (to the local trash, forgotten, detached when a share ended) and what each live node
// needs here: a folder made, a mode set, a local copy adopted, a conflict set aside, a file
// downloaded or a symlink made. It writes nothing: the working copy is seen through `LocalView`
// and the server's tree through `RemoteTree`, which tests answer from tables
// (tests/unit/cli/pull_plan_test.cpp).
// pull.cpp executes the plan, in two steps: departures, then arrivals, since a node arriving
// where a departing one was must wait for it to make room.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "cli/client/net/api_client.h"
#include "cli/client/state/local_state.h"
#include "cli/client/state/session.h"
#include "cli/client/tree/scanner.h"
#include "common/error.h"
#include "common/manifest.h"
#include "common/protocol/protocol.h"

namespace cairn::client {

// What the pull planner may ask about the working copy.
class LocalView {
 public:
  virtual ~LocalView() = default;
  // lstat of `rel` as a LocalEntry; kNotFound if absent.
  virtual Result<LocalEntry> stat(const std::string& rel) = 0;
  // The entry `now` is still what `b` recorded (by stat, or by content when the stat moved).
  virtual bool unchanged_since(const LocalEntry& now, const BaseRecord& b) = 0;
  // The local file at `rel` holds exactly the bytes of `e`'s manifest; when it does, its chunk
  // map goes to `manifest`. An error only if the answer cannot be had at all (the server's
  // chunking could not be fetched).
  virtual Result<bool> same_content(const std::string& rel, const protocol::Entry& e,
                                    Manifest& manifest) = 0;
  // A path can be written: no symlink or file on the way to it.
  virtual Result<void> writable(const std::string& rel) = 0;
};

// The server's changes since the cursor, by node.
using Changes = std::map<int64_t, protocol::Entry>;

// Changes asked for per request.
inline constexpr int kFeedPage = 1000;

// Reads the change feed from `cursor` to its end into `changed` (each node once, in its latest
// state); returns the cursor to save once they are applied.
Result<std::string> read_feed(RemoteTree& server, std::string cursor, Changes& changed);

// Adds what the remote `folders` hold, listed from the server, to `changed`: a folder that
// arrives as one entry of the feed (moved in), or one whose move could not be made here.
Result<void> list_into(RemoteTree& server, std::vector<std::string> folders, Changes& changed);

// A folder moved into this working copy's folder from outside it arrives as one entry (its
// own): adds what it holds, listed from the server, to `changed`.
Result<void> list_moved_in(RemoteTree& server, const Session& session,
                           const std::map<std::string, BaseRecord>& base, Changes& changed);

// Step 1: nodes that left their old local path (deleted, moved, unshared).
struct Departures {
  // Unchanged here: to the local trash (folders only once empty).
  std::vector<const BaseRecord*> to_trash;
  // Records to forget: gone here already, edited here (the edit wins), or in an ended share.
  std::vector<std::string> forget;
  std::vector<std::string> skipped;       // What to tell the user about edits kept.
  std::vector<std::string> shares_ended;  // Local folders (or files) whose share ended.
  std::vector<std::string> detached;      // The working copy's detached list, updated.
  bool detached_changed = false;
  // Every live node of the feed inside this working copy, with its path here, in feed order.
  std::vector<std::pair<std::string, const protocol::Entry*>> live;
  // A live node arrives where something goes to the trash: the trash goes first.
  bool make_room = false;
};

Departures plan_departures(const Session& session, const Changes& changed,
                           const std::map<std::string, BaseRecord>& base,
                           std::vector<std::string> detached, LocalView& local);

// Step 2: what each live node needs.
enum class Arrival {
  kFolder,    // Make it (or keep it) and give it the server's mode.
  kModeOnly,  // The same bytes with a new mode: set the mode, record the version.
  kAdopt,     // Changed on both sides to the same thing: record the server's version as base.
  kSymlink,   // Make the symlink.
  kDownload,  // Fetch the file.
};

struct ArrivalStep {
  Arrival action = Arrival::kDownload;
  std::string rel;
  const protocol::Entry* entry = nullptr;
  std::unique_ptr<LocalEntry> local;  // The local entry as planned over (null: absent).
  // Changed here and on the server: the local version steps aside under a conflicted-copy name
  // first (kSymlink, kDownload). `had_base`: this copy knew the path, whose record then goes.
  bool set_aside_first = false;
  bool had_base = false;
  // kDownload: the file is still as last synced, so the new version may replace it.
  bool replaces_unchanged = false;
  Manifest manifest;  // kAdopt of a file: its chunk map.
};

// A set of paths kept as their 64-bit hashes, sorted: 8 bytes a path where a set of strings
// cost about 150 (a pull of 120,000 files held 18 MB of them). A collision can only make a
// path look present that is not.
class PathHashes {
 public:
  PathHashes() = default;
  explicit PathHashes(std::vector<uint64_t> hashes);
  static uint64_t of(std::string_view path);
  bool contains(std::string_view path) const;

 private:
  std::vector<uint64_t> sorted_;
};

struct Arrivals {
  std::vector<ArrivalStep> steps;  // In feed order.
  std::vector<std::string> errors;
  std::vector<std::string> conflicts;
  // Every path a live node takes: a conflicted copy's name must not be one of them (a name
  // that only seems taken moves the copy to the next number).
  PathHashes arriving;
};

// Empties `departures.live`: its paths move into the steps, so that a pull of many files does
// not hold every path twice.
Result<Arrivals> plan_arrivals(Departures& departures,
                               const std::map<std::string, BaseRecord>& base, LocalView& local);

}  // namespace cairn::client
