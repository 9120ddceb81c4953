#pragma once

// A connection of cairnd's HTTP server, over plain TCP or TLS: the one template both are made
// from. Internal to daemon/http/. Each stream type is instantiated in its own translation unit
// (session_plain.cpp, session_tls.cpp), so that the two heavy instantiations build in parallel.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "common/protocol/log.h"
#include "common/protocol/protocol.h"
#include "daemon/api/http_types.h"
#include "daemon/api/router.h"
#include "daemon/http/server.h"

namespace cairn::http::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
namespace ssl = asio::ssl;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

constexpr size_t kPieceBytes = 256 * 1024;
constexpr size_t kReadBufferBytes = 64 * 1024;

// What a connection waiting for its next request leaves behind so that the server can close it
// to make room: alive as long as the connection is idle.
struct IdleTicket {
  std::function<void()> close;  // Posts the close to the connection's own executor.
};

struct Shared {
  Shared(const api::Router& r, ServerOptions o, asio::thread_pool& p)
      : router(r), options(std::move(o)), pool(p) {}

  const api::Router& router;
  ServerOptions options;
  asio::thread_pool& pool;
  std::atomic<int> in_flight{0};
  std::atomic<int> connections{0};      // HTTP connections open now.
  int max_connections = 1 << 20;        // Set by Server::listen().
  std::atomic<uint64_t> json_bytes{0};  // Of JSON bodies being read or decoded now.

  // Idle keep-alive connections, the longest idle first.
  std::mutex idle_mu;
  std::list<std::weak_ptr<IdleTicket>> idle;

  void park(const std::shared_ptr<IdleTicket>& ticket) {
    std::lock_guard lock(idle_mu);
    idle.push_back(ticket);
  }
  // Closes up to `n` idle connections, the longest idle first; returns how many.
  int evict_idle(int n) {
    std::vector<std::shared_ptr<IdleTicket>> doomed;
    {
      std::lock_guard lock(idle_mu);
      while (!idle.empty() && static_cast<int>(doomed.size()) < n) {
        auto ticket = idle.front().lock();
        idle.pop_front();
        if (ticket) doomed.push_back(std::move(ticket));
      }
    }
    for (auto& t : doomed) t->close();
    return static_cast<int>(doomed.size());
  }
};

// A response body that streams [offset, offset + size) of an open file in 256 KiB reads. Beast's
// own file_body reads 4 KiB at a time (a fixed buffer in 1.74), which made serving a 1 MiB chunk
// cost hundreds of read/send pairs. The offset serves byte ranges of pack files too.
struct FileSliceBody {
  class value_type {
   public:
    value_type() = default;
    value_type(int fd, uint64_t offset, uint64_t size) : fd_(fd), offset_(offset), size_(size) {}
    value_type(value_type&& other) noexcept
        : fd_(std::exchange(other.fd_, -1)), offset_(other.offset_), size_(other.size_) {}
    value_type& operator=(value_type&& other) noexcept {
      if (this != &other) {
        reset();
        fd_ = std::exchange(other.fd_, -1);
        offset_ = other.offset_;
        size_ = other.size_;
      }
      return *this;
    }
    value_type(const value_type&) = delete;
    value_type& operator=(const value_type&) = delete;
    ~value_type() { reset(); }

    int fd() const { return fd_; }
    uint64_t offset() const { return offset_; }
    uint64_t size() const { return size_; }

   private:
    void reset() {
      if (fd_ >= 0) ::close(fd_);
      fd_ = -1;
    }
    int fd_ = -1;
    uint64_t offset_ = 0;
    uint64_t size_ = 0;
  };

  static std::uint64_t size(const value_type& body) { return body.size(); }

  class writer {
   public:
    using const_buffers_type = asio::const_buffer;

    template <bool isRequest, class Fields>
    writer(bhttp::header<isRequest, Fields>& /*header*/, const value_type& body)
        : body_(body), buffer_(kSliceReadBytes) {}

    void init(beast::error_code& ec) { ec = {}; }

