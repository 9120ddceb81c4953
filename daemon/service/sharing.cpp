// Links: URLs that download one file, or a folder as a tar stream, without a token.

#include <algorithm>
#include <ctime>

#include "common/manifest.h"
#include "common/pack.h"
#include "common/paths.h"
#include "common/remote_path.h"
#include "daemon/service/parse.h"
#include "daemon/service/services.h"
#include "daemon/service/tar.h"
#include "daemon/service/zip.h"

namespace cairn::service {
namespace {

constexpr std::string_view kLinkPrefix = "/l/";
constexpr size_t kLocateBatch = 256;  // Chunks located per metadata query while streaming.

}  // namespace

// Streams a link's content from a snapshot of what it pointed at when it was opened: a file's
// bytes, or a tar or zip of the folder. Every chunk is verified against its hash before it is sent.
class LinkStreamImpl final : public LinkStream {
 public:
  // `range` (a file's only): the bytes [first, second) of it. `archive`: how a folder is sent.
  LinkStreamImpl(store::MetadataStore& metadata, store::BlobStore& blobs, store::LinkTarget target,
                 std::optional<std::pair<uint64_t, uint64_t>> range = std::nullopt,
                 Archive archive = Archive::kTar)
      : metadata_(metadata), blobs_(blobs), target_(std::move(target)) {
    const bool folder = target_.kind == protocol::NodeKind::kFolder;
    tar_ = folder && archive == Archive::kTar;
    if (!folder) {
      range_ = range.value_or(std::make_pair(uint64_t{0}, target_.entries.at(0).size));
      size_ = range_.second - range_.first;
      return;
    }
    if (!tar_) {
      std::vector<TarMember> members;
      members.reserve(target_.entries.size());
      for (const auto& e : target_.entries) members.push_back(member(e));
      zip_.emplace(std::move(members));
      size_ = zip_->size();
      return;
    }
    for (const auto& e : target_.entries) {
      size_ += tar_header(member(e)).size();
      if (e.kind == protocol::NodeKind::kFile) size_ += e.size + tar_padding(e.size);
    }
    size_ += kTarTrailerBytes;
  }

  uint64_t size() const override { return size_; }
  std::string filename() const override {
    return target_.name + (tar_ ? ".tar" : zip_ ? ".zip" : "");
  }

  Result<ByteView> next() override {
    while (true) {
      if (pending_ < piece_.size()) {
        ByteView out(piece_.data() + pending_, piece_.size() - pending_);
        pending_ = piece_.size();
        sent_ += out.size();
        return out;
      }
      piece_.clear();
      pending_ = 0;
      if (chunk_ < chunks_.size()) {
        CAIRN_RETURN_IF_ERROR(read_chunk());
        continue;
      }
      if (in_file_) {
        // The file's last chunk went out: pad it to a block (tar), or say its CRC (zip).
        in_file_ = false;
        if (tar_) piece_.assign(tar_padding(file_size_), std::byte{0});
        if (zip_) piece_ = zip_->descriptor(entry_ - 1, crc_);
        if (!piece_.empty()) continue;
      }
      if (entry_ >= target_.entries.size()) {
        if ((tar_ || zip_) && !trailer_sent_) {
          trailer_sent_ = true;
          if (tar_) piece_.assign(kTarTrailerBytes, std::byte{0});
          if (zip_) piece_ = zip_->trailer();
          continue;
        }
        if (sent_ != size_) {
          return make_error(ErrorCode::kCorrupt, "link content changed size while being sent");
        }
        return ByteView();
      }
      const store::LinkedEntry& e = target_.entries[entry_];
      if (tar_) piece_ = tar_header(member(e));
      if (zip_) piece_ = zip_->header(entry_);
      ++entry_;
      if (e.kind == protocol::NodeKind::kFile) CAIRN_RETURN_IF_ERROR(open_file(e));
    }
  }

 private:
  TarMember member(const store::LinkedEntry& e) const {
    TarMember m;
    m.path = e.path.empty() ? target_.name : target_.name + "/" + e.path;
    m.kind = e.kind;
    m.size = e.size;
    m.mode = e.mode;
    // A folder listed without a time (a download's listing gives none) dates from now: an
    // archive's reader would otherwise set it to 1970.
    const bool undated = e.kind == protocol::NodeKind::kFolder && e.mtime_ns <= 0;
    m.mtime_seconds = undated ? opened_seconds_ : e.mtime_ns / 1'000'000'000;
    m.link_target = e.symlink_target;
    return m;
  }

  Result<void> open_file(const store::LinkedEntry& e) {
    chunks_.clear();
    chunk_ = 0;
    in_file_ = true;
    file_size_ = e.size;
    if (!e.manifest) return make_error(ErrorCode::kCorrupt, "a file without a manifest");
    manifest_ = *e.manifest;
    CAIRN_ASSIGN_OR_RETURN(auto body, metadata_.get_manifest(target_.reader_id, manifest_));
    CAIRN_ASSIGN_OR_RETURN(auto m, Manifest::decode(body));
    chunks_ = m.chunks();
    located_.clear();
    file_pos_ = 0;
    crc_ = 0;
    if (target_.kind != protocol::NodeKind::kFolder) {
      // A range starts at the chunk that holds its first byte.
      while (chunk_ < chunks_.size() && file_pos_ + chunks_[chunk_].length <= range_.first) {
        file_pos_ += chunks_[chunk_++].length;
      }
    }
    return {};
  }

