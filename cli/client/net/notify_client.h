#pragma once

// The client side of the server's /v1/notify WebSocket (Boost.Beast behind a pimpl: including
// this header costs nothing). It runs on a thread of its own: connects, hands every event to
// the owner, answers the server's pings and pings it back (a connection silent for 40 s is
// taken for dead), and reconnects after a drop with exponential backoff and full jitter
// (0.5 s doubling up to 30 s). Notifications are hints: after each (re)connection the owner
// should pull from its cursor, since whatever happened while it was away was not announced to
// it.

#include <functional>
#include <memory>
#include <string>

#include "cli/client/net/api_client.h"
#include "common/error.h"

namespace cairn::client {

struct NotifyCallbacks {
  std::function<void()> connected;  // (Re)connected and subscribed: time to pull.
  std::function<void()> changed;    // Something the user can see changed on the server.
  // The connection dropped or could not be made; it is retried after `retry_ms`.
  std::function<void(const Error&, int64_t retry_ms)> down;
  // The server refused the token (401 on connecting, or 1008 when it was revoked): no retry.
  std::function<void(const Error&)> refused;
};

class NotifyClient {
 public:
  // The callbacks run on the client's thread; they must be quick (set a flag, wake a loop).
  NotifyClient(ServerEndpoint endpoint, NotifyCallbacks callbacks);
  ~NotifyClient();  // Stops.
  NotifyClient(const NotifyClient&) = delete;
  NotifyClient& operator=(const NotifyClient&) = delete;

  void start();
  // Closes the connection and joins the thread. No callback runs once it returns.
  void stop();
  // Drops the current connection as a network failure would (it is then retried); for tests
  // and for the owner's own liveness checks.
  void reconnect();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn::client
