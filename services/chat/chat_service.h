// Copyright Switchboard authors.
//
// chat_service.h: `ChatService`, the chat room on a UDP socket: datagrams
// from the socket go to the ChatRoom, the room's replies and broadcasts go
// back through the socket's send queue (sendmmsg), and a timer drops idle
// members. The room's shared state lives on its ChatBackplane: in this
// process, or on Redis for a room that several servers serve.
//
// Fan-out runs on the socket's loop thread, where the room lives. Measured
// (bench/chat_fanout_bench, 2 cores, loopback): inline 244 us per broadcast
// to 100 members and 2.7 ms to 1000; handed to one pool worker, 305 us and
// 2.9 ms. Split over two workers it took 1.7 ms at 1000 members, but only
// by taking the second core, which a loaded server is using, and at the
// price of broadcasts reaching a member out of sequence (each would then
// ask for HISTORY) and of a snapshot of the member list per broadcast.

#ifndef SWITCHBOARD_SERVICES_CHAT_CHAT_SERVICE_H_
#define SWITCHBOARD_SERVICES_CHAT_CHAT_SERVICE_H_

#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "reactor/event_loop.h"
#include "reactor/inet_address.h"
#include "reactor/udp_socket.h"
#include "services/chat/chat_backplane.h"
#include "services/chat/chat_room.h"

namespace switchboard {

// Loop thread only (the loop given to Bind), construction and destruction
// included.
class ChatService final : private ChatOutput {
 public:
  // Binds `address`; receives nothing until Start(). The room's shared
  // state lives on `backplane` (null: in this process).
  static absl::StatusOr<std::unique_ptr<ChatService>> Bind(
      EventLoop* loop, const InetAddress& address, const ChatOptions& options,
      const UdpSocketOptions& socket_options = {},
      std::unique_ptr<ChatBackplane> backplane = nullptr);
  // The same on a socket already bound.
  static std::unique_ptr<ChatService> Create(EventLoop* loop, std::unique_ptr<UdpSocket> socket,
                                             const ChatOptions& options,
                                             std::unique_ptr<ChatBackplane> backplane = nullptr);
  ~ChatService() override;

  void Start();

  const InetAddress& local_address() const { return socket_->local_address(); }
  const ChatRoom& room() const { return room_; }
  const UdpSocket& socket() const { return *socket_; }

 private:
  ChatService(EventLoop* loop, std::unique_ptr<UdpSocket> socket, const ChatOptions& options,
              std::unique_ptr<ChatBackplane> backplane);

  // ChatOutput:
  void SendTo(const InetAddress& to, absl::string_view datagram) override;
  void SendToEach(absl::Span<const InetAddress> to, absl::string_view datagram) override;

  EventLoop* const loop_;
  const ChatOptions options_;
  std::unique_ptr<UdpSocket> socket_;
  ChatRoom room_;
  std::optional<TimerId> sweep_timer_;
  bool receiving_ = false;  // inside the socket's receive callback
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_CHAT_CHAT_SERVICE_H_
