// Copyright Switchboard authors.

#include "services/models/blocking_server.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstring>
#include <utility>

#include "glog/logging.h"

namespace switchboard {
namespace {

// How long the accept thread rests when accept() fails for want of
// descriptors: the waiting connection keeps the listener readable, so
// retrying at once would spin.
constexpr int kAcceptBackoffMs = 100;

int AcceptCloseOnExec(int listen_fd, sockaddr_storage* storage, socklen_t* length) {
#if defined(__linux__)
  return ::accept4(listen_fd, reinterpret_cast<sockaddr*>(storage), length, SOCK_CLOEXEC);
#else
  const int fd = ::accept(listen_fd, reinterpret_cast<sockaddr*>(storage), length);
  if (fd >= 0) fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
#endif
}

}  // namespace

BlockingServer::BlockingServer(Service* service, Socket listener, ConnectionLimit* limit,
                               BlockingConnectionOptions options, Wakeup stop)
    : service_(service),
      limit_(limit),
      options_(std::move(options)),
      stop_(std::move(stop)),
      listener_(std::move(listener)) {
  // Readiness can be stale by the time accept() runs (the client gave up):
  // a non-blocking listener then says EAGAIN instead of blocking the thread
  // where shutdown cannot reach it.
  listener_.SetNonBlocking(true).IgnoreError();
}

BlockingServer::~BlockingServer() {
  absl::MutexLock lock(&mu_);
  CHECK(open_.empty()) << "a derived BlockingServer must Shutdown() in its destructor";
}

void BlockingServer::Shutdown() {
  BeginShutdown();
  CloseAll();
  Join();
}

void BlockingServer::BeginShutdown() { stop_.Notify(); }

void BlockingServer::CloseAll() {
  absl::MutexLock lock(&mu_);
  closing_all_ = true;
  for (BlockingConnection* connection : open_) connection->ForceClose();
}

int BlockingServer::open_connections() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(open_.size());
}

bool BlockingServer::WaitForConnection() {
  for (;;) {
    pollfd watch[2] = {{listener_.fd(), POLLIN, 0}, {stop_.fd(), POLLIN, 0}};
    const int ready = ::poll(watch, 2, -1);
    if (ready < 0 && errno != EINTR) {
      LOG(ERROR) << options_.name << ": poll on the listener failed: " << std::strerror(errno);
      return false;
    }
    // Shutdown first, however many clients are waiting.
    if (watch[1].revents != 0) return false;
    if (watch[0].revents != 0) return true;
  }
}

std::unique_ptr<BlockingConnection> BlockingServer::Accept() {
  while (WaitForConnection()) {
    sockaddr_storage storage;
    socklen_t length = sizeof(storage);
    const int fd = AcceptCloseOnExec(listener_.fd(), &storage, &length);
    if (fd < 0) {
      const int error = errno;
      if (error == EAGAIN || error == EWOULDBLOCK || error == EINTR || error == ECONNABORTED ||
          error == EPROTO) {
        continue;  // the client gave up while queued, or a signal
      }
      if (error == EMFILE || error == ENFILE) {
        LOG_IF(WARNING, !out_of_descriptors_)
            << "out of file descriptors (" << std::strerror(error) << ") on " << options_.name
            << "'s listener: new clients wait in the backlog until "
            << "a connection closes (raise `ulimit -n` or lower --max_connections)";
        out_of_descriptors_ = true;
      } else {
        LOG(ERROR) << options_.name << ": accept failed: " << std::strerror(error);
      }
      pollfd watch = {stop_.fd(), POLLIN, 0};
      ::poll(&watch, 1, kAcceptBackoffMs);
      continue;
    }
    if (out_of_descriptors_) {
      out_of_descriptors_ = false;
      LOG(INFO) << options_.name << ": descriptors are available again; accepting";
    }
    Socket socket(fd);
    // Sockets accepted on BSD and macOS inherit the listener's O_NONBLOCK.
    socket.SetNonBlocking(false).IgnoreError();
    const InetAddress peer =
        InetAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&storage), length).Unmapped();
    const ConnectionLimit::Verdict verdict = limit_->TryAcquire(peer);
    if (verdict != ConnectionLimit::Verdict::kAdmitted) {
      const bool address = verdict == ConnectionLimit::Verdict::kAddressFull;
      LOG(WARNING) << options_.name << ": refused " << peer.ToString() << ": "
                   << (address ? limit_->max_per_address() : limit_->max())
                   << (address ? " connections from this address are open, the "
                                 "--max_connections_per_address limit"
                               : " connections are open, the --max_connections limit")
                   << "; closing it at once";
      const std::string& refusal = address ? options_.address_refusal : options_.refusal;
      int ignored_errno = 0;
      if (!refusal.empty()) (void)socket.SendSome(refusal, &ignored_errno);
      continue;  // `socket` closes here
    }
    const uint64_t id = next_id_++;
    auto connection = std::make_unique<BlockingConnection>(id, std::move(socket), peer, service_,
                                                           &options_, stop_.fd());
    int open;
    {
      absl::MutexLock lock(&mu_);
      open_.insert(connection.get());
      open = static_cast<int>(open_.size());
      // Accepted while CloseAll ran: it must not be left to linger.
      if (closing_all_) connection->ForceClose();
    }
    LOG(INFO) << options_.name << ": client " << peer.ToString() << " connected as connection "
              << id << " (" << open << " open)";
    return connection;
  }
  // Refuse new connection attempts from now on; those waiting in the
  // backlog are reset.
  listener_.Close();
  return nullptr;
}

void BlockingServer::Finish(std::unique_ptr<BlockingConnection> connection) {
  // Out of the set before its descriptor closes (in the destructor), so
  // that CloseAll never shuts down a descriptor number reused meanwhile.
  {
    absl::MutexLock lock(&mu_);
    open_.erase(connection.get());
  }
  limit_->Release(connection->peer());
  connection.reset();
}

}  // namespace switchboard
