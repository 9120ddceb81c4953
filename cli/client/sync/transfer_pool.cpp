#include "cli/client/sync/transfer_pool.h"

#include <algorithm>

namespace cairn::client {

TransferPool::TransferPool(const ApiClient& prototype, int threads) {
  const int n = std::max(1, threads);
  for (int t = 0; t < n; ++t) clients_.push_back(prototype.clone());
  for (auto& client : clients_) {
    threads_.emplace_back([this, c = client.get()] { loop(*c); });
  }
}

TransferPool::~TransferPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  start_.notify_all();
  for (auto& t : threads_) t.join();
}

void TransferPool::for_each(size_t n, const Work& work) {
  if (n == 0) return;
  std::unique_lock lock(mu_);
  work_ = &work;
  count_ = n;
  next_ = 0;
  ++round_;
  running_ = static_cast<int>(threads_.size());
  start_.notify_all();
  finished_.wait(lock, [&] { return running_ == 0; });
  work_ = nullptr;
}

void TransferPool::loop(ApiClient& client) {
  uint64_t seen = 0;
  std::unique_lock lock(mu_);
  while (true) {
    start_.wait(lock, [&] { return stopping_ || round_ != seen; });
    if (stopping_) return;
    seen = round_;
    const Work& work = *work_;
    // Items are handed out one at a time under the lock: each is a request or a file, far
    // longer than taking it.
    while (next_ < count_) {
      const size_t i = next_++;
      lock.unlock();
      work(client, i);
      lock.lock();
    }
    if (--running_ == 0) finished_.notify_all();
  }
}

}  // namespace cairn::client
