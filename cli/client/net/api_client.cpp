#include "cli/client/net/api_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <thread>

#include "common/file_io.h"
#include "common/hash.h"
#include "common/remote_path.h"

namespace cairn::client {
namespace {

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* out = static_cast<std::string*>(user);
  out->append(data, size * count);
  return size * count;
}

// Turns an error response into an Error carrying the server's code and message.
Error http_error(long status, const std::string& body, const std::string& what) {
  auto parsed = protocol::decode_json<protocol::ErrorBody>(body);
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  if (parsed) {
    code = error_code_from_name(parsed->code);
    message = parsed->message;
    if (code == ErrorCode::kStorageFull) message = "server storage full: " + message;
  } else {
    code = status == 401                    ? ErrorCode::kUnauthenticated
           : status == 403                  ? ErrorCode::kPermissionDenied
           : status == 404                  ? ErrorCode::kNotFound
           : status == 409                  ? ErrorCode::kConflict
           : status == 413                  ? ErrorCode::kTooLarge
           : status == 429 || status >= 500 ? ErrorCode::kUnavailable
                                            : ErrorCode::kInvalidArgument;
    message = "HTTP " + std::to_string(status);
    // An object store answers in XML: keep its error code, which says what went wrong.
    const size_t open = body.find("<Code>");
    const size_t close = body.find("</Code>");
    if (open != std::string::npos && close != std::string::npos && close > open) {
      const std::string s3_code = body.substr(open + 6, std::min<size_t>(close - open - 6, 64));
      message += " " + s3_code;
      if (s3_code == "BadDigest" || s3_code == "InvalidDigest" ||
          s3_code == "XAmzContentSHA256Mismatch") {
        code = ErrorCode::kCorrupt;
      }
    }
  }
  if (status == 429 || status == 502 || status == 503 || status == 504) {
    code = ErrorCode::kUnavailable;
  }
  return Error(code, what + ": " + message);
}

// Whether an answer's headers arrived whole. libcurl takes a connection closed in the middle of
// the headers, before any Content-Length, for the end of an answer without a body: a "201" with
// nothing after it, which would read as a server that answered nonsense (seen in
// tests/e2e/test_network.py when a cut fell there). Only the blank line that ends the headers
// proves the answer was not cut short there; the body's length is curl's to check.
struct HeaderWatch {
  bool complete = false;
};

size_t on_header_line(char* data, size_t size, size_t count, void* user) {
  auto* watch = static_cast<HeaderWatch*>(user);
  const std::string_view line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) watch->complete = false;  // An answer (or a 100) begins.
  if (line == "\r\n" || line == "\n") watch->complete = true;
  return size * count;
}

// Resets the handle for a new request (reset keeps the connection cache, so the keep-alive
// connection survives) and sets what every request of ours shares. `watch` hears whether the
// answer's headers arrived whole. `ca_cert`: the CA to trust for this URL ("" for the system's).
void start_transfer(CURL* curl, const std::string& url, char* error_buffer,
                    const std::string& ca_cert, HeaderWatch& watch) {
  curl_easy_reset(curl);
  watch.complete = false;
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &on_header_line);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &watch);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  // Certificates are always verified (libcurl's default, stated here so that it stays so).
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!ca_cert.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, ca_cert.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  // A transfer that moves nothing for 60 s is dead; a slow one is fine.
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 60L);
  curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "cairn/0.1.0");
  // libcurl reads the socket 16 KiB at a time by default: a clone's pack ranges then cost one
  // poll and one recvfrom per 16 KiB (about 110,000 system calls for 1.3 GB). It takes at most
  // 512 KiB; one such buffer per connection.
  curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 512L * 1024);
}

// Sleeps before retry number `attempt` (1, 2, ...) of something that failed for a passing
// reason: exponential backoff with full jitter (0-100 ms, 0-200 ms, ...), so that many clients
// retrying at once spread out instead of returning in lock step. A server that said when to come
// back (Retry-After, in seconds) is given at least that, plus up to a second of jitter.
void pause_before_retry(int attempt, int64_t retry_after = 0) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  const auto cap_ms = uint64_t{100} << std::clamp(attempt - 1, 0, 6);
  uint64_t ms = rng() % (cap_ms + 1);
  if (retry_after > 0)
    ms = static_cast<uint64_t>(std::min<int64_t>(retry_after, 60)) * 1000 + rng() % 1001;
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

