#include "cli/client/net/notify_client.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <random>
#include <thread>

namespace cairn::client {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using PlainWs = websocket::stream<beast::tcp_stream>;
using TlsWs = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

struct Target {
  bool tls = false;
  std::string host;
  std::string port;
  std::string host_header;  // host[:port] as the URL spells it.
};

Result<Target> parse_base_url(const std::string& url) {
  Target t;
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    t.tls = true;
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else {
    return make_error(ErrorCode::kInvalidArgument, "not an http(s) URL: " + url);
  }
  rest = rest.substr(0, rest.find('/'));
  t.host_header = rest;
  if (!rest.empty() && rest[0] == '[') {  // [v6]:port
    const size_t close = rest.find(']');
    if (close == std::string::npos) return make_error(ErrorCode::kInvalidArgument, "bad URL");
    t.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size() && rest[close + 1] == ':') t.port = rest.substr(close + 2);
  } else {
    const size_t colon = rest.rfind(':');
    t.host = rest.substr(0, colon);
    if (colon != std::string::npos) t.port = rest.substr(colon + 1);
  }
  if (t.port.empty()) t.port = t.tls ? "443" : "80";
  if (t.host.empty()) return make_error(ErrorCode::kInvalidArgument, "no host in " + url);
  return t;
}

Error network_error(const std::string& what, const beast::error_code& ec) {
  return Error(ErrorCode::kUnavailable, what + ": " + ec.message());
}

}  // namespace

struct NotifyClient::Impl {
  Impl(ServerEndpoint e, NotifyCallbacks c)
      : endpoint(std::move(e)), callbacks(std::move(c)), retry(ioc), rng(std::random_device{}()) {}

  ServerEndpoint endpoint;
  NotifyCallbacks callbacks;
  asio::io_context ioc;
  asio::steady_timer retry;
  std::mt19937_64 rng;
  std::thread thread;
  std::optional<ssl::context> tls;
  std::unique_ptr<PlainWs> plain;
  std::unique_ptr<TlsWs> secure;
  beast::flat_buffer buffer;
  websocket::response_type response;
  Target target;
  int failures = 0;
  uint64_t generation = 0;  // Bumped per attempt: handlers of an abandoned one do nothing.
  bool stopping = false;

  void connect() {
    if (stopping) return;
    ++generation;
    plain.reset();
    secure.reset();
    buffer.clear();
    response = {};
    auto parsed = parse_base_url(endpoint.base_url);
    if (!parsed) return give_up(parsed.error());
    target = *parsed;
    if (target.tls && !tls) {
      tls.emplace(ssl::context::tls_client);
      tls->set_options(ssl::context::no_sslv2 | ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                       ssl::context::no_tlsv1_1);
      tls->set_verify_mode(ssl::verify_peer);
      std::string ca = endpoint.ca_cert;
      if (ca.empty()) {
        if (const char* env = std::getenv("CAIRN_CA_CERT")) ca = env;
      }
      beast::error_code ec;
      if (ca.empty()) {
        tls->set_default_verify_paths(ec);
      } else {
        tls->load_verify_file(ca, ec);
      }
      if (ec) return give_up(Error(ErrorCode::kInvalidArgument, "CA certificate: " + ec.message()));
    }
    auto resolver = std::make_shared<tcp::resolver>(ioc);
    resolver->async_resolve(target.host, target.port,
                            [this, resolver, gen = generation](beast::error_code ec,
                                                               tcp::resolver::results_type found) {
                              if (gen != generation) return;
                              if (ec) return failed(network_error("resolving " + target.host, ec));
                              if (target.tls) {
                                secure = std::make_unique<TlsWs>(ioc, *tls);
                                open(*secure, found);
                              } else {
                                plain = std::make_unique<PlainWs>(ioc);
                                open(*plain, found);
                              }
                            });
  }

  template <class Ws>
  void open(Ws& ws, const tcp::resolver::results_type& found) {
    auto& tcp_layer = beast::get_lowest_layer(ws);
    tcp_layer.expires_after(std::chrono::seconds(10));
    tcp_layer.async_connect(found, [this, &ws, gen = generation](beast::error_code ec,
                                                                 const tcp::endpoint&) {
      if (gen != generation) return;
      if (ec) return failed(network_error("connecting to " + target.host_header, ec));
      if constexpr (std::is_same_v<Ws, TlsWs>) {
        auto& stream = ws.next_layer();
        if (!SSL_set_tlsext_host_name(stream.native_handle(), target.host.c_str())) {
          return failed(Error(ErrorCode::kUnavailable, "TLS: cannot set the server name"));
        }
        stream.set_verify_callback(ssl::host_name_verification(target.host));
        stream.async_handshake(ssl::stream_base::client, [this, &ws, gen](beast::error_code hec) {
          if (gen != generation) return;
          if (hec) {
            return failed(Error(ErrorCode::kUnavailable,
                                "TLS with " + target.host_header + ": " + hec.message()));
          }
          upgrade(ws);
        });
      } else {
        upgrade(ws);
      }
    });
  }

