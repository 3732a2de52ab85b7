// Copyright Switchboard authors.

#include "clients/stream_connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace switchboard {
namespace {

std::string Seconds(absl::Duration d) { return absl::FormatDuration(d); }

}  // namespace

StreamConnection::StreamConnection(LoadThread* thread, uint32_t id,
                                   std::unique_ptr<StreamDialogue> dialogue)
    : thread_(thread),
      config_(thread->config()),
      dialogue_(std::move(dialogue)),
      id_(id),
      closed_loop_(config_.rate <= 0),
      sent_at_(closed_loop_ ? static_cast<size_t>(config_.depth) : 0) {
  if (!closed_loop_) schedule_ = OpenLoopSchedule(config_.rate, config_.connections, id_);
}

StreamConnection::~StreamConnection() {
  if (watcher_ != nullptr) watcher_->DisableAll();
}

std::string StreamConnection::ConnectError(int error) const {
  return absl::StrCat("connect to ", config_.TargetFor(id_).ToString(), ": ", std::strerror(error));
}

void StreamConnection::Open() {
  if (state_ != State::kIdle) return;
  const absl::Time now = thread_->loop()->Now();
  connect_started_ = now;
  absl::StatusOr<Socket> socket = Socket::Create(config_.TargetFor(id_).family(), SOCK_STREAM);
  if (!socket.ok()) {
    Fail(LoadErrorKind::kConnect, [&] { return std::string(socket.status().message()); });
    return;
  }
  socket_ = *std::move(socket);
  if (absl::Status s = socket_.SetNonBlocking(true); !s.ok()) {
    Fail(LoadErrorKind::kConnect, [&] { return std::string(s.message()); });
    return;
  }
  // Small messages must leave at once: Nagle's algorithm would hold a
  // request back until the previous reply's ACK.
  socket_.SetNoDelay(true).IgnoreError();
  watcher_ = std::make_unique<IoWatcher>(thread_->loop(), socket_.fd());
  watcher_->set_read_callback([this] { HandleRead(); });
  watcher_->set_write_callback([this] { HandleWrite(); });
  const int result = ::connect(socket_.fd(), config_.TargetFor(id_).sockaddr_ptr(),
                               config_.TargetFor(id_).length());
  if (result == 0) {
    Established(now);
    return;
  }
  // After EINTR the connect goes on in the background, as after
  // EINPROGRESS; calling connect() again would only say EALREADY.
  if (errno == EINPROGRESS || errno == EINTR) {
    state_ = State::kConnecting;
    watcher_->EnableWriting();
    return;
  }
  const int error = errno;
  Fail(LoadErrorKind::kConnect, [&] { return ConnectError(error); });
}

absl::Time StreamConnection::SendDue(absl::Time now) {
  if (state_ != State::kOpen) return absl::InfiniteFuture();
  if (now < schedule_.start()) return schedule_.start();
  const uint64_t due = schedule_.Due(now);
  SendUpTo(std::min(due, received_ + static_cast<uint64_t>(config_.depth)), now);
  if (state_ != State::kOpen || sent_ < due) return absl::InfiniteFuture();
  return schedule_.Intended(sent_);
}

void StreamConnection::Check(absl::Time now) {
  switch (state_) {
    case State::kConnecting:
      if (now - connect_started_ >= config_.timeout) {
        Fail(LoadErrorKind::kConnect, [&] {
          return absl::StrCat("connect to ", config_.TargetFor(id_).ToString(),
                              ": no answer within ", Seconds(config_.timeout));
        });
      }
      break;
    case State::kOpening:
      if (now - last_progress_ >= config_.timeout) {
        Fail(LoadErrorKind::kTimeout, [&] {
          return absl::StrCat("connection ", id_, ": no reply to its opening for ",
                              Seconds(config_.timeout));
        });
      }
      break;
    case State::kOpen:
      if ((sent_ > received_ || !output_.empty()) && now - last_progress_ >= config_.timeout) {
        Fail(LoadErrorKind::kTimeout, [&] {
          return absl::StrCat("connection ", id_, ": no reply for ", Seconds(config_.timeout),
                              " with ", sent_ - received_, " message(s) outstanding");
        });
      }
      break;
    case State::kDraining:
      if (now >= drain_deadline_) Close();
      break;
    case State::kIdle:
    case State::kClosed:
      break;
  }
}

