// Copyright Switchboard authors.
//
// socket.h: `Socket`, the owner of one socket descriptor, with the blocking
// helpers that clients, tests and the blocking server models use. The
// non-blocking path uses the same class for setup and then hands the fd to
// the reactor.

#ifndef SWITCHBOARD_REACTOR_SOCKET_H_
#define SWITCHBOARD_REACTOR_SOCKET_H_

#include <errno.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "reactor/errno_status.h"  // the errors its calls return
#include "reactor/inet_address.h"

namespace switchboard {

// How Socket::Listen sets up a listener.
struct ListenOptions {
  int backlog = 1024;
  // SO_REUSEPORT: several sockets (several processes) share the port and
  // the kernel spreads the connections. An error where it does not exist.
  bool reuse_port = false;
};

// Owns a socket descriptor and closes it on destruction. Move-only. Failed
// calls return an ErrnoStatus: classify them with ErrnoOf(). Not
// thread-safe, except that one thread may send while another receives.
class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  Socket(Socket&& other) noexcept : fd_(other.Release()) {}
  Socket& operator=(Socket&& other) noexcept;
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
  virtual ~Socket();

  // A new close-on-exec socket: `type` is SOCK_STREAM or SOCK_DGRAM.
  static absl::StatusOr<Socket> Create(int family, int type);
  // A listening TCP socket with SO_REUSEADDR; "::" is dual-stack.
  static absl::StatusOr<Socket> Listen(const InetAddress& address,
                                       const ListenOptions& options = {});
  // A blocking TCP connection, optionally from a chosen local address.
  static absl::StatusOr<Socket> Connect(const InetAddress& peer,
                                        const InetAddress* local = nullptr);

  int fd() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives up ownership and returns the descriptor.
  int Release();
  void Close();

  absl::Status Bind(const InetAddress& address);
  // Blocking accept. With `peer`, fills in who connected.
  absl::StatusOr<Socket> Accept(InetAddress* peer = nullptr);

  // Sends all of `data`, blocking as needed; never raises SIGPIPE.
  absl::Status SendAll(absl::string_view data);
  // Sends what the kernel takes of `data` now, without blocking even on a
  // blocking socket and without raising SIGPIPE (MSG_NOSIGNAL where it
  // exists, SO_NOSIGPIPE set at creation and accept elsewhere). Returns the
  // bytes sent, or -1 with the call's errno in `*saved_errno` (EAGAIN when
  // the send buffer is full); EINTR is retried here.
  // (Inline: every reply goes through it.)
  ssize_t SendSome(absl::string_view data, int* saved_errno) const {
    for (;;) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), kSendFlags | MSG_DONTWAIT);
      if (n >= 0) return n;
      if (errno == EINTR) continue;
      *saved_errno = errno;
      return -1;
    }
  }
  // Receives what is there (at least one byte, blocking); 0 at end of stream.
  absl::StatusOr<size_t> ReceiveSome(char* data, size_t size);
  // Receives exactly `size` bytes. OutOfRange when the stream ends first
  // (with `*got` bytes read, if given).
  absl::Status ReceiveExactly(char* data, size_t size, size_t* got = nullptr);
  // Sends FIN: the peer reads end of stream, this side can still receive.
  absl::Status ShutdownWrite();

  absl::Status SetNonBlocking(bool on);
  absl::Status SetReuseAddress(bool on);
  // SO_REUSEPORT, before Bind; Unimplemented where the system lacks it.
  absl::Status SetReusePort(bool on);
  absl::Status SetNoDelay(bool on);
  absl::Status SetReceiveTimeout(absl::Duration timeout);
  absl::Status SetSendBufferSize(int bytes);
  absl::Status SetReceiveBufferSize(int bytes);

  absl::StatusOr<InetAddress> LocalAddress() const;
  absl::StatusOr<InetAddress> PeerAddress() const;
  // Reads and clears SO_ERROR.
  int TakeError() const;

 private:
  // The one place that keeps a send to a closed peer from raising SIGPIPE.
#if defined(MSG_NOSIGNAL)
  static constexpr int kSendFlags = MSG_NOSIGNAL;
#else
  static constexpr int kSendFlags = 0;  // SO_NOSIGPIPE is set on every socket instead
#endif

  int fd_ = -1;
};

// Binds something (a listener, a UDP socket, a service around one) with
// `bind(address)`; while that fails with EADDRINUSE and `port_search` > 0,
// tries the next ports in turn, up to `port_search` more. The ports found
// busy are appended to `skipped`, if given. Port 0 (any free port) is never
// searched. `bind` returns absl::StatusOr<T> whose errors are ErrnoStatus.
template <typename BindFn>
auto BindWithPortSearch(const InetAddress& address, int port_search, std::vector<uint16_t>* skipped,
                        BindFn bind) -> decltype(bind(address)) {
  InetAddress candidate = address;
  for (int attempt = 0;; ++attempt) {
    auto bound = bind(candidate);
    if (bound.ok() || ErrnoOf(bound.status()) != EADDRINUSE || address.port() == 0 ||
        attempt >= port_search || candidate.port() == 65535) {
      return bound;
    }
    if (skipped != nullptr) skipped->push_back(candidate.port());
    candidate.set_port(candidate.port() + 1);
  }
}

}  // namespace switchboard

#endif  // SWITCHBOARD_REACTOR_SOCKET_H_
