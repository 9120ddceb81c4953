#include "daemon/http/server.h"

#include <sys/resource.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <optional>
#include <thread>
#include <vector>

#include "daemon/http/session.h"

namespace cairn::http {

using namespace detail;

struct Server::Impl {
  Impl(const api::Router& router, ServerOptions opts)
      : options(std::move(opts)),
        pool(static_cast<size_t>(std::max(1, options.worker_threads))),
        shared(router, options, pool),
        acceptor(ioc),
        signals(ioc, SIGINT, SIGTERM),
        drain_timer(ioc),
        accept_timer(ioc) {}

  void accept() {
    acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket s) {
      if (!acceptor.is_open()) return;
      if (ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
          ec == asio::error::no_memory || ec.value() == ENFILE) {
        // Out of descriptors: the connection waits in the backlog. Make room by closing idle
        // keep-alive connections, and try again in a moment instead of spinning on the error.
        shared.evict_idle(8);
        accept_timer.expires_after(std::chrono::milliseconds(50));
        accept_timer.async_wait([this](beast::error_code) { accept(); });
        return;
      }
      if (!ec) {
        if (shared.connections.load() >= shared.max_connections && shared.evict_idle(1) == 0) {
          refuse(std::move(s));
        } else {
          beast::error_code ignored;
          s.set_option(tcp::no_delay(true), ignored);
          if (tls) {
            start_tls_session(std::move(s), *tls, shared);
          } else {
            start_plain_session(std::move(s), shared);
          }
        }
      }
      accept();
    });
  }

  // At the connection limit with none idle: a short answer and the door. (Sent as plain text on
  // a fresh socket, where it fits the send buffer at once; a TLS client sees the connection end.)
  void refuse(tcp::socket s) {
    static constexpr std::string_view kBusy =
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
        "Retry-After: 1\r\nConnection: close\r\nContent-Length: 84\r\n\r\n"
        "{\"error\":{\"code\":\"unavailable\",\"message\":\"too many connections; try again "
        "shortly\"}}";
    beast::error_code ignored;
    if (!tls) {
      s.non_blocking(true, ignored);
      asio::write(s, asio::buffer(kBusy.data(), kBusy.size()), ignored);
    }
    s.shutdown(tcp::socket::shutdown_both, ignored);
    s.close(ignored);
    refused.fetch_add(1);
  }

  void begin_shutdown() {
    if (stopping.exchange(true)) return;
    beast::error_code ignored;
    acceptor.close(ignored);
    signals.cancel(ignored);
    drain_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    drain();
  }

  // Waits for requests in flight to be answered, then stops the I/O threads.
  void drain() {
    if (shared.in_flight.load() == 0 || std::chrono::steady_clock::now() > drain_deadline) {
      ioc.stop();
      return;
    }
    drain_timer.expires_after(std::chrono::milliseconds(20));
    drain_timer.async_wait([this](beast::error_code) { drain(); });
  }

  ServerOptions options;
  std::optional<ssl::context> tls;  // Set when serving HTTPS.
  asio::io_context ioc;
  asio::thread_pool pool;
  Shared shared;
  tcp::acceptor acceptor;
  asio::signal_set signals;
  asio::steady_timer drain_timer;
  asio::steady_timer accept_timer;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> refused{0};
  std::chrono::steady_clock::time_point drain_deadline;
};

Server::Server(const api::Router& router, ServerOptions options)
    : impl_(std::make_unique<Impl>(router, std::move(options))) {}

Server::~Server() {
  impl_->ioc.stop();
  impl_->pool.join();
}

Result<void> Server::listen() {
  beast::error_code ec;
  if (!impl_->options.tls_cert_file.empty() || !impl_->options.tls_key_file.empty()) {
    if (impl_->options.tls_cert_file.empty() || impl_->options.tls_key_file.empty()) {
      return make_error(ErrorCode::kInvalidArgument, "TLS needs both a certificate and a key");
    }
    // TLS 1.2 and later only.
    auto& tls = impl_->tls.emplace(ssl::context::tls_server);
    tls.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                    ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                    ssl::context::single_dh_use);
    tls.use_certificate_chain_file(impl_->options.tls_cert_file, ec);
    if (ec) {
      return make_error(
          ErrorCode::kInvalidArgument,
          "cannot use the certificate " + impl_->options.tls_cert_file + ": " + ec.message());
    }
    tls.use_private_key_file(impl_->options.tls_key_file, ssl::context::pem, ec);
    if (ec) {
      return make_error(ErrorCode::kInvalidArgument,
                        "cannot use the key " + impl_->options.tls_key_file + ": " + ec.message());
    }
    if (SSL_CTX_check_private_key(tls.native_handle()) != 1) {
      return make_error(ErrorCode::kInvalidArgument, "the key " + impl_->options.tls_key_file +
                                                         " does not match the certificate");
    }
  }
  // The connection limit: as asked, or what the descriptor limit leaves room for.
  int limit = impl_->options.max_connections;
  struct rlimit files {};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    const int room = std::max(8, static_cast<int>(files.rlim_cur) - 64);
    limit = limit > 0 ? std::min(limit, room) : room;
  }
  impl_->shared.max_connections = limit > 0 ? limit : (1 << 20);
  const auto address = asio::ip::make_address(impl_->options.host, ec);
  if (ec) {
    return make_error(ErrorCode::kInvalidArgument,
                      "not an IP address: " + impl_->options.host + " (" + ec.message() + ")");
  }
  const tcp::endpoint endpoint(address, impl_->options.port);
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error(ErrorCode::kUnavailable, "cannot listen on " + impl_->options.host + ":" +
                                                   std::to_string(impl_->options.port) + ": " +
                                                   ec.message());
  }
  return {};
}

uint16_t Server::port() const { return impl_->acceptor.local_endpoint().port(); }

void Server::run() {
  impl_->signals.async_wait([this](beast::error_code ec, int) {
    if (!ec) impl_->begin_shutdown();
  });
  impl_->accept();
  std::vector<std::thread> threads;
  const int extra = std::max(0, impl_->options.io_threads - 1);
  for (int i = 0; i < extra; ++i) threads.emplace_back([this] { impl_->ioc.run(); });
  impl_->ioc.run();
  for (auto& t : threads) t.join();
  impl_->pool.join();
}

void Server::stop() {
  asio::post(impl_->ioc, [this] { impl_->begin_shutdown(); });
}

}  // namespace cairn::http
