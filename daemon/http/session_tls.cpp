// The TLS instantiation of detail::Session: the heaviest template instantiation of the daemon
// (Beast's HTTP algorithms over asio::ssl's composed operations), in a file of its own.

#include "daemon/http/session.h"

namespace cairn::http::detail {

void start_tls_session(tcp::socket socket, ssl::context& tls, Shared& shared) {
  std::make_shared<Session<TlsStream>>(std::move(socket), tls, shared)->start();
}

}  // namespace cairn::http::detail
