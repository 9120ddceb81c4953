#pragma once

// Content addresses (SHA-256 through OpenSSL's EVP, which uses the CPU's SHA extensions) and a
// fast non-cryptographic fingerprint (XXH3-64) for local change detection. Every function here is
// safe to call from any thread; a hasher object belongs to one thread at a time.

#include <array>
#include <compare>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/bytes.h"

namespace cairn {

// A SHA-256 digest: the address of a chunk or a manifest.
class Digest {
 public:
  static constexpr size_t kSize = 32;

  Digest() = default;
  explicit Digest(const std::array<std::byte, kSize>& bytes) : bytes_(bytes) {}

  // Parses 64 hex characters; nullopt otherwise.
  static std::optional<Digest> from_hex(std::string_view hex);
  // Copies exactly kSize bytes; nullopt if `bytes` has another length.
  static std::optional<Digest> from_bytes(ByteView bytes);

  std::string hex() const { return to_hex(bytes_); }
  ByteView bytes() const { return bytes_; }

  auto operator<=>(const Digest&) const = default;

 private:
  std::array<std::byte, kSize> bytes_{};
};

// SHA-256 of `data` in one call.
Digest sha256(ByteView data);

// Incremental SHA-256. Not copyable; one thread at a time.
class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(ByteView data);
  // Returns the digest and resets the hasher for reuse.
  Digest finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// HMAC-SHA256 of `data` under `key` (OpenSSL's one-shot HMAC).
Digest hmac_sha256(ByteView key, ByteView data);

// Standard base64 with padding (RFC 4648 section 4).
std::string to_base64(ByteView data);

// Constant-time equality, for comparing secrets and signatures.
bool constant_time_equal(ByteView a, ByteView b);

// `n` bytes from OpenSSL's CSPRNG. Aborts if the generator cannot be seeded: nothing secure can
// be done without it.
Bytes secure_random(size_t n);

// XXH3-64 of `data`: fast, not collision-resistant; never an address.
uint64_t xxh3_64(ByteView data);

// Incremental XXH3-64.
class Xxh3 {
 public:
  Xxh3();
  ~Xxh3();
  Xxh3(const Xxh3&) = delete;
  Xxh3& operator=(const Xxh3&) = delete;

  void update(ByteView data);
  uint64_t digest() const;
  // Starts over, as if newly made.
  void reset();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn

template <>
struct std::hash<cairn::Digest> {
  size_t operator()(const cairn::Digest& d) const noexcept {
    // The digest is already uniformly distributed: its first 8 bytes are a fine hash.
    size_t h = 0;
    for (size_t i = 0; i < sizeof(h); ++i) {
      h = (h << 8) | static_cast<size_t>(d.bytes()[i]);
    }
    return h;
  }
};
