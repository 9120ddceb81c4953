#include "cli/client/sync/sync.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <mutex>
#include <random>
#include <thread>

#include "cli/client/net/notify_client.h"
#include "cli/client/tree/tree_watcher.h"

namespace cairn::client {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

bool did_something(const SyncReport& r) {
  return r.files_changed > 0 || r.files_deleted > 0 || r.folders_created > 0 || !r.moved.empty() ||
         !r.conflicts.empty() || !r.errors.empty();
}

bool transient(const Error& e) { return e.code() == ErrorCode::kUnavailable; }

// 0.5 s doubling up to 30 s, drawn from [half, all] of that.
milliseconds backoff(int failures, std::mt19937_64& rng) {
  const int64_t cap = std::min<int64_t>(30'000, int64_t{500} << std::min(failures, 6));
  return milliseconds(std::uniform_int_distribution<int64_t>(cap / 2, cap)(rng));
}

// A self-pipe: other threads wake the loop's poll() by writing a byte.
class WakePipe {
 public:
  WakePipe() {
    if (::pipe2(fds_, O_NONBLOCK | O_CLOEXEC) != 0) fds_[0] = fds_[1] = -1;
  }
  ~WakePipe() {
    for (int fd : fds_) {
      if (fd >= 0) ::close(fd);
    }
  }
  WakePipe(const WakePipe&) = delete;
  WakePipe& operator=(const WakePipe&) = delete;
  int read_fd() const { return fds_[0]; }
  void wake() const {
    const char byte = 1;
    if (fds_[1] >= 0) (void)!::write(fds_[1], &byte, 1);
  }

 private:
  int fds_[2] = {-1, -1};
};

void drain_fd(int fd) {
  char buf[256];
  while (::read(fd, buf, sizeof(buf)) > 0) {
  }
}

}  // namespace

Result<SyncRound> sync_once(Session& session, const SyncOptions& options, Printer& printer) {
  SyncRound round;
  CAIRN_ASSIGN_OR_RETURN(round.pull, pull(session, options.pull, printer, "pull"));
  CAIRN_ASSIGN_OR_RETURN(round.push, push(session, options.push, printer));
  return round;
}

Result<WaitOutcome> sync_wait(Session& session, SyncOptions options, Printer& printer,
                              std::optional<Clock::time_point> deadline) {
  // A file still being written is not sent half-way: each round leaves files modified within
  // the last 200 ms for the next one (and any file that changes while it is read).
  options.push.settle_ms = std::max<int64_t>(options.push.settle_ms, 200);
  std::mt19937_64 rng(std::random_device{}());
  WaitOutcome out;
  int failures = 0;
  while (true) {
    std::optional<Error> failed;
    auto round = sync_once(session, options, printer);
    if (!round) {
      failed = round.error();
    } else {
      out.last = std::move(*round);
      auto left = status(session, /*check_remote=*/true);
      if (left && !left->remote_error.empty()) {
        // The server went away between the round and the check: as unreachable as a failed
        // round.
        left = Error(ErrorCode::kUnavailable, left->remote_error);
      }
      if (!left) {
        failed = left.error();
      } else {
        failures = 0;
        out.status = std::move(*left);
        out.agreed = out.status.local.empty() && out.status.remote.empty();
        const bool idle = !did_something(out.last.pull) && !did_something(out.last.push) &&
                          out.last.push.files_deferred == 0;
        out.stuck = !out.agreed && idle;
        // Done when in agreement, or when another round would change nothing (a viewer's kept
        // edits, files that cannot be read): the caller tells which.
        if (out.agreed || out.stuck) {
          out.last.in_sync = out.agreed;
          out.last.conflicted_copies = out.status.conflicts;
          return out;
        }
      }
    }
    if (failed && (!transient(*failed) || !deadline)) return *failed;
    if (deadline && Clock::now() >= *deadline) {
      if (failed) return *failed;
      out.last.conflicted_copies = out.status.conflicts;
      return out;  // Neither agreed nor stuck: still changing.
    }
    // After a failure, back off; after a round that found work, go again soon (a deferred
    // file settles within 200 ms).
    auto wait = failed ? backoff(failures++, rng)
                       : milliseconds(out.last.push.files_deferred > 0 ? 200 : 0);
    if (deadline) {
      wait = std::min(wait, std::chrono::duration_cast<milliseconds>(
                                std::max(*deadline - Clock::now(), Clock::duration{})));
    }
    if (failed) {
      printer.warn(failed->message() + "; retrying in " + std::to_string(wait.count()) + " ms");
    }
    std::this_thread::sleep_for(wait);
  }
}

namespace {

// What the server's notifications tell the watch loop, set from the notification thread.
struct RemoteSignals {
  WakePipe pipe;
  std::atomic<bool> changed{true};  // The first round looks at the server too.
  std::atomic<bool> reconnected{false};
  std::atomic<bool> online{true};
  std::mutex refused_mu;
  std::optional<Error> refused;  // The server refused the token: the watch ends.

  NotifyCallbacks callbacks(Printer& printer) {
    NotifyCallbacks c;
    c.connected = [this] {
      reconnected = true;
      changed = true;
      pipe.wake();
    };
    c.changed = [this] {
      changed = true;
      pipe.wake();
    };
    c.down = [this, &printer](const Error& e, int64_t retry_ms) {
      if (online.exchange(false)) {
        printer.event("offline", "notifications: " + e.message() + "; reconnecting (next try in " +
                                     std::to_string(retry_ms) + " ms)");
      }
    };
    c.refused = [this](const Error& e) {
      {
        std::lock_guard lock(refused_mu);
        refused = e;
      }
      pipe.wake();
    };
    return c;
  }

