#include "common/pack.h"

#include <zstd.h>

#include <algorithm>
#include <array>
#include <string>
#include <unordered_set>
#include <utility>

#include "common/varint.h"

namespace cairn {
namespace {

constexpr std::array<std::byte, 4> kMagic = {std::byte{'C'}, std::byte{'R'}, std::byte{'N'},
                                             std::byte{'P'}};
constexpr uint8_t kVersion = 1;
constexpr size_t kNonceSize = 16;
// hash + codec + two one-byte numbers: the least an entry can take.
constexpr size_t kEntryMinSize = Digest::kSize + 3;

std::string short_hex(const Digest& d) { return d.hex().substr(0, 12); }

Error corrupt(std::string message) { return Error(ErrorCode::kCorrupt, std::move(message)); }

// Parses the header at the start of `in`. The entries (offsets filled in) and the header's length,
// nullopt when `in` ends inside the header, or kCorrupt.
Result<std::optional<size_t>> parse_header(ByteView in, const PackLimits& limits,
                                           std::vector<PackEntry>& entries) {
  const size_t fixed = kMagic.size() + 1 + kNonceSize;
  if (in.size() < fixed) {
    const size_t magic = std::min(in.size(), kMagic.size());
    if (!std::equal(in.begin(), in.begin() + static_cast<long>(magic), kMagic.begin())) {
      return corrupt("not a pack (bad magic)");
    }
    if (in.size() > kMagic.size() && static_cast<uint8_t>(in[kMagic.size()]) != kVersion) {
      return corrupt("unsupported pack version " +
                     std::to_string(static_cast<uint8_t>(in[kMagic.size()])));
    }
    return std::optional<size_t>();
  }
  if (!std::equal(kMagic.begin(), kMagic.end(), in.begin())) {
    return corrupt("not a pack (bad magic)");
  }
  const auto version = static_cast<uint8_t>(in[kMagic.size()]);
  if (version != kVersion) return corrupt("unsupported pack version " + std::to_string(version));

  size_t pos = fixed;
  uint64_t count = 0;
  auto status = varint::get(in, pos, count);
  if (status == varint::Status::kTruncated) return std::optional<size_t>();
  if (status == varint::Status::kMalformed) return corrupt("pack header has a malformed number");
  if (count == 0) return corrupt("pack holds no chunks");
  if (count > limits.max_entries) {
    return corrupt("pack holds " + std::to_string(count) + " chunks, more than the limit of " +
                   std::to_string(limits.max_entries));
  }

  entries.clear();
  // Not more than the bytes at hand can describe: a short header claiming 65,536 entries is
  // read (and refused or completed) as the rest arrives.
  entries.reserve(std::min(static_cast<size_t>(count), (in.size() - pos) / kEntryMinSize + 1));
  std::unordered_set<Digest> seen;
  uint64_t data_bytes = 0;
  for (uint64_t i = 0; i < count; ++i) {
    if (in.size() - pos < Digest::kSize + 1) return std::optional<size_t>();
    PackEntry e;
    e.hash = *Digest::from_bytes(in.subspan(pos, Digest::kSize));
    pos += Digest::kSize;
    const auto codec = static_cast<uint8_t>(in[pos++]);
    if (codec > static_cast<uint8_t>(Codec::kZstd)) {
      return corrupt("pack chunk " + short_hex(e.hash) + " has unknown codec " +
                     std::to_string(codec));
    }
    e.codec = static_cast<Codec>(codec);
    uint64_t length = 0;
    uint64_t stored = 0;
    for (uint64_t* field : {&length, &stored}) {
      status = varint::get(in, pos, *field);
      if (status == varint::Status::kTruncated) return std::optional<size_t>();
      if (status == varint::Status::kMalformed) {
        return corrupt("pack header has a malformed number");
      }
    }
    if (length == 0 || length > limits.max_chunk_size) {
      return corrupt("pack chunk " + short_hex(e.hash) + " has length " + std::to_string(length) +
                     ", outside 1.." + std::to_string(limits.max_chunk_size));
    }
    if (stored == 0 || (e.codec == Codec::kRaw && stored != length) ||
        stored > ZSTD_compressBound(length)) {
      return corrupt("pack chunk " + short_hex(e.hash) + " has an impossible stored length");
    }
    if (!seen.insert(e.hash).second) {
      return corrupt("pack lists chunk " + short_hex(e.hash) + " twice");
    }
    e.length = static_cast<uint32_t>(length);
    e.stored_length = static_cast<uint32_t>(stored);
    e.offset = data_bytes;  // Relative for now.
    data_bytes += stored;
    if (data_bytes > limits.max_pack_size) {
      return corrupt("pack is larger than the limit of " + std::to_string(limits.max_pack_size) +
                     " bytes");
    }
    entries.push_back(e);
  }
  for (auto& e : entries) e.offset += pos;
  if (pos + data_bytes > limits.max_pack_size) {
    return corrupt("pack is larger than the limit of " + std::to_string(limits.max_pack_size) +
                   " bytes");
  }
  return std::optional<size_t>(pos);
}

}  // namespace

std::string_view codec_name(Codec codec) {
  switch (codec) {
    case Codec::kRaw:
      return "raw";
    case Codec::kZstd:
      return "zstd";
  }
  return "unknown";
}

std::optional<Codec> codec_from_name(std::string_view name) {
  if (name == "raw") return Codec::kRaw;
  if (name == "zstd") return Codec::kZstd;
  return std::nullopt;
}

// --- Compressor ---

struct Compressor::Impl {
  ZSTD_CCtx* ctx = ZSTD_createCCtx();
  int level;
  // Grows to the largest chunk seen and stays: no allocation per chunk. Left uninitialised, so
  // that only the pages compressed output reaches become resident (a 4 MiB text chunk that
  // compresses to 1 MiB leaves 3 MiB of it untouched).
  std::unique_ptr<std::byte[]> buffer;
  size_t capacity = 0;
  explicit Impl(int l) : level(l) { CAIRN_CHECK(ctx != nullptr); }
  ~Impl() { ZSTD_freeCCtx(ctx); }
};

Compressor::Compressor(int level) : impl_(std::make_unique<Impl>(level)) {}
Compressor::~Compressor() = default;

std::optional<ByteView> Compressor::compress(ByteView raw) {
  // Too small for a frame header to leave any saving.
  if (raw.size() < 64) return std::nullopt;
  // Worth keeping only if it saves at least 1/32: below that, decompressing on every read costs
  // more than the bytes saved.
  // zstd is given no more room than that, so it gives up (dstSize_tooSmall) as soon as the
  // output reaches it.
  const size_t worth = raw.size() - raw.size() / 32;
  if (impl_->capacity < worth) {
    impl_->buffer.reset(new std::byte[worth]);  // NOLINT: deliberately not zeroed.
    impl_->capacity = worth;
  }
  const size_t n = ZSTD_compressCCtx(impl_->ctx, impl_->buffer.get(), worth, raw.data(), raw.size(),
                                     impl_->level);
  if (ZSTD_isError(n) || n >= worth) return std::nullopt;
  return ByteView(impl_->buffer.get(), n);
}

Result<void> read_packed_chunk(ByteView pack, const PackEntry& entry, Bytes& out) {
  if (entry.offset > pack.size() || entry.stored_length > pack.size() - entry.offset) {
    return corrupt("its place lies outside the pack");
  }
  CAIRN_RETURN_IF_ERROR(decode_chunk(entry.codec, pack.subspan(entry.offset, entry.stored_length),
                                     entry.length, out));
  if (sha256(out) != entry.hash) return corrupt("its bytes in the pack do not hash to its name");
  return {};
}

Result<void> decode_chunk(Codec codec, ByteView stored, uint32_t length, Bytes& out) {
  switch (codec) {
    case Codec::kRaw:
      if (stored.size() != length) {
        return corrupt("stored chunk is " + std::to_string(stored.size()) + " bytes, expected " +
                       std::to_string(length));
      }
      out.assign(stored.begin(), stored.end());
      return {};
    case Codec::kZstd: {
      const unsigned long long declared = ZSTD_getFrameContentSize(stored.data(), stored.size());
      if (declared != length) return corrupt("compressed chunk declares the wrong length");
      if (ZSTD_findFrameCompressedSize(stored.data(), stored.size()) != stored.size()) {
        return corrupt("compressed chunk is not exactly one frame");
      }
      out.resize(length);
      thread_local std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> ctx(ZSTD_createDCtx(),
                                                                          ZSTD_freeDCtx);
      const size_t n =
          ZSTD_decompressDCtx(ctx.get(), out.data(), out.size(), stored.data(), stored.size());
      if (ZSTD_isError(n) || n != length) {
        return corrupt(std::string("compressed chunk does not decode: ") +
                       (ZSTD_isError(n) ? ZSTD_getErrorName(n) : "wrong length"));
      }
      return {};
    }
  }
  return corrupt("unknown codec");
}

// --- PackBuilder ---

PackBuilder::PackBuilder(int level) : compressor_(level) {}

void PackBuilder::add(const Digest& hash, ByteView raw) {
  const auto compressed = compressor_.compress(raw);
  add_encoded(hash, static_cast<uint32_t>(raw.size()), compressed ? Codec::kZstd : Codec::kRaw,
              compressed ? *compressed : raw);
}

void PackBuilder::spill_to(UniqueFd file) {
  CAIRN_CHECK(empty() && data_.empty());
  spill_ = std::move(file);
  data_.reserve(kSpillStep + kSpillStep / 4);
}

void PackBuilder::add_encoded(const Digest& hash, uint32_t length, Codec codec, ByteView stored) {
  if (!hashes_.insert(hash).second) return;
  PackEntry e;
  e.hash = hash;
  e.length = length;
  e.offset = data_size();
  e.codec = codec;
  e.stored_length = static_cast<uint32_t>(stored.size());
  varint::put_raw(data_, stored);
  raw_bytes_ += length;
  entries_.push_back(e);
  if (spill_ && data_.size() >= kSpillStep) flush_spill();
}

void PackBuilder::flush_spill() {
  if (spill_error_ || data_.empty()) return;
  if (write_full(spill_.get(), data_)) {
    spilled_ += data_.size();
    data_.clear();
    return;
  }
  // The file is full (or broken): the pack goes on in memory, with what already went to the
  // file read back in front of what did not. A full disk costs memory, not the push.
  Bytes all(spilled_);
  auto got = pread_full(spill_.get(), all.data(), all.size(), 0);
  if (!got || *got != all.size()) {
    spill_error_ = got ? Error(ErrorCode::kIo, "pack spill file: shorter than was written")
                       : std::move(got).error().with_context("pack spill file");
    return;
  }
  all.insert(all.end(), data_.begin(), data_.end());
  data_ = std::move(all);
  spill_.reset();
  spilled_ = 0;
}

Result<Digest> PackBuilder::spilled_digest(ByteView header) {
  if (spill_error_) return *std::exchange(spill_error_, std::nullopt);
  Sha256 hasher;
  hasher.update(header);
  Bytes block(kSpillStep);
  for (uint64_t at = 0; at < spilled_;) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(block.size(), spilled_ - at));
    auto got = pread_full(spill_.get(), block.data(), want, at);
    if (!got) return std::move(got).error().with_context("pack spill file");
    if (*got != want) return Error(ErrorCode::kIo, "pack spill file: shorter than was written");
    hasher.update(ByteView(block).first(want));
    at += want;
  }
  return hasher.finish();
}

