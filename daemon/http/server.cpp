#include "daemon/http/server.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
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
        shared{router, options, pool, {}},
        acceptor(ioc),
        signals(ioc, SIGINT, SIGTERM),
        drain_timer(ioc) {}

  void accept() {
    acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket s) {
      if (!acceptor.is_open()) return;
      if (!ec) {
        beast::error_code ignored;
        s.set_option(tcp::no_delay(true), ignored);
        if (tls) {
          start_tls_session(std::move(s), *tls, shared);
        } else {
          start_plain_session(std::move(s), shared);
        }
      }
      accept();
    });
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
  std::atomic<bool> stopping{false};
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