  Result<void> read_chunk() {
    if (located_.empty() || located_until_ <= chunk_) {
      // Where the next batch of chunks lives, in one query.
      std::vector<Digest> digests;
      const size_t end = std::min(chunks_.size(), chunk_ + kLocateBatch);
      for (size_t i = chunk_; i < end; ++i) digests.push_back(chunks_[i].hash);
      CAIRN_ASSIGN_OR_RETURN(auto found,
                             metadata_.locate_chunks(target_.reader_id, digests, {manifest_}));
      located_.clear();
      for (auto& loc : found) located_.emplace(loc.hash, std::move(loc));
      located_until_ = end;
    }
    const ChunkRef& c = chunks_[chunk_++];
    auto where = located_.find(c.hash);
    if (where == located_.end()) {
      return make_error(ErrorCode::kCorrupt, "chunk " + c.hash.hex() + " is missing");
    }
    const store::ChunkLocation& loc = where->second;
    if (!loc.pack) {
      CAIRN_ASSIGN_OR_RETURN(piece_, blobs_.get(c.hash));
    } else {
      CAIRN_ASSIGN_OR_RETURN(auto stored, blobs_.get_range(store::ObjectId::pack(*loc.pack),
                                                           {loc.offset, loc.stored_length}));
      CAIRN_RETURN_IF_ERROR(decode_chunk(loc.codec, stored, loc.length, piece_));
    }
    if (piece_.size() != c.length || sha256(piece_) != c.hash) {
      return make_error(ErrorCode::kCorrupt, "chunk " + c.hash.hex() + " is damaged");
    }
    const uint64_t at = file_pos_;
    file_pos_ += c.length;
    if (zip_) crc_ = crc32_update(crc_, piece_);
    if (target_.kind != protocol::NodeKind::kFolder) {
      // Only the range's part of the chunk goes out; past the range's end, nothing more.
      piece_.resize(std::min<uint64_t>(piece_.size(), range_.second - std::min(at, range_.second)));
      pending_ = static_cast<size_t>(range_.first > at ? range_.first - at : 0);
      if (file_pos_ >= range_.second) chunk_ = chunks_.size();
    }
    return {};
  }