uint64_t PackBuilder::size() const {
  // Each entry's header takes the hash, the codec and two numbers of at most 5 bytes.
  return kMagic.size() + 1 + kNonceSize + 3 + entries_.size() * (Digest::kSize + 1 + 10) +
         data_size();
}

Result<PackBuilder::Built> PackBuilder::finish() {
  Bytes header;
  varint::put_raw(header, kMagic);
  header.push_back(static_cast<std::byte>(kVersion));
  varint::put_raw(header, secure_random(kNonceSize));
  varint::put(header, entries_.size());
  for (const auto& e : entries_) {
    varint::put_raw(header, e.hash.bytes());
    header.push_back(static_cast<std::byte>(e.codec));
    varint::put(header, e.length);
    varint::put(header, e.stored_length);
  }
  const uint64_t header_size = header.size();
  Built built;
  if (spill_) {
    // The header stays in memory and the data in the file.
    flush_spill();
    auto digest = spilled_digest(header);
    built.bytes = std::move(header);
    built.file = std::move(spill_);
    built.file_bytes = std::exchange(spilled_, 0);
    data_ = Bytes();
    if (!digest) {
      entries_.clear();
      hashes_.clear();
      raw_bytes_ = 0;
      return std::move(digest).error();
    }
    built.digest = *digest;
  } else {
    // The data moves into the pack and the header goes in front of it: no second copy of 16 MiB
    // per pack alive at once.
    Bytes& out = built.bytes;
    out = std::move(data_);
    out.insert(out.begin(), header.begin(), header.end());
    built.digest = sha256(out);
    data_ = Bytes();
  }
  built.entries = std::move(entries_);
  for (auto& e : built.entries) e.offset += header_size;
  built.raw_bytes = raw_bytes_;
  entries_.clear();
  hashes_.clear();
  raw_bytes_ = 0;
  return built;
}

