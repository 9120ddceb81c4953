#pragma once

// Counters that workers bump and a ticker thread prints as one progress line (only when the
// printer shows progress: on a terminal, not with --json or in a pipe).

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "cli/client/printer.h"

namespace cairn::client {

class Progress {
 public:
  Progress(std::string verb, Printer& printer) : verb_(std::move(verb)), printer_(printer) {}
  ~Progress() { stop(); }

  void start();
  void stop();

  uint64_t files_total = 0;
  uint64_t bytes_total = 0;
  std::atomic<uint64_t> files_done{0};
  std::atomic<uint64_t> bytes_done{0};
  std::atomic<uint64_t> chunks_sent{0};
  std::atomic<uint64_t> bytes_sent{0};     // Chunk bytes uploaded, before compression.
  std::atomic<uint64_t> bytes_on_wire{0};  // Object bytes uploaded: packs compressed.
  std::atomic<uint64_t> packs_sent{0};

 private:
  std::string line() const;

  std::string verb_;
  Printer& printer_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread ticker_;
};

}  // namespace cairn::client
