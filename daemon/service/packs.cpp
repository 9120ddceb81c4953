// Packs and chunk reads: the services behind POST /v1/packs, PUT and GET /v1/packs/{hash},
// POST /v1/packs/confirm, POST /v1/chunks/locate and GET /v1/chunks/{hash}.

#include <algorithm>
#include <map>
#include <unordered_set>

#include "common/protocol/log.h"
#include "daemon/service/parse.h"
#include "daemon/service/services.h"

namespace cairn::service {
namespace {

// The most one merged read returns (a single larger chunk is one read of its own). A client
// holds each read whole while it decodes it, on each of its download threads: with 16 MiB reads
// those buffers were 64 of the 227 MiB a clone of a 60,000-file tree peaked at (massif), and
// going from 4 MiB to 2 MiB took that clone's peak from 105-107 MiB to 97-98 MiB. The extra GETs
// cost nothing measurable (clones of that tree: 20.5-22.8 s with 4 MiB reads, 22.9-25.4 s with
// 16 MiB; 13.5-22.6 s with 2 MiB against 15.5-23.2 s with 4 MiB, interleaved).
constexpr uint64_t kMaxReadBytes = 2 * 1024 * 1024;

std::string short_hex(const Digest& d) { return d.hex().substr(0, 12); }

}  // namespace

// --- PackReceiver ----------------------------------------------------------------------------

PackReceiver::PackReceiver(ChunkService& chunks, ChunkPutGrant grant,
                           std::unique_ptr<store::BlobWriter> writer, const PackLimits& limits)
    : chunks_(chunks), grant_(grant), writer_(std::move(writer)), verifier_(limits) {}

Result<void> PackReceiver::write(ByteView bytes) {
  // Verify first: a pack that is already known to be bad need not reach the disk.
  CAIRN_RETURN_IF_ERROR(verifier_.update(bytes));
  return writer_->write(bytes);
}

Result<protocol::PackStored> PackReceiver::finish() {
  CAIRN_ASSIGN_OR_RETURN(auto entries, verifier_.finish());
  // The pack is durable before the index says its chunks exist: a crash between the two leaves
  // an unindexed pack (collected later), never an index entry without bytes.
  CAIRN_RETURN_IF_ERROR(writer_->commit());
  CAIRN_RETURN_IF_ERROR(chunks_.metadata_.record_pack(grant_.user_id, grant_.digest, grant_.size,
                                                      /*verified=*/true, entries, chunks_.now(),
                                                      grant_.token_id));
  return protocol::PackStored{static_cast<uint32_t>(entries.size())};
}

// --- Services: packs -------------------------------------------------------------------------

PackLimits ChunkService::pack_limits() const {
  PackLimits limits;
  limits.max_chunk_size = config_.chunking.max_size;
  limits.max_pack_size = config_.packs.max_size;
  limits.max_entries = config_.packs.max_chunks;
  return limits;
}

Result<protocol::ChunkUpload> ChunkService::pack_upload(const RequestContext& ctx,
                                                        const protocol::PackUploadRequest& req) {
  CAIRN_RETURN_IF_ERROR(may_write(ctx));
  if (req.size == 0 || req.size > config_.packs.max_size) {
    return make_error(ErrorCode::kTooLarge,
                      "a pack must be 1 to " + std::to_string(config_.packs.max_size) + " bytes");
  }
  const int64_t user = ctx.user.user_id;
  if (auto direct = blobs_.direct_upload(user, store::ObjectId::pack(req.pack), req.size,
                                         config_.chunk_url_ttl_seconds)) {
    return protocol::ChunkUpload{req.pack, std::move(direct->url), std::move(direct->headers)};
  }
  // Bound to the caller's token, as a chunk upload URL is (upload_grant).
  return protocol::ChunkUpload{
      req.pack,
      sign_url("PUT pack", "/v1/packs/", req.pack.hex(),
               {{"u", user}, {"t", ctx.user.token_id}, {"n", static_cast<int64_t>(req.size)}}),
      {}};
}

Result<ChunkPutGrant> ChunkService::authorize_pack_put(
    std::string_view hex, const std::map<std::string, std::string>& query) const {
  CAIRN_ASSIGN_OR_RETURN(const Digest digest, parse_digest(hex));
  CAIRN_ASSIGN_OR_RETURN(auto f, verify_url("PUT pack", digest.hex(), query, {"u", "t", "n"},
                                            "pack upload", "POST /v1/packs"));
  const int64_t user = f[0];
  const int64_t token = f[1];
  const int64_t size = f[2];
  if (size <= 0 || static_cast<uint64_t>(size) > config_.packs.max_size) {
    return make_error(ErrorCode::kTooLarge, "pack larger than the server's max pack size");
  }
  return ChunkPutGrant{user, digest, static_cast<uint64_t>(size), token};
}

Result<std::unique_ptr<PackReceiver>> ChunkService::begin_pack_put(const ChunkPutGrant& grant) {
  CAIRN_ASSIGN_OR_RETURN(auto writer,
                         blobs_.begin_put(store::ObjectId::pack(grant.digest), grant.size));
  return std::make_unique<PackReceiver>(*this, grant, std::move(writer), pack_limits());
}

Result<protocol::PackStored> ChunkService::confirm_pack(const RequestContext& ctx,
                                                        const protocol::ConfirmPackRequest& req) {
  CAIRN_RETURN_IF_ERROR(may_write(ctx));
  if (!blobs_.takes_direct_uploads()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "this server takes packs through the URL POST /v1/packs gives, not by "
                      "confirmation");
  }
  const PackLimits limits = pack_limits();
  if (req.size == 0 || req.size > limits.max_pack_size) {
    return make_error(ErrorCode::kTooLarge,
                      "a pack must be 1 to " + std::to_string(limits.max_pack_size) + " bytes");
  }
  if (req.entries.empty() || req.entries.size() > limits.max_entries) {
    return make_error(ErrorCode::kInvalidArgument,
                      "a pack lists 1 to " + std::to_string(limits.max_entries) + " chunks");
  }
  // The daemon never sees these bytes, so the entries only have to be possible: in order, inside
  // the pack, each chunk once. A client that lies about them can only hurt itself, because the
  // locations serve this user alone and every reader verifies every chunk.
  std::unordered_set<Digest> seen;
  uint64_t end_of_previous = 0;
  for (const auto& e : req.entries) {
    const std::string name = "pack entry " + short_hex(e.hash);
    if (e.length == 0 || e.length > limits.max_chunk_size || e.stored_length == 0 ||
        (e.codec == Codec::kRaw && e.stored_length != e.length)) {
      return make_error(ErrorCode::kInvalidArgument, name + " has impossible lengths");
    }
    if (e.offset < end_of_previous || e.offset > req.size ||
        e.stored_length > req.size - e.offset) {
      return make_error(ErrorCode::kInvalidArgument,
                        name + " overlaps another or lies outside the pack");
    }
    if (!seen.insert(e.hash).second) {
      return make_error(ErrorCode::kInvalidArgument, name + " is listed twice");
    }
    end_of_previous = e.offset + e.stored_length;
  }
  const store::ObjectId id = store::ObjectId::pack(req.pack);
  CAIRN_ASSIGN_OR_RETURN(const bool adopted,
                         blobs_.adopt_direct_upload(ctx.user.user_id, id, req.size));
  if (!adopted) {
    // A confirmation asked again after its answer was lost (the daemon died after recording the
    // pack and clearing the upload, say) finds the pack recorded: it is done.
    CAIRN_ASSIGN_OR_RETURN(const bool recorded,
                           metadata_.pack_recorded_by(ctx.user.user_id, req.pack, req.size));
    if (recorded) return protocol::PackStored{static_cast<uint32_t>(req.entries.size())};
    return make_error(ErrorCode::kNotFound, "pack " + req.pack.hex() +
                                                " was not uploaded, or not with size " +
                                                std::to_string(req.size));
  }
  CAIRN_RETURN_IF_ERROR(metadata_.record_pack(ctx.user.user_id, req.pack, req.size,
                                              /*verified=*/false, req.entries, ctx.now));
  // Recorded: the upload has done its work. Left over, it would only be garbage.
  (void)blobs_.discard_direct_upload(ctx.user.user_id, id);
  return protocol::PackStored{static_cast<uint32_t>(req.entries.size())};
}

