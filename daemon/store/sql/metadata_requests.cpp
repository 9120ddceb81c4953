// Commits that carry a request id: a repeat gets the results recorded the first time
// (metadata_internal.h, Tx::recorded_request).

#include <array>

#include "common/varint.h"
#include "daemon/store/sql/metadata_internal.h"

namespace cairn::store::sqlstore {

namespace {

// A day: a repeat arrives within minutes (a client's retries, a request that sat in a stalled
// connection), and a day of one user's commits is a small table.
constexpr int64_t kKeptSeconds = 24 * 3600;

// The results of a commit as recorded: per op, its status and numbers as shortest-form varints
// (as manifests write theirs), then its texts, each as its length and bytes. One row per commit
// however many ops it had.
Bytes encode_results(const std::vector<OpResult>& results) {
  Bytes out;
  varint::put(out, results.size());
  for (const auto& r : results) {
    for (const int64_t n : {static_cast<int64_t>(r.status), r.node_id, r.version, r.published,
                            r.changed, r.deleted}) {
      varint::put(out, static_cast<uint64_t>(n));
    }
    for (const std::string* text : {&r.path, &r.error_code, &r.message, &r.copy}) {
      varint::put(out, text->size());
      varint::put_raw(out, as_bytes(*text));
    }
  }
  return out;
}

Result<std::vector<OpResult>> decode_results(ByteView in) {
  constexpr const char* kWhat = "a recorded commit's results";
  size_t pos = 0;
  CAIRN_ASSIGN_OR_RETURN(const uint64_t count, varint::get_or_corrupt(in, pos, kWhat));
  if (count > in.size()) return make_error(ErrorCode::kCorrupt, kWhat);
  std::vector<OpResult> out(count);
  for (auto& r : out) {
    std::array<uint64_t, 6> n{};
    for (auto& v : n) {
      CAIRN_ASSIGN_OR_RETURN(v, varint::get_or_corrupt(in, pos, kWhat));
    }
    if (n[0] > static_cast<uint64_t>(OpStatus::kCopied)) {
      return make_error(ErrorCode::kCorrupt, kWhat);
    }
    r.status = static_cast<OpStatus>(n[0]);
    r.node_id = static_cast<int64_t>(n[1]);
    r.version = static_cast<int64_t>(n[2]);
    r.published = static_cast<int64_t>(n[3]);
    r.changed = static_cast<int64_t>(n[4]);
    r.deleted = static_cast<int64_t>(n[5]);
    for (std::string* text : {&r.path, &r.error_code, &r.message, &r.copy}) {
      CAIRN_ASSIGN_OR_RETURN(const uint64_t len, varint::get_or_corrupt(in, pos, kWhat));
      if (len > in.size() - pos) return make_error(ErrorCode::kCorrupt, kWhat);
      text->assign(as_string_view(in.subspan(pos, len)));
      pos += len;
    }
  }
  if (pos != in.size()) return make_error(ErrorCode::kCorrupt, kWhat);
  return out;
}

}  // namespace

Result<std::optional<std::vector<OpResult>>> Tx::recorded_request(int64_t user_id,
                                                                  const RequestKey& key,
                                                                  int64_t now) {
  CAIRN_ASSIGN_OR_RETURN(
      auto r, s_.query("SELECT fingerprint, results FROM commit_requests WHERE user_id=?1 AND "
                       "request_id=?2 AND created_at >= ?3",
                       user_id, key.id, now - kKeptSeconds));
  if (r.empty()) return std::optional<std::vector<OpResult>>();
  if (r[0].get_text(0) != key.fingerprint) {
    return make_error(ErrorCode::kConflict, "request id " + key.id +
                                                " was already used for a different commit: "
                                                "each commit needs a new one");
  }
  CAIRN_ASSIGN_OR_RETURN(auto results, decode_results(r[0].get_blob(1)));
  return std::optional<std::vector<OpResult>>(std::move(results));
}

Result<void> Tx::record_request(int64_t user_id, const RequestKey& key,
                                const std::vector<OpResult>& results, int64_t now) {
  CAIRN_RETURN_IF_ERROR(s_.query("DELETE FROM commit_requests WHERE user_id=?1 AND created_at < ?2",
                                 user_id, now - kKeptSeconds));
  // Two copies of one request at once: on SQLite one waits for the other's transaction; on
  // PostgreSQL the second's insert (after its read of the same key) aborts it as a serialisation
  // failure, and its rerun finds this record.
  CAIRN_RETURN_IF_ERROR(
      s_.query("INSERT INTO commit_requests(user_id, request_id, fingerprint, results, created_at) "
               "VALUES (?1, ?2, ?3, ?4, ?5)",
               user_id, key.id, key.fingerprint, encode_results(results), now));
  return {};
}

}  // namespace cairn::store::sqlstore
