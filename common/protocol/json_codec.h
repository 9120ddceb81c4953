#pragma once

// The JSON side of the protocol, shared by common/protocol/'s files and seen by nobody else:
// the field readers and writers every message uses, and each message's to_json_value /
// from_json_value (json_messages.cpp), which protocol.cpp's encode_json and decode_json call.

#include <nlohmann/json.hpp>

#include "common/protocol/protocol.h"

namespace cairn::protocol::wire {

using nlohmann::json;

// Thrown only inside common/protocol/, caught by decode_json.
struct DecodeError {
  std::string message;
};

[[noreturn]] inline void fail(std::string message) { throw DecodeError{std::move(message)}; }

Digest digest_from(const json& j, const char* field);

// POST /v1/chunks/check's body in one SAX pass, without the generic decoder's tree
// (json_check.cpp); decode_json<CheckChunksRequest> is this.
Result<CheckChunksRequest> decode_check_request(std::string_view text);

template <typename T>
T get_or(const json& j, const char* field, T fallback) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return fallback;
  return it->get<T>();
}

std::optional<int64_t> get_optional_int(const json& j, const char* field);

void put_optional(json& j, const char* field, const std::optional<int64_t>& v);

// A node's permission bits: "mode", or for a peer from before modes travelled (which sent only
// "executable"), the default for its kind. Anything beyond the permission bits is refused.
uint32_t mode_from(const json& j, NodeKind kind);

// Writes "mode" and, for peers that read only that, "executable".
void put_mode(json& j, uint32_t mode);

json chunk_ref_json(const ChunkRef& c);

ChunkRef chunk_ref_from(const json& j);

json chunk_list_json(const std::vector<ChunkRef>& chunks);

std::vector<ChunkRef> chunk_list_from(const json& j);

json headers_json(const std::vector<std::pair<std::string, std::string>>& headers);

std::vector<std::pair<std::string, std::string>> headers_from(const json& j);

json uploads_json(const std::vector<ChunkUpload>& v);

std::vector<ChunkUpload> uploads_from(const json& j);

json pack_entries_json(const std::vector<PackEntry>& entries);

std::vector<PackEntry> pack_entries_from(const json& j);

NodeKind kind_from(const json& j);

json entry_json(const Entry& e);

Entry entry_from(const json& j);

json digests_json(const std::vector<Digest>& digests);

std::vector<Digest> digests_from(const json& list, const char* what);

json file_upload_json(const FileUpload& f);

FileUpload file_upload_from(const json& jf);

json to_json_value(const ServerConfig& c);
void from_json_value(const json& j, ServerConfig& c);
json to_json_value(const ChunkUpload& u);
void from_json_value(const json& j, ChunkUpload& u);
json to_json_value(const PackUploadRequest& r);
void from_json_value(const json& j, PackUploadRequest& r);
json to_json_value(const ConfirmPackRequest& r);
void from_json_value(const json& j, ConfirmPackRequest& r);
json to_json_value(const PackStored& r);
void from_json_value(const json& j, PackStored& r);
json to_json_value(const ManifestsRequest& r);
void from_json_value(const json& j, ManifestsRequest& r);
json to_json_value(const ManifestsResponse& r);
void from_json_value(const json& j, ManifestsResponse& r);
json to_json_value(const LocateResponse& r);
void from_json_value(const json& j, LocateResponse& r);
json to_json_value(const WhoAmI& w);
void from_json_value(const json& j, WhoAmI& w);
json to_json_value(const CheckChunksRequest& r);
void from_json_value(const json& j, CheckChunksRequest& r);
json to_json_value(const CheckChunksResponse& r);
void from_json_value(const json& j, CheckChunksResponse& r);
json to_json_value(const InitUploadsRequest& r);
void from_json_value(const json& j, InitUploadsRequest& r);
json to_json_value(const InitUploadsResponse& r);
void from_json_value(const json& j, InitUploadsResponse& r);
json to_json_value(const CommitRequest& r);
void from_json_value(const json& j, CommitRequest& r);
json to_json_value(const CommitResponse& r);
void from_json_value(const json& j, CommitResponse& r);
json to_json_value(const LogResponse& r);
void from_json_value(const json& j, LogResponse& r);
json to_json_value(const HistoryResponse& r);
void from_json_value(const json& j, HistoryResponse& r);
json to_json_value(const TrashResponse& r);
void from_json_value(const json& j, TrashResponse& r);
json to_json_value(const EmptyTrashResponse& r);
void from_json_value(const json& j, EmptyTrashResponse& r);
json to_json_value(const ShareRequest& r);
void from_json_value(const json& j, ShareRequest& r);
json to_json_value(const ShareInfo& r);
void from_json_value(const json& j, ShareInfo& r);
json to_json_value(const SharesResponse& r);
void from_json_value(const json& j, SharesResponse& r);
json to_json_value(const LinkRequest& r);
void from_json_value(const json& j, LinkRequest& r);
json to_json_value(const LinkInfo& r);
void from_json_value(const json& j, LinkInfo& r);
json to_json_value(const LinksResponse& r);
void from_json_value(const json& j, LinksResponse& r);
json to_json_value(const WebSignInResponse& r);
void from_json_value(const json& j, WebSignInResponse& r);
json to_json_value(const QuotaResponse& r);
void from_json_value(const json& j, QuotaResponse& r);
json to_json_value(const RepairsResponse& r);
void from_json_value(const json& j, RepairsResponse& r);
json to_json_value(const CheckResult& r);
void from_json_value(const json& j, CheckResult& r);
json to_json_value(const ListResponse& r);
void from_json_value(const json& j, ListResponse& r);
json to_json_value(const ChangesResponse& r);
void from_json_value(const json& j, ChangesResponse& r);
json to_json_value(const ErrorBody& e);
void from_json_value(const json& j, ErrorBody& e);

}  // namespace cairn::protocol::wire