  template <class Ws>
  void upgrade(Ws& ws) {
    beast::get_lowest_layer(ws).expires_never();  // The WebSocket's own timeouts take over.
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = std::chrono::seconds(10);
    timeouts.idle_timeout = std::chrono::seconds(40);
    timeouts.keep_alive_pings = true;
    ws.set_option(timeouts);
    ws.set_option(websocket::stream_base::decorator([this](websocket::request_type& req) {
      req.set(beast::http::field::authorization, "Bearer " + endpoint.token);
      req.set(beast::http::field::user_agent, "cairn");
      if (!endpoint.device.empty()) req.set("X-Cairn-Device", endpoint.device);
    }));
    ws.async_handshake(response, target.host_header, "/v1/notify",
                       [this, &ws, gen = generation](beast::error_code ec) {
                         if (gen != generation) return;
                         if (ec) {
                           const int status = response.result_int();
                           if (status == 401 || status == 403) {
                             return give_up(Error(ErrorCode::kUnauthenticated,
                                                  "the server refused the token (HTTP " +
                                                      std::to_string(status) + ")"));
                           }
                           return failed(network_error("opening /v1/notify", ec));
                         }
                         read(ws);
                       });
  }

  template <class Ws>
  void read(Ws& ws) {
    ws.async_read(buffer, [this, &ws, gen = generation](beast::error_code ec, size_t) {
      if (gen != generation) return;
      if (ec) {
        if (ec == websocket::error::closed &&
            ws.reason().code == websocket::close_code::policy_error) {
          return give_up(Error(
              ErrorCode::kUnauthenticated,
              "the server closed the connection: " + std::string(ws.reason().reason.c_str())));
        }
        return failed(network_error("connection to " + target.host_header + " lost", ec));
      }
      const std::string text = beast::buffers_to_string(buffer.data());
      buffer.clear();
      if (text.find("\"ready\"") != std::string::npos) {
        failures = 0;
        if (callbacks.connected) callbacks.connected();
      } else if (callbacks.changed) {
        callbacks.changed();
      }
      read(ws);
    });
  }

  // Ends the current attempt: its handlers (aborted by the close) see a newer generation and do
  // nothing. The stream objects stay until the next attempt replaces them, since an aborted
  // handler may still be queued for them.
  void drop() {
    ++generation;
    beast::error_code ignored;
    if (plain) beast::get_lowest_layer(*plain).socket().close(ignored);
    if (secure) beast::get_lowest_layer(*secure).socket().close(ignored);
  }

  // Tries again later: 0.5 s doubling up to 30 s, each wait drawn from [half, all] of that.
  void failed(const Error& e) {
    drop();
    if (stopping) return;
    const int64_t cap = std::min<int64_t>(30'000, int64_t{500} << std::min(failures++, 6));
    std::uniform_int_distribution<int64_t> jitter(cap / 2, cap);
    const int64_t wait = jitter(rng);
    if (callbacks.down) callbacks.down(e, wait);
    retry.expires_after(std::chrono::milliseconds(wait));
    retry.async_wait([this](beast::error_code ec) {
      if (!ec) connect();
    });
  }

  void give_up(const Error& e) {
    drop();
    if (!stopping && callbacks.refused) callbacks.refused(e);
  }
};

NotifyClient::NotifyClient(ServerEndpoint endpoint, NotifyCallbacks callbacks)
    : impl_(std::make_unique<Impl>(std::move(endpoint), std::move(callbacks))) {}

NotifyClient::~NotifyClient() { stop(); }

void NotifyClient::start() {
  if (impl_->thread.joinable()) return;
  asio::post(impl_->ioc, [impl = impl_.get()] { impl->connect(); });
  impl_->thread = std::thread([impl = impl_.get()] {
    // The work guard keeps run() going between a failure and its retry timer... and after a
    // refusal, until stop().
    auto guard = asio::make_work_guard(impl->ioc);
    impl->ioc.run();
  });
}

void NotifyClient::stop() {
  if (!impl_->thread.joinable()) return;
  asio::post(impl_->ioc, [impl = impl_.get()] {
    impl->stopping = true;
    impl->retry.cancel();
    impl->drop();
    impl->ioc.stop();
  });
  impl_->thread.join();
}

void NotifyClient::reconnect() {
  asio::post(impl_->ioc, [impl = impl_.get()] {
    if (impl->stopping || (!impl->plain && !impl->secure)) return;
    impl->failed(Error(ErrorCode::kUnavailable, "reconnecting"));
  });
}

}  // namespace cairn::client
