#include "cli/client/sync/transfer_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

namespace cairn::client {
namespace {

TEST(TransferPoolTest, EveryItemRunsOnceOnTheSameThreadsRoundAfterRound) {
  // No request is made: the clients only have to exist, one per thread.
  ApiClient prototype(ServerEndpoint{"http://127.0.0.1:1", "", "test", ""});
  TransferPool pool(prototype, 3);
  std::mutex mu;
  std::set<std::thread::id> threads;
  std::map<std::thread::id, std::set<ApiClient*>> clients;
  for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{1000}}) {
    std::vector<std::atomic<int>> runs(n);
    pool.for_each(n, [&](ApiClient& client, size_t i) {
      runs[i].fetch_add(1);
      std::lock_guard lock(mu);
      threads.insert(std::this_thread::get_id());
      clients[std::this_thread::get_id()].insert(&client);
    });
    // for_each returns only once every item ran, each exactly once.
    for (size_t i = 0; i < n; ++i) EXPECT_EQ(runs[i].load(), 1) << n << " items, item " << i;
  }
  // Four rounds, the same three threads at most, each always with its own client.
  EXPECT_LE(threads.size(), 3u);
  EXPECT_GE(threads.size(), 1u);
  std::set<ApiClient*> all;
  for (const auto& [id, used] : clients) {
    EXPECT_EQ(used.size(), 1u);
    all.insert(used.begin(), used.end());
  }
  EXPECT_EQ(all.size(), threads.size());
  EXPECT_EQ(all.count(&prototype), 0u);
}

}  // namespace
}  // namespace cairn::client