// --- PackVerifier ---

struct PackVerifier::Impl {
  PackLimits limits;
  std::optional<Error> error;
  Bytes header;             // Bytes before the header could be parsed.
  size_t next_attempt = 0;  // Parse the header once it has this many bytes.
  bool have_header = false;
  std::vector<PackEntry> entries;
  size_t current = 0;       // Index of the entry being received.
  uint64_t received = 0;    // Bytes of the current entry received.
  uint64_t produced = 0;    // Uncompressed bytes of the current entry so far.
  bool frame_done = false;  // The current entry's zstd frame has ended.
  Bytes frame_head;         // The current entry's first bytes, until its frame header is read.
  bool frame_head_read = false;
  Sha256 hasher;
  Xxh3 stored_hasher;  // Of the current entry's stored bytes.
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx{ZSTD_createDCtx(), ZSTD_freeDCtx};
  Bytes window = Bytes(ZSTD_DStreamOutSize());

  Result<void> try_header();

  Result<void> fail(std::string message) {
    error = corrupt(std::move(message));
    return *error;
  }

  std::string name(const PackEntry& e) const {
    return "pack chunk " + std::to_string(current + 1) + " of " + std::to_string(entries.size()) +
           " (" + short_hex(e.hash) + ")";
  }

  // Consumes bytes of the current entry.
  Result<void> consume(ByteView bytes) {
    const PackEntry& e = entries[current];
    if (e.codec == Codec::kRaw) {
      hasher.update(bytes);
      produced += bytes.size();
      return {};
    }
    if (frame_done) return fail(name(e) + " has bytes after its compressed frame");
    if (!frame_head_read) CAIRN_RETURN_IF_ERROR(read_frame_head(e, bytes));
    ZSTD_inBuffer in{bytes.data(), bytes.size(), 0};
    const bool last = received == e.stored_length;
    while (true) {
      ZSTD_outBuffer out{window.data(), window.size(), 0};
      const size_t rc = ZSTD_decompressStream(dctx.get(), &out, &in);
      if (ZSTD_isError(rc)) {
        return fail(name(e) + " does not decompress: " + ZSTD_getErrorName(rc));
      }
      produced += out.pos;
      if (produced > e.length) return fail(name(e) + " decompresses to more than its length");
      hasher.update(ByteView(window.data(), out.pos));
      if (rc == 0) {
        // The frame is decoded and flushed. Asking again would start a new frame, which with no
        // input left looks like a truncated one (this bit when the output exactly filled the
        // window: a 4 MiB chunk that compresses).
        if (in.pos < in.size) return fail(name(e) + " has bytes after its compressed frame");
        frame_done = true;
        return {};
      }
      if (in.pos == in.size && out.pos < out.size) {
        // All input taken and the output not full: nothing more until more input. At the
        // entry's end the frame must be complete.
        if (last && rc != 0) return fail(name(e) + " ends inside its compressed frame");
        return {};
      }
    }
  }

