// cairnd check: does the store hold what the metadata says, and does the metadata agree with
// itself?
//
// First the metadata alone, in one read snapshot (MetadataStore::check_metadata): every version's
// manifest is stored, every chunk a version needs has a copy, the closure matches the tree,
// quotas match the files, journals do not run ahead, pack index rows lie inside live packs. A
// chunk that versions need and that has no copy at all is recorded as damaged at once.
//
// Then every stored object: each chunk object and each live pack must exist with its size, and a
// share of them (read_percent) is read whole and verified, chunk by chunk for packs. A copy
// that fails goes through report_damage, as a failing read during serving does: it is looked
// at again, set aside and forgotten, so that the chunk counts as missing and the next push of a
// file holding it repairs it. Objects are checked one at a time, at most max_bytes_per_second,
// so that a check can run beside a serving daemon.
//
// Last, the chunks now known to be damaged, and every version that needs one.

#include <chrono>
#include <random>
#include <thread>

#include "common/pack.h"
#include "daemon/service/services.h"

namespace cairn::service {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Keeps reads under a byte rate by sleeping when they run ahead of it.
class Throttle {
 public:
  explicit Throttle(uint64_t bytes_per_second) : rate_(bytes_per_second) {}
  void account(uint64_t bytes) {
    if (rate_ == 0) return;
    total_ += bytes;
    const double due = static_cast<double>(total_) / static_cast<double>(rate_);
    const double spent = std::chrono::duration<double>(SteadyClock::now() - start_).count();
    if (due > spent) std::this_thread::sleep_for(std::chrono::duration<double>(due - spent));
  }

 private:
  uint64_t rate_;
  uint64_t total_ = 0;
  SteadyClock::time_point start_ = SteadyClock::now();
};

// Calls `progress` with where the check is: at once when forced, else at most twice a second.
class ProgressTicker {
 public:
  explicit ProgressTicker(const std::function<void(const CheckProgress&)>& progress)
      : progress_(progress) {}
  CheckProgress& where() { return where_; }
  void tell(bool force) {
    if (!progress_) return;
    const auto t = SteadyClock::now();
    if (!force && t - last_ < std::chrono::milliseconds(500)) return;
    last_ = t;
    progress_(where_);
  }

 private:
  const std::function<void(const CheckProgress&)>& progress_;
  CheckProgress where_;
  SteadyClock::time_point last_;
};

// The object phase: each chunk object and live pack exists with its size and, for the share
// chosen to be read, holds what its name and the pack index say.
class ObjectCheck {
 public:
  ObjectCheck(ChunkService& chunks, store::MetadataStore& metadata, store::BlobStore& blobs,
              const CheckOptions& options, CheckReport& report, ProgressTicker& ticker)
      : chunks_(chunks),
        metadata_(metadata),
        blobs_(blobs),
        options_(options),
        report_(report),
        ticker_(ticker),
        throttle_(options.max_bytes_per_second) {}

  Result<void> chunk(const ChunkRef& c) {
    step();
    if (chosen()) {
      auto bytes = blobs_.get(c.hash);
      ++report_.objects_read;
      if (bytes) {
        read(bytes->size());
        return {};
      }
      const ErrorCode code = bytes.error().code();
      if (code == ErrorCode::kCorrupt || code == ErrorCode::kNotFound) {
        return damaged(c, std::nullopt,
                       code == ErrorCode::kNotFound ? "its object is missing"
                                                    : "its object does not hash to its name");
      }
      read_failed("chunk " + c.hash.hex(), bytes.error());
      return {};
    }
    auto size = blobs_.stat(c.hash);
    if (!size) {
      read_failed("chunk " + c.hash.hex(), size.error());
    } else if (!*size) {
      return damaged(c, std::nullopt, "its object is missing");
    } else if (**size != c.length) {
      return damaged(
          c, std::nullopt,
          "its object holds " + std::to_string(**size) + " bytes, not " + std::to_string(c.length));
    }
    return {};
  }

  Result<void> pack(const store::PackUsage& p) {
    step();
    const store::ObjectId id = store::ObjectId::pack(p.pack);
    CAIRN_ASSIGN_OR_RETURN(auto entries, metadata_.gc_pack_chunks(p.pack));
    auto each_entry = [&](const std::string& detail) -> Result<void> {
      for (const auto& e : entries) {
        CAIRN_RETURN_IF_ERROR(damaged({e.hash, e.length}, p.pack, detail));
      }
      return {};
    };
    if (!chosen()) {
      auto size = blobs_.stat(id);
      if (!size) {
        read_failed("pack " + p.pack.hex(), size.error());
      } else if (!*size) {
        return each_entry("its pack is missing");
      } else if (**size != p.size) {
        // Each chunk is read again before it is forgotten: those whole in what is left stay.
        return each_entry("its pack holds " + std::to_string(**size) + " bytes, not " +
                          std::to_string(p.size));
      }
      return {};
    }
    auto bytes = blobs_.get_range(id, {0, p.size});
    ++report_.objects_read;
    if (!bytes) {
      const ErrorCode code = bytes.error().code();
      if (code == ErrorCode::kNotFound || code == ErrorCode::kCorrupt) {
        return each_entry(code == ErrorCode::kNotFound ? "its pack is missing"
                                                       : "its pack is shorter than recorded");
      }
      read_failed("pack " + p.pack.hex(), bytes.error());
      return {};
    }
    report_.bytes_read += bytes->size();
    ticker_.where().bytes_read = report_.bytes_read;
    CAIRN_RETURN_IF_ERROR(pack_contents(p.pack, *bytes, entries));
    throttle_.account(bytes->size());
    return {};
  }