bool transient_status(long status) {
  return status == 429 || status == 502 || status == 503 || status == 504;
}

// The Retry-After of the response just received, in seconds (0 if none or not a number).
int64_t retry_after_of(CURL* curl) {
  struct curl_header* h = nullptr;
  if (curl_easy_header(curl, "Retry-After", 0, CURLH_HEADER, -1, &h) != CURLHE_OK || !h) return 0;
  int64_t seconds = 0;
  const std::string_view v(h->value);
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
  return ec == std::errc() && seconds > 0 ? seconds : 0;
}

}  // namespace

void global_http_init() { curl_global_init(CURL_GLOBAL_DEFAULT); }

ApiClient::ApiClient(ServerEndpoint endpoint)
    : endpoint_(std::move(endpoint)), curl_(curl_easy_init()) {
  CAIRN_CHECK(curl_ != nullptr);
  if (endpoint_.ca_cert.empty()) {
    if (const char* ca = std::getenv("CAIRN_CA_CERT"); ca != nullptr) endpoint_.ca_cert = ca;
  }
  while (!endpoint_.base_url.empty() && endpoint_.base_url.back() == '/') {
    endpoint_.base_url.pop_back();
  }
}

ApiClient::~ApiClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

const std::string& ApiClient::ca_for(const std::string& url) const {
  static const std::string kSystem;
  return url.rfind(endpoint_.base_url, 0) == 0 ? endpoint_.ca_cert : kSystem;
}

std::unique_ptr<ApiClient> ApiClient::clone() const {
  return std::make_unique<ApiClient>(endpoint_);
}

namespace {

// Where the reading of a body with a file part has got to.
struct BodySource {
  std::string_view bytes;  // First,
  int fd;                  // then the file's first
  uint64_t file_bytes;     // bytes.
  uint64_t offset = 0;     // In the whole body.

  uint64_t size() const { return bytes.size() + file_bytes; }
};

size_t read_body(char* out, size_t size, size_t count, void* data) {
  auto* source = static_cast<BodySource*>(data);
  const uint64_t want = std::min<uint64_t>(uint64_t{size} * count, source->size() - source->offset);
  size_t done = 0;
  if (source->offset < source->bytes.size()) {
    done = static_cast<size_t>(std::min<uint64_t>(want, source->bytes.size() - source->offset));
    std::memcpy(out, source->bytes.data() + source->offset, done);
  }
  if (done < want) {
    const uint64_t at = source->offset + done - source->bytes.size();
    auto got = pread_full(source->fd, out + done, static_cast<size_t>(want - done), at);
    // A file that shrank or cannot be read ends the request as an error, never as a short body.
    if (!got || *got != want - done) return CURL_READFUNC_ABORT;
  }
  source->offset += want;
  return static_cast<size_t>(want);
}

// libcurl rewinds a body it must send again (a reused connection that turned out closed).
int seek_body(void* data, curl_off_t offset, int origin) {
  auto* source = static_cast<BodySource*>(data);
  if (origin != SEEK_SET || offset < 0 || static_cast<uint64_t>(offset) > source->size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  source->offset = static_cast<uint64_t>(offset);
  return CURL_SEEKFUNC_OK;
}

}  // namespace

Result<ApiClient::Response> ApiClient::request_once(const char* method, const std::string& url,
                                                    const Body& body, const char* content_type,
                                                    bool auth, const HeaderList& extra) {
  auto* curl = static_cast<CURL*>(curl_);
  Response response;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  HeaderWatch watch;
  start_transfer(curl, url, error_buffer, ca_for(url), watch);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &response.body);

