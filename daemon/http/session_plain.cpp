// The plain-TCP instantiation of detail::Session.

#include "daemon/http/session.h"

namespace cairn::http::detail {

void start_plain_session(tcp::socket socket, Shared& shared) {
  std::make_shared<Session<beast::tcp_stream>>(std::move(socket), shared)->start();
}

}  // namespace cairn::http::detail