Result<ChunkBody> ChunkService::pack_range_read(std::string_view hex,
                                                const std::map<std::string, std::string>& query) {
  CAIRN_ASSIGN_OR_RETURN(const Digest digest, parse_digest(hex));
  CAIRN_ASSIGN_OR_RETURN(auto f, verify_url("GET pack", digest.hex(), query, {"o", "n"},
                                            "pack read", "POST /v1/chunks/locate"));
  const store::ByteRange range{static_cast<uint64_t>(f[0]), static_cast<uint64_t>(f[1])};
  ChunkBody body;
  CAIRN_ASSIGN_OR_RETURN(body.object, blobs_.read_info(store::ObjectId::pack(digest), range));
  if (body.object.file_path.empty()) return body;
  // The chunks the index still places in the range, to verify on the way. A chunk gc forgot
  // since the URL was signed passes unchecked: nobody is told it is there any more, and the
  // client verifies it as always.
  CAIRN_ASSIGN_OR_RETURN(auto held, metadata_.pack_chunks_in(digest, range.offset, range.length));
  std::vector<PackEntry> parts;
  for (const auto& loc : held) {
    parts.push_back({loc.hash, loc.codec, loc.length, loc.stored_length, loc.offset - range.offset,
                     loc.stored_xxh3});
  }
  CAIRN_ASSIGN_OR_RETURN(body.stream, verified_read(body.object, std::move(parts), digest));
  return body;
}

