// Copyright Switchboard authors.

#include "reactor/udp_socket.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace switchboard {
namespace {

// sendmmsg/recvmmsg take at most this many at once here; the options'
// batch is clamped to it so that the arrays live on the stack.
constexpr int kMaxBatch = 64;

#if defined(__linux__)
constexpr bool kHaveMmsg = true;
#else
constexpr bool kHaveMmsg = false;
#endif

bool WouldBlock(int error) { return error == EAGAIN || error == EWOULDBLOCK; }

}  // namespace

absl::StatusOr<std::unique_ptr<UdpSocket>> UdpSocket::Bind(EventLoop* loop,
                                                           const InetAddress& address,
                                                           UdpSocketOptions options) {
  loop->AssertInLoopThread();
  absl::StatusOr<Socket> socket = Socket::Create(address.family(), SOCK_DGRAM);
  if (!socket.ok()) return socket.status();
  if (address.is_ipv6()) {
    // "::" takes IPv4 too, whatever the system's default.
    const int off = 0;
    setsockopt(socket->fd(), IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  }
  if (options.reuse_port) {
    if (absl::Status s = socket->SetReusePort(true); !s.ok()) return s;
  }
  if (absl::Status s = socket->Bind(address); !s.ok()) return s;
  if (absl::Status s = socket->SetNonBlocking(true); !s.ok()) return s;
  absl::StatusOr<InetAddress> local = socket->LocalAddress();
  if (!local.ok()) return local.status();
  options.batch = std::clamp(options.batch, 1, kMaxBatch);
  options.batches_per_wakeup = std::max(1, options.batches_per_wakeup);
  options.receive_slot = std::max<size_t>(1, options.receive_slot);
  options.max_queued = std::max<size_t>(1, options.max_queued);
  return std::unique_ptr<UdpSocket>(new UdpSocket(loop, *std::move(socket), *local, options));
}

UdpSocket::UdpSocket(EventLoop* loop, Socket socket, const InetAddress& local,
                     UdpSocketOptions options)
    : loop_(loop),
      options_(options),
      socket_(std::move(socket)),
      local_address_(local),
      watcher_(loop, socket_.fd()),
      slots_(options.receive_slot * static_cast<size_t>(options.batch)) {
  watcher_.set_read_callback([this] { HandleReadable(); });
  watcher_.set_write_callback([this] { HandleWritable(); });
}

UdpSocket::~UdpSocket() {
  loop_->AssertInLoopThread();
  watcher_.DisableAll();
}

void UdpSocket::Start(ReceiveCallback callback) {
  loop_->AssertInLoopThread();
  callback_ = std::move(callback);
  watcher_.EnableReading();
}

void UdpSocket::SendTo(const InetAddress& to, absl::string_view data) {
  loop_->AssertInLoopThread();
  if (!MakeRoom()) {
    Drop(1);
    return;
  }
  pending_.push_back(Pending{to, arena_.size(), data.size()});
  arena_.append(data.data(), data.size());
}

void UdpSocket::SendToEach(absl::Span<const InetAddress> to, absl::string_view data) {
  loop_->AssertInLoopThread();
  // In pieces that fit the queue, each with one copy of the bytes: a
  // broadcast to more receivers than the queue holds is sent as it goes.
  size_t next = 0;
  while (next < to.size()) {
    if (!MakeRoom()) {
      Drop(to.size() - next);
      return;
    }
    const size_t count = std::min(options_.max_queued - queued(), to.size() - next);
    const size_t offset = arena_.size();
    arena_.append(data.data(), data.size());
    for (size_t i = 0; i < count; ++i) {
      pending_.push_back(Pending{to[next + i], offset, data.size()});
    }
    next += count;
  }
}

bool UdpSocket::MakeRoom() {
  if (queued() < options_.max_queued) return true;
  // Full: hand the kernel what it takes now, unless it already said no
  // (then writability will).
  if (!watcher_.writing()) Flush();
  return queued() < options_.max_queued;
}

void UdpSocket::Drop(size_t count) {
  dropped_ += count;
  LOG_EVERY_N(WARNING, 1000) << "udp " << local_address_.ToString()
                             << ": send queue full while the kernel's buffer is full; dropped "
                             << dropped_ << " datagram(s) so far";
}

void UdpSocket::Flush() {
  loop_->AssertInLoopThread();
  while (queued() > 0) {
    int n = 0;
    int error = 0;
    if constexpr (kHaveMmsg) {
#if defined(__linux__)
      mmsghdr messages[kMaxBatch];
      iovec vectors[kMaxBatch];
      const int count = static_cast<int>(std::min<size_t>(queued(), options_.batch));
      for (int i = 0; i < count; ++i) {
        Pending& pending = pending_[pending_head_ + i];
        vectors[i].iov_base = arena_.data() + pending.offset;
        vectors[i].iov_len = pending.size;
        std::memset(&messages[i], 0, sizeof messages[i]);
        messages[i].msg_hdr.msg_name = pending.to.mutable_sockaddr();
        messages[i].msg_hdr.msg_namelen = pending.to.length();
        messages[i].msg_hdr.msg_iov = &vectors[i];
        messages[i].msg_hdr.msg_iovlen = 1;
      }
      n = sendmmsg(socket_.fd(), messages, static_cast<unsigned>(count), 0);
      if (n < 0) error = errno;
#endif
    } else {
      Pending& pending = pending_[pending_head_];
      const ssize_t sent = sendto(socket_.fd(), arena_.data() + pending.offset, pending.size, 0,
                                  pending.to.sockaddr_ptr(), pending.to.length());
      n = sent < 0 ? -1 : 1;
      if (sent < 0) error = errno;
    }
    if (n > 0) {
      pending_head_ += static_cast<size_t>(n);
      sent_ += static_cast<uint64_t>(n);
      continue;
    }
    if (error == EINTR) continue;
    if (WouldBlock(error) || error == ENOBUFS) {
      // The kernel's buffer is full: the rest goes when it drains.
      watcher_.EnableWriting();
      Compact();
      return;
    }
    // This datagram alone is refused (no route, too large, a bad address
    // for the family): drop it and go on with the next.
    ++dropped_;
    VLOG(1) << "udp " << local_address_.ToString() << ": sending to "
            << pending_[pending_head_].to.ToString() << " failed: " << strerror(error);
    ++pending_head_;
  }
  // All sent: reuse the storage from the start.
  pending_.clear();
  pending_head_ = 0;
  arena_.clear();
  if (watcher_.writing()) watcher_.DisableWriting();
}

void UdpSocket::Compact() {
  // Only when the sent part dominates, so the copying stays amortised.
  if (pending_head_ < 1024 || pending_head_ * 2 < pending_.size()) return;
  const size_t base = pending_[pending_head_].offset;
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<ptrdiff_t>(pending_head_));
  pending_head_ = 0;
  for (Pending& pending : pending_) pending.offset -= base;
  arena_.erase(0, base);
}

