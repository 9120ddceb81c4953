#pragma once

// Helpers the service-level tests share: a clock the test moves by hand, the query of a signed
// URL as the HTTP layer would parse it, and the bytes a read would send.

#include <cstdint>
#include <fstream>
#include <map>
#include <string>

#include "daemon/service/services.h"

namespace cairn::testing {

class ManualClock final : public service::Clock {
 public:
  int64_t now_seconds() const override { return now; }
  int64_t now = 1'800'000'000;
};

// "a=1&b=2" after the '?' of `url`, undecoded (signed URLs carry only digits and hex).
inline std::map<std::string, std::string> query_of(const std::string& url) {
  std::map<std::string, std::string> q;
  std::string rest = url.substr(url.find('?') + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string pair = rest.substr(0, amp);
    q[pair.substr(0, pair.find('='))] = pair.substr(pair.find('=') + 1);
    rest = amp == std::string::npos ? "" : rest.substr(amp + 1);
  }
  return q;
}

// What the HTTP layer would send for `body`: the verified stream to its end, the bytes, or the
// file range. An error where a stream fails (the response would end early).
inline Result<Bytes> drain(const service::ChunkBody& body) {
  if (body.bytes) return *body.bytes;
  if (body.stream) {
    Bytes out;
    while (true) {
      CAIRN_ASSIGN_OR_RETURN(ByteView piece, body.stream->next());
      if (piece.empty()) return out;
      out.insert(out.end(), piece.begin(), piece.end());
    }
  }
  Bytes out(body.object.size);
  std::ifstream in(body.object.file_path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(body.object.offset));
  in.read(reinterpret_cast<char*>(out.data()), static_cast<std::streamsize>(out.size()));
  if (!in) return make_error(ErrorCode::kIo, "short read of " + body.object.file_path);
  return out;
}

}  // namespace cairn::testing
