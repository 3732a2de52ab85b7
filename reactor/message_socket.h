// Copyright Switchboard authors.
//
// message_socket.h: `MessageSocket`, a blocking `Socket` that sends and
// receives whole messages in length framing (a 4-byte big-endian length,
// then the bytes), for clients and the blocking server models.

#ifndef SWITCHBOARD_REACTOR_MESSAGE_SOCKET_H_
#define SWITCHBOARD_REACTOR_MESSAGE_SOCKET_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "reactor/socket.h"

namespace switchboard {

// Not thread-safe, except that one thread may Send while another Receives.
class MessageSocket : public Socket {
 public:
  static constexpr size_t kDefaultMaxMessage = 1024 * 1024;

  explicit MessageSocket(Socket socket, size_t max_message = kDefaultMaxMessage)
      : Socket(std::move(socket)), max_message_(max_message) {}

  // Sends the header and `message` with one system call where possible.
  absl::Status Send(absl::string_view message);

  // Receives the next message. OutOfRange at a clean end of stream between
  // messages; DataLoss when the stream ends inside one; ResourceExhausted
  // when the header announces more than the limit.
  absl::StatusOr<std::string> Receive();

 private:
  size_t max_message_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_REACTOR_MESSAGE_SOCKET_H_