  std::optional<Error> refusal() {
    std::lock_guard lock(refused_mu);
    return refused;
  }
};

// One round of the watch: a full sync when local edits (or a rescan) are due, else only a pull
// of what the server announced.
Result<SyncRound> watch_round(Session& session, const SyncOptions& options, Printer& printer,
                              bool full) {
  if (full) return sync_once(session, options, printer);
  CAIRN_ASSIGN_OR_RETURN(auto pulled, pull(session, options.pull, printer, "pull"));
  SyncRound r;
  r.pull = std::move(pulled);
  r.push.command = "push";
  return r;
}

}  // namespace

Result<void> sync_watch(Session& session, SyncOptions options, const WatchOptions& watch,
                        Printer& printer, const std::atomic<bool>& stop, int wake_fd) {
  options.push.settle_ms = std::max<int64_t>(options.push.settle_ms, watch.debounce_ms);
  CAIRN_ASSIGN_OR_RETURN(auto watcher, TreeWatcher::open(session.root));

  RemoteSignals remote;
  NotifyClient notify(session.endpoint, remote.callbacks(printer));
  notify.start();
  printer.line("watching " + session.root + " (" + session.endpoint.base_url + session.remote_root +
               "); Ctrl-C stops");

  std::mt19937_64 rng(std::random_device{}());
  bool local_dirty = true;  // The first round is a full one: whatever happened while away.
  Clock::time_point first_event = Clock::now();
  Clock::time_point last_event = first_event - milliseconds(watch.max_delay_ms);
  Clock::time_point next_rescan = Clock::now() + milliseconds(watch.rescan_ms);
  Clock::time_point retry_at{};  // While now is before it, rounds wait (offline).
  int failures = 0;

  while (!stop) {
    if (auto refused = remote.refusal()) return *refused;
    if (remote.reconnected.exchange(false)) {
      // The server is back (or we are): whatever was edited meanwhile goes now.
      if (!remote.online.exchange(true)) printer.event("online", "notifications: connected again");
      retry_at = {};
      local_dirty = true;
      last_event = Clock::now() - milliseconds(watch.max_delay_ms);
    }
    const auto now = Clock::now();
    const bool local_due = local_dirty && (now - last_event >= milliseconds(watch.debounce_ms) ||
                                           now - first_event >= milliseconds(watch.max_delay_ms));
    const bool rescan_due = now >= next_rescan;
    const bool blocked = now < retry_at;
    if (!blocked && (local_due || rescan_due || remote.changed)) {
      const bool full = local_due || rescan_due;
      remote.changed = false;
      if (full) local_dirty = false;
      auto round = watch_round(session, options, printer, full);
      if (round) {
        failures = 0;
        retry_at = {};
        if (full) next_rescan = Clock::now() + milliseconds(watch.rescan_ms);
        if (round->push.files_deferred > 0) {
          // Still being written: look again once it has had time to settle.
          local_dirty = true;
          first_event = last_event = Clock::now();
        }
        if (did_something(round->pull) || did_something(round->push)) {
          printer.sync_round(*round, /*one_line=*/true);
        }
      } else if (round.error().code() == ErrorCode::kUnauthenticated) {
        return std::move(round).error();
      } else {
        // Offline (or something else went wrong): keep everything dirty and try again later;
        // local edits wait here, as the three-way rules expect.
        const auto wait = backoff(failures++, rng);
        retry_at = Clock::now() + wait;
        local_dirty = true;
        remote.changed = true;
        printer.event("retrying", "sync: " + round.error().message() + "; retrying in " +
                                      std::to_string(wait.count()) + " ms");
      }
      continue;
    }

    // Sleep until something happens or the next thing falls due.
    Clock::time_point until = next_rescan;
    if (blocked) {
      until = retry_at;  // Offline: edits pile up until the retry.
    } else if (local_dirty) {
      until = std::min({until, last_event + milliseconds(watch.debounce_ms),
                        first_event + milliseconds(watch.max_delay_ms)});
    }
    const auto timeout = std::chrono::duration_cast<milliseconds>(until - Clock::now()).count();
    pollfd fds[3] = {
        {watcher->fd(), POLLIN, 0}, {remote.pipe.read_fd(), POLLIN, 0}, {wake_fd, POLLIN, 0}};
    const int n = ::poll(fds, wake_fd >= 0 ? 3 : 2,
                         static_cast<int>(std::clamp<int64_t>(timeout, 0, 60'000)));
    if (n <= 0) continue;
    if ((fds[1].revents & POLLIN) != 0) drain_fd(remote.pipe.read_fd());
    if (wake_fd >= 0 && (fds[2].revents & POLLIN) != 0) drain_fd(wake_fd);
    if ((fds[0].revents & POLLIN) != 0) {
      CAIRN_ASSIGN_OR_RETURN(const bool changed, watcher->drain());
      if (changed) {
        const auto at = Clock::now();
        if (!local_dirty) first_event = at;
        local_dirty = true;
        last_event = at;
        if (watcher->lost()) next_rescan = at;  // Events were dropped: rescan everything.
      }
    }
  }
  notify.stop();
  return {};
}

}  // namespace cairn::client
