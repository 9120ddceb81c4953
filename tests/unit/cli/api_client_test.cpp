// ApiClient against a real socket on 127.0.0.1 that answers the way a breaking network does.

#include "cli/client/net/api_client.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

namespace cairn::client {
namespace {

// Accepts connections on 127.0.0.1 and answers each request with `answer`, then closes.
class CuttingServer {
 public:
  explicit CuttingServer(std::string answer) : answer_(std::move(answer)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(fd_, 16), 0);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~CuttingServer() {
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }

 private:
  void serve() {
    while (true) {
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      ++connections_;
      char buf[4096];
      (void)recv(c, buf, sizeof(buf), 0);
      (void)send(c, answer_.data(), answer_.size(), MSG_NOSIGNAL);
      close(c);
    }
  }

  std::string answer_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> connections_{0};
  std::thread thread_;
};

TEST(ApiClientTest, AnAnswerCutInItsHeadersIsANetworkFailureNotANonsenseAnswer) {
  // What libcurl reports as a complete "201" with an empty body: the connection closed before
  // the headers ended (and before any Content-Length).
  for (const char* cut :
       {"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n", "HTTP/1.1 200 OK\r\n"}) {
    CuttingServer server(cut);
    ApiClient client(ServerEndpoint{server.url(), "tok", "test", ""});
    auto config = client.config();
    ASSERT_FALSE(config.has_value()) << cut;
    EXPECT_EQ(config.error().code(), ErrorCode::kUnavailable) << config.error().message();
    EXPECT_NE(config.error().message().find("cut off in its headers"), std::string::npos)
        << config.error().message();
    EXPECT_GT(server.connections(), 1) << "retried, as any network failure is";
  }
}

TEST(ApiClientTest, AWholeAnswerStillReads) {
  const std::string body = R"({"error":{"code":"not_found","message":"nothing here"}})";
  CuttingServer server(
      "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body);
  ApiClient client(ServerEndpoint{server.url(), "tok", "test", ""});
  auto config = client.config();
  ASSERT_FALSE(config.has_value());
  EXPECT_EQ(config.error().code(), ErrorCode::kNotFound) << config.error().message();
  EXPECT_EQ(server.connections(), 1);
}

}  // namespace
}  // namespace cairn::client
