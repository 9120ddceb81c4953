// WebSocket connections (/v1/notify), over plain TCP or TLS: the only file that instantiates
// Beast's WebSocket stream, so that neither HTTP session file pays for it.
//
// A connection is accepted with the upgrade request the HTTP session read, then attached to its
// route (which subscribes it). From then on it reads only to answer pings and to notice the
// peer leaving; it writes what the route sends, in order, one frame at a time. Pings every 15 s
// keep idle connections (and the NAT entries in front of them) alive; a peer silent for 30 s
// after a ping is dropped.

#include <boost/beast/websocket.hpp>
#include <vector>

#include "daemon/http/session.h"

namespace cairn::http::detail {
namespace {

namespace websocket = beast::websocket;

// Frames queued for a slow peer beyond this are dropped: they are hints, and the peer will pull
// everything from its cursor at the next one anyway.
constexpr size_t kMaxQueued = 8;

template <class Stream>
class SocketSession final : public api::Router::SocketPeer,
                            public std::enable_shared_from_this<SocketSession<Stream>> {
 public:
  SocketSession(Stream stream, bhttp::request<bhttp::empty_body> upgrade,
                api::Router::SocketAttach attach)
      : ws_(std::move(stream)), upgrade_(std::move(upgrade)), attach_(std::move(attach)) {}

  void start() {
    beast::get_lowest_layer(ws_).expires_never();  // The WebSocket's own timeouts take over.
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::seconds(30);
    timeouts.idle_timeout = std::chrono::seconds(30);
    timeouts.keep_alive_pings = true;
    ws_.set_option(timeouts);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(bhttp::field::server, "cairnd"); }));
    ws_.async_accept(
        upgrade_, [self = this->shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
  }

  void send(std::string text) override {
    asio::post(ws_.get_executor(), [self = this->shared_from_this(), text = std::move(text)]() {
      if (self->closing_ || self->queue_.size() >= kMaxQueued) return;
      self->queue_.push_back(std::move(text));
      if (!self->writing_) self->write_next();
    });
  }

  void close(std::string reason) override {
    asio::post(ws_.get_executor(), [self = this->shared_from_this(), reason = std::move(reason)]() {
      if (self->closing_) return;
      self->closing_ = true;
      self->queue_.clear();
      self->close_reason_ = std::move(reason);
      if (!self->writing_) self->write_close();
    });
  }

 private:
  void on_accept(beast::error_code ec) {
    upgrade_ = {};
    if (ec) return;
    // The route's state (a subscription) lives as long as this connection reads.
    handle_ = attach_(this->weak_from_this());
    attach_ = nullptr;
    read();
  }

  void read() {
    ws_.async_read(buffer_, [self = this->shared_from_this()](beast::error_code ec, size_t) {
      if (ec) {
        self->handle_.reset();  // Closed, timed out or broken: unsubscribe.
        return;
      }
      self->buffer_.clear();  // Nothing a client says is needed; pongs are Beast's.
      self->read();
    });
  }

  void write_next() {
    writing_ = true;
    // The frame being written lives outside the queue, which may grow (and move its strings)
    // or be cleared while the write is in flight.
    sending_ = std::move(queue_.front());
    queue_.erase(queue_.begin());
    ws_.text(true);
    ws_.async_write(asio::buffer(sending_),
                    [self = this->shared_from_this()](beast::error_code ec, size_t) {
                      self->writing_ = false;
                      if (ec) return;
                      if (self->closing_) return self->write_close();
                      if (!self->queue_.empty()) self->write_next();
                    });
  }

  void write_close() {
    writing_ = true;
    // Policy violation (1008): the client must not reconnect with the same token.
    ws_.async_close(websocket::close_reason(websocket::close_code::policy_error, close_reason_),
                    [self = this->shared_from_this()](beast::error_code) {
                      self->writing_ = false;
                      self->handle_.reset();
                    });
  }

  websocket::stream<Stream> ws_;
  bhttp::request<bhttp::empty_body> upgrade_;
  api::Router::SocketAttach attach_;
  std::shared_ptr<void> handle_;
  beast::flat_buffer buffer_;
  std::vector<std::string> queue_;  // At most kMaxQueued; a deque would cost 600 B idle.
  std::string sending_;             // The frame async_write is sending.
  std::string close_reason_;
  bool writing_ = false;
  bool closing_ = false;
};

}  // namespace

void start_socket(beast::tcp_stream stream, bhttp::request<bhttp::empty_body> upgrade,
                  api::Router::SocketAttach attach) {
  std::make_shared<SocketSession<beast::tcp_stream>>(std::move(stream), std::move(upgrade),
                                                     std::move(attach))
      ->start();
}

void start_socket(TlsStream stream, bhttp::request<bhttp::empty_body> upgrade,
                  api::Router::SocketAttach attach) {
  std::make_shared<SocketSession<TlsStream>>(std::move(stream), std::move(upgrade),
                                             std::move(attach))
      ->start();
}

}  // namespace cairn::http::detail
