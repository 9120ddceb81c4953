#include "daemon/store/s3/s3_client.h"

#include <curl/curl.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

namespace cairn::store::s3 {
namespace {

constexpr std::string_view kScheme = "s3://";

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? std::string(v) : std::string();
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      auto hex = from_hex(s.substr(i + 1, 2));
      if (hex && hex->size() == 1) {
        out += static_cast<char>((*hex)[0]);
        i += 2;
        continue;
      }
    }
    out += s[i] == '+' ? ' ' : s[i];
  }
  return out;
}

std::string trim(std::string s) {
  const auto not_space = [](char c) { return c != ' ' && c != '\t' && c != '\r' && c != '\n'; };
  while (!s.empty() && !not_space(s.back())) s.pop_back();
  size_t i = 0;
  while (i < s.size() && !not_space(s[i])) ++i;
  return s.substr(i);
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_ip_or_localhost(std::string_view host) {
  if (host.rfind("localhost", 0) == 0 || host.front() == '[') return true;
  for (char c : host.substr(0, host.find(':'))) {
    if ((c < '0' || c > '9') && c != '.') return false;
  }
  return true;
}

// The credentials file's [profile] section.
Result<Credentials> from_credentials_file(const std::string& path, const std::string& profile) {
  std::ifstream in(path);
  if (!in) return make_error(ErrorCode::kNotFound, path + " not found");
  Credentials c;
  std::string line;
  bool in_profile = false;
  while (std::getline(in, line)) {
    line = trim(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[') {
      in_profile = trim(line.substr(1, line.find(']') - 1)) == profile;
      continue;
    }
    if (!in_profile) continue;
    const size_t eq = line.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = trim(line.substr(0, eq));
    const std::string value = trim(line.substr(eq + 1));
    if (key == "aws_access_key_id") c.access_key_id = value;
    if (key == "aws_secret_access_key") c.secret_access_key = value;
    if (key == "aws_session_token") c.session_token = value;
  }
  if (c.access_key_id.empty() || c.secret_access_key.empty()) {
    return make_error(ErrorCode::kNotFound, "no keys for profile [" + profile + "] in " + path);
  }
  return c;
}

size_t on_body(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// The headers of an answer, and whether they ended: libcurl takes a connection closed inside
// the headers as the end of an answer with whatever status line arrived, and a HEAD cut after
// "200 OK" must not read as an object without a length.
struct HeaderSink {
  Headers* headers;
  bool complete = false;
};

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<HeaderSink*>(user);
  const std::string line(data, size * count);
  if (line.rfind("HTTP/", 0) == 0) sink->complete = false;  // A status line: an answer begins.
  if (line == "\r\n" || line == "\n") sink->complete = true;
  const size_t colon = line.find(':');
  if (colon != std::string::npos) {
    sink->headers->emplace_back(lower(trim(line.substr(0, colon))), trim(line.substr(colon + 1)));
  }
  return size * count;
}

struct Upload {
  ByteView body;
  size_t offset = 0;
};

size_t on_read(char* out, size_t size, size_t count, void* user) {
  auto* u = static_cast<Upload*>(user);
  const size_t n = std::min(size * count, u->body.size() - u->offset);
  std::memcpy(out, u->body.data() + u->offset, n);
  u->offset += n;
  return n;
}

// One handle per thread: curl keeps its connections to the store alive between requests.
CURL* thread_handle() {
  struct Handle {
    Handle() : curl(curl_easy_init()) {}
    ~Handle() { curl_easy_cleanup(curl); }
    CURL* curl;
  };
  thread_local Handle handle;
  return handle.curl;
}

bool transient(const Response& r) {
  if (r.status == 429 || r.status >= 500) return true;
  // S3 answers 400 RequestTimeout when a body arrives too slowly.
  return r.status == 400 && r.body.find("<Code>RequestTimeout</Code>") != std::string::npos;
}

std::string xml_field(const std::string& body, const std::string& tag) {
  const size_t open = body.find("<" + tag + ">");
  if (open == std::string::npos) return {};
  const size_t start = open + tag.size() + 2;
  const size_t close = body.find("</" + tag + ">", start);
  if (close == std::string::npos) return {};
  return body.substr(start, close - start);
}

}  // namespace

std::string Response::header(const std::string& lower_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lower_name) return v;
  }
  return {};
}

