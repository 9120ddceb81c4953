#pragma once

// The client side of the /v1 API over libcurl. One ApiClient owns one curl handle and so one
// keep-alive connection: it belongs to one thread at a time. Parallel transfers use one client
// per worker (see clone()).

#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/bytes.h"
#include "common/error.h"
#include "common/hash.h"
#include "common/protocol/protocol.h"

namespace cairn::client {

struct ServerEndpoint {
  std::string base_url;  // "http://host:port", no trailing slash.
  std::string token;     // Bearer token; may be empty for unauthenticated calls.
  std::string device;    // Sent as X-Cairn-Device.
  // A CA certificate (PEM) to trust for this server instead of the system's, for a private
  // CA; empty: CAIRN_CA_CERT, else the system's. Never used for the blob store's URLs.
  std::string ca_cert;
};

// Process-wide libcurl set-up. Call once from main() before any thread starts.
void global_http_init();

// The read side of the server's tree that sync planning needs: the change feed and listings.
// ApiClient is the real one; unit tests give their own, so feed handling needs no server.
class RemoteTree {
 public:
  virtual ~RemoteTree() = default;
  virtual Result<protocol::ListResponse> list(const std::string& remote_path) = 0;
  virtual Result<protocol::ChangesResponse> changes(const std::string& cursor, int limit) = 0;
};

class ApiClient final : public RemoteTree {
 public:
  explicit ApiClient(ServerEndpoint endpoint);
  ~ApiClient() override;
  ApiClient(const ApiClient&) = delete;
  ApiClient& operator=(const ApiClient&) = delete;

  // A new client for the same server, with its own connection.
  std::unique_ptr<ApiClient> clone() const;
  const ServerEndpoint& endpoint() const { return endpoint_; }

  Result<protocol::ServerConfig> config();
  Result<protocol::WhoAmI> whoami();
  Result<protocol::CheckChunksResponse> check_chunks(const protocol::CheckChunksRequest& req);
  // Stages files (and, in a group, folders) as upload sessions: what `cairn put` publishes.
  Result<protocol::InitUploadsResponse> init_uploads(const protocol::InitUploadsRequest& req);
  Result<protocol::CommitResponse> commit(const protocol::CommitRequest& req);
  Result<protocol::ListResponse> list(const std::string& remote_path) override;
  // Everything below a remote folder in one request and one snapshot, parents first; a folder
  // shared with us inside it comes as its mount entry, to be listed on its own.
  // With `at_ms`: as it was then (milliseconds since the epoch).
  Result<protocol::ListResponse> list_tree(const std::string& remote_path,
                                           std::optional<int64_t> at_ms = std::nullopt);
  // A folder's children (or the one file) as they were at `at_ms`.
  Result<protocol::ListResponse> list_at(const std::string& remote_path, int64_t at_ms);
  // One page of what changed at or under `remote_path`, newest first: older than the entry
  // `before` (0: from the newest), not older than `since_ms`.
  Result<protocol::LogResponse> log(const std::string& remote_path, int64_t before,
                                    int64_t since_ms, int limit);
  Result<protocol::ChangesResponse> changes(const std::string& cursor, int limit) override;
  // The versions of the live file at `remote_path`, or (node_id != 0) of any file, deleted too.
  Result<protocol::HistoryResponse> history(const std::string& remote_path, int64_t node_id = 0);
  Result<protocol::TrashResponse> trash();
  Result<protocol::EmptyTrashResponse> empty_trash();
  Result<protocol::QuotaResponse> quota();
  // GET /v1/repairs: files of ours whose chunks the server lost.
  Result<protocol::RepairsResponse> repairs();
  Result<protocol::ShareInfo> share(const protocol::ShareRequest& req);
  // `user` empty: leave a folder shared with us.
  Result<void> unshare(const std::string& remote_path, const std::string& user);
  Result<protocol::SharesResponse> shares(const std::string& remote_path);
  // A one-time URL (relative) that signs its holder in to the web page as this token's user;
  // with `open_path` (a remote path), the page of that folder or file comes after the sign-in.
  Result<protocol::WebSignInResponse> web_signin(const std::string& open_path = "");
  Result<protocol::LinkInfo> create_link(const protocol::LinkRequest& req);
  Result<protocol::LinksResponse> links();
  // By id, or (id 0) by the token at the end of its URL.
  Result<void> revoke_link(int64_t id, const std::string& token);
  // The encoded manifest, verified against its address.
  Result<Bytes> manifest(const Digest& address);
  // Many encoded manifests at once, each verified against its address; those the server does
  // not give out are absent from the map.
  Result<std::unordered_map<Digest, Bytes>> manifests(const std::vector<Digest>& addresses);
  // A chunk's bytes, verified against its hash (kCorrupt otherwise).
  Result<Bytes> chunk(const Digest& hash, uint32_t expected_length);
  // The same into `out`, reusing its capacity: no allocation per chunk in a long download.
  Result<void> chunk_into(const Digest& hash, uint32_t expected_length, Bytes& out);
  // PUTs chunk bytes as a grant from the server says: to the daemon (relative URL) or straight to
  // its blob store (absolute URL, with the grant's signed headers).
  Result<void> put_chunk(const protocol::ChunkUpload& grant, ByteView bytes);
  // Reports chunks put straight to the blob store; returns those the server could not find.
  Result<protocol::CheckChunksResponse> confirm_chunks(const protocol::CheckChunksRequest& req);

