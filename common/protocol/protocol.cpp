#include "common/protocol/protocol.h"

#include <algorithm>

#include "common/protocol/json_codec.h"

namespace cairn::protocol {

using wire::from_json_value;
using wire::json;
using wire::to_json_value;

std::string_view node_kind_name(NodeKind kind) {
  switch (kind) {
    case NodeKind::kFile:
      return "file";
    case NodeKind::kFolder:
      return "folder";
    case NodeKind::kSymlink:
      return "symlink";
  }
  return "file";
}

std::optional<NodeKind> node_kind_from_name(std::string_view name) {
  if (name == "file") return NodeKind::kFile;
  if (name == "folder") return NodeKind::kFolder;
  if (name == "symlink") return NodeKind::kSymlink;
  return std::nullopt;
}

std::string_view op_status_name(OpStatus status) {
  switch (status) {
    case OpStatus::kOk:
      return "ok";
    case OpStatus::kUnchanged:
      return "unchanged";
    case OpStatus::kConflict:
      return "conflict";
    case OpStatus::kError:
      return "error";
    case OpStatus::kCopied:
      return "copied";
  }
  return "error";
}

std::string json_quote(std::string_view text) {
  return json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::replace);
}

template <typename T>
std::string encode_json(const T& value) {
  // Replace invalid UTF-8 rather than throw: a bad name must not take a response down.
  return to_json_value(value).dump(-1, ' ', false, json::error_handler_t::replace);
}

// Estimates what a document's tree would cost without building it, to refuse one that would
// cost far more memory than its text: parsed, a value takes 16 bytes, an array slot 16 more, an
// object member a map node with its key (about 80), a long string its characters. The messages
// of this protocol cost about six times their text; an array of a million "1,"s costs sixteen.
class Measure final : public json::json_sax_t {
 public:
  explicit Measure(uint64_t budget) : budget_(budget) {}
  bool null() override { return value(0); }
  bool boolean(bool) override { return value(0); }
  bool number_integer(json::number_integer_t) override { return value(0); }
  bool number_unsigned(json::number_unsigned_t) override { return value(0); }
  bool number_float(json::number_float_t, const std::string&) override { return value(0); }
  bool string(std::string& s) override { return value(s.size() > 15 ? s.size() : 0); }
  bool binary(json::binary_t& b) override { return value(b.size()); }
  bool start_object(std::size_t) override { return value(0) && deeper(); }
  bool key(std::string& k) override { return cost(80 + (k.size() > 15 ? k.size() : 0)); }
  bool end_object() override { return shallower(); }
  bool start_array(std::size_t) override { return value(0) && deeper(); }
  bool end_array() override { return shallower(); }
  bool parse_error(std::size_t, const std::string&, const json::exception&) override {
    return false;
  }
  bool too_big = false;

 private:
  static constexpr int kMaxDepth = 32;
  bool value(uint64_t extra) { return cost(32 + extra); }
  bool cost(uint64_t bytes) {
    spent_ += bytes;
    if (spent_ <= budget_) return true;
    too_big = true;
    return false;
  }
  bool deeper() {
    if (++depth_ <= kMaxDepth) return true;
    too_big = true;
    return false;
  }
  bool shallower() {
    --depth_;
    return true;
  }
  uint64_t budget_;
  uint64_t spent_ = 0;
  int depth_ = 0;
};

template <typename T>
Result<T> decode_json(std::string_view text) {
  // At most eight times the text (and 16 MiB for any text): bounded memory for whatever arrives.
  Measure measure(std::max<uint64_t>(16u << 20, uint64_t{8} * text.size()));
  if (!json::sax_parse(text, &measure) && measure.too_big) {
    return make_error(ErrorCode::kInvalidArgument,
                      "JSON too dense or too deep: parsed, it would take more than eight times "
                      "its size in memory, or nest more than 32 levels");
  }
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return make_error(ErrorCode::kInvalidArgument, "malformed JSON");
  if (!j.is_object()) return make_error(ErrorCode::kInvalidArgument, "JSON body must be an object");
  try {
    T value;
    from_json_value(j, value);
    return value;
  } catch (const wire::DecodeError& e) {
    return make_error(ErrorCode::kInvalidArgument, e.message);
  } catch (const json::exception& e) {
    // at() on a missing field, get<> on a wrong type or an out-of-range number.
    return make_error(ErrorCode::kInvalidArgument, std::string("bad JSON field: ") + e.what());
  }
}

#define CAIRN_PROTOCOL_TYPE(T)                   \
  template std::string encode_json<T>(const T&); \
  template Result<T> decode_json<T>(std::string_view);

CAIRN_PROTOCOL_TYPE(ServerConfig)
CAIRN_PROTOCOL_TYPE(WhoAmI)
template std::string encode_json<CheckChunksRequest>(const CheckChunksRequest&);
template <>
Result<CheckChunksRequest> decode_json<CheckChunksRequest>(std::string_view text) {
  return wire::decode_check_request(text);
}
CAIRN_PROTOCOL_TYPE(CheckChunksResponse)
CAIRN_PROTOCOL_TYPE(ChunkUpload)
CAIRN_PROTOCOL_TYPE(PackUploadRequest)
CAIRN_PROTOCOL_TYPE(ConfirmPackRequest)
CAIRN_PROTOCOL_TYPE(PackStored)
CAIRN_PROTOCOL_TYPE(LocateResponse)
CAIRN_PROTOCOL_TYPE(ManifestsRequest)
CAIRN_PROTOCOL_TYPE(ManifestsResponse)
CAIRN_PROTOCOL_TYPE(InitUploadsRequest)
CAIRN_PROTOCOL_TYPE(InitUploadsResponse)
CAIRN_PROTOCOL_TYPE(CommitRequest)
CAIRN_PROTOCOL_TYPE(CommitResponse)
CAIRN_PROTOCOL_TYPE(ListResponse)
CAIRN_PROTOCOL_TYPE(ChangesResponse)
CAIRN_PROTOCOL_TYPE(HistoryResponse)
CAIRN_PROTOCOL_TYPE(LogResponse)
CAIRN_PROTOCOL_TYPE(TrashResponse)
CAIRN_PROTOCOL_TYPE(EmptyTrashResponse)
CAIRN_PROTOCOL_TYPE(QuotaResponse)
CAIRN_PROTOCOL_TYPE(RepairsResponse)
CAIRN_PROTOCOL_TYPE(CheckResult)
CAIRN_PROTOCOL_TYPE(ShareRequest)
CAIRN_PROTOCOL_TYPE(ShareInfo)
CAIRN_PROTOCOL_TYPE(SharesResponse)
CAIRN_PROTOCOL_TYPE(LinkRequest)
CAIRN_PROTOCOL_TYPE(LinkInfo)
CAIRN_PROTOCOL_TYPE(LinksResponse)
CAIRN_PROTOCOL_TYPE(WebSignInResponse)
CAIRN_PROTOCOL_TYPE(ErrorBody)

#undef CAIRN_PROTOCOL_TYPE

}  // namespace cairn::protocol
