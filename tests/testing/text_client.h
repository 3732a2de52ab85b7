// Copyright Switchboard authors.
//
// text_client.h: `TextClient`, a blocking client for the line- or
// length-framed text services (identity, auth), from a chosen loopback
// source address, with a receive timeout so that a missing reply fails the
// test instead of hanging it. And `InProcessServer`, a Server on a loop
// thread of the test, for tests that need to drive its clock.

#ifndef SWITCHBOARD_TESTS_TESTING_TEXT_CLIENT_H_
#define SWITCHBOARD_TESTS_TESTING_TEXT_CLIENT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "reactor/buffer.h"
#include "reactor/codec.h"
#include "reactor/socket.h"
#include "services/server.h"
#include "tests/testing/loop_thread.h"

namespace switchboard::testing {

class TextClient {
 public:
  // Connects to the loopback `port` from `from`: 127.0.0.1 from any
  // 127.0.0.0/8 address, [::1] from ::1.
  static absl::StatusOr<TextClient> Connect(int port, absl::string_view from = "127.0.0.1",
                                            Framing framing = Framing::kLine,
                                            absl::Duration timeout = absl::Seconds(10));

  void Send(absl::string_view message);
  // Sends bytes as they are, unframed.
  void SendRaw(absl::string_view bytes);
  // The next reply; an error on timeout or when the server closed.
  absl::StatusOr<std::string> Receive();
  // Send, then Receive; "<error: ...>" instead of a reply on failure, so
  // that EXPECT_EQ shows what happened.
  std::string Ask(absl::string_view message);
  std::string Next();
  // True when the server closes the connection (after any replies left).
  bool ClosedByServer();
  Socket& socket() { return socket_; }

 private:
  TextClient(Socket socket, Framing framing);

  Socket socket_;
  std::unique_ptr<Codec> codec_;
  Buffer input_;
};

// A Server built and started on a LoopThread with `clock`; shut down and
// destroyed on that thread.
class InProcessServer {
 public:
  InProcessServer(const ServerConfig& config, Clock* clock = SteadyClock());
  ~InProcessServer();

  bool ok() const { return server_ != nullptr; }
  const absl::Status& status() const { return status_; }
  int port(absl::string_view service) const;

 private:
  LoopThread loop_;
  std::unique_ptr<Server> server_;
  absl::Status status_;
};

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_TESTING_TEXT_CLIENT_H_
