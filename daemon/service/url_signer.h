#pragma once

// The daemon's own signed URLs: one scheme for chunk and pack bytes, both ways. A URL names an
// object and carries numbers (the user, the token, a size, an offset) and an expiry; its
// signature is an HMAC-SHA256, under the key every daemon of one database shares, of what it is
// for, the object and all of those. A client holding one needs no bearer token, exactly as with
// an S3 pre-signed URL, so one upload and download path serves both blob stores.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/bytes.h"
#include "common/error.h"
#include "common/hash.h"

namespace cairn::service {

class UrlSigner {
 public:
  using Fields = std::vector<std::pair<std::string, int64_t>>;

  explicit UrlSigner(Bytes key) : key_(std::move(key)) {}

  // "WHERE" + "HEX?NAME=VALUE&...&e=EXPIRES&s=SIGNATURE", the signature covering `purpose` (e.g.
  // "PUT pack"), the object, the values in order and the expiry (Unix seconds).
  std::string sign(std::string_view purpose, std::string_view where, const std::string& hex,
                   const Fields& fields, int64_t expires) const;

  // The values of `names` in a URL's query once its signature checks out and it has not expired
  // at `now`; kPermissionDenied otherwise. `what` names the URL in messages ("pack upload"),
  // `where_from` where a client gets one ("POST /v1/packs").
  Result<std::vector<int64_t>> verify(std::string_view purpose, const std::string& hex,
                                      const std::map<std::string, std::string>& query,
                                      const std::vector<std::string>& names, int64_t now,
                                      std::string_view what, std::string_view where_from) const;

 private:
  Digest signature(std::string_view purpose, const std::string& hex,
                   const std::vector<std::string>& values, const std::string& expires) const;

  Bytes key_;
};

}  // namespace cairn::service