Result<Location> parse_location(const std::string& url) {
  if (url.rfind(kScheme, 0) != 0) {
    return make_error(ErrorCode::kInvalidArgument, "not an s3:// URL: " + url);
  }
  Location loc;
  const std::string rest = url.substr(kScheme.size());
  const size_t q = rest.find('?');
  loc.bucket = rest.substr(0, q);
  if (!loc.bucket.empty() && loc.bucket.back() == '/') loc.bucket.pop_back();
  if (loc.bucket.empty() || loc.bucket.find('/') != std::string::npos) {
    return make_error(ErrorCode::kInvalidArgument,
                      "s3:// URL needs a bucket name: s3://BUCKET?endpoint=...&region=...");
  }
  std::string style;
  if (q != std::string::npos) {
    std::string_view query(rest);
    query.remove_prefix(q + 1);
    while (!query.empty()) {
      const size_t amp = query.find('&');
      const std::string_view pair = query.substr(0, amp);
      const size_t eq = pair.find('=');
      const std::string key(pair.substr(0, eq));
      const std::string value =
          eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
      if (key == "endpoint") {
        loc.endpoint = value;
      } else if (key == "region") {
        loc.region = value;
      } else if (key == "style") {
        style = value;
      } else if (key == "prefix") {
        loc.prefix = value;
      } else {
        return make_error(
            ErrorCode::kInvalidArgument,
            "unknown s3:// URL parameter '" + key + "' (known: endpoint, region, style, prefix)");
      }
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  if (!loc.prefix.empty() && loc.prefix.back() != '/') loc.prefix += '/';
  if (loc.endpoint.empty()) {
    loc.endpoint = "https://s3." + loc.region + ".amazonaws.com";
    loc.path_style = false;
  }
  while (!loc.endpoint.empty() && loc.endpoint.back() == '/') loc.endpoint.pop_back();
  if (loc.endpoint.rfind("http://", 0) != 0 && loc.endpoint.rfind("https://", 0) != 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "S3 endpoint must start with http:// or https://: " + loc.endpoint);
  }
  if (style == "path") {
    loc.path_style = true;
  } else if (style == "virtual") {
    loc.path_style = false;
  } else if (!style.empty()) {
    return make_error(ErrorCode::kInvalidArgument, "style must be path or virtual, not " + style);
  }
  const std::string host = loc.endpoint.substr(loc.endpoint.find("://") + 3);
  if (!loc.path_style && is_ip_or_localhost(host)) {
    return make_error(
        ErrorCode::kInvalidArgument,
        "virtual-host addressing needs a DNS name, not " + host + " (use style=path)");
  }
  return loc;
}

Result<Credentials> load_credentials() {
  Credentials c{env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"), env("AWS_SESSION_TOKEN")};
  if (!c.access_key_id.empty() && !c.secret_access_key.empty()) return c;
  std::string file = env("AWS_SHARED_CREDENTIALS_FILE");
  if (file.empty() && !env("HOME").empty()) file = env("HOME") + "/.aws/credentials";
  const std::string profile = env("AWS_PROFILE").empty() ? "default" : env("AWS_PROFILE");
  auto from_file = from_credentials_file(file, profile);
  if (from_file) return from_file;
  return make_error(ErrorCode::kInvalidArgument,
                    "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or put "
                    "them in " +
                        (file.empty() ? std::string("~/.aws/credentials") : file) + " (" +
                        from_file.error().message() + ")");
}

Client::Client(Location location, Credentials credentials, int max_attempts)
    : location_(std::move(location)),
      credentials_(std::move(credentials)),
      max_attempts_(max_attempts) {}

Client::~Client() = default;

Client::Target Client::target(const std::string& key) const {
  const size_t scheme_end = location_.endpoint.find("://") + 3;
  const std::string scheme = location_.endpoint.substr(0, scheme_end);
  const std::string authority = location_.endpoint.substr(scheme_end);
  Target t;
  const std::string object = key.empty() ? std::string() : full_key(key);
  if (location_.path_style) {
    t.host = authority;
    t.path = "/" + location_.bucket + (object.empty() ? "" : "/" + object);
  } else {
    t.host = location_.bucket + "." + authority;
    t.path = "/" + object;
  }
  t.url = scheme + t.host + uri_encode(t.path, true);
  return t;
}

Result<Response> Client::send_once(const std::string& method, const Target& t, const Headers& query,
                                   const Headers& headers, ByteView body) {
  Request req{method, t.host, t.path, query, headers, sha256(body).hex()};
  Headers all = headers;
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  for (auto& h : sign_headers(req, credentials_, Scope{location_.region, "s3"}, now)) {
    all.push_back(std::move(h));
  }
  std::string url = t.url;
  std::string q;
  for (const auto& [k, v] : query) {
    q += q.empty() ? '?' : '&';
    q += uri_encode(k, false) + "=" + uri_encode(v, false);
  }
  url += q;

  CURL* curl = thread_handle();
  curl_easy_reset(curl);
  char error_buffer[CURL_ERROR_SIZE] = {0};
  Response r;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, 30L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  HeaderSink header_sink{&r.headers};
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &header_sink);
  struct curl_slist* list = nullptr;
  std::vector<std::string> lines;
  lines.reserve(all.size() + 2);
  for (const auto& [k, v] : all) lines.push_back(k + ": " + v);
  lines.emplace_back("Expect:");
  Upload upload{body, 0};
  if (method == "PUT") {
    // An explicit type: some servers store a form-encoded body as empty.
    lines.emplace_back("Content-Type: application/octet-stream");
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, &on_read);
    curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body.size()));
  } else if (method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  }
  for (const auto& l : lines) list = curl_slist_append(list, l.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  const CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(list);
  if (rc != CURLE_OK) {
    // The URL carries no secret (headers do), but say only where, not what.
    return make_error(ErrorCode::kUnavailable,
                      "S3 " + method + " " + t.host + t.path + ": " +
                          (error_buffer[0] != 0 ? error_buffer : curl_easy_strerror(rc)));
  }
  if (!header_sink.complete) {
    return make_error(ErrorCode::kUnavailable, "S3 " + method + " " + t.host + t.path +
                                                   ": the answer was cut off in its headers");
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
  return r;
}

Result<Response> Client::send(const std::string& method, const std::string& key,
                              const Headers& query, const Headers& headers, ByteView body) {
  const Target t = target(key);
  thread_local std::mt19937_64 rng(std::random_device{}());
  for (int attempt = 1;; ++attempt) {
    auto r = send_once(method, t, query, headers, body);
    const bool retry = (!r && r.error().retryable()) || (r && transient(*r));
    if (!retry || attempt >= max_attempts_) {
      if (!r) {
        const Error& e = r.error();
        return Error(e.code(),
                     e.message() + " (gave up after " + std::to_string(attempt) + " attempts)");
      }
      return r;
    }
    // Full jitter over an exponential cap: 0-100 ms, 0-200 ms, ... up to 3.2 s.
    const uint64_t cap_ms = uint64_t{100} << std::min(attempt - 1, 5);
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % (cap_ms + 1)));
  }
}

