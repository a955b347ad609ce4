// The runner's connection pipelines: lines a script sends one after another leave in one write
// when the client next reads (or flushes), so a server sees them together, as from a real
// pipelining client, and cannot answer the first before the second has arrived.
#include "mailtap/run/client_connection.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

namespace mailtap::run {
namespace {

class LoopbackListener {
 public:
  LoopbackListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(fd_, 1) != 0) return;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~LoopbackListener() {
    if (accepted_ >= 0) ::close(accepted_);
    ::close(fd_);
  }
  uint16_t port() const { return port_; }
  int accept() { return accepted_ = ::accept(fd_, nullptr, nullptr); }

 private:
  int fd_ = -1;
  int accepted_ = -1;
  uint16_t port_ = 0;
};

bool readable_now(int fd) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

// Reads until `want` bytes have arrived (or the peer stops sending for 5 s).
std::string read_bytes(int fd, size_t want) {
  std::string got;
  char buf[256];
  while (got.size() < want) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) != 1) break;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}

// A client connection to a loopback listener, and the listener's end of it.
class RunClientConnection : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(listener.port(), 0);
    ASSERT_TRUE(conn.connect("127.0.0.1", listener.port(), deadline_in(5), error)) << error;
    server = listener.accept();
    ASSERT_GE(server, 0);
  }

  LoopbackListener listener;
  ClientConnection conn;
  std::string error;
  int server = -1;
};

TEST_F(RunClientConnection, ConsecutiveSendsLeaveTogetherAtTheNextRead) {
  ASSERT_TRUE(conn.send("MAIL FROM:<a@example.net>\r\n", deadline_in(5), error)) << error;
  ASSERT_TRUE(conn.send("RCPT TO:<b@example.net>\r\n", deadline_in(5), error)) << error;
  // Nothing is on the wire yet: the server cannot answer MAIL before RCPT is there too.
  EXPECT_FALSE(readable_now(server));

  const std::string both = "MAIL FROM:<a@example.net>\r\nRCPT TO:<b@example.net>\r\n";
  ASSERT_TRUE(conn.flush(deadline_in(5), error)) << error;
  EXPECT_EQ(read_bytes(server, both.size()), both);
  EXPECT_EQ(conn.bytes_out(), both.size());
}

TEST_F(RunClientConnection, ReceiveSendsWhatWasQueuedFirst) {
  ASSERT_TRUE(conn.send("NOOP\r\n", deadline_in(5), error)) << error;
  ASSERT_EQ(::write(server, "250 ok\r\n", 8), 8);
  std::string reply;
  ASSERT_EQ(conn.receive(reply, deadline_in(5), error), IoStatus::ok) << error;
  EXPECT_EQ(reply, "250 ok\r\n");
  EXPECT_EQ(read_bytes(server, 6), "NOOP\r\n");
}

TEST_F(RunClientConnection, CloseSendsTheLastQueuedLines) {
  ASSERT_TRUE(conn.send("QUIT\r\n", deadline_in(5), error)) << error;
  conn.close();
  EXPECT_EQ(read_bytes(server, 6), "QUIT\r\n");
}

}  // namespace
}  // namespace mailtap::run
