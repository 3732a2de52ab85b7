// Copyright Switchboard authors.

#include "reactor/acceptor.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "glog/logging.h"

namespace switchboard {
namespace {

// Connections taken per readiness event, so one busy listener cannot starve
// the other descriptors of the loop.
constexpr int kAcceptsPerEvent = 64;

int OpenSpare() { return open("/dev/null", O_RDONLY | O_CLOEXEC); }

int AcceptNonBlocking(int listen_fd, sockaddr_storage* storage, socklen_t* length) {
#if defined(__linux__)
  return accept4(listen_fd, reinterpret_cast<sockaddr*>(storage), length,
                 SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
  const int fd = accept(listen_fd, reinterpret_cast<sockaddr*>(storage), length);
  if (fd >= 0) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    fcntl(fd, F_SETFD, FD_CLOEXEC);
  }
  return fd;
#endif
}

}  // namespace

Acceptor::Acceptor(EventLoop* loop, Socket listener, NewConnectionCallback callback)
    : loop_(loop),
      listener_(std::move(listener)),
      watcher_(loop, listener_.fd()),
      callback_(std::move(callback)),
      spare_fd_(OpenSpare()) {
  if (absl::StatusOr<InetAddress> local = listener_.LocalAddress(); local.ok()) {
    local_address_ = *local;
  }
  listener_.SetNonBlocking(true).IgnoreError();
  watcher_.set_read_callback([this] { HandleReadable(); });
}

Acceptor::~Acceptor() {
  Close();
  if (spare_fd_ >= 0) close(spare_fd_);
}

void Acceptor::Listen() {
  loop_->AssertInLoopThread();
  watcher_.EnableReading();
}

void Acceptor::Close() {
  loop_->AssertInLoopThread();
  watcher_.DisableAll();
  if (resume_timer_ != 0) loop_->CancelTimer(resume_timer_);
  resume_timer_ = 0;
  listener_.Close();
}

void Acceptor::HandleReadable() {
  for (int i = 0; i < kAcceptsPerEvent; ++i) {
    sockaddr_storage storage;
    socklen_t length = sizeof(storage);
    const int fd = AcceptNonBlocking(listener_.fd(), &storage, &length);
    if (fd >= 0) {
      callback_(Socket(fd),
                InetAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&storage), length));
      continue;
    }
    switch (errno) {
      case EAGAIN:
#if EWOULDBLOCK != EAGAIN
      case EWOULDBLOCK:
#endif
        return;
      case EINTR:
      case ECONNABORTED:  // the peer gave up while queued
      case EPROTO:
        continue;
      case EMFILE:
      case ENFILE:
        ShedOneConnection(errno);
        return;
      default:
        LOG(ERROR) << "accept on " << local_address_.ToString()
                   << " failed: " << std::strerror(errno);
        return;
    }
  }
}

void Acceptor::ShedOneConnection(int accept_errno) {
  ++dropped_;
  LOG(WARNING) << "out of file descriptors (" << std::strerror(accept_errno) << ") on "
               << local_address_.ToString()
               << ": accepting and closing a connection so it does not wait "
                  "forever (raise `ulimit -n` or lower --max_connections)";
  if (spare_fd_ >= 0) {
    close(spare_fd_);
    spare_fd_ = -1;
    const int fd = accept(listener_.fd(), nullptr, nullptr);
    if (fd >= 0) close(fd);
    ReopenSpare();
  }
  if (spare_fd_ < 0) {
    // No spare to shed with: stop watching for a moment rather than spin on
    // a listener that stays readable.
    watcher_.DisableReading();
    resume_timer_ = loop_->RunAfter(absl::Milliseconds(100), [this] {
      resume_timer_ = 0;
      ReopenSpare();
      if (listener_.valid()) watcher_.EnableReading();
    });
  }
}

void Acceptor::ReopenSpare() {
  if (spare_fd_ < 0) spare_fd_ = OpenSpare();
}

}  // namespace switchboard
