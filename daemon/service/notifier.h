#pragma once

// Change notifications for connected clients (`/v1/notify`). Notifications are hints: a client
// that hears one pulls from its cursor, and the cursor, not the notification, is the truth. So
// the notifier may merge notifications freely and never has to replay one.
//
// The store tells the notifier which namespace advanced (after the commit; on PostgreSQL from
// any daemon on the database). One thread of the notifier's own takes those in batches, finds
// each namespace's audience (its owner, and the grantees of the shared folders or files in it
// that changed since the last batch: one query per namespace and batch) and sends one small
// event to each connected client of those users.
// The same thread checks the tokens of the connected clients twice a second and closes the
// connections of those revoked, expired or disabled since they connected.

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "common/error.h"
#include "common/hash.h"
#include "daemon/store/metadata_store.h"

namespace cairn::service {

class Clock;

// The connection a notification goes out on, as the transport provides it. Both methods may be
// called from any thread and must not block.
class NotifyPeer {
 public:
  virtual ~NotifyPeer() = default;
  virtual void send(std::string text) = 0;
  virtual void close(std::string reason) = 0;
};

struct NotifierOptions {
  int token_check_ms = 500;  // A revoked token's connection is closed within this (plus a query).
  size_t max_per_user = 32;  // Open sockets per user; a new one past it is refused.
};

class Notifier {
 public:
  Notifier(store::MetadataStore& store, const Clock& clock, NotifierOptions options = {});
  ~Notifier();
  Notifier(const Notifier&) = delete;
  Notifier& operator=(const Notifier&) = delete;

  // Subscribes to the store's changes and starts the thread.
  Result<void> start();
  // Stops the thread and unsubscribes; connected peers stay open but hear nothing more.
  void stop();

  // Takes one of `user`'s places (at most NotifierOptions::max_per_user, counted as the
  // upgrade is accepted, not once it completes, so that sockets opened back to back cannot
  // overrun it); nullptr if all are taken. The place is given back when the handle is
  // released. `user` is authenticated, with its token's hash.
  std::shared_ptr<void> reserve(const store::User& user);
  // Fills a place from reserve() with its connected peer, held weakly (a connection that ends
  // is dropped), and tells it that it is subscribed.
  void subscribe(const std::shared_ptr<void>& place, std::weak_ptr<NotifyPeer> peer);

  // Connected peers, and events sent since start (for /metrics and tests).
  size_t connections() const;
  uint64_t events_sent() const;

  // What the store reports; public so that tests can drive the notifier without a store thread.
  void changed(int64_t namespace_id);
  void gap();

 private:
  struct State;  // Shared with the subscription handles, which may outlive the notifier.

  void run();
  void deliver(const std::unordered_set<int64_t>& namespaces, bool everyone);
  void check_tokens();

  store::MetadataStore& store_;
  const Clock& clock_;
  const NotifierOptions options_;
  std::shared_ptr<State> state_;
  // Per namespace, the journal position its audience was last worked out at (the notifier
  // thread's alone).
  std::unordered_map<int64_t, int64_t> seen_;
  std::thread thread_;
};

}  // namespace cairn::service