// --- Services: damage ------------------------------------------------------------------------

Result<std::shared_ptr<VerifiedRead>> ChunkService::verified_read(
    const store::BlobReadInfo& info, std::vector<PackEntry> parts,
    const std::optional<Digest>& pack) {
  // Offsets of the parts are from the range's start; the damage report wants the copy's own.
  const uint64_t base = info.offset;
  CAIRN_ASSIGN_OR_RETURN(
      auto stream,
      VerifiedRead::open(info.file_path, info.offset, info.size, std::move(parts),
                         [this, pack, base](const PackEntry& part, const std::string& detail) {
                           // Rare, and short: the connection's thread pays for it.
                           (void)report_damage({part.hash, part.length}, pack,
                                               pack ? "at offset " +
                                                          std::to_string(base + part.offset) +
                                                          " of pack " + pack->hex() + ": " + detail
                                                    : detail);
                         }));
  // The first pieces are checked here, on a worker thread: a damaged chunk that fits in them
  // (most do) is answered with an error rather than a response cut short.
  auto primed = stream->prime();
  if (!primed) {
    if (primed.error().code() != ErrorCode::kCorrupt) return std::move(primed).error();
    return make_error(ErrorCode::kNotFound,
                      primed.error().message() +
                          "; it was set aside, and the next push of a file holding it repairs it");
  }
  return std::shared_ptr<VerifiedRead>(std::move(stream));
}

Result<bool> ChunkService::confirm_damage(const ChunkRef& chunk,
                                          const std::optional<Digest>& pack) {
  if (!pack) {
    auto bytes = blobs_.get(chunk.hash);
    if (bytes) return false;
    if (bytes.error().code() == ErrorCode::kNotFound) return true;
    if (bytes.error().code() != ErrorCode::kCorrupt) return std::move(bytes).error();
    CAIRN_RETURN_IF_ERROR(blobs_.quarantine(chunk.hash));
    return true;
  }
  // A pack is never edited: its other chunks stay where they are, and only this one's place in
  // the index goes (gc later copies the rest into a new pack).
  CAIRN_ASSIGN_OR_RETURN(auto held, metadata_.gc_pack_chunks(*pack));
  const store::ChunkLocation* loc = nullptr;
  for (const auto& l : held) {
    if (l.hash == chunk.hash) loc = &l;
  }
  if (loc == nullptr) return false;  // Not placed there any more: nothing to forget.
  auto stored = blobs_.get_range(store::ObjectId::pack(*pack), {loc->offset, loc->stored_length});
  if (!stored) {
    if (stored.error().code() == ErrorCode::kNotFound ||
        stored.error().code() == ErrorCode::kCorrupt) {
      return true;
    }
    return std::move(stored).error();
  }
  Bytes raw;
  return !read_packed_chunk(*stored, {chunk.hash, loc->codec, loc->length, loc->stored_length, 0},
                            raw);
}