  struct curl_slist* headers = nullptr;
  std::string auth_header;
  if (auth && !endpoint_.token.empty()) {
    auth_header = "Authorization: Bearer " + endpoint_.token;
    headers = curl_slist_append(headers, auth_header.c_str());
  }
  std::string device_header;
  if (auth && !endpoint_.device.empty()) {
    device_header = "X-Cairn-Device: " + endpoint_.device;
    headers = curl_slist_append(headers, device_header.c_str());
  }
  std::vector<std::string> extra_lines;
  extra_lines.reserve(extra.size());
  for (const auto& [name, value] : extra) {
    extra_lines.push_back(name + ": " + value);
    headers = curl_slist_append(headers, extra_lines.back().c_str());
  }
  // No "Expect: 100-continue" round trip before bodies: our bodies are small or pre-authorised.
  headers = curl_slist_append(headers, "Expect:");
  std::string type_header;
  if (content_type != nullptr) {
    type_header = std::string("Content-Type: ") + content_type;
    headers = curl_slist_append(headers, type_header.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

  const std::string_view m(method);
  BodySource source{body.bytes, body.fd, body.file_bytes};
  if (body.fd >= 0) {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body.size()));
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, &read_body);
    curl_easy_setopt(curl, CURLOPT_READDATA, &source);
    curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, &seek_body);
    curl_easy_setopt(curl, CURLOPT_SEEKDATA, &source);
  } else if (m == "POST" || m == "PUT") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.bytes.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  } else if (m != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
  }

  const CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK || !watch.complete) {
    const std::string detail = rc != CURLE_OK
                                   ? (error_buffer[0] != 0 ? error_buffer : curl_easy_strerror(rc))
                                   : "the answer was cut off in its headers";
    const bool ours = url.rfind(endpoint_.base_url, 0) == 0;
    return make_error(ErrorCode::kUnavailable,
                      "cannot reach " +
                          (ours ? endpoint_.base_url : std::string("the blob store")) + " (" +
                          detail + ")");
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  if (transient_status(response.status)) response.retry_after = retry_after_of(curl);
  bytes_sent_ += body.size();
  bytes_received_ += response.body.size();
  return response;
}

Result<ApiClient::Response> ApiClient::request(const char* method, const std::string& path_or_url,
                                               const Body& body, const char* content_type,
                                               bool auth, Retry retry, const HeaderList& extra) {
  const std::string url =
      path_or_url.rfind("http://", 0) == 0 || path_or_url.rfind("https://", 0) == 0
          ? path_or_url
          : endpoint_.base_url + path_or_url;
  constexpr int kAttempts = 5;
  constexpr int kRateLimitedAttempts = 10;
  for (int attempt = 1;; ++attempt) {
    auto r = request_once(method, url, body, content_type, auth, extra);
    // A 429 was refused before anything was done: any request may be sent again after it.
    if (r && r->status == 429 && attempt < kRateLimitedAttempts) {
      pause_before_retry(attempt, r->retry_after);
      continue;
    }
    const bool transient = (!r && r.error().retryable()) || (r && transient_status(r->status));
    if (!transient || retry == Retry::kNo || attempt >= kAttempts) return r;
    pause_before_retry(attempt, r ? r->retry_after : 0);
  }
}

template <typename T>
Result<T> ApiClient::json_call(const char* method, const std::string& path, const std::string& body,
                               Retry retry) {
  const char* type = body.empty() ? nullptr : "application/json";
  CAIRN_ASSIGN_OR_RETURN(auto r, request(method, path, body, type, true, retry));
  const std::string what = std::string(method) + " " + path.substr(0, path.find('?'));
  if (r.status < 200 || r.status >= 300) return http_error(r.status, r.body, what);
  auto decoded = protocol::decode_json<T>(r.body);
  if (!decoded) return std::move(decoded).error().with_context(what + ": bad response");
  return decoded;
}

Result<protocol::ServerConfig> ApiClient::config() {
  return json_call<protocol::ServerConfig>("GET", "/v1/config", "", Retry::kYes);
}

Result<protocol::WhoAmI> ApiClient::whoami() {
  return json_call<protocol::WhoAmI>("GET", "/v1/whoami", "", Retry::kYes);
}

Result<protocol::CheckChunksResponse> ApiClient::check_chunks(
    const protocol::CheckChunksRequest& req) {
  return json_call<protocol::CheckChunksResponse>("POST", "/v1/chunks/check",
                                                  protocol::encode_json(req), Retry::kYes);
}