void UdpSocket::HandleWritable() { Flush(); }

void UdpSocket::HandleReadable() {
  const size_t slot = options_.receive_slot;
  for (int round = 0; round < options_.batches_per_wakeup; ++round) {
    int n = 0;
    int error = 0;
#if defined(__linux__)
    mmsghdr messages[kMaxBatch];
    iovec vectors[kMaxBatch];
    sockaddr_storage from[kMaxBatch];
    for (int i = 0; i < options_.batch; ++i) {
      vectors[i].iov_base = slots_.data() + slot * static_cast<size_t>(i);
      vectors[i].iov_len = slot;
      std::memset(&messages[i], 0, sizeof messages[i]);
      messages[i].msg_hdr.msg_name = &from[i];
      messages[i].msg_hdr.msg_namelen = sizeof from[i];
      messages[i].msg_hdr.msg_iov = &vectors[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    // MSG_TRUNC: msg_len is the datagram's real size even when cut.
    n = recvmmsg(socket_.fd(), messages, static_cast<unsigned>(options_.batch),
                 MSG_DONTWAIT | MSG_TRUNC, nullptr);
    if (n < 0) error = errno;
    for (int i = 0; i < n; ++i) {
      const size_t size = messages[i].msg_len;
      ReceivedDatagram datagram{
          InetAddress::FromSockaddr(reinterpret_cast<const sockaddr*>(&from[i]),
                                    messages[i].msg_hdr.msg_namelen),
          absl::string_view(slots_.data() + slot * static_cast<size_t>(i), std::min(size, slot)),
          size};
      ++received_;
      callback_(datagram);
    }
#else
    sockaddr_storage from;
    socklen_t from_length = sizeof from;
    const ssize_t size = recvfrom(socket_.fd(), slots_.data(), slot, MSG_TRUNC,
                                  reinterpret_cast<sockaddr*>(&from), &from_length);
    if (size < 0) {
      n = -1;
      error = errno;
    } else {
      n = 1;
      ReceivedDatagram datagram{
          InetAddress::FromSockaddr(reinterpret_cast<const sockaddr*>(&from), from_length),
          absl::string_view(slots_.data(), std::min(static_cast<size_t>(size), slot)),
          static_cast<size_t>(size)};
      ++received_;
      callback_(datagram);
    }
#endif
    if (n < 0) {
      if (error == EINTR) continue;
      // ECONNREFUSED and the like report an earlier send's ICMP error; they
      // say nothing about what is waiting to be read.
      if (!WouldBlock(error)) {
        VLOG(1) << "udp " << local_address_.ToString() << ": receive: " << strerror(error);
        continue;
      }
      break;
    }
    if (n < options_.batch) break;  // drained
  }
  Flush();
}

}  // namespace switchboard
