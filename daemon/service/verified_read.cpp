#include "daemon/service/verified_read.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/file_io.h"

namespace cairn::service {

Result<std::unique_ptr<VerifiedRead>> VerifiedRead::open(const std::string& path, uint64_t offset,
                                                         uint64_t size,
                                                         std::vector<PackEntry> parts,
                                                         OnDamage on_damage) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return make_error(ErrorCode::kNotFound, "object vanished before its read");
    return make_error(ErrorCode::kIo, "open " + path + ": " + std::strerror(errno));
  }
  std::sort(parts.begin(), parts.end(),
            [](const PackEntry& a, const PackEntry& b) { return a.offset < b.offset; });
  // Parts must lie inside the range and not overlap; anything else is not ours to verify.
  std::vector<PackEntry> inside;
  uint64_t end = 0;
  for (const auto& p : parts) {
    if (p.offset < end || p.stored_length == 0 || p.offset > size ||
        p.stored_length > size - p.offset) {
      continue;
    }
    inside.push_back(p);
    end = p.offset + p.stored_length;
  }
  return std::unique_ptr<VerifiedRead>(
      new VerifiedRead(fd, offset, size, std::move(inside), std::move(on_damage)));
}

VerifiedRead::VerifiedRead(int fd, uint64_t offset, uint64_t size, std::vector<PackEntry> parts,
                           OnDamage on_damage)
    : fd_(fd),
      offset_(offset),
      size_(size),
      parts_(std::move(parts)),
      on_damage_(std::move(on_damage)) {}

VerifiedRead::~VerifiedRead() {
  if (fd_ >= 0) ::close(fd_);
}

Result<void> VerifiedRead::prime() {
  if (started_) return {};
  CAIRN_ASSIGN_OR_RETURN(auto first, next());
  (void)first;  // Kept in sending_, for the next call.
  primed_ = true;
  return {};
}

Result<ByteView> VerifiedRead::next() {
  if (failed_) return *failed_;
  if (primed_) {
    primed_ = false;
    return ByteView(sending_);
  }
  if (!started_) {
    started_ = true;
    if (size_ == 0) return ByteView();
    CAIRN_RETURN_IF_ERROR(read_piece(held_));
  }
  if (held_.empty()) return ByteView();
  // Send what is held only once the piece after it is read and checked: the last piece goes
  // out only when every part has verified. The piece handed out last time has been sent (the
  // caller asks again only then): its buffer takes the next piece, so that a read of any size
  // allocates and zeroes three pieces' worth once. (A fresh buffer per piece cost a clone of a
  // 1 GiB file a page fault and a memset per 4 KiB on the daemon.)
  Bytes ahead = std::move(sending_);
  if (read_ < size_) {
    CAIRN_RETURN_IF_ERROR(read_piece(ahead));
  } else if (part_ < parts_.size()) {
    return fail(parts_[part_], "the range ends inside it").error();
  } else {
    ahead.clear();
  }
  sending_ = std::move(held_);
  held_ = std::move(ahead);
  return ByteView(sending_);
}

Result<void> VerifiedRead::read_piece(Bytes& into) {
  const uint64_t want = std::min<uint64_t>(kPieceBytes, size_ - read_);
  into.resize(static_cast<size_t>(want));
  auto got = pread_full(fd_, into.data(), want, offset_ + read_);
  if (!got) {
    failed_ = std::move(got).error();
    return *failed_;
  }
  if (*got < want) {
    // Shorter than recorded: the part being read is missing its tail.
    if (part_ < parts_.size()) return fail(parts_[part_], "the stored object is truncated");
    failed_ = Error(ErrorCode::kCorrupt, "the stored object is shorter than recorded");
    return *failed_;
  }
  const uint64_t at = read_;
  read_ += want;
  return check(ByteView(into), at);
}

Result<void> VerifiedRead::check(ByteView piece, uint64_t at) {
  const uint64_t piece_end = at + piece.size();
  while (part_ < parts_.size()) {
    const PackEntry& p = parts_[part_];
    const uint64_t p_end = p.offset + p.stored_length;
    if (p.offset >= piece_end) return {};
    const uint64_t from = std::max(p.offset, at);
    const uint64_t to = std::min(p_end, piece_end);
    const ByteView slice =
        piece.subspan(static_cast<size_t>(from - at), static_cast<size_t>(to - from));
    if (p.stored_xxh3 != 0) {
      stored_hasher_.update(slice);
    } else if (p.codec == Codec::kRaw) {
      hasher_.update(slice);
    } else {
      stored_.insert(stored_.end(), slice.begin(), slice.end());
    }
    if (to < p_end) return {};  // The part goes on in the next piece.
    CAIRN_RETURN_IF_ERROR(finish_part(p));
    ++part_;
  }
  return {};
}

Result<void> VerifiedRead::finish_part(const PackEntry& p) {
  if (p.stored_xxh3 != 0) {
    // Its stored bytes as they were when the daemon verified them on arrival: the same bytes,
    // so they still decode and hash to the chunk's name, and the client checks that again.
    const uint64_t got = stored_hasher_.digest();
    stored_hasher_.reset();
    if (got != p.stored_xxh3) return fail(p, "its stored bytes changed since they were verified");
    return {};
  }
  Digest got;
  if (p.codec == Codec::kRaw) {
    got = hasher_.finish();
    if (p.stored_length != p.length) return fail(p, "its stored length is not its length");
  } else {
    auto decoded = decode_chunk(p.codec, stored_, p.length, decoded_);
    stored_.clear();
    if (!decoded) return fail(p, "it does not decode: " + decoded.error().message());
    got = sha256(decoded_);
  }
  if (got != p.hash) return fail(p, "its bytes hash to " + got.hex());
  return {};
}

Result<void> VerifiedRead::fail(const PackEntry& part, const std::string& detail) {
  failed_ = Error(ErrorCode::kCorrupt, "chunk " + part.hash.hex() + " is damaged: " + detail);
  if (on_damage_) {
    auto report = std::move(on_damage_);
    on_damage_ = nullptr;
    report(part, detail);
  }
  return *failed_;
}

}  // namespace cairn::service
