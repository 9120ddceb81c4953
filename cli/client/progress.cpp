#include "cli/client/progress.h"

#include <chrono>

namespace cairn::client {

void Progress::start() {
  if (!printer_.progress_enabled() || ticker_.joinable()) return;
  ticker_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return stopping_; })) {
      printer_.progress(line());
    }
  });
}

void Progress::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (ticker_.joinable()) ticker_.join();
  printer_.clear_progress();
}

std::string Progress::line() const {
  return verb_ + ": " + std::to_string(files_done.load()) + "/" + std::to_string(files_total) +
         " files, " + human_bytes(bytes_done.load()) + "/" + human_bytes(bytes_total) +
         (chunks_sent.load() > 0 ? ", sent " + std::to_string(chunks_sent.load()) + " chunks (" +
                                       human_bytes(bytes_sent.load()) + ")"
                                 : std::string());
}

}  // namespace cairn::client
