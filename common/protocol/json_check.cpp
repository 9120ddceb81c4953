// POST /v1/chunks/check's body, decoded in one SAX pass straight into the request.
//
// A push sends one of these per few hundred chunks, and a daemon answers them more often than
// anything else. The generic decode_json (protocol.cpp) parses every body twice (once to measure
// what its tree would cost, once to build it) and then walks the tree: for a 1,000-chunk check
// that was a quarter of the daemon's CPU under load. Here nothing but the chunks is kept, so the
// memory is bounded by the text without measuring it. What is accepted and refused is the same
// as the generic decoder's, except that "len" and "commit_bytes" must be integers (the generic
// one also took 1.5 or true); tests/unit/common/protocol_test.cpp holds both.

#include <limits>

#include "common/chunker.h"
#include "common/protocol/json_codec.h"

namespace cairn::protocol::wire {
namespace {

class CheckRequestReader final : public json::json_sax_t {
 public:
  explicit CheckRequestReader(CheckChunksRequest& out) : out_(out) {}

  bool null() override { return scalar(Scalar::kNull, 0, {}); }
  bool boolean(bool) override { return scalar(Scalar::kOther, 0, {}); }
  bool number_integer(json::number_integer_t v) override {
    return v < 0 ? scalar(Scalar::kOther, 0, {}) : scalar(Scalar::kUnsigned, uint64_t(v), {});
  }
  bool number_unsigned(json::number_unsigned_t v) override {
    return scalar(Scalar::kUnsigned, v, {});
  }
  bool number_float(json::number_float_t, const std::string&) override {
    return scalar(Scalar::kOther, 0, {});
  }
  bool string(std::string& s) override { return scalar(Scalar::kString, 0, s); }
  bool binary(json::binary_t&) override { return scalar(Scalar::kOther, 0, {}); }

  bool start_object(std::size_t) override {
    if (!enter()) return false;
    if (at_ == At::kSkip) return true;
    if (at_ == At::kTop) {
      at_ = At::kRequest;
      return true;
    }
    if (at_ == At::kChunks) {
      at_ = At::kChunk;
      chunk_ = {};
      has_hash_ = has_len_ = false;
      return true;
    }
    return refuse(misplaced("an object"));
  }
  bool end_object() override {
    if (leave()) return true;
    if (at_ == At::kChunk) {
      if (!has_hash_) return refuse("bad JSON field: key 'hash' not found");
      if (!has_len_) return refuse("bad JSON field: key 'len' not found");
      out_.chunks.push_back(chunk_);
      at_ = At::kChunks;
      return true;
    }
    at_ = At::kDone;  // The request's own object.
    return true;
  }
  bool start_array(std::size_t) override {
    if (!enter()) return false;
    if (at_ == At::kSkip) return true;
    if (at_ == At::kValue && key_ == Key::kChunks) {
      out_.chunks.clear();  // A repeated key: the last one counts, as in the generic decoder.
      seen_chunks_ = true;
      at_ = At::kChunks;
      return true;
    }
    if (at_ == At::kValue && key_ == Key::kManifests) {
      out_.manifests.clear();
      at_ = At::kManifests;
      return true;
    }
    return refuse(misplaced("an array"));
  }
  bool end_array() override {
    if (leave()) return true;
    at_ = At::kRequest;  // The end of "chunks" or "manifests".
    return true;
  }
  bool key(std::string& k) override {
    if (at_ == At::kSkip) return true;
    if (at_ == At::kChunk) {
      field_ = k == "hash" ? Field::kHash : k == "len" ? Field::kLen : Field::kOther;
      return true;
    }
    key_ = k == "chunks"         ? Key::kChunks
           : k == "manifests"    ? Key::kManifests
           : k == "commit_bytes" ? Key::kCommitBytes
                                 : Key::kOther;
    at_ = At::kValue;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const json::exception&) override {
    if (!error_) error_ = "malformed JSON";
    return false;
  }

  Result<CheckChunksRequest> result(bool parsed) {
    if (error_) return make_error(ErrorCode::kInvalidArgument, *error_);
    if (!parsed) return make_error(ErrorCode::kInvalidArgument, "malformed JSON");
    if (!seen_chunks_) {
      return make_error(ErrorCode::kInvalidArgument, "bad JSON field: key 'chunks' not found");
    }
    return std::move(out_);
  }

 private:
  enum class At { kTop, kRequest, kValue, kChunks, kChunk, kManifests, kSkip, kDone };
  enum class Key { kChunks, kManifests, kCommitBytes, kOther };
  enum class Field { kHash, kLen, kOther };
  enum class Scalar { kNull, kUnsigned, kString, kOther };
  static constexpr int kMaxDepth = 32;

