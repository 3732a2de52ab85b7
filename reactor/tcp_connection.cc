// Copyright Switchboard authors.

#include "reactor/tcp_connection.h"

#include <errno.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "glog/logging.h"

namespace switchboard {
namespace {

#if defined(MSG_NOSIGNAL)
constexpr int kSendFlags = MSG_NOSIGNAL;
#else
constexpr int kSendFlags = 0;
#endif

// An output buffer that held a burst gives the memory back once drained.
constexpr size_t kKeepOutputBytes = 64 << 10;

// What a loop thread reads into when the connection holds no partial
// message, which in request-reply traffic is nearly always: one buffer per
// thread stays in the cache however many connections take turns, where each
// connection's own buffer would be cold memory the kernel copies into. What
// the handler leaves unconsumed moves to the connection's own buffer before
// the read callback returns, so no bytes outlive it here.
struct SharedInput {
  Buffer buffer{64 << 10};
  bool lent = false;  // to the connection reading now (a handler might
                      // make another connection read from inside OnData)
};

SharedInput& ThreadSharedInput() {
  thread_local SharedInput shared;
  return shared;
}

}  // namespace

TcpConnection::TcpConnection(EventLoop* loop, uint64_t id, Socket socket,
                             const InetAddress& peer,
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
}

TcpConnection::~TcpConnection() {
  loop()->AssertInLoopThread();
  CancelTimers();
  watcher_.DisableAll();
}

void TcpConnection::Start() {
  loop()->AssertInLoopThread();
  started_reading_ = true;
  UpdateReading();
  if (options_.idle_timeout > absl::ZeroDuration() &&
      options_.idle_timeout != absl::InfiniteDuration()) {
    ArmIdleTimer(options_.idle_timeout);
  }
}

void TcpConnection::HandleRead() {
  SharedInput& shared = ThreadSharedInput();
  if (!input_.empty() || shared.lent) {
    const ssize_t n = input_.ReadFromFd(watcher_.fd());
    if (n > 0) {
      TakeInput(n, input_);
    } else {
      HandleReadEnd(n);
    }
    return;
  }
  shared.lent = true;
  const ssize_t n = shared.buffer.ReadFromFd(watcher_.fd());
  if (n > 0) {
    TakeInput(n, shared.buffer);
    // The start of a message still arriving stays with this connection.
    if (!shared.buffer.empty() && !closed_ && !ending_) {
      input_.Append(shared.buffer.view());
    }
  }
  shared.buffer.Clear();
  shared.lent = false;
  if (n <= 0) HandleReadEnd(n);
}

void TcpConnection::TakeInput(ssize_t n, Buffer& input) {
  bytes_received_ += n;
  last_activity_ = loop()->turn_time();
  VLOG(1) << "connection " << id_ << ": received " << n << " bytes from "
          << peer_.ToString();
  if (ending_ || handler_ == nullptr) {
    input.Clear();  // the session is over: what comes now is discarded
  } else {
    handler_->OnData(*this, input);
  }
}

void TcpConnection::HandleReadEnd(ssize_t n) {
  if (n == 0) {
    peer_eof_ = true;
    UpdateReading();
    if (ending_) {
      if (write_shut_) {
        Close("the client closed the connection after the server ended the session");
      } else {
        AdvanceEnding();
      }
    } else if (handler_ != nullptr) {
      handler_->OnEndOfInput(*this, input_);
    } else {
      EndSession();
    }
    return;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
  if (errno == ECONNRESET) {
    Close("the client reset the connection");
  } else {
    Close(absl::StrCat("read failed: ", std::strerror(errno)));
  }
}

void TcpConnection::HandleWrite() { WriteOutput(); }

void TcpConnection::Send(absl::string_view data) {
  loop()->AssertInLoopThread();
  if (closed_ || write_shut_) return;
  if (output_.empty() && !watcher_.writing()) {
    // Nothing is queued before these bytes: write them from where they are
    // and queue only what the socket does not take, saving a copy.
    const ssize_t written = WriteSome(data, options_.max_write_per_event);
    if (written < 0) return;  // closed
    if (static_cast<size_t>(written) == data.size()) {
      if (ending_) AdvanceEnding();
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
  if (closed_) return;
  if (output_.empty() && !watcher_.writing()) {
    // Nothing to write (the usual case after Send): only an ending session
    // may have a step to take.
    if (ending_) AdvanceEnding();
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
    const ssize_t n = ::send(watcher_.fd(), data.data() + written, want, kSendFlags);
    if (n > 0) {
      written += n;
      budget -= n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (errno == EPIPE || errno == ECONNRESET) {
      Close("the client reset the connection before reading all replies");
    } else {
      Close(absl::StrCat("write failed: ", std::strerror(errno)));
    }
    return -1;
  }
  if (written > 0) {
    bytes_sent_ += written;
    last_activity_ = std::max(last_activity_, began);
    VLOG(1) << "connection " << id_ << ": sent " << written << " bytes to "
            << peer_.ToString();
  }
  return static_cast<ssize_t>(written);
}

bool TcpConnection::WriteOutput() {
  if (closed_) return false;
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
  if (ending_) AdvanceEnding();
  return !closed_;
}

void TcpConnection::CrossWaterMark() {
  const size_t pending = output_.readable_bytes();
  if (!over_high_water_ && pending > options_.high_water_bytes) {
    over_high_water_ = true;
    VLOG(1) << "connection " << id_ << ": " << pending
            << " bytes of replies unread by " << peer_.ToString()
            << "; pausing reading until it catches up";
    UpdateReading();
  } else if (over_high_water_ && pending <= options_.low_water_bytes) {
    over_high_water_ = false;
    VLOG(1) << "connection " << id_ << ": client caught up; reading again";
    UpdateReading();
  }
}

void TcpConnection::UpdateReading() {
  if (closed_) return;
  // While a session ends, input is read only to be discarded, so neither
  // kind of backpressure applies.
  const bool want = started_reading_ && !peer_eof_ &&
                    (ending_ || (owner_pauses_ == 0 && !over_high_water_));
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
  if (closed_ || ending_) return;
  ending_ = true;
  input_.Clear();
  UpdateReading();
  AdvanceEnding();
}

void TcpConnection::AdvanceEnding() {
  if (!ending_ || closed_ || !output_.empty()) return;
  if (peer_eof_) {
    // The peer sent everything it will and we owe nothing: a plain close
    // sends FIN, never RST, since no unread input is left behind.
    Close(write_shut_ ? "the client closed the connection after the server ended the session"
                      : "the client finished sending and has every reply");
    return;
  }
  if (write_shut_) return;
  // Everything owed is in the kernel: send FIN, keep reading (and
  // discarding) until the peer closes too, bounded by the linger time.
  write_shut_ = true;
  if (absl::Status s = socket_.ShutdownWrite(); !s.ok()) {
    Close(absl::StrCat("shutdown failed: ", s.message()));
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
  if (closed_) return;
  // Activity refreshes a timestamp, not the timer: no heap work per message.
  const absl::Duration idle = loop()->Now() - last_activity_;
  if (idle >= options_.idle_timeout) {
    Close(absl::StrCat("idle for ", absl::FormatDuration(options_.idle_timeout),
                       output_.empty() ? " (nothing received)"
                                       : " (replies not read by the client)"));
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
  if (closed_) return;
  closed_ = true;
  close_reason_ = std::string(why);
  CancelTimers();
  watcher_.DisableAll();
  socket_.Close();
  // No more calls go to the handler, but it lives as long as the connection
  // (whose destruction is always deferred): the handler may be in the middle
  // of one of its own calls, a write in OnData that failed, say.
  closed_handler_ = std::move(handler_);
  if (closed_handler_ != nullptr) closed_handler_->OnClose(*this);
  if (close_callback_) close_callback_(*this);
}

}  // namespace switchboard
