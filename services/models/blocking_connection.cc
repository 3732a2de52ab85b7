// Copyright Switchboard authors.

#include "services/models/blocking_connection.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <climits>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "reactor/clock.h"

namespace switchboard {
namespace {

// An output buffer that held a burst gives the memory back once drained.
constexpr size_t kKeepOutputBytes = Buffer::kReadAreaBytes;

constexpr char kShuttingDown[] = "the server is shutting down";

absl::Time Now() { return SteadyClock()->Now(); }

// poll()'s timeout for `deadline`: rounded up, so that a wait never ends
// before the deadline; -1 (forever) for an infinite one.
int PollTimeoutMs(absl::Time deadline) {
  if (deadline == absl::InfiniteFuture()) return -1;
  const absl::Duration left = deadline - Now();
  if (left <= absl::ZeroDuration()) return 0;
  const int64_t ms = absl::ToInt64Milliseconds(absl::Ceil(left, absl::Milliseconds(1)));
  return ms > INT_MAX ? INT_MAX : static_cast<int>(ms);
}

}  // namespace

class BlockingConnection::SessionReplies final : public Replies {
 public:
  explicit SessionReplies(BlockingConnection& connection) : connection_(connection) {}
  void Reply(absl::string_view message) override {
    connection_.driver_->codec().Encode(message, &connection_.output_);
  }
  void EndSession() override { connection_.driver_->MarkEnded(); }