  // A frame must declare its content size, and declare the entry's length, as PackBuilder writes
  // it and as every later read (decode_chunk) requires. A frame without one decodes just as well,
  // so without this check such a pack was verified, stored, and then refused by every read.
  Result<void> read_frame_head(const PackEntry& e, ByteView bytes) {
    constexpr size_t kMaxFrameHeader = 18;  // ZSTD_FRAMEHEADERSIZE_MAX
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kMaxFrameHeader, e.stored_length));
    const size_t take = std::min(bytes.size(), want - frame_head.size());
    frame_head.insert(frame_head.end(), bytes.begin(), bytes.begin() + static_cast<long>(take));
    if (frame_head.size() < want) return {};
    frame_head_read = true;
    if (ZSTD_getFrameContentSize(frame_head.data(), frame_head.size()) != e.length) {
      return fail(name(e) + " does not declare its length in its zstd frame header");
    }
    return {};
  }

  Result<void> finish_entry() {
    const PackEntry& e = entries[current];
    if (produced != e.length) {
      return fail(name(e) + " decodes to " + std::to_string(produced) + " bytes, not " +
                  std::to_string(e.length));
    }
    const Digest actual = hasher.finish();
    if (actual != e.hash) return fail(name(e) + " hashes to " + short_hex(actual));
    entries[current].stored_xxh3 = stored_hasher.digest();
    stored_hasher.reset();
    ZSTD_DCtx_reset(dctx.get(), ZSTD_reset_session_only);
    frame_done = false;
    frame_head.clear();
    frame_head_read = false;
    ++current;
    received = 0;
    produced = 0;
    return {};
  }

  Result<void> feed_data(ByteView bytes) {
    while (!bytes.empty()) {
      if (current == entries.size()) {
        return fail("pack has bytes after its last chunk");
      }
      const PackEntry& e = entries[current];
      const size_t take =
          static_cast<size_t>(std::min<uint64_t>(bytes.size(), e.stored_length - received));
      received += take;
      stored_hasher.update(bytes.first(take));
      CAIRN_RETURN_IF_ERROR(consume(bytes.first(take)));
      bytes = bytes.subspan(take);
      if (received == e.stored_length) CAIRN_RETURN_IF_ERROR(finish_entry());
    }
    return {};
  }
};

