#pragma once

// `cairn sync`: reconcile rounds (a pull, then a push, with the three-way rules of both), once,
// until local and remote agree (--wait), or for as long as it runs (--watch: inotify on the
// tree, the server's /v1/notify WebSocket, and a periodic rescan as the safety net).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

#include "cli/client/printer.h"
#include "cli/client/state/session.h"
#include "cli/client/sync/pull.h"
#include "cli/client/sync/push.h"
#include "cli/client/sync/status.h"

namespace cairn::client {

struct SyncOptions {
  PullOptions pull;
  PushOptions push;
};

// One round: pull (remote changes in; local edits are kept, as conflicted copies where both
// sides changed), then push (local changes out). A pull that fails ends the round before the
// push: pushing over remote changes not yet seen would only make conflicted copies.
Result<SyncRound> sync_once(Session& session, const SyncOptions& options, Printer& printer);

struct WaitOutcome {
  SyncRound last;       // The last round run.
  StatusReport status;  // What is left, by `cairn status`'s rules.
  bool agreed = false;  // Nothing left to send or to fetch.
  bool stuck = false;   // Something is left that another round would not change.
};

// Rounds until local and remote agree, or until the deadline (rounds that keep finding work, or
// a server that stays unreachable, until then). A server that cannot be reached is retried
// with exponential backoff while the deadline allows; without a deadline, the first such
// failure is returned.
Result<WaitOutcome> sync_wait(Session& session, SyncOptions options, Printer& printer,
                              std::optional<std::chrono::steady_clock::time_point> deadline);

struct WatchOptions {
  // Quiet time after the last local change before a round: when it has passed, no file of the
  // tree has changed size or mtime for that long. Short, because it adds to every edit's trip.
  int debounce_ms = 100;
  // ... but no longer than this after the first change of a burst (a copy that runs for
  // minutes). A round forced that way leaves files modified within the debounce time for a later
  // one: they may still be being written.
  int max_delay_ms = 3000;
  int rescan_ms = 60'000;  // A full round this often, whatever was heard.
};

// Keeps the working copy in sync until `stop` is set (SIGINT, SIGTERM) and a byte arrives on
// `wake_fd` (the signal handler's pipe; -1 for none), or the server refuses the token
// (kUnauthenticated). Each round that changed something is printed; so is going offline and
// coming back.
Result<void> sync_watch(Session& session, SyncOptions options, const WatchOptions& watch,
                        Printer& printer, const std::atomic<bool>& stop, int wake_fd);

}  // namespace cairn::client