  bool scalar(Scalar kind, uint64_t number, const std::string& text) {
    switch (at_) {
      case At::kTop:
        return refuse("JSON body must be an object");
      case At::kSkip:
        return true;
      case At::kValue:
        at_ = At::kRequest;
        if (key_ == Key::kChunks) return refuse("chunks must be an array");
        if (key_ == Key::kManifests) return refuse("manifests must be an array");
        if (key_ == Key::kCommitBytes) {
          if (kind == Scalar::kNull) {
            out_.commit_bytes.reset();
            return true;
          }
          if (kind != Scalar::kUnsigned) {
            return refuse("bad JSON field: commit_bytes must be a count");
          }
          out_.commit_bytes = number;
        }
        return true;
      case At::kChunks:
        return refuse("bad JSON field: each chunk must be an object");
      case At::kChunk:
        return chunk_field(kind, number, text);
      case At::kManifests: {
        if (kind != Scalar::kString) return refuse("manifests must be hex strings");
        auto d = Digest::from_hex(text);
        if (!d) return refuse("manifests must be 64-character hex SHA-256 strings");
        out_.manifests.push_back(*d);
        return true;
      }
      default:
        return refuse("malformed JSON");
    }
  }

  bool chunk_field(Scalar kind, uint64_t number, const std::string& text) {
    if (field_ == Field::kHash) {
      if (kind != Scalar::kString) return refuse("hash must be a hex string");
      auto d = Digest::from_hex(text);
      if (!d) return refuse("hash is not a 64-character hex SHA-256");
      chunk_.hash = *d;
      has_hash_ = true;
    } else if (field_ == Field::kLen) {
      if (kind != Scalar::kUnsigned) return refuse("bad JSON field: len must be a count");
      if (number == 0 || number > ChunkerParams::kMaxSupportedSize) {
        return refuse("chunk len out of range");
      }
      chunk_.length = static_cast<uint32_t>(number);
      has_len_ = true;
    }
    return true;
  }

  // Opens an object or array. The value of a field this request does not have is skipped
  // whole, however deep (within the depth limit).
  bool enter() {
    if (++depth_ > kMaxDepth) {
      error_ = "JSON too dense or too deep: parsed, it would nest more than 32 levels";
      return false;
    }
    const bool unknown_field = (at_ == At::kValue && key_ == Key::kOther) ||
                               (at_ == At::kChunk && field_ == Field::kOther);
    if (unknown_field) {
      resume_ = at_ == At::kChunk ? At::kChunk : At::kRequest;
      at_ = At::kSkip;
      skip_depth_ = depth_;
    }
    return true;
  }

  // Closes an object or array; true if it was (inside) a skipped value.
  bool leave() {
    const int closing = depth_--;
    if (at_ != At::kSkip) return false;
    if (closing == skip_depth_) at_ = resume_;
    return true;
  }

  // Why an object or array cannot be where the parse is.
  std::string misplaced(const char* what) const {
    switch (at_) {
      case At::kTop:
        return "JSON body must be an object";
      case At::kValue:
        return key_ == Key::kChunks      ? "chunks must be an array"
               : key_ == Key::kManifests ? "manifests must be an array"
                                         : "bad JSON field: commit_bytes must be a count";
      case At::kChunks:
        return "bad JSON field: each chunk must be an object";
      case At::kChunk:
        return field_ == Field::kHash ? "hash must be a hex string"
                                      : "bad JSON field: len must be a count";
      case At::kManifests:
        return "manifests must be hex strings";
      default:
        return std::string("malformed JSON: ") + what + " out of place";
    }
  }

  bool refuse(std::string message) {
    if (!error_) error_ = std::move(message);
    return false;
  }

  CheckChunksRequest& out_;
  At at_ = At::kTop;
  Key key_ = Key::kOther;
  Field field_ = Field::kOther;
  ChunkRef chunk_;
  bool has_hash_ = false;
  bool has_len_ = false;
  bool seen_chunks_ = false;
  At resume_ = At::kRequest;  // Where a skipped value returns to.
  int depth_ = 0;
  int skip_depth_ = 0;
  std::optional<std::string> error_;
};

}  // namespace

Result<CheckChunksRequest> decode_check_request(std::string_view text) {
  CheckChunksRequest out;
  CheckRequestReader reader(out);
  const bool parsed = json::sax_parse(text, &reader);
  return reader.result(parsed);
}

}  // namespace cairn::protocol::wire
