#include "cli/client/sync/upload_pipeline.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>

#include "common/chunker.h"
#include "common/file_io.h"

namespace cairn::client {

UploadPipeline::~UploadPipeline() {
  if (!threads_.empty()) (void)finish();
}

void UploadPipeline::submit(ChunkTask task, ByteView bytes) {
  std::unique_lock lock(mu_);
  if (!seen_.insert(task.hash).second) return;
  if (packable(task.length)) {
    // Back-pressure: the hashers wait while the uploaders catch up.
    held_cv_.wait(lock, [&] { return held_bytes_ < kMaxHeldBytes || closing_; });
    if (closing_) return;
    task.data.assign(bytes.begin(), bytes.end());
    held_bytes_ += task.length;
  }
  check_queue_.push_back(std::move(task));
  if (check_queue_.size() >= batch_) check_cv_.notify_one();
}

Result<void> UploadPipeline::finish() {
  {
    std::lock_guard lock(mu_);
    closing_ = true;
  }
  check_cv_.notify_all();
  upload_cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
  if (fatal_) return *fatal_;
  return {};
}

void UploadPipeline::release(uint64_t bytes) {
  held_bytes_ -= bytes;
  held_cv_.notify_all();
}

void UploadPipeline::fail(Error e) {
  {
    std::lock_guard lock(mu_);
    if (!fatal_) fatal_ = std::move(e);
    closing_ = true;
    check_queue_.clear();
    upload_queue_.clear();
    held_bytes_ = 0;
    upload_cv_.notify_all();
    check_cv_.notify_all();
    held_cv_.notify_all();
  }
  std::lock_guard lock(pack_mu_);
  pack_failed_ = true;
  pack_cv_.notify_all();
}

void UploadPipeline::checker_loop(ApiClient& client) {
  while (true) {
    std::vector<ChunkTask> batch;
    {
      std::unique_lock lock(mu_);
      // Wait briefly for a full batch; send what there is when hashing pauses or ends.
      check_cv_.wait_for(lock, std::chrono::milliseconds(5),
                         [&] { return closing_ || check_queue_.size() >= batch_; });
      if (check_queue_.empty()) {
        if (closing_) break;
        continue;
      }
      while (!check_queue_.empty() && batch.size() < batch_) {
        batch.push_back(std::move(check_queue_.front()));
        check_queue_.pop_front();
      }
    }
    protocol::CheckChunksRequest req;
    for (const auto& c : batch) req.chunks.push_back({c.hash, c.length});
    auto resp = client.check_chunks(req);
    if (!resp) return fail(std::move(resp).error().with_context("check chunks"));
    std::unordered_map<Digest, protocol::ChunkUpload> urls;
    for (auto& m : resp->missing) urls.emplace(m.hash, std::move(m));
    std::vector<Digest> present;
    {
      std::lock_guard lock(mu_);
      for (auto& c : batch) {
        auto it = urls.find(c.hash);
        if (it == urls.end()) {
          if (!c.data.empty()) release(c.length);  // The server has it: nothing to send.
          present.push_back(c.hash);
          continue;
        }
        upload_queue_.push_back({std::move(c), std::move(it->second)});
      }
      upload_cv_.notify_all();
    }
    if (!present.empty()) settled_(present, true);
  }
  std::lock_guard lock(mu_);
  checker_done_ = true;
  upload_cv_.notify_all();
}

bool UploadPipeline::confirm(ApiClient& client, std::vector<ChunkRef>& done) {
  if (done.empty()) return true;
  protocol::CheckChunksRequest req;
  req.chunks = std::move(done);
  done.clear();
  std::vector<Digest> digests;
  for (const auto& c : req.chunks) digests.push_back(c.hash);
  auto resp = client.confirm_chunks(req);
  if (!resp) {
    fail(std::move(resp).error().with_context("confirm uploaded chunks"));
    return false;
  }
  if (!resp->missing.empty()) {
    fail(Error(ErrorCode::kUnavailable, "the blob store does not have chunk " +
                                            resp->missing[0].hash.hex().substr(0, 12) +
                                            " right after it was uploaded"));
    return false;
  }
  settled_(digests, true);
  return true;
}

bool UploadPipeline::send_pack(ApiClient& client, PackBuilder& builder) {
  if (builder.empty()) return true;
  auto finished = builder.finish();
  if (!finished) {
    fail(std::move(finished).error().with_context("build pack"));
    return false;
  }
  const PackBuilder::Built& pack = *finished;
  const uint64_t size = pack.size();
  const std::string what = "upload pack " + pack.digest.hex().substr(0, 12);
  auto grant = client.pack_upload({pack.digest, size});
  if (!grant) {
    fail(std::move(grant).error().with_context(what));
    return false;
  }
  auto stored = client.put_pack(
      *grant, ApiClient::Body::file(as_string_view(pack.bytes), pack.file.get(), pack.file_bytes));
  if (!stored) {
    fail(std::move(stored).error().with_context(what));
    return false;
  }
  if (!stored->has_value()) {
    auto confirmed = client.confirm_pack({pack.digest, size, pack.entries});
    if (!confirmed) {
      fail(std::move(confirmed).error().with_context(what));
      return false;
    }
  }
  progress_.chunks_sent.fetch_add(pack.entries.size(), std::memory_order_relaxed);
  progress_.bytes_sent.fetch_add(pack.raw_bytes, std::memory_order_relaxed);
  progress_.packs_sent.fetch_add(1, std::memory_order_relaxed);
  progress_.bytes_on_wire.fetch_add(size, std::memory_order_relaxed);
  std::vector<Digest> digests;
  digests.reserve(pack.entries.size());
  for (const auto& e : pack.entries) digests.push_back(e.hash);
  settled_(digests, true);
  return true;
}

std::unique_ptr<PackBuilder> UploadPipeline::new_pack() const {
  auto pack = std::make_unique<PackBuilder>();
  // A pack fills, and waits while it is sent, in a file of its own: in the page cache, which
  // the kernel may write out or drop, rather than in this process (docs/decisions.md, "The push
  // pipeline's memory budget"). In memory if no such file can be made.
  if (!spill_dir_.empty()) {
    if (auto file = open_unnamed_temp(spill_dir_)) {
      pack->spill_to(std::move(*file));
      return pack;
    }
  }
  // The target, plus what uploaders may add past it (add_to_pack: one chunk each, of which at
  // most kLargeSlots large), plus room for the header finish() puts in front.
  constexpr uint64_t kPastTarget = kLargeSlots * ChunkerParams{}.max_size + (2 << 20);
  if (packs_) pack->reserve(packs_->target_size + kPastTarget);
  return pack;
}

bool UploadPipeline::add_to_pack(const Digest& hash, uint32_t length, Codec codec, ByteView stored,
                                 std::unique_ptr<PackBuilder>& full) {
  std::unique_lock lock(pack_mu_);
  const auto is_full = [&] {
    return pack_->size() >= packs_->target_size || pack_->chunk_count() >= packs_->max_chunks;
  };
  pack_->add_encoded(hash, length, codec, stored);
  if (!is_full()) return true;
  // Each uploader waiting here has added at most one chunk past the target, so a pack stays far
  // below the server's limit.
  pack_cv_.wait(lock, [&] { return packs_in_flight_ < kPacksInFlight || pack_failed_; });
  if (pack_failed_) return false;
  if (!is_full()) return true;  // Another uploader sent it meanwhile.
  full = std::exchange(pack_, new_pack());
  ++packs_in_flight_;
  return true;
}

bool UploadPipeline::send_full(ApiClient& client, std::unique_ptr<PackBuilder> full) {
  if (!full) return true;
  const bool sent = send_pack(client, *full);
  full.reset();
  std::lock_guard lock(pack_mu_);
  --packs_in_flight_;
  pack_cv_.notify_all();
  return sent;
}

std::unique_ptr<UploadPipeline::LargeSlot> UploadPipeline::take_large_slot() {
  std::unique_lock lock(pack_mu_);
  pack_cv_.wait(lock, [&] {
    return !large_slots_.empty() || large_slots_made_ < kLargeSlots || pack_failed_;
  });
  if (pack_failed_) return nullptr;
  if (large_slots_.empty()) {
    ++large_slots_made_;
    return std::make_unique<LargeSlot>();
  }
  auto slot = std::move(large_slots_.back());
  large_slots_.pop_back();
  return slot;
}

void UploadPipeline::return_large_slot(std::unique_ptr<LargeSlot> slot) {
  std::lock_guard lock(pack_mu_);
  large_slots_.push_back(std::move(slot));
  pack_cv_.notify_all();
}

bool UploadPipeline::flush_pack(ApiClient& client) {
  std::unique_ptr<PackBuilder> last;
  {
    std::lock_guard lock(pack_mu_);
    last = std::exchange(pack_, std::make_unique<PackBuilder>());  // Nothing more goes in.
  }
  return send_pack(client, *last);
}

bool UploadPipeline::upload_large(ApiClient& client, const UploadTask& task,
                                  std::vector<ChunkRef>& to_confirm) {
  const ChunkTask& chunk = task.chunk;
  std::unique_ptr<LargeSlot> slot = take_large_slot();
  if (!slot) return false;
  Bytes& buffer = slot->buffer;
  buffer.resize(chunk.length);
  if (!read_at(chunk.path, chunk.offset, buffer)) {
    return_large_slot(std::move(slot));
    settled_({chunk.hash}, false);  // The file changed or vanished.
    return true;
  }
  if (packs_) {
    if (const auto compressed = slot->compressor.compress(buffer)) {
      // These bytes were read again after hashing: a pack must hold exactly what it names, so
      // they are hashed again (the daemon would refuse the whole pack, every file's chunks).
      if (sha256(buffer) != chunk.hash) {
        return_large_slot(std::move(slot));
        settled_({chunk.hash}, false);  // The file changed after it was hashed.
        return true;
      }
      std::unique_ptr<PackBuilder> full;
      const bool added = add_to_pack(chunk.hash, chunk.length, Codec::kZstd, *compressed, full);
      return_large_slot(std::move(slot));
      return added && send_full(client, std::move(full));
    }
  }
  auto put = client.put_chunk(task.grant, buffer);
  return_large_slot(std::move(slot));
  if (!put) {
    // The bytes no longer match the hash: the file changed after it was read. That file is
    // skipped; everything else goes on.
    if (put.error().code() == ErrorCode::kCorrupt ||
        put.error().code() == ErrorCode::kInvalidArgument) {
      settled_({chunk.hash}, false);
      return true;
    }
    fail(std::move(put).error().with_context("upload chunk " + chunk.hash.hex().substr(0, 12)));
    return false;
  }
  progress_.chunks_sent.fetch_add(1, std::memory_order_relaxed);
  progress_.bytes_sent.fetch_add(chunk.length, std::memory_order_relaxed);
  progress_.bytes_on_wire.fetch_add(chunk.length, std::memory_order_relaxed);
  if (task.grant.url.rfind("/", 0) != 0) {
    to_confirm.push_back({chunk.hash, chunk.length});
    if (to_confirm.size() >= kConfirmBatch) return confirm(client, to_confirm);
  } else {
    settled_({chunk.hash}, true);
  }
  return true;
}

void UploadPipeline::uploader_loop(ApiClient& client) {
  Compressor compressor;  // For small chunks only: its buffer stays small.
  std::vector<ChunkRef> to_confirm;
  while (true) {
    UploadTask task;
    {
      std::unique_lock lock(mu_);
      upload_cv_.wait(lock, [&] { return !upload_queue_.empty() || checker_done_ || fatal_; });
      if (fatal_) return;
      if (upload_queue_.empty()) {
        // checker_done_ and nothing left. The last uploader out sends the push's last pack.
        const bool last = --uploaders_running_ == 0;
        lock.unlock();
        if (confirm(client, to_confirm) && last) flush_pack(client);
        return;
      }
      task = std::move(upload_queue_.front());
      upload_queue_.pop_front();
    }
    if (task.chunk.data.empty()) {
      if (!upload_large(client, task, to_confirm)) return;
      continue;
    }
    const ByteView raw = task.chunk.data;
    const auto compressed = compressor.compress(raw);
    std::unique_ptr<PackBuilder> full;
    const bool added =
        add_to_pack(task.chunk.hash, task.chunk.length, compressed ? Codec::kZstd : Codec::kRaw,
                    compressed ? *compressed : raw, full);
    task.chunk.data = Bytes();  // Its bytes are in the pack now.
    {
      std::lock_guard lock(mu_);
      release(task.chunk.length);
    }
    if (!added || !send_full(client, std::move(full))) return;
  }
}

bool UploadPipeline::read_at(const std::string& path, uint64_t offset, Bytes& out) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  auto got = pread_full(fd, out.data(), out.size(), offset);
  ::close(fd);
  return got && *got == out.size();
}

Result<HashedFile> hash_and_submit(const std::string& path, const ChunkerParams& params,
                                   UploadPipeline& pipeline, HashPool& pool, Progress& progress) {
  return hash_file(
      path, params,
      [&](const ChunkRef& c, uint64_t offset, ByteView bytes) {
        progress.bytes_done.fetch_add(c.length, std::memory_order_relaxed);
        pipeline.submit({c.hash, c.length, path, offset, {}}, bytes);
      },
      &pool);
}

}  // namespace cairn::client