Result<protocol::InitUploadsResponse> ApiClient::init_uploads(
    const protocol::InitUploadsRequest& req) {
  // A repeat stages the same files again under new ids; in a group, publishing commits the
  // same content once either way.
  return json_call<protocol::InitUploadsResponse>("POST", "/v1/uploads", protocol::encode_json(req),
                                                  Retry::kYes);
}

Result<protocol::CommitResponse> ApiClient::commit(const protocol::CommitRequest& req) {
  // Each commit carries a request id of its own, the same in every retry: the server answers a
  // repeat with what it answered the first time and changes nothing. So a commit is retried like
  // any idempotent call, even one that consumes upload sessions (a put by upload_id, a publish),
  // and a copy of it that the network delivers late cannot undo what came after it.
  if (req.request_id.empty()) {
    protocol::CommitRequest named = req;
    named.request_id = to_hex(secure_random(16));
    return commit(named);
  }
  return json_call<protocol::CommitResponse>("POST", "/v1/commit", protocol::encode_json(req),
                                             Retry::kYes);
}

namespace {

std::string escape(const std::string& s) {
  char* out = curl_easy_escape(nullptr, s.c_str(), static_cast<int>(s.size()));
  std::string result = out != nullptr ? out : "";
  curl_free(out);
  return result;
}

}  // namespace

Result<protocol::ListResponse> ApiClient::list(const std::string& remote_path) {
  return json_call<protocol::ListResponse>("GET", "/v1/list?path=" + escape(remote_path), "",
                                           Retry::kYes);
}

Result<protocol::ListResponse> ApiClient::list_tree(const std::string& remote_path,
                                                    std::optional<int64_t> at_ms) {
  const std::string at = at_ms ? "&at=" + std::to_string(*at_ms) : "";
  return json_call<protocol::ListResponse>(
      "GET", "/v1/list?recursive=1&path=" + escape(remote_path) + at, "", Retry::kYes);
}

Result<protocol::ListResponse> ApiClient::list_at(const std::string& remote_path, int64_t at_ms) {
  return json_call<protocol::ListResponse>(
      "GET", "/v1/list?path=" + escape(remote_path) + "&at=" + std::to_string(at_ms), "",
      Retry::kYes);
}

Result<protocol::LogResponse> ApiClient::log(const std::string& remote_path, int64_t before,
                                             int64_t since_ms, int limit) {
  return json_call<protocol::LogResponse>(
      "GET",
      "/v1/log?path=" + escape(remote_path) + "&before=" + std::to_string(before) +
          "&since=" + std::to_string(since_ms) + "&limit=" + std::to_string(limit),
      "", Retry::kYes);
}

Result<protocol::ChangesResponse> ApiClient::changes(const std::string& cursor, int limit) {
  return json_call<protocol::ChangesResponse>(
      "GET", "/v1/changes?cursor=" + escape(cursor) + "&limit=" + std::to_string(limit), "",
      Retry::kYes);
}

Result<protocol::HistoryResponse> ApiClient::history(const std::string& remote_path,
                                                     int64_t node_id) {
  const std::string query =
      node_id != 0 ? "node_id=" + std::to_string(node_id) : "path=" + escape(remote_path);
  return json_call<protocol::HistoryResponse>("GET", "/v1/history?" + query, "", Retry::kYes);
}

Result<protocol::TrashResponse> ApiClient::trash() {
  return json_call<protocol::TrashResponse>("GET", "/v1/trash", "", Retry::kYes);
}

Result<protocol::EmptyTrashResponse> ApiClient::empty_trash() {
  // Idempotent: a repeat after a lost answer finds the trash empty.
  return json_call<protocol::EmptyTrashResponse>("POST", "/v1/trash/empty", "{}", Retry::kYes);
}

Result<protocol::QuotaResponse> ApiClient::quota() {
  return json_call<protocol::QuotaResponse>("GET", "/v1/quota", "", Retry::kYes);
}

Result<protocol::RepairsResponse> ApiClient::repairs() {
  return json_call<protocol::RepairsResponse>("GET", "/v1/repairs", "", Retry::kYes);
}

