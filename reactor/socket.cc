// Copyright Switchboard authors.

#include "reactor/socket.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "reactor/errno_status.h"

namespace switchboard {
namespace {

absl::Status SetIntOption(int fd, int level, int name, int value, const char* what) {
  if (setsockopt(fd, level, name, &value, sizeof(value)) < 0) {
    return ErrnoStatus(errno, what);
  }
  return absl::OkStatus();
}

// Where MSG_NOSIGNAL does not exist (BSD, macOS), the socket itself must
// say so, and accepted sockets do not reliably inherit it.
void PreventSigPipe(int fd) {
#if !defined(MSG_NOSIGNAL) && defined(SO_NOSIGPIPE)
  SetIntOption(fd, SOL_SOCKET, SO_NOSIGPIPE, 1, "SO_NOSIGPIPE").IgnoreError();
#else
  (void)fd;
#endif
}

}  // namespace

Socket& Socket::operator=(Socket&& other) noexcept {
  if (this != &other) {
    Close();
    fd_ = other.Release();
  }
  return *this;
}

Socket::~Socket() { Close(); }

int Socket::Release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

void Socket::Close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

absl::StatusOr<Socket> Socket::Create(int family, int type) {
#if defined(SOCK_CLOEXEC)
  const int fd = ::socket(family, type | SOCK_CLOEXEC, 0);
#else
  const int fd = ::socket(family, type, 0);
  if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
  if (fd < 0) return ErrnoStatus(errno, "socket");
  Socket socket(fd);
  PreventSigPipe(fd);
  return socket;
}

absl::StatusOr<Socket> Socket::Listen(const InetAddress& address, const ListenOptions& options) {
  absl::StatusOr<Socket> socket = Create(address.family(), SOCK_STREAM);
  if (!socket.ok()) return socket.status();
  if (absl::Status s = socket->SetReuseAddress(true); !s.ok()) return s;
  if (options.reuse_port) {
    if (absl::Status s = socket->SetReusePort(true); !s.ok()) return s;
  }
  if (address.is_ipv6()) {
    // "::" accepts IPv4 too (as ::ffff:a.b.c.d), whatever the system default.
    if (absl::Status s = SetIntOption(socket->fd(), IPPROTO_IPV6, IPV6_V6ONLY, 0, "IPV6_V6ONLY");
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = socket->Bind(address); !s.ok()) return s;
  if (::listen(socket->fd(), options.backlog) < 0) {
    return ErrnoStatus(errno, absl::StrCat("listen on ", address.ToString()));
  }
  return socket;
}

absl::StatusOr<Socket> Socket::Connect(const InetAddress& peer, const InetAddress* local) {
  absl::StatusOr<Socket> socket = Create(peer.family(), SOCK_STREAM);
  if (!socket.ok()) return socket.status();
  if (local != nullptr) {
    if (absl::Status s = socket->Bind(*local); !s.ok()) return s;
  }
  int error = 0;
  if (::connect(socket->fd(), peer.sockaddr_ptr(), peer.length()) < 0) {
    error = errno;
    if (error == EINTR) {
      // The connection goes on in the background and connect() must not be
      // called again (EALREADY): wait until it is settled, then ask how.
      pollfd watch{socket->fd(), POLLOUT, 0};
      int ready;
      do {
        ready = ::poll(&watch, 1, -1);
      } while (ready < 0 && errno == EINTR);
      error = ready < 0 ? errno : socket->TakeError();
    }
  }
  if (error != 0) {
    return ErrnoStatus(error, absl::StrCat("connect to ", peer.ToString()));
  }
  return socket;
}

absl::Status Socket::Bind(const InetAddress& address) {
  if (::bind(fd_, address.sockaddr_ptr(), address.length()) < 0) {
    return ErrnoStatus(errno, absl::StrCat("bind to ", address.ToString()));
  }
  return absl::OkStatus();
}

absl::StatusOr<Socket> Socket::Accept(InetAddress* peer) {
  sockaddr_storage storage;
  socklen_t length = sizeof(storage);
  int fd;
  do {
#if defined(__linux__)
    fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&storage), &length, SOCK_CLOEXEC);
#else
    fd = ::accept(fd_, reinterpret_cast<sockaddr*>(&storage), &length);
    if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) return ErrnoStatus(errno, "accept");
  PreventSigPipe(fd);
  if (peer != nullptr) {
    *peer = InetAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&storage), length);
  }
  return Socket(fd);
}