Result<store::MetadataStore::CopyFate> ChunkService::report_damage(
    const ChunkRef& chunk, const std::optional<Digest>& pack, const std::string& detail) {
  using Fate = store::MetadataStore::CopyFate;
  auto fate = metadata_.forget_damaged_copy(chunk, pack, now(), detail,
                                            [&] { return confirm_damage(chunk, pack); });
  const std::string hash = chunk.hash.hex();
  const std::string in_pack = pack ? pack->hex() : std::string();
  if (!fate) {
    log::error("damage_not_set_aside", "a copy may be damaged, but could not be set aside",
               {{"chunk", hash},
                {"pack", in_pack},
                {"detail", detail},
                {"error", fate.error().message()}});
    return fate;
  }
  switch (*fate) {
    case Fate::kSound:
      break;
    case Fate::kForgotten:
      log::warn("damage_set_aside", "a damaged copy was set aside; another copy serves it",
                {{"chunk", hash}, {"pack", in_pack}, {"detail", detail}});
      break;
    case Fate::kLost:
      log::error("damage_lost",
                 "a damaged copy was set aside; no sound copy is left, and the next push of a "
                 "file holding it repairs it",
                 {{"chunk", hash}, {"pack", in_pack}, {"detail", detail}});
      break;
  }
  return fate;
}

Result<protocol::RepairsResponse> ChunkService::repairs(const RequestContext& ctx) {
  // Chunks lost since the last look are looked up first: one scan of the manifests per newly
  // lost chunk, and one cheap query otherwise.
  CAIRN_RETURN_IF_ERROR(metadata_.index_damage());
  CAIRN_ASSIGN_OR_RETURN(auto files,
                         metadata_.files_to_repair(ctx.user.user_id, ctx.user.scope.path));
  protocol::RepairsResponse out;
  for (auto& f : files) {
    out.files.push_back({std::move(f.path), f.node_id, f.version, std::move(f.chunks)});
  }
  return out;
}

// --- Services: reads -------------------------------------------------------------------------

Result<protocol::LocateResponse> ChunkService::locate_chunks(
    const RequestContext& ctx, const protocol::CheckChunksRequest& req) {
  CAIRN_RETURN_IF_ERROR(check_chunk_list(req.chunks));
  std::vector<Digest> digests;
  digests.reserve(req.chunks.size());
  for (const auto& c : req.chunks) digests.push_back(c.hash);
  if (req.manifests.size() > config_.max_batch) {
    return make_error(ErrorCode::kTooLarge,
                      "at most " + std::to_string(config_.max_batch) + " manifests per request");
  }
  CAIRN_ASSIGN_OR_RETURN(
      auto locations,
      metadata_.locate_chunks(ctx.user.user_id, digests, req.manifests, ctx.user.scope.path));

  protocol::LocateResponse out;
  const bool direct = blobs_.takes_direct_uploads();
  // A read of a whole object or of a range of one: a pre-signed URL of the blob store, or the
  // daemon's own URL.
  auto add_read = [&](const store::ObjectId& id, store::ByteRange range,
                      std::vector<PackEntry> parts) -> Result<void> {
    protocol::ChunkRead read;
    read.length = range.length;
    read.parts = std::move(parts);
    if (direct) {
      std::optional<store::ByteRange> r;
      if (id.kind == store::ObjectKind::kPack) r = range;
      CAIRN_ASSIGN_OR_RETURN(auto info, blobs_.read_info(id, r));
      read.url = std::move(info.redirect_url);
      read.headers = std::move(info.headers);
    } else if (id.kind == store::ObjectKind::kChunk) {
      // With the bearer token, as always, and signed for this user: a chunk of a file shared
      // with them is readable without their holding it.
      read.url = sign_url("GET chunk", "/v1/chunks/", id.digest.hex(), {{"u", ctx.user.user_id}});
    } else {
      read.url = sign_url(
          "GET pack", "/v1/packs/", id.digest.hex(),
          {{"o", static_cast<int64_t>(range.offset)}, {"n", static_cast<int64_t>(range.length)}});
    }
    out.reads.push_back(std::move(read));
    return {};
  };

  // Chunks of their own first, then each pack's chunks in pack order, merged where they sit
  // back to back (a gap would hand out bytes of chunks the user did not ask for).
  std::map<Digest, std::vector<const store::ChunkLocation*>> by_pack;
  for (const auto& loc : locations) {
    if (loc.pack) {
      by_pack[*loc.pack].push_back(&loc);
      continue;
    }
    PackEntry part{loc.hash, Codec::kRaw, loc.length, loc.length, 0};
    CAIRN_RETURN_IF_ERROR(add_read(loc.hash, {0, loc.length}, {part}));
  }
  for (auto& [pack, locs] : by_pack) {
    std::sort(locs.begin(), locs.end(),
              [](const auto* a, const auto* b) { return a->offset < b->offset; });
    size_t i = 0;
    while (i < locs.size()) {
      const uint64_t start = locs[i]->offset;
      uint64_t end = start;
      std::vector<PackEntry> parts;
      while (i < locs.size() && locs[i]->offset == end &&
             (parts.empty() || end - start + locs[i]->stored_length <= kMaxReadBytes)) {
        const auto& l = *locs[i];
        parts.push_back(
            {l.hash, l.codec, l.length, l.stored_length, l.offset - start, l.stored_xxh3});
        end += l.stored_length;
        ++i;
      }
      if (parts.empty()) {  // Overlapping entries cannot happen; skip defensively.
        ++i;
        continue;
      }
      CAIRN_RETURN_IF_ERROR(
          add_read(store::ObjectId::pack(pack), {start, end - start}, std::move(parts)));
    }
  }
  return out;
}