void StreamConnection::EndWindow(absl::Time now, LoadStats* stats) {
  switch (state_) {
    case State::kIdle:
    case State::kConnecting:
      Close();  // not an error: the run is over
      return;
    case State::kOpening:
    case State::kOpen:
      ++stats->open_at_end;
      stats->outstanding_at_end += sent_ - received_;
      if (state_ == State::kOpen && !closed_loop_) {
        stats->behind_at_end += schedule_.Behind(now, sent_);
      }
      state_ = State::kDraining;
      drain_deadline_ = now + config_.drain_timeout;
      if (output_.empty()) ShutdownWrite();
      return;
    case State::kDraining:
    case State::kClosed:
      return;
  }
}

void StreamConnection::Established(absl::Time now) {
  state_ = State::kOpening;
  last_progress_ = now;
  {
    absl::MutexLock lock(thread_->stats_mutex());
    ++thread_->stats().open_connections;
    ++thread_->stats().connections_opened;
  }
  watcher_->DisableWriting();
  watcher_->EnableReading();
  opening_owed_ = dialogue_->WriteOpening(&output_);
  if (opening_owed_ > 0) {
    Flush();
    return;
  }
  BeginRequests(now);
}

void StreamConnection::BeginRequests(absl::Time now) {
  state_ = State::kOpen;
  last_progress_ = now;
  if (closed_loop_) {
    SendUpTo(static_cast<uint64_t>(config_.depth), now);
  } else {
    schedule_.Start(now);
    SendDue(now);
  }
}

// Queues requests sent_ .. limit-1 and writes what the socket takes.
void StreamConnection::SendUpTo(uint64_t limit, absl::Time now) {
  if (sent_ >= limit) return;
  // Replies are owed from now on: the timeout counts from here.
  if (sent_ == received_) last_progress_ = now;
  for (; sent_ < limit; ++sent_) {
    dialogue_->WriteRequest(sent_, &output_);
    if (closed_loop_) sent_at_[sent_ % sent_at_.size()] = now;
  }
  Flush();
}

// Writes what the output holds as far as the socket takes it; watches for
// writability while some is left. False when the connection failed.
bool StreamConnection::Flush() {
  while (!output_.empty()) {
    int error = 0;
    const ssize_t n = socket_.SendSome(output_.view(), &error);
    if (n < 0) {
      if (error == EAGAIN || error == EWOULDBLOCK) {
        watcher_->EnableWriting();
        return true;
      }
      if (state_ == State::kDraining) {
        Close();
      } else {
        Fail(LoadErrorKind::kReset, [&] {
          return absl::StrCat("connection ", id_, ": send failed: ", std::strerror(error));
        });
      }
      return false;
    }
    output_.Consume(static_cast<size_t>(n));
  }
  watcher_->DisableWriting();
  if (state_ == State::kDraining) ShutdownWrite();
  return true;
}

void StreamConnection::ShutdownWrite() {
  if (write_shut_) return;
  write_shut_ = true;
  socket_.ShutdownWrite().IgnoreError();
}

void StreamConnection::HandleWrite() {
  if (state_ == State::kConnecting) {
    const int error = socket_.TakeError();
    if (error != 0) {
      Fail(LoadErrorKind::kConnect, [&] { return ConnectError(error); });
      return;
    }
    Established(thread_->loop()->Now());
    return;
  }
  Flush();
}

void StreamConnection::HandleRead() {
  int error = 0;
  const ssize_t n = input_.ReadFromFd(socket_.fd(), &error);
  if (n < 0) {
    if (error == EINTR || error == EAGAIN || error == EWOULDBLOCK) return;
    if (state_ == State::kDraining) {
      Close();
      return;
    }
    Fail(LoadErrorKind::kReset, [&] {
      return absl::StrCat("connection ", id_, ": receive failed after ", received_,
                          " replies: ", std::strerror(error));
    });
    return;
  }
  if (n == 0) {
    if (state_ == State::kDraining) {
      CheckLeftover();
      Close();
      return;
    }
    Fail(LoadErrorKind::kClosed, [&] {
      return absl::StrCat("connection ", id_, ": the server closed it after ", received_,
                          " replies, with ", sent_ - received_, " message(s) outstanding");
    });
    return;
  }
  const absl::Time now = thread_->loop()->Now();
  last_progress_ = now;
  if (!TakeReplies(now)) return;
  if (state_ != State::kOpen) return;
  if (closed_loop_) {
    // The time read for the replies stamps the sends too: a second clock
    // read per message would move the stamps only by the check's duration.
    SendUpTo(received_ + static_cast<uint64_t>(config_.depth), now);
  } else {
    SendDue(now);
  }
}

