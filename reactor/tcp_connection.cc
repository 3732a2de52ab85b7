// Copyright Switchboard authors.

#include "reactor/tcp_connection.h"

#include <errno.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace switchboard {
namespace {

// An output buffer that held a burst gives the memory back once drained.
constexpr size_t kKeepOutputBytes = Buffer::kReadAreaBytes;

// What a loop thread reads into when the connection holds no partial
// message, which in request-reply traffic is nearly always: one buffer per
// thread stays in the cache however many connections take turns, where each
// connection's own buffer would be cold memory the kernel copies into. What
// the handler leaves unconsumed moves to the connection's own buffer before
// the read callback returns, so no bytes outlive it here.
struct SharedInput {
  Buffer buffer{Buffer::kReadAreaBytes};
  bool lent = false;  // to the connection reading now (a handler might
                      // make another connection read from inside OnData)
};

SharedInput& ThreadSharedInput() {
  thread_local SharedInput shared;
  return shared;
}

}  // namespace

TcpConnection::TcpConnection(EventLoop* loop, uint64_t id, Socket socket, const InetAddress& peer,
                             const TcpConnectionOptions& options)
    : watcher_(loop, socket.fd()),
      last_activity_(loop->Now()),
      options_(options),
      socket_(std::move(socket)),
      id_(id),
      peer_(peer),
      started_(last_activity_) {
  if (absl::StatusOr<InetAddress> local = socket_.LocalAddress(); local.ok()) {
    local_ = *local;
  }
  socket_.SetNonBlocking(true).IgnoreError();
  // Replies are small and interactive: do not wait for Nagle's timer.
  socket_.SetNoDelay(true).IgnoreError();
  watcher_.set_read_callback([this] { HandleRead(); });
  watcher_.set_write_callback([this] { HandleWrite(); });
  // The poller refused the socket (a runtime limit such as epoll's
  // max_user_watches): this connection cannot go on, the server can.
  watcher_.set_error_callback([this](const absl::Status& status) {
    Close(absl::StrCat("cannot watch the socket: ", status.message()));
  });
}

TcpConnection::~TcpConnection() {
  loop()->AssertInLoopThread();
  CancelTimers();
  watcher_.DisableAll();
}

void TcpConnection::Start() {
  loop()->AssertInLoopThread();
  if (phase_ == Phase::kNew) phase_ = Phase::kOpen;
  UpdateReading();
  if (closed()) return;
  if (options_.idle_timeout > absl::ZeroDuration() &&
      options_.idle_timeout != absl::InfiniteDuration()) {
    ArmIdleTimer(options_.idle_timeout);
  }
}

void TcpConnection::HandleRead() {
  SharedInput& shared = ThreadSharedInput();
  int error = 0;
  if (!input_.empty() || shared.lent) {
    const ssize_t n = input_.ReadFromFd(watcher_.fd(), &error);
    if (n > 0) {
      TakeInput(n, input_);
      ReserveExpected();
    } else {
      HandleReadEnd(n, error);
    }
    return;
  }
  shared.lent = true;
  const ssize_t n = shared.buffer.ReadFromFd(watcher_.fd(), &error);
  if (n > 0) {
    TakeInput(n, shared.buffer);
    // The start of a message still arriving stays with this connection.
    if (!shared.buffer.empty() && phase_ == Phase::kOpen) {
      ReserveExpected();
      input_.Append(shared.buffer.view());
    }
  }
  shared.buffer.Clear();
  shared.lent = false;
  if (n <= 0) HandleReadEnd(n, error);
}

void TcpConnection::ReserveExpected() {
  if (expected_message_ > 0 && phase_ == Phase::kOpen) input_.ReserveExactly(expected_message_);
  expected_message_ = 0;
}

void TcpConnection::TakeInput(ssize_t n, Buffer& input) {
  bytes_received_ += n;
  last_activity_ = loop()->turn_time();
  VLOG(1) << "connection " << id_ << ": received " << n << " bytes from " << peer_.ToString();
  if (phase_ != Phase::kOpen || handler_ == nullptr) {
    input.Clear();  // the session is over: what comes now is discarded
  } else {
    handler_->OnData(*this, input);
  }
}