  store::MetadataStore& metadata_;
  store::BlobStore& blobs_;
  store::LinkTarget target_;
  const int64_t opened_seconds_ = static_cast<int64_t>(std::time(nullptr));
  bool tar_ = false;
  std::optional<ZipLayout> zip_;  // A folder sent as a zip.
  uint32_t crc_ = 0;              // Of the file being sent, so far (zip).
  uint64_t size_ = 0;
  uint64_t sent_ = 0;
  size_t entry_ = 0;
  bool trailer_sent_ = false;
  std::pair<uint64_t, uint64_t> range_{0, 0};  // A file's: the bytes sent.
  uint64_t file_pos_ = 0;                      // Offset of chunks_[chunk_] in its file.
  // The file being sent.
  bool in_file_ = false;
  uint64_t file_size_ = 0;
  Digest manifest_;
  std::vector<ChunkRef> chunks_;
  size_t chunk_ = 0;
  std::unordered_map<Digest, store::ChunkLocation> located_;
  size_t located_until_ = 0;
  // What next() hands out: piece_[pending_, end).
  Bytes piece_;
  size_t pending_ = 0;
};

Result<std::unique_ptr<LinkStream>> SharingService::stream(
    const RequestContext& ctx, store::LinkTarget target,
    std::optional<std::pair<uint64_t, uint64_t>> range, Archive archive) {
  target.reader_id = ctx.user.user_id;
  if (target.kind == protocol::NodeKind::kFolder) {
    range.reset();
  } else if (target.entries.size() != 1 ||
             (range &&
              (range->first > range->second || range->second > target.entries.front().size))) {
    return make_error(ErrorCode::kInvalidArgument, "not a file, or a range outside it");
  }
  return std::unique_ptr<LinkStream>(
      new LinkStreamImpl(metadata_, blobs_, std::move(target), range, archive));
}

Result<protocol::LinkInfo> SharingService::create_link(const RequestContext& ctx,
                                                       const protocol::LinkRequest& req) {
  CAIRN_ASSIGN_OR_RETURN(std::string path, normalize_remote_path(req.path));
  CAIRN_RETURN_IF_ERROR(may_write(ctx, {path}));
  std::optional<int64_t> expires;
  if (req.expires_in) {
    if (*req.expires_in <= 0) {
      return make_error(ErrorCode::kInvalidArgument, "a link's lifetime must be positive");
    }
    expires = ctx.now + *req.expires_in;
  }
  const std::string token = to_hex(secure_random(32));
  CAIRN_ASSIGN_OR_RETURN(
      auto info,
      metadata_.create_link(ctx.actor(), path, IdentityService::hash_token(token), expires));
  protocol::LinkInfo out;
  out.link_id = info.link_id;
  out.path = info.path;
  out.url = std::string(kLinkPrefix) + token;
  out.created_at = info.created_at;
  out.expires_at = info.expires_at;
  return out;
}

Result<protocol::LinksResponse> SharingService::links(const RequestContext& ctx) {
  CAIRN_ASSIGN_OR_RETURN(auto all, metadata_.links(ctx.actor()));
  protocol::LinksResponse out;
  for (const auto& l : all) {
    protocol::LinkInfo info;
    info.link_id = l.link_id;
    info.path = l.path;
    info.created_at = l.created_at;
    info.expires_at = l.expires_at;
    info.revoked = l.revoked_at.has_value();
    info.created_by = l.created_by;
    out.links.push_back(std::move(info));
  }
  return out;
}

Result<void> SharingService::revoke_link(const RequestContext& ctx, int64_t link_id,
                                         std::string_view token) {
  CAIRN_RETURN_IF_ERROR(may_write(ctx));
  if (link_id == 0) {
    if (token.size() != 64 || !Digest::from_hex(token)) {
      return make_error(ErrorCode::kNotFound, "no such link");
    }
    return metadata_.revoke_link(ctx.actor(), 0, IdentityService::hash_token(token));
  }
  return metadata_.revoke_link(ctx.actor(), link_id);
}

Result<store::LinkTarget> SharingService::link_target(std::string_view token) {
  if (token.size() != 64 || !Digest::from_hex(token)) {
    return make_error(ErrorCode::kNotFound, "no such link (it may have expired or been revoked)");
  }
  return metadata_.open_link(IdentityService::hash_token(token), now());
}

Result<std::unique_ptr<LinkStream>> SharingService::open_link(
    std::string_view token, std::string_view inner,
    std::optional<std::pair<uint64_t, uint64_t>> range, Archive archive) {
  CAIRN_ASSIGN_OR_RETURN(auto target, link_target(token));
  if (!inner.empty()) {
    // One file inside a linked folder: only a file the link's snapshot lists.
    store::LinkTarget one;
    one.reader_id = target.reader_id;
    one.kind = protocol::NodeKind::kFile;
    for (auto& e : target.entries) {
      if (target.kind != protocol::NodeKind::kFolder || e.path != inner ||
          e.kind != protocol::NodeKind::kFile) {
        continue;
      }
      one.name = e.path.substr(e.path.rfind('/') + 1);
      e.path.clear();
      one.entries.push_back(std::move(e));
      break;
    }
    if (one.entries.empty()) return make_error(ErrorCode::kNotFound, "no such file in this link");
    target = std::move(one);
  }
  if (target.kind == protocol::NodeKind::kFolder) {
    range.reset();
  } else if (range && (range->first > range->second || range->second > target.entries.at(0).size)) {
    return make_error(ErrorCode::kInvalidArgument, "a range outside the file");
  }
  return std::unique_ptr<LinkStream>(
      new LinkStreamImpl(metadata_, blobs_, std::move(target), range, archive));
}

Result<protocol::ShareInfo> SharingService::share(const RequestContext& ctx,
                                                  const protocol::ShareRequest& req) {
  CAIRN_ASSIGN_OR_RETURN(std::string path, normalize_remote_path(req.path));
  CAIRN_RETURN_IF_ERROR(may_write(ctx, {path}));
  auto role = store::role_from_name(req.role);
  if (!role) {
    return make_error(ErrorCode::kInvalidArgument,
                      "role must be viewer or editor, not '" + req.role.substr(0, 40) + "'");
  }
  if (req.user.empty() || req.user.size() > 64) {
    return make_error(ErrorCode::kInvalidArgument, "share needs a user name");
  }
  CAIRN_ASSIGN_OR_RETURN(auto info, metadata_.share(ctx.actor(), path, req.user, *role));
  return protocol::ShareInfo{
      info.share_id,  info.path, info.owner, info.grantee, std::string(store::role_name(info.role)),
      info.created_at};
}

Result<void> SharingService::unshare(const RequestContext& ctx, std::string_view path,
                                     std::string_view user) {
  CAIRN_ASSIGN_OR_RETURN(std::string canonical, normalize_remote_path(path));
  CAIRN_RETURN_IF_ERROR(may_write(ctx, {canonical}));
  return metadata_.unshare(ctx.actor(), canonical, std::string(user.substr(0, 64)));
}

Result<protocol::SharesResponse> SharingService::shares(const RequestContext& ctx,
                                                        std::string_view path) {
  std::string canonical;
  if (!path.empty()) {
    CAIRN_ASSIGN_OR_RETURN(canonical, normalize_remote_path(path));
  }
  CAIRN_ASSIGN_OR_RETURN(auto all, metadata_.shares(ctx.actor(), canonical));
  protocol::SharesResponse out;
  for (const auto& info : all) {
    if (!is_within(info.path, ctx.user.scope.path)) continue;
    out.shares.push_back({info.share_id, info.path, info.owner, info.grantee,
                          std::string(store::role_name(info.role)), info.created_at});
  }
  return out;
}

}  // namespace cairn::service
