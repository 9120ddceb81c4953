// Every /v1 message's JSON decoder, on arbitrary text (the first byte picks the message type):
// a value or kInvalidArgument, in bounded memory. A value that decodes encodes to JSON that
// decodes again to a value that encodes the same: nothing is lost or invented on the way.

#include <array>

#include "common/protocol/protocol.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

using namespace cairn;
using namespace cairn::protocol;

template <typename T>
void round_trip(std::string_view text) {
  auto value = decode_json<T>(text);
  if (!value) {
    FUZZ_CHECK(value.error().code() == ErrorCode::kInvalidArgument);
    return;
  }
  const std::string once = encode_json(*value);
  auto again = decode_json<T>(once);
  FUZZ_CHECK(again.has_value());
  FUZZ_CHECK(encode_json(*again) == once);
}

using Decoder = void (*)(std::string_view);
constexpr std::array<Decoder, 31> kDecoders = {
    round_trip<ServerConfig>,
    round_trip<WhoAmI>,
    round_trip<CheckChunksRequest>,
    round_trip<CheckChunksResponse>,
    round_trip<ChunkUpload>,
    round_trip<PackUploadRequest>,
    round_trip<ConfirmPackRequest>,
    round_trip<PackStored>,
    round_trip<LocateResponse>,
    round_trip<ManifestsRequest>,
    round_trip<ManifestsResponse>,
    round_trip<InitUploadsRequest>,
    round_trip<InitUploadsResponse>,
    round_trip<CommitRequest>,
    round_trip<CommitResponse>,
    round_trip<ListResponse>,
    round_trip<ChangesResponse>,
    round_trip<HistoryResponse>,
    round_trip<LogResponse>,
    round_trip<TrashResponse>,
    round_trip<EmptyTrashResponse>,
    round_trip<QuotaResponse>,
    round_trip<RepairsResponse>,
    round_trip<CheckResult>,
    round_trip<ShareRequest>,
    round_trip<ShareInfo>,
    round_trip<SharesResponse>,
    round_trip<LinkRequest>,
    round_trip<LinkInfo>,
    round_trip<LinksResponse>,
    round_trip<ErrorBody>,
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cairn::fuzz::Input in(data, size);
  const uint8_t which = in.byte();
  kDecoders[which % kDecoders.size()](in.rest());
  return 0;
}
