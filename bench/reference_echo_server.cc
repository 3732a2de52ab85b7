// Copyright Switchboard authors.

#include "bench/reference_echo_server.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <string>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace switchboard {
namespace {

constexpr size_t kBuffer = 64 * 1024;
// Reads per connection per readiness event: a connection that always has
// data gets this many, then the others get their turn.
constexpr int kReadsPerTurn = 16;

absl::Status Errno(absl::string_view what) { return absl::ErrnoToStatus(errno, what); }

}  // namespace

ReferenceEchoServer::~ReferenceEchoServer() { Stop(); }

absl::StatusOr<uint16_t> ReferenceEchoServer::Start() {
  listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) return Errno("socket");
  const int on = 1;
  setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    return Errno("bind");
  }
  if (listen(listen_fd_, 4096) != 0) return Errno("listen");
  socklen_t length = sizeof address;
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &length);
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  stop_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || stop_fd_ < 0) return Errno("epoll/eventfd");
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = listen_fd_;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &event);
  event.data.fd = stop_fd_;
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, stop_fd_, &event);
  std::atomic<bool> ready{false};
  thread_ = std::thread([this, &ready] {
    pthread_getcpuclockid(pthread_self(), &thread_clock_);
    ready.store(true, std::memory_order_release);
    Run();
  });
  while (!ready.load(std::memory_order_acquire)) std::this_thread::yield();
  return ntohs(address.sin_port);
}

void ReferenceEchoServer::Stop() {
  if (!thread_.joinable()) return;
  const uint64_t one = 1;
  (void)!write(stop_fd_, &one, sizeof one);
  thread_.join();
  close(stop_fd_);
  close(epoll_fd_);
  close(listen_fd_);
  stop_fd_ = epoll_fd_ = listen_fd_ = -1;
}

double ReferenceEchoServer::CpuSeconds() const {
  timespec ts{};
  if (clock_gettime(thread_clock_, &ts) != 0) return 0;
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

void ReferenceEchoServer::Run() {
  // Bytes read but not yet taken by the kernel, per connection (rare: only
  // when a peer stops reading).
  std::unordered_map<int, std::string> backlog;
  std::string buffer(kBuffer, '\0');
  epoll_event events[256];
  const auto close_connection = [&](int fd) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    backlog.erase(fd);
    close(fd);
  };
  for (;;) {
    const int n = epoll_wait(epoll_fd_, events, 256, -1);
    if (n < 0 && errno == EINTR) continue;
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == stop_fd_) {
        for (auto& [open_fd, unused] : backlog) close(open_fd);
        return;
      }
      if (fd == listen_fd_) {
        for (;;) {
          const int client = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (client < 0) break;
          const int on = 1;
          setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
          epoll_event event{};
          event.events = EPOLLIN;
          event.data.fd = client;
          epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, client, &event);
          backlog[client];
        }
        continue;
      }
      std::string& pending = backlog[fd];
      if (events[i].events & EPOLLOUT) {
        const ssize_t sent = send(fd, pending.data(), pending.size(), MSG_NOSIGNAL);
        if (sent > 0) pending.erase(0, static_cast<size_t>(sent));
        if (pending.empty()) {
          epoll_event event{};
          event.events = EPOLLIN;
          event.data.fd = fd;
          epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &event);
        }
        continue;
      }
      for (int turn = 0; turn < kReadsPerTurn && pending.empty(); ++turn) {
        const ssize_t got = recv(fd, buffer.data(), buffer.size(), 0);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) {
          close_connection(fd);
          break;
        }
        if (got < 0) break;  // drained
        ssize_t sent = send(fd, buffer.data(), static_cast<size_t>(got), MSG_NOSIGNAL);
        if (sent < 0) sent = 0;
        if (sent < got) {
          pending.assign(buffer.data() + sent, static_cast<size_t>(got - sent));
          epoll_event event{};
          event.events = EPOLLOUT;
          event.data.fd = fd;
          epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &event);
        }
        if (static_cast<size_t>(got) < buffer.size()) break;  // drained
      }
    }
  }
}

}  // namespace switchboard
