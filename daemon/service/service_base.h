#pragma once

// What the daemon's services share: the clock, a request's context, the configuration, the
// values that pass between services and routes, and ServiceBase, which every service derives
// from (services.h puts them together).

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/chunker.h"
#include "common/error.h"
#include "common/pack.h"
#include "common/protocol/protocol.h"
#include "daemon/service/verified_read.h"
#include "daemon/store/blob_store.h"
#include "daemon/store/metadata_store.h"

namespace cairn::service {

// Wall-clock time. Tests substitute a manual clock (whose milliseconds are its seconds').
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t now_seconds() const = 0;
  // What the journal stamps a change with (`--at` tells changes a second apart).
  virtual int64_t now_ms() const { return now_seconds() * 1000; }
};

class SystemClock final : public Clock {
 public:
  int64_t now_seconds() const override;
  int64_t now_ms() const override;
};

struct RequestContext {
  store::User user;
  std::string device;
  int64_t now = 0;
  int64_t now_ms = 0;

  // Who acts, for the store: from the user's home namespace, with the token to check again
  // inside the transaction.
  store::Actor actor() const;
};

struct ServiceConfig {
  ChunkerParams chunking;
  protocol::PackConfig packs;  // chunk_limit 0: clients are not asked to pack.
  int64_t upload_ttl_seconds = 24 * 3600;
  int64_t chunk_url_ttl_seconds = 3600;
  uint32_t max_batch = 1000;
  uint64_t max_json_body_bytes = 32 * 1024 * 1024;
  std::string version;
};

// A chunk or pack upload authorised by a signed URL, granted to one token of a user: the upload
// is recorded only while that token is still valid.
struct ChunkPutGrant {
  int64_t user_id = 0;
  Digest digest;
  uint64_t size = 0;
  int64_t token_id = 0;
};

// What GET /v1/chunks/{hash} and GET /v1/packs/{hash} send: a local object streamed and verified
// on the way, a stored object to redirect to, or (for a chunk inside a pack read through the
// chunk endpoint) its bytes, decoded and verified.
struct ChunkBody {
  store::BlobReadInfo object;
  std::shared_ptr<VerifiedRead> stream;
  std::optional<Bytes> bytes;
};

// cairnd check: what to look at.
struct CheckOptions {
  // Share of stored objects (0..100) whose bytes are read and verified: 0 checks the metadata
  // and that every object exists with its size; 100 reads everything.
  double read_percent = 0;
  // Bytes per second read at most, so that a check beside a serving daemon leaves it room.
  // 0: no limit.
  uint64_t max_bytes_per_second = 0;
};

// Where a check is, for progress lines.
struct CheckProgress {
  std::string phase;  // "metadata", "objects"
  uint64_t objects_done = 0;
  uint64_t objects_total = 0;
  uint64_t bytes_read = 0;
};

// What cairnd check found.
struct CheckReport {
  std::vector<std::string> problems;  // Metadata that disagrees with itself or with the store.
  std::vector<store::DamagedChunk> damaged;      // Chunks with no sound copy, found or known.
  std::vector<store::DamagedVersion> needed_by;  // The versions that need them.
  int64_t copies_forgotten = 0;  // Damaged or missing copies found by this run (and set aside).
  int64_t versions = 0;
  int64_t manifests = 0;
  int64_t chunks = 0;         // Distinct chunks the versions need.
  uint64_t objects = 0;       // Stored objects looked at (chunks and packs).
  uint64_t objects_read = 0;  // Of those, read and verified.
  uint64_t bytes_read = 0;
  double seconds = 0;
  bool clean() const { return problems.empty() && damaged.empty(); }
};

// cairnd gc: what to collect.
struct GcOptions {
  // Nothing younger than this is collected: chunks and packs stored since (they may belong to a
  // push that has not committed yet; an upload session lives 24 h), and packs retired since
  // (a client may still be reading a range it was sent). Default 25 h.
  int64_t grace_seconds = 25 * 3600;
  // A pack whose live chunks take less than this share of its chunk bytes is rewritten without
  // the dead ones (merged with other packs gc rewrites).
  double rewrite_below = 0.5;
};

// What a gc run did.
struct GcReport {
  int64_t uploads_expired = 0;
  int64_t sessions_forgotten = 0;          // Web sessions and sign-in codes that ended.
  std::vector<std::string> users_deleted;  // Whose grace period (cairnd user delete) ended.
  int64_t chunks_deleted = 0;              // Chunks no version or upload session references.
  int64_t chunk_objects_deleted = 0;
  int64_t packs_rewritten = 0;  // Old packs whose live chunks were copied (and that retired).
  int64_t packs_written = 0;    // New packs they were merged into.
  int64_t chunks_moved = 0;     // Live chunks copied out of rewritten packs.
  int64_t packs_deleted = 0;
  uint64_t bytes_freed = 0;           // Of deleted pack objects.
  std::vector<std::string> problems;  // Damaged chunks dropped while rewriting, and the like.
  // Retention (when set): old versions forgotten, trash purged, logical bytes refunded.
  int64_t versions_expired = 0;
  int64_t trash_purged = 0;
  uint64_t trash_bytes = 0;
};

// How a folder is sent: a tar (links, and the web page's default) or a zip (the web page's
// other button).
enum class Archive { kTar, kZip };

// What a link serves, produced piece by piece as it is sent.
class LinkStream {
 public:
  virtual ~LinkStream() = default;
  virtual uint64_t size() const = 0;         // Exactly what next() will produce in all.
  virtual std::string filename() const = 0;  // A folder's with ".tar" or ".zip".
  // The next piece, valid until the next call; empty at the end. An error ends the stream early
  // (the receiver sees fewer bytes than announced).
  virtual Result<ByteView> next() = 0;
};

// The stores, the configuration and the clock, which every service holds (by reference: the
// Services that owns them outlives every service).
class ServiceBase {
 public:
  ServiceBase(store::MetadataStore& metadata, store::BlobStore& blobs, const ServiceConfig& config,
              const Clock& clock)
      : metadata_(metadata), blobs_(blobs), config_(config), clock_(clock) {}

  const ServiceConfig& config() const { return config_; }
  int64_t now() const { return clock_.now_seconds(); }

 protected:
  // kPermissionDenied unless the caller's token may change things (at `paths`, if given).
  static Result<void> may_write(const RequestContext& ctx,
                                std::initializer_list<std::string_view> paths = {});
  // kPermissionDenied unless `path` is inside the scope of the caller's token.
  static Result<void> in_scope(const RequestContext& ctx, std::string_view path);

  store::MetadataStore& metadata_;
  store::BlobStore& blobs_;
  const ServiceConfig& config_;
  const Clock& clock_;
};

}  // namespace cairn::service