void TcpConnection::HandleReadEnd(ssize_t n, int error) {
  if (n == 0) {
    peer_finished_ = true;
    UpdateReading();
    switch (phase_) {
      case Phase::kOpen:
        if (handler_ != nullptr) {
          handler_->OnEndOfInput(*this, input_);
        } else {
          EndSession();
        }
        return;
      case Phase::kEnding:
        AdvanceEnding();
        return;
      case Phase::kLingering:
        Close("the client closed the connection after the server ended the session");
        return;
      case Phase::kNew:
      case Phase::kClosed:
        return;  // not reading
    }
    return;
  }
  if (error == EAGAIN || error == EWOULDBLOCK || error == EINTR) return;
  if (error == ECONNRESET) {
    Close("the client reset the connection");
  } else {
    Close(absl::StrCat("read failed: ", std::strerror(error)));
  }
}

void TcpConnection::HandleWrite() { WriteOutput(); }

void TcpConnection::Send(absl::string_view data) {
  loop()->AssertInLoopThread();
  if (phase_ == Phase::kClosed || phase_ == Phase::kLingering) return;
  if (output_.empty() && !watcher_.writing()) {
    // Nothing is queued before these bytes: write them from where they are
    // and queue only what the socket does not take, saving a copy.
    const ssize_t written = WriteSome(data, options_.max_write_per_event);
    if (written < 0) return;  // closed
    if (static_cast<size_t>(written) == data.size()) {
      if (phase_ == Phase::kEnding) AdvanceEnding();
      return;
    }
    // The socket is full or this event's share is written: the rest waits
    // for writability (a write pass now would only hear EAGAIN, or exceed
    // the share).
    data.remove_prefix(static_cast<size_t>(written));
    output_.Append(data);
    watcher_.EnableWriting();
    UpdateHighWater();
    return;
  }
  output_.Append(data);
  Flush();
}

void TcpConnection::Flush() {
  loop()->AssertInLoopThread();
  if (closed()) return;
  if (output_.empty() && !watcher_.writing()) {
    // Nothing to write (the usual case after Send): only an ending session
    // may have a step to take.
    if (phase_ == Phase::kEnding) AdvanceEnding();
    return;
  }
  if (watcher_.writing()) {
    UpdateHighWater();  // the write callback will do the rest
  } else {
    WriteOutput();
  }
}

ssize_t TcpConnection::WriteSome(absl::string_view data, size_t budget) {
  size_t written = 0;
  // Activity is stamped no later than the write began: the peer may see the
  // bytes (and time may move on) before send() returns to us.
  const absl::Time began = loop()->turn_time();
  while (written < data.size() && budget > 0) {
    const size_t want = std::min(data.size() - written, budget);
    int error = 0;
    const ssize_t n = socket_.SendSome(data.substr(written, want), &error);
    if (n > 0) {
      written += n;
      budget -= n;
      continue;
    }
    if (n == 0 || error == EAGAIN || error == EWOULDBLOCK) break;
    if (error == EPIPE || error == ECONNRESET) {
      Close("the client reset the connection before reading all replies");
    } else {
      Close(absl::StrCat("write failed: ", std::strerror(error)));
    }
    return -1;
  }
  if (written > 0) {
    bytes_sent_ += written;
    last_activity_ = std::max(last_activity_, began);
    VLOG(1) << "connection " << id_ << ": sent " << written << " bytes to " << peer_.ToString();
  }
  return static_cast<ssize_t>(written);
}

bool TcpConnection::WriteOutput() {
  if (closed()) return false;
  const ssize_t written = WriteSome(output_.view(), options_.max_write_per_event);
  if (written < 0) return false;
  output_.Consume(static_cast<size_t>(written));
  if (output_.empty()) {
    watcher_.DisableWriting();
    output_.ShrinkIfEmpty(kKeepOutputBytes);
  } else {
    watcher_.EnableWriting();
  }
  UpdateHighWater();
  if (phase_ == Phase::kEnding) AdvanceEnding();
  return !closed();
}

void TcpConnection::CrossWaterMark() {
  const size_t pending = output_.readable_bytes();
  if (!over_high_water_ && pending > options_.high_water_bytes) {
    over_high_water_ = true;
    VLOG(1) << "connection " << id_ << ": " << pending << " bytes of replies unread by "
            << peer_.ToString() << "; pausing reading until it catches up";
    UpdateReading();
  } else if (over_high_water_ && pending <= options_.low_water_bytes) {
    over_high_water_ = false;
    VLOG(1) << "connection " << id_ << ": client caught up; reading again";
    UpdateReading();
  }
}

