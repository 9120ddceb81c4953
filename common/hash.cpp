#include "common/hash.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>

#include "common/check.h"

namespace cairn {

std::optional<Digest> Digest::from_hex(std::string_view hex) {
  std::array<std::byte, kSize> out{};
  if (!from_hex_into(hex, out)) return std::nullopt;
  return Digest(out);
}

std::optional<Digest> Digest::from_bytes(ByteView bytes) {
  if (bytes.size() != kSize) return std::nullopt;
  std::array<std::byte, kSize> out{};
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return Digest(out);
}

Digest sha256(ByteView data) {
  std::array<std::byte, Digest::kSize> out{};
  unsigned int len = 0;
  // EVP_Digest fails only on allocation failure or a broken provider: both are bugs here.
  CAIRN_CHECK(EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()),
                         &len, EVP_sha256(), nullptr) == 1);
  CAIRN_CHECK(len == Digest::kSize);
  return Digest(out);
}

struct Sha256::Impl {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
  CAIRN_CHECK(impl_->ctx != nullptr);
  CAIRN_CHECK(EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr) == 1);
}

Sha256::~Sha256() = default;

void Sha256::update(ByteView data) {
  CAIRN_CHECK(EVP_DigestUpdate(impl_->ctx, data.data(), data.size()) == 1);
}

Digest Sha256::finish() {
  std::array<std::byte, Digest::kSize> out{};
  unsigned int len = 0;
  CAIRN_CHECK(EVP_DigestFinal_ex(impl_->ctx, reinterpret_cast<unsigned char*>(out.data()), &len) ==
              1);
  CAIRN_CHECK(EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr) == 1);
  return Digest(out);
}

Digest hmac_sha256(ByteView key, ByteView data) {
  std::array<std::byte, Digest::kSize> out{};
  unsigned int len = 0;
  CAIRN_CHECK(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
                   reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                   reinterpret_cast<unsigned char*>(out.data()), &len) != nullptr);
  CAIRN_CHECK(len == Digest::kSize);
  return Digest(out);
}

bool constant_time_equal(ByteView a, ByteView b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Bytes secure_random(size_t n) {
  Bytes out(n);
  CAIRN_CHECK(RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) == 1);
  return out;
}

uint64_t xxh3_64(ByteView data) { return XXH3_64bits(data.data(), data.size()); }

struct Xxh3::Impl {
  XXH3_state_t* state = XXH3_createState();
  ~Impl() { XXH3_freeState(state); }
};

Xxh3::Xxh3() : impl_(std::make_unique<Impl>()) {
  CAIRN_CHECK(impl_->state != nullptr);
  CAIRN_CHECK(XXH3_64bits_reset(impl_->state) == XXH_OK);
}

Xxh3::~Xxh3() = default;

void Xxh3::update(ByteView data) {
  CAIRN_CHECK(XXH3_64bits_update(impl_->state, data.data(), data.size()) == XXH_OK);
}

uint64_t Xxh3::digest() const { return XXH3_64bits_digest(impl_->state); }

void Xxh3::reset() { CAIRN_CHECK(XXH3_64bits_reset(impl_->state) == XXH_OK); }

}  // namespace cairn

namespace cairn {

std::string to_base64(ByteView data) {
  std::string out(4 * ((data.size() + 2) / 3), '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace cairn