Result<protocol::ShareInfo> ApiClient::share(const protocol::ShareRequest& req) {
  // Idempotent: sharing again with the same role changes nothing.
  return json_call<protocol::ShareInfo>("POST", "/v1/shares", protocol::encode_json(req),
                                        Retry::kYes);
}

Result<void> ApiClient::unshare(const std::string& remote_path, const std::string& user) {
  std::string path = "/v1/shares?path=" + escape(remote_path);
  if (!user.empty()) path += "&user=" + escape(user);
  CAIRN_ASSIGN_OR_RETURN(auto r, request("DELETE", path, "", nullptr, true, Retry::kNo));
  if (r.status < 200 || r.status >= 300) return http_error(r.status, r.body, "DELETE /v1/shares");
  return {};
}

Result<protocol::SharesResponse> ApiClient::shares(const std::string& remote_path) {
  const std::string query = remote_path.empty() ? "" : "?path=" + escape(remote_path);
  return json_call<protocol::SharesResponse>("GET", "/v1/shares" + query, "", Retry::kYes);
}

Result<protocol::WebSignInResponse> ApiClient::web_signin(const std::string& open_path) {
  // Not retried: a retry after a lost answer would make a second code, and the first is lost.
  auto made = json_call<protocol::WebSignInResponse>("POST", "/v1/web/signin", "", Retry::kNo);
  if (!made || open_path.empty() || open_path == "/") return made;
  // The page's URL for the path (each name percent-encoded), as the query's `next`.
  std::string page = "/web/files";
  for (const auto& name : split_remote_path(open_path)) page += "/" + escape(name);
  made->url += "&next=" + escape(page);
  return made;
}

Result<protocol::LinkInfo> ApiClient::create_link(const protocol::LinkRequest& req) {
  // Not retried: a repeat would make a second link.
  return json_call<protocol::LinkInfo>("POST", "/v1/links", protocol::encode_json(req), Retry::kNo);
}

Result<protocol::LinksResponse> ApiClient::links() {
  return json_call<protocol::LinksResponse>("GET", "/v1/links", "", Retry::kYes);
}

Result<void> ApiClient::revoke_link(int64_t id, const std::string& token) {
  const std::string path =
      id != 0 ? "/v1/links?id=" + std::to_string(id) : "/v1/links?token=" + escape(token);
  CAIRN_ASSIGN_OR_RETURN(auto r, request("DELETE", path, "", nullptr, true, Retry::kYes));
  if (r.status < 200 || r.status >= 300) return http_error(r.status, r.body, "DELETE /v1/links");
  return {};
}

Result<Bytes> ApiClient::manifest(const Digest& address) {
  const std::string path = "/v1/manifests/" + address.hex();
  CAIRN_ASSIGN_OR_RETURN(auto r, request("GET", path, "", nullptr, true, Retry::kYes));
  if (r.status != 200) return http_error(r.status, r.body, "GET manifest " + address.hex());
  Bytes bytes(reinterpret_cast<const std::byte*>(r.body.data()),
              reinterpret_cast<const std::byte*>(r.body.data()) + r.body.size());
  if (sha256(bytes) != address) {
    return make_error(ErrorCode::kCorrupt, "manifest " + address.hex() + " failed verification");
  }
  return bytes;
}

Result<std::unordered_map<Digest, Bytes>> ApiClient::manifests(
    const std::vector<Digest>& addresses) {
  protocol::ManifestsRequest req{addresses};
  CAIRN_ASSIGN_OR_RETURN(
      auto resp, json_call<protocol::ManifestsResponse>("POST", "/v1/manifests",
                                                        protocol::encode_json(req), Retry::kYes));
  std::unordered_map<Digest, Bytes> out;
  for (auto& [address, body] : resp.manifests) {
    if (sha256(body) != address) {
      return make_error(ErrorCode::kCorrupt, "manifest " + address.hex() + " failed verification");
    }
    out.emplace(address, std::move(body));
  }
  return out;
}

Result<Bytes> ApiClient::chunk(const Digest& hash, uint32_t expected_length) {
  Bytes out;
  CAIRN_RETURN_IF_ERROR(chunk_into(hash, expected_length, out));
  return out;
}