PresignedRequest Client::presign(const std::string& method, const std::string& key,
                                 const Headers& headers, int64_t ttl_seconds) const {
  const Target t = target(key);
  Request req{method, t.host, t.path, {}, headers, std::string(kUnsignedPayload)};
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  PresignedRequest out;
  out.url = t.url + "?" +
            presign_query(req, credentials_, Scope{location_.region, "s3"}, now, ttl_seconds);
  out.headers = headers;
  return out;
}

Error s3_error(const std::string& what, const Response& r) {
  const std::string code = xml_field(r.body, "Code");
  const std::string message = xml_field(r.body, "Message");
  const ErrorCode ec = r.status == 404                      ? ErrorCode::kNotFound
                       : r.status == 403 || r.status == 401 ? ErrorCode::kPermissionDenied
                       : r.status == 429 || r.status >= 500 ? ErrorCode::kUnavailable
                       : code == "BadDigest" || code == "InvalidDigest" ? ErrorCode::kCorrupt
                                                                        : ErrorCode::kInternal;
  std::string text = what + ": HTTP " + std::to_string(r.status);
  if (!code.empty()) text += " " + code;
  if (!message.empty()) text += ": " + message.substr(0, 300);
  return Error(ec, std::move(text));
}

}  // namespace cairn::store::s3
