// Copyright Switchboard authors.

#include "services/chat/chat_service.h"

#include <algorithm>
#include <utility>

namespace switchboard {

absl::StatusOr<std::unique_ptr<ChatService>> ChatService::Bind(
    EventLoop* loop, const InetAddress& address, const ChatOptions& options,
    const UdpSocketOptions& socket_options, std::unique_ptr<ChatBackplane> backplane) {
  loop->AssertInLoopThread();
  absl::StatusOr<std::unique_ptr<UdpSocket>> socket =
      UdpSocket::Bind(loop, address, socket_options);
  if (!socket.ok()) return socket.status();
  return Create(loop, *std::move(socket), options, std::move(backplane));
}

std::unique_ptr<ChatService> ChatService::Create(EventLoop* loop, std::unique_ptr<UdpSocket> socket,
                                                 const ChatOptions& options,
                                                 std::unique_ptr<ChatBackplane> backplane) {
  loop->AssertInLoopThread();
  return std::unique_ptr<ChatService>(
      new ChatService(loop, std::move(socket), options, std::move(backplane)));
}

ChatService::ChatService(EventLoop* loop, std::unique_ptr<UdpSocket> socket,
                         const ChatOptions& options, std::unique_ptr<ChatBackplane> backplane)
    : loop_(loop),
      options_(options),
      socket_(std::move(socket)),
      room_(options, this, std::move(backplane)) {}

ChatService::~ChatService() {
  loop_->AssertInLoopThread();
  if (sweep_timer_.has_value()) loop_->CancelTimer(*sweep_timer_);
}

void ChatService::Start() {
  loop_->AssertInLoopThread();
  socket_->Start([this](const ReceivedDatagram& datagram) {
    receiving_ = true;
    room_.OnDatagram(datagram.from, datagram.data, datagram.size, loop_->Now());
    receiving_ = false;
  });
  // Often enough that a member goes within a tenth of the timeout (at most
  // a second) of falling silent.
  const absl::Duration every =
      std::clamp(options_.member_timeout / 10, absl::Milliseconds(10), absl::Seconds(1));
  sweep_timer_ = loop_->RunEvery(every, [this] {
    room_.ExpireIdleMembers(loop_->Now());
    socket_->Flush();
  });
}

void ChatService::SendTo(const InetAddress& to, absl::string_view datagram) {
  socket_->SendTo(to, datagram);
  // The socket flushes after each batch it receives; answers that come
  // from the backplane later go at once (one sendmmsg per broadcast).
  if (!receiving_) socket_->Flush();
}

void ChatService::SendToEach(absl::Span<const InetAddress> to, absl::string_view datagram) {
  socket_->SendToEach(to, datagram);
  if (!receiving_) socket_->Flush();
}

}  // namespace switchboard