void TcpConnection::UpdateReading() {
  if (phase_ == Phase::kClosed || phase_ == Phase::kNew) return;
  // While a session ends, input is read only to be discarded, so neither
  // kind of backpressure applies.
  const bool want = !peer_finished_ && (ending() || (owner_pauses_ == 0 && !over_high_water_));
  if (want) {
    watcher_.EnableReading();
  } else {
    watcher_.DisableReading();
  }
}

void TcpConnection::PauseReading() {
  loop()->AssertInLoopThread();
  ++owner_pauses_;
  UpdateReading();
}

void TcpConnection::ResumeReading() {
  loop()->AssertInLoopThread();
  if (owner_pauses_ > 0) --owner_pauses_;
  UpdateReading();
}

void TcpConnection::EndSession() {
  loop()->AssertInLoopThread();
  if (phase_ != Phase::kNew && phase_ != Phase::kOpen) return;
  phase_ = Phase::kEnding;
  input_.Clear();
  UpdateReading();
  AdvanceEnding();
}

void TcpConnection::EndSessionForShutdown() {
  loop()->AssertInLoopThread();
  skip_linger_ = true;
  EndSession();
}

void TcpConnection::AdvanceEnding() {
  if (phase_ != Phase::kEnding || !output_.empty()) return;
  int unread = 0;
  if (skip_linger_ && ::ioctl(socket_.fd(), FIONREAD, &unread) == 0 && unread == 0) {
    Close("the server is shutting down and the client owed nothing and was owed nothing");
    return;
  }
  if (peer_finished_) {
    // The peer sent everything it will and we owe nothing: a plain close
    // sends FIN, never RST, since no unread input is left behind.
    Close("the client finished sending and has every reply");
    return;
  }
  // Everything owed is in the kernel: send FIN, keep reading (and
  // discarding) until the peer closes too, bounded by the linger time.
  phase_ = Phase::kLingering;
  if (absl::Status s = socket_.ShutdownWrite(); !s.ok()) {
    // ENOTCONN: the peer reset the connection since the last read, which
    // is not a failure of ours.
    Close(ErrnoOf(s) == ENOTCONN ? "the client reset the connection"
                                 : absl::StrCat("shutdown failed: ", s.message()));
    return;
  }
  linger_timer_ = loop()->RunAfter(options_.linger, [this] {
    linger_timer_ = 0;
    Close(absl::StrCat("the server ended the session and the client did not close within ",
                       absl::FormatDuration(options_.linger)));
  });
  UpdateReading();
}

void TcpConnection::ArmIdleTimer(absl::Duration after) {
  idle_timer_ = loop()->RunAfter(after, [this] {
    idle_timer_ = 0;
    CheckIdle();
  });
}

void TcpConnection::CheckIdle() {
  if (closed()) return;
  // Activity refreshes a timestamp, not the timer: no heap work per message.
  const absl::Duration idle = loop()->Now() - last_activity_;
  if (idle >= options_.idle_timeout) {
    Close(absl::StrCat(
        "idle for ", absl::FormatDuration(options_.idle_timeout),
        output_.empty() ? " (nothing received)" : " (replies not read by the client)"));
    return;
  }
  ArmIdleTimer(options_.idle_timeout - idle);
}

void TcpConnection::CancelTimers() {
  if (idle_timer_ != 0) loop()->CancelTimer(idle_timer_);
  if (linger_timer_ != 0) loop()->CancelTimer(linger_timer_);
  idle_timer_ = linger_timer_ = 0;
}

void TcpConnection::Close(absl::string_view why) {
  loop()->AssertInLoopThread();
  if (closed()) return;
  phase_ = Phase::kClosed;
  close_reason_ = std::string(why);
  CancelTimers();
  watcher_.DisableAll();
  socket_.Close();
  // No more calls go to the handler (every call is guarded by the phase),
  // but it lives as long as the connection: it may be in the middle of one
  // of its own calls, a write in OnData that failed, say.
  if (handler_ != nullptr) handler_->OnClose(*this);
  if (close_callback_) close_callback_(*this);
}

}  // namespace switchboard