 private:
  BlockingConnection& connection_;
};

BlockingConnection::BlockingConnection(uint64_t id, Socket socket, const InetAddress& peer,
                                       Service* service, const BlockingConnectionOptions* options,
                                       int stop_fd)
    : id_(id),
      peer_(peer),
      service_(service),
      options_(*options),
      stop_fd_(stop_fd),
      socket_(std::move(socket)),
      fd_(socket_.fd()) {
  // Replies are small and interactive: do not wait for Nagle's timer.
  int on = 1;
  setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

BlockingConnection::~BlockingConnection() = default;

void BlockingConnection::Serve() {
  started_ = last_activity_ = Now();
  driver_ = std::make_unique<SessionDriver>(*service_, SessionInfo{id_, peer_, options_.framing},
                                            options_.limits);
  if (Converse()) LingeringClose();
  LogClosed();
}

bool BlockingConnection::Converse() {
  RunCall(SessionCall::kStart, {});
  if (!Flush()) return false;
  while (!driver_->ended()) {
    switch (WaitFor(POLLIN, last_activity_ + options_.idle_timeout, /*watch_stop=*/true)) {
      case Wait::kReady:
        break;
      case Wait::kStopping:
        // No new request is read; what was answered is already sent.
        SetReason(kShuttingDown);
        return true;
      case Wait::kTimedOut:
        SetReason(absl::StrCat("idle for ", absl::FormatDuration(options_.idle_timeout),
                               " (nothing received)"));
        return false;
      case Wait::kError:
        return false;
    }
    int error = 0;
    const ssize_t n = input_.ReadFromFd(fd_, &error);
    if (n > 0) {
      bytes_received_ += n;
      last_activity_ = Now();
      VLOG(1) << "connection " << id_ << ": received " << n << " bytes from " << peer_.ToString();
      HandleInput(/*end_of_stream=*/false);
      if (!Flush()) return false;
      continue;
    }
    if (n == 0) {
      // The client half-closed: answer what it sent, then close. Nothing
      // unread is left behind, so a plain close sends FIN, never RST.
      HandleInput(/*end_of_stream=*/true);
      if (!Flush()) return false;
      SetReason("the client finished sending and has every reply");
      return false;
    }
    if (error == EINTR || error == EAGAIN || error == EWOULDBLOCK) continue;
    SetReason(error == ECONNRESET ? std::string("the client reset the connection")
                                  : absl::StrCat("read failed: ", std::strerror(error)));
    return false;
  }
  return true;
}

void BlockingConnection::RunCall(SessionCall call, absl::string_view message) {
  SessionReplies out(*this);
  driver_->Run(call, message, out);
}

void BlockingConnection::HandleInput(bool end_of_stream) {
  // Every call runs here, on this connection's thread, before the next read.
  driver_->Decode(input_, end_of_stream, [this](SessionCall call, absl::string_view message) {
    RunCall(call, message);
    return true;
  });
}

BlockingConnection::Wait BlockingConnection::WaitFor(short events, absl::Time deadline,
                                                     bool watch_stop) {
  for (;;) {
    pollfd watch[2] = {{fd_, events, 0}, {stop_fd_, POLLIN, 0}};
    const int ready = ::poll(watch, watch_stop ? 2 : 1, PollTimeoutMs(deadline));
    if (ready < 0) {
      if (errno == EINTR) continue;
      SetReason(absl::StrCat("poll failed: ", std::strerror(errno)));
      return Wait::kError;
    }
    // Shutdown first: a client that keeps sending must not keep it waiting.
    if (watch_stop && watch[1].revents != 0) return Wait::kStopping;
    // Data, room, end of stream or an error: the next call tells which.
    if (watch[0].revents != 0) return Wait::kReady;
    if (Now() >= deadline) return Wait::kTimedOut;
  }
}

bool BlockingConnection::Flush() {
  size_t written = 0;
  bool ok = true;
  while (!output_.empty()) {
    // MSG_DONTWAIT, and poll() for room when the kernel takes no more, so
    // that the idle timeout counts from the last byte the client made room
    // for (a blocking send() with SO_SNDTIMEO restarts its clock at every
    // call, and one that returns short says nothing of when it stalled).
    int error = 0;
    const ssize_t n = socket_.SendSome(output_.view(), &error);
    if (n > 0) {
      output_.Consume(n);
      written += n;
      last_activity_ = Now();
      continue;
    }
    if (n < 0 && (error == EAGAIN || error == EWOULDBLOCK)) {
      // In-flight replies get their time even while the server shuts down;
      // ForceClose() ends the wait after the grace period.
      const Wait wait = WaitFor(POLLOUT, last_activity_ + options_.idle_timeout,
                                /*watch_stop=*/false);
      if (wait == Wait::kReady) continue;
      if (wait == Wait::kTimedOut) {
        SetReason(absl::StrCat("idle for ", absl::FormatDuration(options_.idle_timeout),
                               " (replies not read by the client)"));
      }
    } else if (n < 0 && (error == EPIPE || error == ECONNRESET)) {
      SetReason("the client reset the connection before reading all replies");
    } else {
      SetReason(absl::StrCat("write failed: ", std::strerror(error)));
    }
    ok = false;
    break;
  }
  if (written > 0) {
    bytes_sent_ += written;
    VLOG(1) << "connection " << id_ << ": sent " << written << " bytes to " << peer_.ToString();
  }
  if (output_.empty()) output_.ShrinkIfEmpty(kKeepOutputBytes);
  return ok;
}

void BlockingConnection::LingeringClose() {
  // Everything owed is in the kernel: send FIN and keep reading (and
  // discarding) until the client closes too, so that unread input never
  // turns our close into a reset that destroys replies it has not read.
  if (::shutdown(fd_, SHUT_WR) < 0) {
    SetReason(absl::StrCat("shutdown failed: ", std::strerror(errno)));
    return;
  }
  const absl::Time deadline = Now() + options_.linger;
  char sink[16 << 10];
  for (;;) {
    // The server's shutdown does not cut this short: it waits out its grace
    // period, then ForceClose() ends the wait.
    const Wait wait = WaitFor(POLLIN, deadline, /*watch_stop=*/false);
    if (wait == Wait::kError) return;
    if (wait == Wait::kTimedOut) {
      SetReason(absl::StrCat("the server ended the session and the client did not close within ",
                             absl::FormatDuration(options_.linger)));
      return;
    }
    const ssize_t n = ::recv(fd_, sink, sizeof(sink), 0);
    if (n > 0) {
      bytes_received_ += n;
      continue;
    }
    if (n == 0) {
      SetReason("the client closed the connection after the server ended the session");
      return;
    }
    if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) continue;
    SetReason(errno == ECONNRESET ? std::string("the client reset the connection")
                                  : absl::StrCat("read failed: ", std::strerror(errno)));
    return;
  }
}

void BlockingConnection::SetReason(absl::string_view why) {
  if (!close_reason_.empty()) return;
  // After ForceClose() every call fails; the failure is not the reason.
  close_reason_ = forced_.load(std::memory_order_acquire) ? kShuttingDown : std::string(why);
}

void BlockingConnection::LogClosed() {
  const absl::Duration lasted = Now() - started_;
  LOG(INFO) << options_.name << ": connection " << id_ << " with " << peer_.ToString()
            << " closed: " << close_reason_ << "; received " << bytes_received_ << " bytes, sent "
            << bytes_sent_ << " bytes in "
            << absl::FormatDuration(absl::Trunc(lasted, absl::Microseconds(1)));
}

void BlockingConnection::ForceClose() {
  forced_.store(true, std::memory_order_release);
  ::shutdown(fd_, SHUT_RDWR);
}

}  // namespace switchboard
