#include "daemon/service/notifier.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "common/protocol/log.h"
#include "daemon/service/services.h"

namespace cairn::service {

namespace {
constexpr const char* kChangedEvent = R"({"type":"changed"})";
}  // namespace

struct Notifier::State {
  struct Subscriber {
    int64_t user_id = 0;
    std::optional<Digest> token_hash;
    std::weak_ptr<NotifyPeer> peer;
  };

  mutable std::mutex mu;
  std::condition_variable wake;
  std::unordered_map<uint64_t, Subscriber> subscribers;
  std::unordered_map<int64_t, std::unordered_set<uint64_t>> by_user;
  uint64_t next_id = 1;
  std::unordered_set<int64_t> pending;  // Namespaces that advanced, not yet delivered.
  bool pending_gap = false;
  bool stopping = false;
  uint64_t events_sent = 0;

  // Under mu.
  void remove(uint64_t id) {
    auto it = subscribers.find(id);
    if (it == subscribers.end()) return;
    auto user = by_user.find(it->second.user_id);
    if (user != by_user.end()) {
      user->second.erase(id);
      if (user->second.empty()) by_user.erase(user);
    }
    subscribers.erase(it);
  }
};

Notifier::Notifier(store::MetadataStore& store, const Clock& clock, NotifierOptions options)
    : store_(store), clock_(clock), options_(options), state_(std::make_shared<State>()) {}

Notifier::~Notifier() { stop(); }

Result<void> Notifier::start() {
  CAIRN_RETURN_IF_ERROR(
      store_.watch_changes([this](int64_t ns) { changed(ns); }, [this] { gap(); }));
  thread_ = std::thread([this] { run(); });
  return {};
}

void Notifier::stop() {
  if (!thread_.joinable()) return;
  (void)store_.watch_changes(nullptr, nullptr);
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
  }
  state_->wake.notify_all();
  thread_.join();
}

std::shared_ptr<void> Notifier::reserve(const store::User& user) {
  uint64_t id = 0;
  {
    std::lock_guard lock(state_->mu);
    auto& mine = state_->by_user[user.user_id];
    if (mine.size() >= options_.max_per_user) return nullptr;
    id = state_->next_id++;
    state_->subscribers[id] = State::Subscriber{user.user_id, user.token_hash, {}};
    mine.insert(id);
  }
  // The handle keeps the state alive, not the notifier: a connection may outlive either.
  return std::shared_ptr<void>(new uint64_t(id), [state = state_](void* p) {
    const std::unique_ptr<uint64_t> place(static_cast<uint64_t*>(p));
    std::lock_guard lock(state->mu);
    state->remove(*place);
  });
}

void Notifier::subscribe(const std::shared_ptr<void>& place, std::weak_ptr<NotifyPeer> peer) {
  {
    std::lock_guard lock(state_->mu);
    auto it = state_->subscribers.find(*static_cast<const uint64_t*>(place.get()));
    if (it == state_->subscribers.end()) return;
    it->second.peer = peer;
  }
  // The client may pull now: any change from here on is announced to it.
  if (auto p = peer.lock()) p->send(R"({"type":"ready"})");
}

size_t Notifier::connections() const {
  std::lock_guard lock(state_->mu);
  return state_->subscribers.size();
}

uint64_t Notifier::events_sent() const {
  std::lock_guard lock(state_->mu);
  return state_->events_sent;
}

void Notifier::changed(int64_t namespace_id) {
  {
    std::lock_guard lock(state_->mu);
    if (state_->subscribers.empty()) return;  // Nobody to tell; no audience query either.
    state_->pending.insert(namespace_id);
  }
  state_->wake.notify_one();
}

void Notifier::gap() {
  {
    std::lock_guard lock(state_->mu);
    state_->pending_gap = true;
  }
  state_->wake.notify_one();
}

void Notifier::run() {
  const auto interval = std::chrono::milliseconds(options_.token_check_ms);
  auto next_check = std::chrono::steady_clock::now() + interval;
  std::unique_lock lock(state_->mu);
  while (!state_->stopping) {
    state_->wake.wait_until(lock, next_check, [&] {
      return state_->stopping || !state_->pending.empty() || state_->pending_gap;
    });
    if (state_->stopping) break;
    std::unordered_set<int64_t> namespaces;
    namespaces.swap(state_->pending);
    const bool everyone = std::exchange(state_->pending_gap, false);
    lock.unlock();
    if (!namespaces.empty() || everyone) deliver(namespaces, everyone);
    if (std::chrono::steady_clock::now() >= next_check) {
      check_tokens();
      next_check = std::chrono::steady_clock::now() + interval;
    }
    lock.lock();
  }
}

void Notifier::deliver(const std::unordered_set<int64_t>& namespaces, bool everyone) {
  // Who hears: every connected user after a gap (what they missed is unknown), otherwise the
  // audience of each namespace that advanced. Each user hears once per batch.
  std::unordered_set<int64_t> users;
  if (everyone) seen_.clear();  // Positions from before a gap say nothing about after it.
  if (!everyone) {
    for (int64_t ns : namespaces) {
      // Since the last batch that looked at this namespace: its owner, and the grantees whose
      // shared folder or file changed (not everyone something else in it is shared with).
      auto known = seen_.find(ns);
      auto audience = store_.audience(ns, known == seen_.end() ? -1 : known->second);
      if (!audience) {
        // Not knowing who to tell, tell everyone: a spurious hint costs a pull, a lost one a
        // stale client.
        log::warn("notify_audience_unknown", "telling every client",
                  {{"error", audience.error().message()}});
        everyone = true;
        seen_.clear();
        break;
      }
      seen_[ns] = audience->head;
      users.insert(audience->users.begin(), audience->users.end());
    }
  }
  std::vector<std::shared_ptr<NotifyPeer>> peers;
  {
    std::lock_guard lock(state_->mu);
    for (const auto& [id, sub] : state_->subscribers) {
      if (!everyone && users.count(sub.user_id) == 0) continue;
      if (auto p = sub.peer.lock()) peers.push_back(std::move(p));
    }
    state_->events_sent += peers.size();
  }
  for (const auto& p : peers) p->send(kChangedEvent);
}

void Notifier::check_tokens() {
  std::vector<Digest> hashes;
  {
    std::lock_guard lock(state_->mu);
    std::unordered_set<Digest> distinct;
    for (const auto& [id, sub] : state_->subscribers) {
      if (sub.token_hash && distinct.insert(*sub.token_hash).second) {
        hashes.push_back(*sub.token_hash);
      }
    }
  }
  if (hashes.empty()) return;
  auto invalid = store_.invalid_tokens(hashes, clock_.now_seconds());
  if (!invalid) {
    // The database is unreachable: keep the connections (their next request is checked anyway).
    return;
  }
  if (invalid->empty()) return;
  const std::unordered_set<Digest> gone(invalid->begin(), invalid->end());
  std::vector<std::shared_ptr<NotifyPeer>> to_close;
  {
    std::lock_guard lock(state_->mu);
    std::vector<uint64_t> ids;
    for (const auto& [id, sub] : state_->subscribers) {
      if (sub.token_hash && gone.count(*sub.token_hash) != 0) ids.push_back(id);
    }
    for (uint64_t id : ids) {
      if (auto p = state_->subscribers[id].peer.lock()) to_close.push_back(std::move(p));
      state_->remove(id);
    }
  }
  for (const auto& p : to_close) {
    p->close("the token was revoked or expired, or its user disabled");
  }
}

}  // namespace cairn::service