// Checks the opening's replies, then checks and times each complete reply
// in the input. False when the connection failed.
bool StreamConnection::TakeReplies(absl::Time now) {
  while (opening_owed_ > 0) {
    std::string wrong;
    const ReplyCheck check = dialogue_->TakeOpeningReply(opening_taken_, &input_, &wrong);
    if (check == ReplyCheck::kIncomplete) return true;
    if (check != ReplyCheck::kRight) {
      Fail(LoadErrorKind::kMismatch, [&] { return wrong; });
      return false;
    }
    ++opening_taken_;
    --opening_owed_;
    if (opening_owed_ == 0 && state_ == State::kOpening) {
      BeginRequests(now);
      if (state_ == State::kClosed) return false;
    }
  }
  if (!dialogue_->MayHoldReply(input_)) return true;
  uint64_t extra = 0;  // bytes beyond every reply owed
  bool broken = false;
  std::string broken_why;
  {
    absl::MutexLock lock(thread_->stats_mutex());
    LoadStats& stats = thread_->stats();
    LatencyHistogram& latency = thread_->latency();
    const bool counting = thread_->counting() && state_ == State::kOpen;
    const size_t payload = dialogue_->payload_bytes();
    while (!input_.empty()) {
      if (received_ == sent_) {
        extra = input_.readable_bytes();
        break;
      }
      // Only the first mismatch of the thread is described: building the
      // description costs an allocation.
      std::string wrong;
      const bool describe = stats.errors.count(LoadErrorKind::kMismatch) == 0;
      const ReplyCheck check =
          dialogue_->TakeReply(received_, &input_, describe ? &wrong : nullptr);
      if (check == ReplyCheck::kIncomplete) break;
      if (check == ReplyCheck::kBroken) {
        broken = true;
        broken_why = std::move(wrong);
        break;
      }
      if (check == ReplyCheck::kRight) {
        ++stats.replies_total;
        stats.bytes_total += payload;
        if (counting) {
          latency.Record(absl::ToInt64Nanoseconds(now - SentAt(received_)));
          ++stats.messages;
          stats.bytes += payload;
        }
      } else {
        stats.errors.Add(LoadErrorKind::kMismatch, wrong);
      }
      ++received_;
    }
  }
  if (broken) {
    Fail(LoadErrorKind::kMismatch, [&] { return broken_why; });
    return false;
  }
  if (extra != 0) {
    Fail(LoadErrorKind::kMismatch, [&] {
      return absl::StrCat("connection ", id_, ": ", extra,
                          " byte(s) more than were asked for came back");
    });
    return false;
  }
  return true;
}

// At the end of the stream: bytes of an incomplete reply are a mismatch.
void StreamConnection::CheckLeftover() {
  if (input_.empty()) return;
  thread_->RecordError(LoadErrorKind::kMismatch, [&] {
    return absl::StrCat("connection ", id_, ": ", dialogue_->DescribeLeftover(input_));
  });
  input_.Clear();
}

void StreamConnection::Fail(LoadErrorKind kind, absl::FunctionRef<std::string()> describe) {
  if (state_ == State::kClosed) return;
  thread_->RecordError(kind, describe);
  Close();
}

void StreamConnection::Close() {
  if (state_ == State::kClosed) return;
  if (state_ == State::kOpening || state_ == State::kOpen || state_ == State::kDraining) {
    absl::MutexLock lock(thread_->stats_mutex());
    --thread_->stats().open_connections;
  }
  state_ = State::kClosed;
  if (watcher_ != nullptr) watcher_->DisableAll();
  socket_.Close();
  output_.Clear();
  thread_->ClientClosed();
}

}  // namespace switchboard
