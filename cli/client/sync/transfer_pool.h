#pragma once

// Threads for a pull's transfers, each with its own connection to the server, kept for the
// whole pull. A pull downloads a window of files at a time in several parallel phases
// (manifests, local copies, locations, reads); threads made afresh for each phase of each window
// reconnected every time and gave back the read and decode buffers they had grown, which the
// next ones then faulted in again (a clone of 60,000 files took 148,000 page faults, mostly
// there).

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "cli/client/net/api_client.h"

namespace cairn::client {

class TransferPool {
 public:
  using Work = std::function<void(ApiClient& client, size_t index)>;

  TransferPool(const ApiClient& prototype, int threads);
  ~TransferPool();
  TransferPool(const TransferPool&) = delete;
  TransferPool& operator=(const TransferPool&) = delete;

  // Runs work(client, i) for every i in [0, n) on the pool's threads, each with its own client,
  // and returns once all are done. Not reentrant: `work` must not call for_each.
  void for_each(size_t n, const Work& work);

 private:
  void loop(ApiClient& client);

  std::mutex mu_;
  std::condition_variable start_;
  std::condition_variable finished_;
  const Work* work_ = nullptr;
  size_t count_ = 0;
  size_t next_ = 0;
  uint64_t round_ = 0;
  int running_ = 0;
  bool stopping_ = false;
  std::vector<std::unique_ptr<ApiClient>> clients_;
  std::vector<std::thread> threads_;
};

}  // namespace cairn::client