namespace {

// Appends a response body to a Bytes buffer; refuses to grow past the expected length (plus
// room for an error document), so a misbehaving server cannot make us allocate without bound.
struct BoundedSink {
  Bytes* out;
  size_t limit;
};

size_t on_bounded_body(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<BoundedSink*>(user);
  const size_t n = size * count;
  if (sink->out->size() + n > sink->limit) return 0;  // Aborts the transfer.
  const auto* bytes = reinterpret_cast<const std::byte*>(data);
  sink->out->insert(sink->out->end(), bytes, bytes + n);
  return n;
}

}  // namespace

Result<ApiClient::Fetched> ApiClient::get_into(std::string url, std::vector<std::string> lines,
                                               size_t limit, bool follow_redirect,
                                               const std::string& what, Bytes& out) {
  Fetched fetched;
  for (int attempt = 1;; ++attempt) {
    out.clear();
    BoundedSink sink{&out, limit};
    auto* curl = static_cast<CURL*>(curl_);
    char error_buffer[CURL_ERROR_SIZE] = {0};
    HeaderWatch watch;
    start_transfer(curl, url, error_buffer, ca_for(url), watch);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &on_bounded_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
    struct curl_slist* headers = nullptr;
    for (const auto& line : lines) headers = curl_slist_append(headers, line.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    CURLcode rc = curl_easy_perform(curl);
    curl_slist_free_all(headers);
    if (rc == CURLE_OK && !watch.complete) {
      rc = CURLE_PARTIAL_FILE;
      std::snprintf(error_buffer, sizeof(error_buffer), "the answer was cut off in its headers");
    }
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_OK && (status == 307 || status == 302) && follow_redirect &&
        !fetched.redirected) {
      char* location = nullptr;
      curl_easy_getinfo(curl, CURLINFO_REDIRECT_URL, &location);
      if (location != nullptr) {
        // A pre-signed URL carries its own authorisation: the bearer token stays here.
        url = location;
        lines.erase(
            std::remove_if(lines.begin(), lines.end(),
                           [](const std::string& l) { return l.rfind("Authorization:", 0) == 0; }),
            lines.end());
        fetched.redirected = true;
        --attempt;  // Following the redirect is not a retry.
        continue;
      }
    }
    const bool limited = rc == CURLE_OK && status == 429;
    if ((rc != CURLE_OK || transient_status(status)) && attempt < (limited ? 10 : 5)) {
      pause_before_retry(attempt, rc == CURLE_OK ? retry_after_of(curl) : 0);
      continue;
    }
    if (rc != CURLE_OK) {
      const std::string detail = error_buffer[0] != 0 ? error_buffer : curl_easy_strerror(rc);
      return make_error(ErrorCode::kUnavailable, what + ": " + detail);
    }
    bytes_received_ += out.size();
    fetched.status = status;
    return fetched;
  }
}

Result<void> ApiClient::chunk_into(const Digest& hash, uint32_t expected_length, Bytes& out) {
  // The daemon streams the chunk itself or redirects to a pre-signed URL of its blob store.
  constexpr size_t kErrorRoom = 64 * 1024;
  out.reserve(expected_length);
  CAIRN_ASSIGN_OR_RETURN(
      const Fetched got,
      get_into(endpoint_.base_url + "/v1/chunks/" + hash.hex(),
               {"Authorization: Bearer " + endpoint_.token}, size_t{expected_length} + kErrorRoom,
               /*follow_redirect=*/true, "GET chunk " + hash.hex() + " from " + endpoint_.base_url,
               out));
  if (got.status == 404 && got.redirected) {
    // The daemon vouched for the chunk and the blob store does not have it: the store lost
    // data. That is an integrity failure, not a missing file.
    return make_error(ErrorCode::kCorrupt,
                      "chunk " + hash.hex() + " is missing from the server's blob store");
  }
  if (got.status != 200) {
    return http_error(got.status, std::string(as_string_view(out)), "GET chunk " + hash.hex());
  }
  if (out.size() != expected_length || sha256(out) != hash) {
    return make_error(ErrorCode::kCorrupt, "chunk " + hash.hex() + " failed verification");
  }
  return {};
}