    boost::optional<std::pair<const_buffers_type, bool>> get(beast::error_code& ec) {
      const uint64_t remaining = body_.size() - sent_;
      if (remaining == 0) {
        ec = {};
        return boost::none;
      }
      const size_t want = static_cast<size_t>(std::min<uint64_t>(remaining, buffer_.size()));
      ssize_t n = 0;
      do {
        n = ::pread(body_.fd(), buffer_.data(), want, static_cast<off_t>(body_.offset() + sent_));
      } while (n < 0 && errno == EINTR);
      if (n <= 0) {
        // A file that shrank under us must not be sent short with a success status; ending the
        // connection tells the client the body is incomplete.
        ec = n == 0 ? bhttp::error::partial_message
                    : beast::error_code(errno, boost::system::generic_category());
        return boost::none;
      }
      sent_ += static_cast<uint64_t>(n);
      ec = {};
      return {{const_buffers_type(buffer_.data(), static_cast<size_t>(n)), sent_ < body_.size()}};
    }

   private:
    static constexpr size_t kSliceReadBytes = 256 * 1024;
    const value_type& body_;
    uint64_t sent_ = 0;
    std::vector<char> buffer_;
  };
};

// A response body pulled from an api::BodySource, whose size is announced up front.
struct SourceBody {
  struct value_type {
    std::shared_ptr<api::BodySource> source;
    uint64_t size = 0;
  };

  static std::uint64_t size(const value_type& body) { return body.size; }

  class writer {
   public:
    using const_buffers_type = asio::const_buffer;

    template <bool isRequest, class Fields>
    writer(bhttp::header<isRequest, Fields>& /*header*/, const value_type& body) : body_(body) {}

    void init(beast::error_code& ec) { ec = {}; }

    boost::optional<std::pair<const_buffers_type, bool>> get(beast::error_code& ec) {
      if (sent_ >= body_.size) {
        ec = {};
        return boost::none;
      }
      auto piece = body_.source->next();
      if (!piece || piece->empty() || piece->size() > body_.size - sent_) {
        // Short, long or failed: the client must not take what it got for the whole.
        ec = bhttp::error::partial_message;
        return boost::none;
      }
      sent_ += piece->size();
      ec = {};
      return {{const_buffers_type(piece->data(), piece->size()), sent_ < body_.size}};
    }

   private:
    const value_type& body_;
    uint64_t sent_ = 0;
  };
};

inline api::HttpResponse error_response(int status, const char* code, std::string message) {
  return api::HttpResponse::error(status, code, std::move(message));
}

// Upgrade a connection to a WebSocket (daemon/http/socket.cpp): accept `upgrade`, then attach.
void start_socket(beast::tcp_stream stream, bhttp::request<bhttp::empty_body> upgrade,
                  api::Router::SocketAttach attach);
void start_socket(TlsStream stream, bhttp::request<bhttp::empty_body> upgrade,
                  api::Router::SocketAttach attach);