Result<ChunkBody> ChunkService::chunk_read(const RequestContext& ctx, std::string_view hex,
                                           const std::map<std::string, std::string>& query) {
  CAIRN_ASSIGN_OR_RETURN(const Digest digest, parse_digest(hex));
  if (query.count("s") != 0) {
    // A read that POST /v1/chunks/locate signed for this user.
    CAIRN_ASSIGN_OR_RETURN(auto f, verify_url("GET chunk", digest.hex(), query, {"u"}, "chunk read",
                                              "POST /v1/chunks/locate"));
    if (f[0] != ctx.user.user_id) {
      return make_error(ErrorCode::kPermissionDenied, "this chunk read URL is someone else's");
    }
    return whole_chunk_read(digest);
  }
  CAIRN_ASSIGN_OR_RETURN(auto locations, metadata_.locate_chunks(ctx.user.user_id, {digest}));
  if (locations.empty()) return make_error(ErrorCode::kNotFound, "chunk " + digest.hex());
  const store::ChunkLocation& loc = locations.front();
  ChunkBody body;
  if (!loc.pack) return whole_chunk_read(digest);
  // Inside a pack: the daemon reads the range, decodes and verifies it, so that this endpoint
  // always answers with the chunk's own bytes.
  CAIRN_ASSIGN_OR_RETURN(auto stored, blobs_.get_range(store::ObjectId::pack(*loc.pack),
                                                       {loc.offset, loc.stored_length}));
  Bytes raw;
  auto sound =
      read_packed_chunk(stored, {digest, loc.codec, loc.length, loc.stored_length, 0}, raw);
  if (!sound) {
    (void)report_damage({digest, loc.length}, loc.pack, sound.error().message());
    return make_error(ErrorCode::kCorrupt,
                      "chunk " + digest.hex() + " in pack " + loc.pack->hex() +
                          " is damaged; it was set aside, and the next push of a file holding it "
                          "repairs it");
  }
  body.bytes = std::move(raw);
  return body;
}

Result<ChunkBody> ChunkService::whole_chunk_read(const Digest& digest) {
  ChunkBody body;
  CAIRN_ASSIGN_OR_RETURN(body.object, blobs_.read_info(digest));
  if (body.object.file_path.empty()) return body;  // A redirect: the client verifies.
  const auto size = static_cast<uint32_t>(body.object.size);
  CAIRN_ASSIGN_OR_RETURN(
      body.stream,
      verified_read(body.object, {{digest, Codec::kRaw, size, size, 0}}, std::nullopt));
  return body;
}

}  // namespace cairn::service