  // A request body: bytes in memory, followed by the first `file_bytes` bytes of an open file
  // (read as they are sent, and again from the start if the request is repeated).
  struct Body {
    std::string_view bytes;
    int fd = -1;
    uint64_t file_bytes = 0;

    Body(std::string_view b) : bytes(b) {}                     // NOLINT: implicit on purpose.
    Body(const std::string& b) : Body(std::string_view(b)) {}  // NOLINT
    Body(const char* b) : Body(std::string_view(b)) {}         // NOLINT
    static Body file(std::string_view first, int fd, uint64_t file_bytes) {
      Body b(first);
      if (fd >= 0 && file_bytes > 0) {
        b.fd = fd;
        b.file_bytes = file_bytes;
      }
      return b;
    }
    uint64_t size() const { return bytes.size() + file_bytes; }
  };

  // Where to PUT a pack (common/pack.h) the client has built.
  Result<protocol::ChunkUpload> pack_upload(const protocol::PackUploadRequest& req);
  // PUTs a pack as the grant says. To the daemon, the answer says how many chunks it recorded
  // (nullopt from a blob store, which then needs confirm_pack).
  Result<std::optional<protocol::PackStored>> put_pack(const protocol::ChunkUpload& grant,
                                                       const Body& pack);
  Result<protocol::PackStored> confirm_pack(const protocol::ConfirmPackRequest& req);
  // How to read these chunks; chunks the server does not give out are left out.
  Result<protocol::LocateResponse> locate(const protocol::CheckChunksRequest& req);
  // Performs one read from locate() into `out`: exactly read.length bytes, unverified (the
  // caller decodes and verifies each part). A blob store answering 404 is kCorrupt: the daemon
  // vouched for those bytes.
  Result<void> read_into(const protocol::ChunkRead& read, Bytes& out);

  // Bytes moved on the wire by this client so far (bodies only).
  uint64_t bytes_sent() const { return bytes_sent_; }
  uint64_t bytes_received() const { return bytes_received_; }

 private:
  struct Response {
    long status = 0;
    std::string body;
    int64_t retry_after = 0;  // Seconds, from a 429 or 503's Retry-After.
  };
  enum class Retry { kNo, kYes };
  using HeaderList = std::vector<std::pair<std::string, std::string>>;
  // The CA file to trust for `url`: ours for the server's URLs, the system's for others.
  const std::string& ca_for(const std::string& url) const;
  Result<Response> request(const char* method, const std::string& path_or_url, const Body& body,
                           const char* content_type, bool auth, Retry retry,
                           const HeaderList& extra = {});
  Result<Response> request_once(const char* method, const std::string& url, const Body& body,
                                const char* content_type, bool auth, const HeaderList& extra);
  struct Fetched {
    long status = 0;
    bool redirected = false;
  };
  // GETs `url` with these header lines into `out` (at most `limit` bytes), retrying transient
  // failures. With `follow_redirect`, one 302/307 is followed without the Authorization line.
  Result<Fetched> get_into(std::string url, std::vector<std::string> lines, size_t limit,
                           bool follow_redirect, const std::string& what, Bytes& out);
  template <typename T>
  Result<T> json_call(const char* method, const std::string& path, const std::string& body,
                      Retry retry);

  ServerEndpoint endpoint_;
  void* curl_;  // CURL*, kept out of this header.
  uint64_t bytes_sent_ = 0;
  uint64_t bytes_received_ = 0;
};

}  // namespace cairn::client
