// Copyright Switchboard authors.
//
// udp_socket.h: `UdpSocket`, a non-blocking datagram socket on one event
// loop (IPv4 or IPv6; "::" is dual-stack). One wake-up drains a burst of
// datagrams with recvmmsg and sends what the handlers queued with sendmmsg
// (a plain loop of recvfrom/sendto where the platform lacks them).
//
// Sending is queued: SendTo copies the datagram into the socket's queue and
// SendToEach stores one copy for many receivers (a broadcast). The queue is
// flushed after each receive batch, by Flush(), and whenever it fills up.
// When the kernel's buffer is full the rest waits for writability, up to a
// bound; past it datagrams are dropped and counted, as the network itself
// would drop them.

#ifndef SWITCHBOARD_REACTOR_UDP_SOCKET_H_
#define SWITCHBOARD_REACTOR_UDP_SOCKET_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "reactor/event_loop.h"
#include "reactor/inet_address.h"
#include "reactor/io_watcher.h"
#include "reactor/socket.h"

namespace switchboard {

struct UdpSocketOptions {
  // Bytes kept of each received datagram; longer ones arrive cut, marked
  // truncated, with their real size.
  size_t receive_slot = 2048;
  // Datagrams per recvmmsg/sendmmsg call.
  int batch = 32;
  // recvmmsg calls per wake-up, so one busy socket cannot hold its loop.
  int batches_per_wakeup = 8;
  // Datagrams waiting; a full queue is flushed, and what the kernel will
  // not take past this bound is dropped.
  size_t max_queued = 16384;
  // SO_REUSEPORT: several processes bind the port; the kernel keeps each
  // peer's datagrams going to one of them.
  bool reuse_port = false;
};

// A datagram as received. `data` is valid during the callback only.
struct ReceivedDatagram {
  InetAddress from;  // as the kernel reported it (IPv4-mapped on "::")
  absl::string_view data;
  size_t size;  // the datagram's real size: data.size() < size when cut
  bool truncated() const { return data.size() < size; }
};

// Loop thread only (the loop given to Bind), every method. A receive
// callback may queue sends but must not destroy the socket.
class UdpSocket {
 public:
  using ReceiveCallback = std::function<void(const ReceivedDatagram&)>;

  static absl::StatusOr<std::unique_ptr<UdpSocket>> Bind(EventLoop* loop,
                                                         const InetAddress& address,
                                                         UdpSocketOptions options = {});
  ~UdpSocket();
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

  // Starts receiving; `callback` gets each datagram.
  void Start(ReceiveCallback callback);

  // Queue one datagram to `to`.
  void SendTo(const InetAddress& to, absl::string_view data);
  // Queue `data` to each of `to`, keeping one copy of the bytes.
  void SendToEach(absl::Span<const InetAddress> to, absl::string_view data);
  // Sends what is queued, as far as the kernel takes it now.
  void Flush();

  const InetAddress& local_address() const { return local_address_; }
  int fd() const { return socket_.fd(); }
  size_t queued() const { return pending_.size() - pending_head_; }
  uint64_t received() const { return received_; }
  uint64_t sent() const { return sent_; }
  // Dropped on our side: the queue was full or the kernel refused one.
  uint64_t dropped() const { return dropped_; }

 private:
  struct Pending {
    InetAddress to;
    size_t offset;  // into arena_
    size_t size;
  };

  UdpSocket(EventLoop* loop, Socket socket, const InetAddress& local, UdpSocketOptions options);
  void HandleReadable();
  void HandleWritable();
  // True when the queue has room, after flushing it if it was full.
  bool MakeRoom();
  void Drop(size_t count);
  // Frees what the sent datagrams used once enough of it piles up.
  void Compact();

  EventLoop* const loop_;
  const UdpSocketOptions options_;
  Socket socket_;
  InetAddress local_address_;
  IoWatcher watcher_;
  ReceiveCallback callback_;
  // Receive slots, one per batch entry, allocated once.
  std::vector<char> slots_;
  // The send queue: pending_[pending_head_..] wait; their bytes live in
  // arena_. Both keep their capacity, so a steady state allocates nothing.
  std::vector<Pending> pending_;
  size_t pending_head_ = 0;
  std::string arena_;
  uint64_t received_ = 0;
  uint64_t sent_ = 0;
  uint64_t dropped_ = 0;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_REACTOR_UDP_SOCKET_H_