PackVerifier::PackVerifier(const PackLimits& limits) : impl_(std::make_unique<Impl>()) {
  impl_->limits = limits;
}
PackVerifier::~PackVerifier() = default;

Result<void> PackVerifier::update(ByteView bytes) {
  Impl& s = *impl_;
  if (s.error) return *s.error;
  if (s.have_header) return s.feed_data(bytes);
  varint::put_raw(s.header, bytes);
  // Parse again only once the buffer has grown by a quarter: a header sent a byte at a time must
  // not cost quadratic time. finish() makes the last attempt.
  if (s.header.size() < s.next_attempt) return {};
  return s.try_header();
}

Result<void> PackVerifier::Impl::try_header() {
  auto parsed = parse_header(header, limits, entries);
  if (!parsed) {
    error = parsed.error();
    return *error;
  }
  if (!parsed->has_value()) {
    next_attempt = header.size() + std::max<size_t>(64, header.size() / 4);
    return {};
  }
  have_header = true;
  const size_t header_len = **parsed;
  Bytes rest(header.begin() + static_cast<long>(header_len), header.end());
  header = Bytes();
  return feed_data(rest);
}

Result<std::vector<PackEntry>> PackVerifier::finish() {
  Impl& s = *impl_;
  if (s.error) return *s.error;
  if (!s.have_header) CAIRN_RETURN_IF_ERROR(s.try_header());
  if (!s.have_header) return corrupt("pack ends inside its header");
  if (s.current != s.entries.size()) {
    return corrupt("pack ends inside chunk " + std::to_string(s.current + 1) + " of " +
                   std::to_string(s.entries.size()));
  }
  return s.entries;
}

Result<std::vector<PackEntry>> decode_pack_header(ByteView pack, const PackLimits& limits) {
  std::vector<PackEntry> entries;
  CAIRN_ASSIGN_OR_RETURN(auto parsed, parse_header(pack, limits, entries));
  if (!parsed) return corrupt("pack ends inside its header");
  return entries;
}

}  // namespace cairn