// One connection: plain TCP (beast::tcp_stream) or TLS over it (TlsStream).
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
 public:
  Session(tcp::socket socket, Shared& shared)
      : peer_(address_of(socket)), stream_(std::move(socket)), shared_(shared) {
    shared_.connections.fetch_add(1);
  }
  Session(tcp::socket socket, ssl::context& tls, Shared& shared)
      : peer_(address_of(socket)), stream_(std::move(socket), tls), shared_(shared) {
    shared_.connections.fetch_add(1);
  }
  ~Session() {
    release_json();
    shared_.connections.fetch_sub(1);
  }

  void start() {
    if constexpr (std::is_same_v<Stream, TlsStream>) {
      asio::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
        self->lowest().expires_after(std::chrono::seconds(30));
        self->stream_.async_handshake(ssl::stream_base::server, [self](beast::error_code ec) {
          if (ec) return self->close();  // Not TLS, or no trust.
          self->read_header();
        });
      });
    } else {
      asio::dispatch(stream_.get_executor(),
                     beast::bind_front_handler(&Session::read_header, this->shared_from_this()));
    }
  }

 private:
  using std::enable_shared_from_this<Session<Stream>>::shared_from_this;

  beast::tcp_stream& lowest() { return beast::get_lowest_layer(stream_); }

  void read_header() {
    // An idle connection holds little: the body buffers go back between requests (a piece of a
    // stream is 256 KiB, the read buffer up to 64 KiB), and a ticket lets the server close it
    // to make room for another.
    piece_ = std::vector<char>();
    if (buffer_.size() == 0) buffer_.shrink_to_fit();
    idle_ = std::make_shared<IdleTicket>();
    idle_->close = [weak = std::weak_ptr<Session>(shared_from_this())] {
      if (auto self = weak.lock()) {
        asio::post(self->stream_.get_executor(), [self] {
          if (self->idle_) self->close();
        });
      }
    };
    shared_.park(idle_);
    header_parser_.emplace();
    header_parser_->header_limit(shared_.options.max_header_bytes);
    // The parser checks Content-Length against its body limit while reading the head; the real
    // limit depends on the route and is set once the route is known.
    header_parser_->body_limit(
        std::max(shared_.options.max_json_body_bytes, shared_.options.max_stream_body_bytes));
    lowest().expires_after(std::chrono::seconds(shared_.options.idle_timeout_seconds));
    bhttp::async_read_header(stream_, buffer_, *header_parser_,
                             beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  // The client's address ("203.0.113.7", "::1"), or "" when the socket has none any more.
  static std::string address_of(const tcp::socket& socket) {
    beast::error_code ec;
    const auto endpoint = socket.remote_endpoint(ec);
    return ec ? std::string() : endpoint.address().to_string();
  }

  void on_header(beast::error_code ec, size_t /*bytes*/) {
    idle_.reset();  // Busy now: not to be closed to make room.
    // A head that fails to parse is logged as what it is, not as the previous request on this
    // connection.
    request_ = api::HttpRequest{};
    route_ = -1;
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
        ec == beast::error::timeout || ec == asio::error::operation_aborted ||
        ec == asio::error::connection_reset) {
      return close();
    }
    if (ec) {
      keep_alive_ = false;
      begin_request();
      if (ec == bhttp::error::header_limit) {
        return send(error_response(431, "too_large", "request header too large"));
      }
      if (ec == bhttp::error::body_limit) {
        return send(error_response(413, "too_large", "request body too large"));
      }
      return send(
          error_response(400, "invalid_argument", "malformed HTTP request: " + ec.message()));
    }
    begin_request();
    const auto& head = header_parser_->get();
    request_.method = std::string(head.method_string());
    request_.set_target(std::string(head.target()));
    request_.authorization = std::string(head[bhttp::field::authorization]);
    request_.device = std::string(head["X-Cairn-Device"]);
    request_.cookie = std::string(head[bhttp::field::cookie]);
    request_.host = std::string(head[bhttp::field::host]);
    request_.origin = std::string(head[bhttp::field::origin]);
    request_.fetch_site = std::string(head["Sec-Fetch-Site"]);
    request_.accept = std::string(head[bhttp::field::accept]);
    request_.range = std::string(head[bhttp::field::range]);
    request_.content_type = std::string(head[bhttp::field::content_type]);
    request_.forwarded_proto = std::string(head["X-Forwarded-Proto"]);
    request_.csrf = std::string(head["X-Cairn-CSRF"]);
    request_.peer = peer_;
    request_.forwarded =
        head.count("X-Forwarded-For") > 0 || head.count(bhttp::field::forwarded) > 0;
    if (auto len = header_parser_->content_length()) request_.content_length = *len;
    keep_alive_ = head.keep_alive();
    const bool has_body =
        header_parser_->chunked() || (request_.content_length && *request_.content_length > 0);

    auto match = shared_.router.match(request_.method, request_.path);
    if (request_.method == "HEAD" && match.handler == nullptr) {
      // HEAD is GET without the body: the same handler answers, and send() leaves the body out.
      auto get = shared_.router.match("GET", request_.path);
      if (get.handler != nullptr) match = std::move(get);
    }
    route_ = match.route;
    if (match.socket != nullptr) return open_socket(*match.socket, has_body);
    if (match.handler == nullptr && match.sink == nullptr) {
      // The body, if any, is left unread: the connection cannot be reused.
      if (has_body) keep_alive_ = false;
      if (match.path_known) {
        return send(error_response(405, "invalid_argument",
                                   request_.method + " is not allowed on " + request_.path));
      }
      return send(error_response(404, "not_found", "no such endpoint: " + request_.path));
    }
    const bool expects_continue =
        beast::iequals(head[bhttp::field::expect], "100-continue") && has_body;
    // A declared length over this route's limit is refused before any of the body is read.
    const uint64_t route_limit = match.sink != nullptr ? shared_.options.max_stream_body_bytes
                                                       : shared_.options.max_json_body_bytes;
    if (request_.content_length && *request_.content_length > route_limit) {
      keep_alive_ = false;
      return send(error_response(413, "too_large", "request body too large"));
    }

    // Beast sizes each socket read from the buffer's spare capacity (at least 512 bytes, at most
    // 64 KiB). Left to grow on demand the buffer stays around 1 KiB after a request head, and a
    // chunk body then arrives in ~1 KiB reads: measured 55 MB/s and 3.5 s of CPU per 256 MiB.
    if (has_body) buffer_.reserve(kReadBufferBytes);

    if (match.sink != nullptr) {
      // On the pool: a sink opens a file, and a route may look its caller up in the database.
      asio::post(shared_.pool, [self = shared_from_this(), factory = match.sink,
                                param = std::move(match.param), has_body, expects_continue]() {
        auto sink = (*factory)(self->request_, param);
        asio::post(self->stream_.get_executor(),
                   [self, sink = std::move(sink), has_body, expects_continue]() mutable {
                     self->start_stream(std::move(sink), has_body, expects_continue);
                   });
      });
      return;
    }

    handler_ = match.handler;
    param_ = match.param;
    if (!has_body) return start_body(false);
    // A body is read only for someone who can authenticate, and only while the daemon has room
    // for it: a parsed JSON body takes several times its text.
    const auto& gate = shared_.router.gate(request_.path);
    if (!gate) return admit_body(expects_continue);
    asio::post(shared_.pool, [self = shared_from_this(), &gate, expects_continue]() {
      auto admitted = gate(self->request_);
      asio::post(self->stream_.get_executor(),
                 [self, admitted = std::move(admitted), expects_continue]() {
                   if (!admitted) {
                     self->keep_alive_ = false;  // The body stays unread.
                     return self->send(api::HttpResponse::error(admitted.error()));
                   }
                   self->admit_body(expects_continue);
                 });
    });
  }

  void start_stream(Result<std::unique_ptr<api::BodySink>> sink, bool has_body,
                    bool expects_continue) {
    if (!sink) {
      if (has_body) keep_alive_ = false;
      return send(api::HttpResponse::error(sink.error()));
    }
    sink_ = std::move(*sink);
    piece_.resize(kPieceBytes);
    body_parser_.emplace(std::move(*header_parser_));
    body_parser_->body_limit(shared_.options.max_stream_body_bytes);
    if (expects_continue) return send_continue(&Session::read_piece);
    read_piece();
  }

  void admit_body(bool expects_continue) {
    const uint64_t want = request_.content_length.value_or(shared_.options.max_json_body_bytes);
    if (!reserve_json(want)) {
      keep_alive_ = false;
      api::HttpResponse busy =
          error_response(503, "unavailable", "the server is busy reading other requests");
      busy.headers.emplace_back("Retry-After", "1");
      return send(std::move(busy));
    }
    start_body(expects_continue);
  }

  void start_body(bool expects_continue) {
    string_parser_.emplace(std::move(*header_parser_));
    string_parser_->body_limit(shared_.options.max_json_body_bytes);
    if (expects_continue) return send_continue(&Session::read_body);
    read_body();
  }

  bool reserve_json(uint64_t bytes) {
    uint64_t now = shared_.json_bytes.load();
    do {
      if (now > 0 && now + bytes > shared_.options.max_json_bytes_in_flight) return false;
    } while (!shared_.json_bytes.compare_exchange_weak(now, now + bytes));
    json_reserved_ = bytes;
    return true;
  }

  void release_json() {
    if (json_reserved_ > 0) shared_.json_bytes.fetch_sub(json_reserved_);
    json_reserved_ = 0;
  }

  // A WebSocket route: the route checks the request on the pool; then the connection is handed,
  // with its upgrade request, to a socket session (daemon/http/socket.cpp) and leaves this one.
  void open_socket(const api::Router::SocketOpen& open, bool has_body) {
    if (has_body || !beast::websocket::is_upgrade(header_parser_->get())) {
      keep_alive_ = !has_body;
      api::HttpResponse refused = error_response(
          426, "invalid_argument", request_.path + " is a WebSocket: connect with an Upgrade");
      refused.headers.emplace_back("Upgrade", "websocket");
      return send(std::move(refused));
    }
    asio::post(shared_.pool, [self = shared_from_this(), &open]() {
      auto attach = open(self->request_);
      asio::post(self->stream_.get_executor(), [self, attach = std::move(attach)]() mutable {
        if (!attach) return self->send(api::HttpResponse::error(attach.error()));
        self->log_request(101, 0);
        self->end_request();
        start_socket(std::move(self->stream_), self->header_parser_->release(), std::move(*attach));
      });
    });
  }

  void send_continue(void (Session::*next)()) {
    auto cont = std::make_shared<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_, 11);
    bhttp::async_write(stream_, *cont,
                       [self = shared_from_this(), cont, next](beast::error_code ec, size_t) {
                         if (ec) return self->close();
                         ((*self).*next)();
                       });
  }

  // Read by pieces, the idle timer set again before each: a body that keeps arriving, however
  // slowly, is never cut off; one that stops is.
  void read_body() {
    // Nothing (more) to read: a request without a body is complete with its head.
    if (string_parser_->is_done()) return on_body({}, 0);
    lowest().expires_after(std::chrono::seconds(shared_.options.idle_timeout_seconds));
    bhttp::async_read_some(stream_, buffer_, *string_parser_,
                           beast::bind_front_handler(&Session::on_body, shared_from_this()));
  }

  void on_body(beast::error_code ec, size_t /*bytes*/) {
    if (ec) return on_body_error(ec);
    if (!string_parser_->is_done()) return read_body();
    request_.body = std::move(string_parser_->get().body());
    string_parser_.reset();
    const api::Router::Handler* handler = handler_;
    run_in_pool([self = shared_from_this(), handler]() {
      return (*handler)(self->request_, self->param_);
    });
  }

  void read_piece() {
    auto& body = body_parser_->get().body();
    body.data = piece_.data();
    body.size = piece_.size();
    if (body_parser_->is_done()) return on_piece({}, 0);  // An empty body: nothing to read.
    lowest().expires_after(std::chrono::seconds(shared_.options.idle_timeout_seconds));
    bhttp::async_read_some(stream_, buffer_, *body_parser_,
                           beast::bind_front_handler(&Session::on_piece, shared_from_this()));
  }

  void on_piece(beast::error_code ec, size_t /*bytes*/) {
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) return on_body_error(ec);
    const size_t got = piece_.size() - body_parser_->get().body().size;
    if (got > 0) {
      // A plain write() into the page cache: microseconds, fine on an I/O thread. The fsync
      // happens in finish(), on the worker pool.
      auto written = sink_->write(ByteView(reinterpret_cast<const std::byte*>(piece_.data()), got));
      if (!written) {
        keep_alive_ = false;
        sink_.reset();
        return send(api::HttpResponse::error(written.error()));
      }
    }
    if (!body_parser_->is_done()) return read_piece();
    body_parser_.reset();
    run_in_pool(
        [sink = std::shared_ptr<api::BodySink>(std::move(sink_))]() { return sink->finish(); });
  }

  void on_body_error(beast::error_code ec) {
    sink_.reset();
    release_json();
    keep_alive_ = false;
    if (ec == bhttp::error::body_limit) {
      return send(error_response(413, "too_large", "request body too large"));
    }
    if (ec == beast::error::timeout || ec == bhttp::error::end_of_stream ||
        ec == bhttp::error::partial_message || ec == asio::error::eof ||
        ec == asio::error::connection_reset) {
      return close();
    }
    send(error_response(400, "invalid_argument", "malformed request body: " + ec.message()));
  }

  template <typename F>
  void run_in_pool(F work) {
    asio::post(shared_.pool, [self = shared_from_this(), work = std::move(work)]() mutable {
      api::HttpResponse response = work();
      asio::post(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
        self->release_json();  // Decoded and answered: the body's memory is gone.
        self->send(std::move(response));
      });
    });
  }

  void send(api::HttpResponse res) {
    if (request_.method == "HEAD") {
      const uint64_t length = res.source               ? res.source_size
                              : !res.file_path.empty() ? res.file_size
                                                       : res.body.size();
      auto msg = std::make_shared<bhttp::response<bhttp::empty_body>>(
          static_cast<bhttp::status>(res.status), 11);
      msg->content_length(length);
      return write(std::move(msg), res, /*prepare=*/false);
    }
    if (res.source) {
      auto msg = std::make_shared<bhttp::response<SourceBody>>(
          std::piecewise_construct,
          std::make_tuple(SourceBody::value_type{res.source, res.source_size}),
          std::make_tuple(static_cast<bhttp::status>(res.status), 11));
      return write(std::move(msg), res);
    }
    if (!res.file_path.empty()) {
      const int fd = ::open(res.file_path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) {
        auto msg = std::make_shared<bhttp::response<FileSliceBody>>(
            std::piecewise_construct,
            std::make_tuple(FileSliceBody::value_type(fd, res.file_offset, res.file_size)),
            std::make_tuple(bhttp::status::ok, 11));
        return write(std::move(msg), res);
      }
      res = error_response(404, "not_found", "chunk vanished while being read");
    }
    auto msg = std::make_shared<bhttp::response<bhttp::string_body>>(
        static_cast<bhttp::status>(res.status), 11);
    msg->body() = std::move(res.body);
    write(std::move(msg), res);
  }

  // `prepare`: set Content-Length from the body (a HEAD answer sets the GET's length itself).
  template <typename Message>
  void write(std::shared_ptr<Message> msg, const api::HttpResponse& res, bool prepare = true) {
    msg->set(bhttp::field::server, "cairnd");
    msg->set(bhttp::field::content_type, res.content_type);
    for (const auto& [name, value] : res.headers) msg->set(name, value);
    msg->keep_alive(keep_alive_);
    if (prepare) msg->prepare_payload();
    log_request(static_cast<int>(msg->result_int()), msg->payload_size().value_or(0));
    lowest().expires_after(std::chrono::seconds(shared_.options.idle_timeout_seconds));
    bhttp::async_write(
        stream_, *msg,
        [self = shared_from_this(), msg](beast::error_code ec, size_t) { self->on_written(ec); });
  }

  void on_written(beast::error_code ec) {
    end_request();
    if (ec) return close();
    if (!keep_alive_) return linger_close();
    read_header();
  }

  // Closes a connection that may still hold unread input (a refused body, bytes after a
  // malformed head): closing at once would answer that input with a reset, and the peer's
  // kernel may then discard the error response before the client reads it. So the write side
  // is shut first and the input drained, until the peer closes or for at most two seconds.
  void linger_close() {
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    lowest().expires_after(std::chrono::seconds(2));
    drain();
  }

  void drain() {
    if (piece_.empty()) piece_.resize(kPieceBytes);
    lowest().async_read_some(asio::buffer(piece_),
                             [self = shared_from_this()](beast::error_code ec, size_t) {
                               if (ec) return self->close();
                               self->drain();
                             });
  }

  void begin_request() {
    if (!counted_) {
      counted_ = true;
      shared_.in_flight.fetch_add(1);
      started_ = std::chrono::steady_clock::now();
    }
  }

  // The access log line (docs/operations.md, "Logs") and the route's latency histogram.
  void log_request(int status, uint64_t bytes_out) {
    const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - started_)
                            .count();
    shared_.router.record_latency(route_, static_cast<uint64_t>(micros));
    if (!shared_.options.access_log || !log::enabled(log::Level::kInfo)) return;
    // A link's path is its secret: it is logged without its token. Never the query string (a
    // signed URL's signature) nor any header's value but the user it authenticated.
    std::string path = request_.path.substr(0, 512);
    if (path.rfind("/l/", 0) == 0) path = "/l/-";
    log::info("request", "",
              {{"method", std::string_view(request_.method).substr(0, 16)},
               {"path", path},
               {"status", status},
               {"in", request_.content_length.value_or(0)},
               {"out", bytes_out},
               {"us", static_cast<int64_t>(micros)},
               {"user", request_.caller},
               {"addr", peer_}});
  }
  void end_request() {
    if (counted_) {
      counted_ = false;
      shared_.in_flight.fetch_sub(1);
    }
  }

  void close() {
    idle_.reset();
    end_request();
    beast::error_code ignored;
    lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    lowest().close();
  }

  const std::string peer_;  // The client's address; read before the socket moves into stream_.
  Stream stream_;
  Shared& shared_;
  beast::flat_buffer buffer_;
  std::vector<char> piece_;
  std::optional<bhttp::request_parser<bhttp::empty_body>> header_parser_;
  std::optional<bhttp::request_parser<bhttp::string_body>> string_parser_;
  std::optional<bhttp::request_parser<bhttp::buffer_body>> body_parser_;
  std::unique_ptr<api::BodySink> sink_;
  const api::Router::Handler* handler_ = nullptr;
  std::string param_;
  api::HttpRequest request_;
  bool keep_alive_ = true;
  bool counted_ = false;
  std::shared_ptr<IdleTicket> idle_;  // Set while waiting for the next request.
  uint64_t json_reserved_ = 0;        // Of Shared::json_bytes, held by this request's body.
  std::chrono::steady_clock::time_point started_;
  int route_ = -1;  // The router's route of the request in progress, for its latency.
};

// Start serving one accepted connection.
void start_plain_session(boost::asio::ip::tcp::socket socket, Shared& shared);
void start_tls_session(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& tls,
                       Shared& shared);

}  // namespace cairn::http::detail