Result<void> ApiClient::put_chunk(const protocol::ChunkUpload& grant, ByteView bytes) {
  // Signed URLs carry their own authorisation: the bearer token never goes with them.
  CAIRN_ASSIGN_OR_RETURN(
      auto r, request("PUT", grant.url, as_string_view(bytes), "application/octet-stream", false,
                      Retry::kYes, grant.headers));
  if (r.status < 200 || r.status >= 300) return http_error(r.status, r.body, "PUT chunk");
  return {};
}

Result<protocol::ChunkUpload> ApiClient::pack_upload(const protocol::PackUploadRequest& req) {
  return json_call<protocol::ChunkUpload>("POST", "/v1/packs", protocol::encode_json(req),
                                          Retry::kYes);
}

Result<std::optional<protocol::PackStored>> ApiClient::put_pack(const protocol::ChunkUpload& grant,
                                                                const Body& pack) {
  CAIRN_ASSIGN_OR_RETURN(auto r, request("PUT", grant.url, pack, "application/octet-stream", false,
                                         Retry::kYes, grant.headers));
  if (r.status < 200 || r.status >= 300) {
    return http_error(r.status, r.body, "PUT pack " + grant.hash.hex().substr(0, 12));
  }
  if (grant.url.rfind("/", 0) != 0) return std::optional<protocol::PackStored>();
  auto stored = protocol::decode_json<protocol::PackStored>(r.body);
  if (!stored) return std::move(stored).error().with_context("PUT pack: bad response");
  return std::optional<protocol::PackStored>(*stored);
}

Result<protocol::PackStored> ApiClient::confirm_pack(const protocol::ConfirmPackRequest& req) {
  return json_call<protocol::PackStored>("POST", "/v1/packs/confirm", protocol::encode_json(req),
                                         Retry::kYes);
}

Result<protocol::LocateResponse> ApiClient::locate(const protocol::CheckChunksRequest& req) {
  return json_call<protocol::LocateResponse>("POST", "/v1/chunks/locate",
                                             protocol::encode_json(req), Retry::kYes);
}

Result<void> ApiClient::read_into(const protocol::ChunkRead& read, Bytes& out) {
  // The daemon's own URLs (relative) go with the bearer token; the blob store's pre-signed ones
  // go without it, with the headers that were signed into them.
  const bool ours = read.url.rfind("/", 0) == 0;
  const std::string what =
      "GET " + (ours ? read.url.substr(0, read.url.find('?')) : "from blob store");
  constexpr size_t kErrorRoom = 64 * 1024;
  std::vector<std::string> lines;
  if (ours) lines.push_back("Authorization: Bearer " + endpoint_.token);
  for (const auto& [name, value] : read.headers) lines.push_back(name + ": " + value);
  out.reserve(read.length);
  for (int attempt = 1;; ++attempt) {
    CAIRN_ASSIGN_OR_RETURN(
        const Fetched got,
        get_into(ours ? endpoint_.base_url + read.url : read.url, lines, read.length + kErrorRoom,
                 /*follow_redirect=*/false, what, out));
    if (got.status == 404) {
      // The server located these chunks a moment ago: a read of them that finds nothing is data
      // lost from the blob store (exit 7), not a file that does not exist.
      return make_error(ErrorCode::kCorrupt, "stored data is missing from the server's blob store");
    }
    if (got.status != 200 && got.status != 206) {
      return http_error(got.status, std::string(as_string_view(out)), what);
    }
    if (out.size() == read.length) return {};
    // A body that ended early without the transfer failing: a connection cut between the
    // headers and the body reads that way (found by tests/e2e/test_network.py through a proxy
    // that cuts connections). Asked again; short every time, it is the store's data.
    if (attempt >= 3) {
      return make_error(ErrorCode::kCorrupt, what + " returned " + std::to_string(out.size()) +
                                                 " bytes, not " + std::to_string(read.length));
    }
    pause_before_retry(attempt);
  }
}

Result<protocol::CheckChunksResponse> ApiClient::confirm_chunks(
    const protocol::CheckChunksRequest& req) {
  return json_call<protocol::CheckChunksResponse>("POST", "/v1/chunks/confirm",
                                                  protocol::encode_json(req), Retry::kYes);
}

}  // namespace cairn::client