absl::Status Socket::SendAll(absl::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd_, data.data(), data.size(), Socket::kSendFlags);
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, "send");
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> Socket::ReceiveSome(char* data, size_t size) {
  for (;;) {
    const ssize_t n = ::recv(fd_, data, size, 0);
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    return ErrnoStatus(errno, "recv");
  }
}

absl::Status Socket::ReceiveExactly(char* data, size_t size, size_t* got) {
  size_t have = 0;
  while (have < size) {
    absl::StatusOr<size_t> n = ReceiveSome(data + have, size - have);
    if (!n.ok()) {
      if (got != nullptr) *got = have;
      return n.status();
    }
    if (*n == 0) {
      if (got != nullptr) *got = have;
      return absl::OutOfRangeError(
          absl::StrCat("end of stream after ", have, " of ", size, " bytes"));
    }
    have += *n;
  }
  if (got != nullptr) *got = have;
  return absl::OkStatus();
}

absl::Status Socket::ShutdownWrite() {
  if (::shutdown(fd_, SHUT_WR) < 0) return ErrnoStatus(errno, "shutdown");
  return absl::OkStatus();
}

absl::Status Socket::SetNonBlocking(bool on) {
  const int flags = fcntl(fd_, F_GETFL, 0);
  if (flags < 0) return ErrnoStatus(errno, "fcntl(F_GETFL)");
  const int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (wanted != flags && fcntl(fd_, F_SETFL, wanted) < 0) {
    return ErrnoStatus(errno, "fcntl(F_SETFL)");
  }
  return absl::OkStatus();
}

absl::Status Socket::SetReuseAddress(bool on) {
  return SetIntOption(fd_, SOL_SOCKET, SO_REUSEADDR, on ? 1 : 0, "SO_REUSEADDR");
}

absl::Status Socket::SetReusePort(bool on) {
#if defined(SO_REUSEPORT)
  return SetIntOption(fd_, SOL_SOCKET, SO_REUSEPORT, on ? 1 : 0, "SO_REUSEPORT");
#else
  (void)on;
  return absl::UnimplementedError("SO_REUSEPORT does not exist on this system");
#endif
}

absl::Status Socket::SetNoDelay(bool on) {
  return SetIntOption(fd_, IPPROTO_TCP, TCP_NODELAY, on ? 1 : 0, "TCP_NODELAY");
}

absl::Status Socket::SetReceiveTimeout(absl::Duration timeout) {
  const timeval tv = absl::ToTimeval(timeout);
  if (setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
    return ErrnoStatus(errno, "SO_RCVTIMEO");
  }
  return absl::OkStatus();
}

absl::Status Socket::SetSendBufferSize(int bytes) {
  return SetIntOption(fd_, SOL_SOCKET, SO_SNDBUF, bytes, "SO_SNDBUF");
}

absl::Status Socket::SetReceiveBufferSize(int bytes) {
  return SetIntOption(fd_, SOL_SOCKET, SO_RCVBUF, bytes, "SO_RCVBUF");
}

absl::StatusOr<InetAddress> Socket::LocalAddress() const {
  sockaddr_storage storage;
  socklen_t length = sizeof(storage);
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&storage), &length) < 0) {
    return ErrnoStatus(errno, "getsockname");
  }
  return InetAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&storage), length);
}

absl::StatusOr<InetAddress> Socket::PeerAddress() const {
  sockaddr_storage storage;
  socklen_t length = sizeof(storage);
  if (getpeername(fd_, reinterpret_cast<sockaddr*>(&storage), &length) < 0) {
    return ErrnoStatus(errno, "getpeername");
  }
  return InetAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&storage), length);
}

int Socket::TakeError() const {
  int error = 0;
  socklen_t length = sizeof(error);
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &error, &length) < 0) return errno;
  return error;
}

}  // namespace switchboard