 private:
  void step() {
    ++ticker_.where().objects_done;
    ++report_.objects;
    ticker_.tell(false);
  }

  bool chosen() { return options_.read_percent >= 100 || percent_(rng_) < options_.read_percent; }

  void read(uint64_t bytes) {
    report_.bytes_read += bytes;
    ticker_.where().bytes_read = report_.bytes_read;
    throttle_.account(bytes);
  }

  Result<void> damaged(const ChunkRef& chunk, const std::optional<Digest>& pack,
                       const std::string& detail) {
    CAIRN_ASSIGN_OR_RETURN(auto fate, chunks_.report_damage(chunk, pack, detail));
    if (fate != store::MetadataStore::CopyFate::kSound) ++report_.copies_forgotten;
    return {};
  }

  void read_failed(const std::string& what, const Error& e) {
    report_.problems.push_back(what + " could not be read: " + e.message());
  }

  // A pack read whole: the index must agree with the pack's own header, and every chunk the
  // index places in it must hash right.
  Result<void> pack_contents(const Digest& pack, const Bytes& bytes,
                             const std::vector<store::ChunkLocation>& entries) {
    auto header = decode_pack_header(bytes, PackLimits{});
    if (!header) {
      report_.problems.push_back("pack " + pack.hex() +
                                 ": its header does not decode: " + header.error().message());
    }
    Bytes raw;
    for (const auto& e : entries) {
      if (header) {
        bool listed = false;
        for (const auto& h : *header) {
          listed |= h.hash == e.hash && h.offset == e.offset &&
                    h.stored_length == e.stored_length && h.length == e.length &&
                    h.codec == e.codec;
        }
        if (!listed) {
          report_.problems.push_back("chunk " + e.hash.hex() + " in pack " + pack.hex() +
                                     ": the index places it where the pack's header does not");
        }
      }
      auto sound =
          read_packed_chunk(bytes, {e.hash, e.codec, e.length, e.stored_length, e.offset}, raw);
      if (!sound) CAIRN_RETURN_IF_ERROR(damaged({e.hash, e.length}, pack, sound.error().message()));
    }
    return {};
  }

  ChunkService& chunks_;
  store::MetadataStore& metadata_;
  store::BlobStore& blobs_;
  const CheckOptions& options_;
  CheckReport& report_;
  ProgressTicker& ticker_;
  Throttle throttle_;
  std::mt19937_64 rng_{std::random_device{}()};
  std::uniform_real_distribution<double> percent_{0.0, 100.0};
};

}  // namespace

Result<CheckReport> MaintenanceService::check(
    const CheckOptions& options, const std::function<void(const CheckProgress&)>& progress) {
  const auto started = SteadyClock::now();
  CheckReport report;
  ProgressTicker ticker(progress);

  ticker.where().phase = "metadata";
  ticker.tell(true);
  CAIRN_ASSIGN_OR_RETURN(auto meta, metadata_.check_metadata());
  report.problems = std::move(meta.problems);
  report.versions = meta.versions;
  report.manifests = meta.manifests;
  report.chunks = meta.chunks;
  if (!meta.unlocated.empty()) {
    CAIRN_ASSIGN_OR_RETURN(
        const int64_t lost,
        metadata_.record_lost_chunks(meta.unlocated, now(), "no copy of it is recorded"));
    report.copies_forgotten += lost;
  }

  CAIRN_ASSIGN_OR_RETURN(auto chunks, metadata_.stored_chunks());
  CAIRN_ASSIGN_OR_RETURN(auto packs, metadata_.gc_pack_usage());
  std::erase_if(packs, [](const store::PackUsage& p) { return p.retired_at.has_value(); });
  ticker.where().phase = "objects";
  ticker.where().objects_total = chunks.size() + packs.size();
  ticker.tell(true);
  ObjectCheck objects(chunks_, metadata_, blobs_, options, report, ticker);
  for (const auto& c : chunks) CAIRN_RETURN_IF_ERROR(objects.chunk(c));
  for (const auto& p : packs) CAIRN_RETURN_IF_ERROR(objects.pack(p));

  ticker.where().phase = "damage";
  ticker.tell(true);
  CAIRN_RETURN_IF_ERROR(metadata_.index_damage());
  CAIRN_ASSIGN_OR_RETURN(report.damaged, metadata_.damaged_chunks());
  CAIRN_ASSIGN_OR_RETURN(report.needed_by, metadata_.damaged_versions());
  report.seconds = std::chrono::duration<double>(SteadyClock::now() - started).count();
  return report;
}

}  // namespace cairn::service
