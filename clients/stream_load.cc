// Copyright Switchboard authors.

#include "clients/stream_load.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "reactor/buffer.h"
#include "reactor/io_watcher.h"
#include "reactor/socket.h"

namespace switchboard {
namespace {

// Message contents: printable, never '\n' or '\r'.
constexpr absl::string_view kAlphabet =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
// The pattern after the numbers repeats every 61 bytes (a prime, so that
// consecutive messages, shifted by 7, differ at every position).
constexpr size_t kPatternPeriod = 61;
constexpr uint64_t kPatternShift = 7;
// A message starts with 16 hex digits: 6 of the connection number and 10
// of the message number (the low ones, when the message is shorter).
constexpr size_t kCounterDigits = 16;

std::string Seconds(absl::Duration d) { return absl::FormatDuration(d); }

// ---------------------------------------------------------------- StreamDialogue

enum class ReplyCheck {
  kIncomplete,  // not all of the reply is there yet; nothing was taken
  kRight,       // taken, and as expected
  kWrong,       // taken, and wrong; the connection goes on
  kBroken,      // the stream cannot go on (a wrong opening, a reply too long)
};

// What one scenario says on a TCP connection: an opening, whose replies are
// checked but neither timed nor counted, then numbered requests, each
// answered by one reply, in order. One per connection; loop thread only.
class StreamDialogue {
 public:
  virtual ~StreamDialogue() = default;

  // Appends what goes before the first request to `out`; returns how many
  // replies it is owed (0: there is no opening).
  virtual int WriteOpening(Buffer* /*out*/) { return 0; }
  // Takes opening reply `index` off the front of `in`: kIncomplete, kRight,
  // or kBroken with `*wrong` saying why.
  virtual ReplyCheck TakeOpeningReply(int /*index*/, Buffer* /*in*/, std::string* /*wrong*/) {
    return ReplyCheck::kIncomplete;
  }
  // Appends request `seq` to `out`.
  virtual void WriteRequest(uint64_t seq, Buffer* out) = 0;
  // True when `in` may hold a whole reply: a cheap test before the
  // thread's figures are locked.
  virtual bool MayHoldReply(const Buffer& in) const = 0;
  // Takes the reply to request `seq` off the front of `in`. For kWrong and
  // kBroken, says what was wrong in `*wrong` when `wrong` is not null.
  virtual ReplyCheck TakeReply(uint64_t seq, Buffer* in, std::string* wrong) = 0;
  // What `in` holds at the end of the stream (not empty): a partial reply.
  virtual std::string DescribeLeftover(const Buffer& in) const = 0;
  // Payload bytes of one request, for MB/s (0 where they mean nothing).
  virtual size_t payload_bytes() const = 0;
};

// Echo: every message comes back exactly as it went.
class EchoDialogue final : public StreamDialogue {
 public:
  EchoDialogue(uint32_t id, const EchoPattern& pattern) : id_(id), pattern_(pattern) {}

  void WriteRequest(uint64_t seq, Buffer* out) override {
    const size_t wire = pattern_.wire_size();
    pattern_.Write(id_, seq, out->PrepareWrite(wire));
    out->CommitWrite(wire);
  }

  bool MayHoldReply(const Buffer& in) const override {
    return in.readable_bytes() >= pattern_.wire_size();
  }

  ReplyCheck TakeReply(uint64_t seq, Buffer* in, std::string* wrong) override {
    const size_t wire = pattern_.wire_size();
    if (in->readable_bytes() < wire) return ReplyCheck::kIncomplete;
    ReplyCheck check = ReplyCheck::kRight;
    if (!pattern_.Matches(id_, seq, in->peek())) {
      check = ReplyCheck::kWrong;
      if (wrong != nullptr) *wrong = pattern_.DescribeMismatch(id_, seq, in->peek());
    }
    in->Consume(wire);
    return check;
  }

  std::string DescribeLeftover(const Buffer& in) const override {
    return absl::StrCat("the stream ended inside a reply (", in.readable_bytes(), " of ",
                        pattern_.wire_size(), " bytes)");
  }

  size_t payload_bytes() const override { return pattern_.size(); }

 private:
  const uint32_t id_;
  const EchoPattern& pattern_;
};

// Auth: the greeting and REGISTER once, then LOGIN over and over, each
// answered by `200 welcome <user>; session <token>`.
class AuthDialogue final : public StreamDialogue {
 public:
  AuthDialogue(uint32_t id, const LoadConfig& config, const std::string& run_id)
      : id_(id),
        target_(config.target.ToString()),
        codec_(MakeCodec(config.framing)),
        user_(absl::StrCat("load", id, "-", run_id)),
        password_(config.password),
        login_(absl::StrCat("LOGIN ", user_, " ", password_)),
        registered_(absl::StrCat("201 registered ", user_, "; session ")),
        welcome_(absl::StrCat("200 welcome ", user_, "; session ")) {}

  int WriteOpening(Buffer* out) override {
    // Sent at once: the server reads it after its greeting.
    codec_->Encode(absl::StrCat("REGISTER ", user_, " ", password_), out);
    return 2;
  }

  ReplyCheck TakeOpeningReply(int index, Buffer* in, std::string* wrong) override {
    absl::string_view reply;
    size_t consumed = 0;
    const ReplyCheck framed = Decode(*in, &reply, &consumed, wrong);
    if (framed != ReplyCheck::kRight) return framed;
    const bool right = index == 0 ? absl::StartsWith(reply, "220 ")
                                  : absl::StartsWith(reply, registered_);
    if (!right) {
      *wrong = index == 0
                   ? absl::StrCat("connection ", id_, ": expected the auth service's greeting "
                                  "(220 ...) from ", target_, ", got ", QuoteReply(reply),
                                  " (is the target the auth service?)")
                   : absl::StrCat("connection ", id_, ": REGISTER ", user_, " got ",
                                  QuoteReply(reply));
      return ReplyCheck::kBroken;
    }
    in->Consume(consumed);
    return ReplyCheck::kRight;
  }

  void WriteRequest(uint64_t /*seq*/, Buffer* out) override { codec_->Encode(login_, out); }

  bool MayHoldReply(const Buffer& in) const override { return !in.empty(); }

  ReplyCheck TakeReply(uint64_t seq, Buffer* in, std::string* wrong) override {
    absl::string_view reply;
    size_t consumed = 0;
    std::string broken;
    const ReplyCheck framed = Decode(*in, &reply, &consumed, &broken);
    if (framed == ReplyCheck::kBroken && wrong != nullptr) *wrong = std::move(broken);
    if (framed != ReplyCheck::kRight) return framed;
    ReplyCheck check = ReplyCheck::kRight;
    if (!absl::StartsWith(reply, welcome_)) {
      check = ReplyCheck::kWrong;
      if (wrong != nullptr) {
        *wrong = absl::StrCat("connection ", id_, ": LOGIN ", seq, " as ", user_, " got ",
                              QuoteReply(reply));
      }
    }
    in->Consume(consumed);
    return check;
  }

  std::string DescribeLeftover(const Buffer& in) const override {
    return absl::StrCat("the stream ended inside a reply (", in.readable_bytes(),
                        " byte(s): ", QuoteReply(in.view()), ")");
  }

  size_t payload_bytes() const override { return 0; }

 private:
  // The reply at the front of `in`: kRight with `*reply` and `*consumed`
  // set, kIncomplete, or kBroken (with `*broken` saying why) when it
  // breaks the framing's limit.
  ReplyCheck Decode(const Buffer& in, absl::string_view* reply, size_t* consumed,
                    std::string* broken) {
    Frame frame;
    switch (codec_->Decode(in.view(), /*end_of_stream=*/false, &frame)) {
      case DecodeStatus::kNeedMore:
        return ReplyCheck::kIncomplete;
      case DecodeStatus::kTooLong:
        *broken = absl::StrCat("connection ", id_, ": a reply longer than ",
                               FramingName(codec_->framing()), " framing allows from ",
                               target_, " (is the target the auth service, with this framing?)");
        return ReplyCheck::kBroken;
      case DecodeStatus::kMessage:
        break;
    }
    *reply = frame.message;
    *consumed = frame.consumed;
    return ReplyCheck::kRight;
  }

  const uint32_t id_;
  const std::string target_;
  const std::unique_ptr<Codec> codec_;
  const std::string user_;
  const std::string password_;
  const std::string login_;       // the request, the same every time
  const std::string registered_;  // what the right replies start with
  const std::string welcome_;
};

// ---------------------------------------------------------------- StreamConnection

// One TCP connection of the load: a non-blocking socket on its thread's loop
// that sends its dialogue's opening, then its requests (closed loop, or on
// the open loop's schedule), and checks and times their replies.
class StreamConnection final : public LoadClient {
 public:
  StreamConnection(LoadThread* thread, uint32_t id, std::unique_ptr<StreamDialogue> dialogue)
      : thread_(thread),
        config_(thread->config()),
        dialogue_(std::move(dialogue)),
        id_(id),
        closed_loop_(config_.rate <= 0),
        sent_at_(closed_loop_ ? static_cast<size_t>(config_.depth) : 0) {
    if (!closed_loop_) {
      const double per_connection = config_.rate / config_.connections;
      interval_seconds_ = 1.0 / per_connection;
      // Spread the connections' schedules over one interval.
      phase_offset_ = absl::Seconds(interval_seconds_ * id_ / config_.connections);
    }
  }
  ~StreamConnection() override {
    if (watcher_ != nullptr) watcher_->DisableAll();
  }
  StreamConnection(const StreamConnection&) = delete;
  StreamConnection& operator=(const StreamConnection&) = delete;

  // LoadClient
  void Open() override;
  bool sending() const override { return state_ == State::kOpen; }
  absl::Time SendDue(absl::Time now) override;
  void Check(absl::Time now) override;
  void EndWindow(absl::Time now, LoadStats* stats) override;

 private:
  // kOpening: established, the opening's replies not all in yet.
  enum class State { kIdle, kConnecting, kOpening, kOpen, kDraining, kClosed };

  std::string ConnectError(int error) const {
    return absl::StrCat("connect to ", config_.target.ToString(), ": ", std::strerror(error));
  }

  uint64_t Due(absl::Time now) const {
    return static_cast<uint64_t>(absl::ToDoubleSeconds(now - schedule_start_) /
                                 interval_seconds_) + 1;
  }
  absl::Time Intended(uint64_t seq) const {
    return schedule_start_ + absl::Seconds(static_cast<double>(seq) * interval_seconds_);
  }
  absl::Time SentAt(uint64_t seq) const {
    return closed_loop_ ? sent_at_[seq % sent_at_.size()] : Intended(seq);
  }

  void Established(absl::Time now);
  void BeginRequests(absl::Time now);
  void SendUpTo(uint64_t limit, absl::Time now);
  bool Flush();
  void ShutdownWrite();
  void HandleWrite();
  void HandleRead();
  bool TakeReplies(absl::Time now);
  void CheckLeftover();
  void Fail(LoadErrorKind kind, absl::FunctionRef<std::string()> describe);
  void Close();

  LoadThread* const thread_;
  const LoadConfig& config_;
  const std::unique_ptr<StreamDialogue> dialogue_;
  const uint32_t id_;
  const bool closed_loop_;

  State state_ = State::kIdle;
  Socket socket_;
  std::unique_ptr<IoWatcher> watcher_;
  Buffer input_;
  Buffer output_;
  bool write_shut_ = false;
  int opening_owed_ = 0;   // replies to the opening still to come
  int opening_taken_ = 0;  // replies to the opening taken
  uint64_t sent_ = 0;      // requests written to the output
  uint64_t received_ = 0;  // replies taken (right or wrong)
  std::vector<absl::Time> sent_at_;  // closed loop: by seq % depth
  double interval_seconds_ = 0;      // open loop: between this one's messages
  absl::Duration phase_offset_;
  absl::Time schedule_start_;        // open loop: when message 0 is due
  absl::Time connect_started_;
  absl::Time last_progress_;         // the last reply bytes, or the first owed
  absl::Time drain_deadline_;
};

void StreamConnection::Open() {
  if (state_ != State::kIdle) return;
  const absl::Time now = thread_->loop()->Now();
  connect_started_ = now;
  absl::StatusOr<Socket> socket = Socket::Create(config_.target.family(), SOCK_STREAM);
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
  const int result =
      ::connect(socket_.fd(), config_.target.sockaddr_ptr(), config_.target.length());
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
  if (now < schedule_start_) return schedule_start_;
  const uint64_t due = Due(now);
  SendUpTo(std::min(due, received_ + static_cast<uint64_t>(config_.depth)), now);
  if (state_ != State::kOpen || sent_ < due) return absl::InfiniteFuture();
  return Intended(sent_);
}

void StreamConnection::Check(absl::Time now) {
  switch (state_) {
    case State::kConnecting:
      if (now - connect_started_ >= config_.timeout) {
        Fail(LoadErrorKind::kConnect, [&] {
          return absl::StrCat("connect to ", config_.target.ToString(), ": no answer within ",
                              Seconds(config_.timeout));
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
      if (state_ == State::kOpen && !closed_loop_ && now >= schedule_start_) {
        const uint64_t due = Due(now);
        if (due > sent_) stats->behind_at_end += due - sent_;
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
    schedule_start_ = now + phase_offset_;
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

}  // namespace

// ---------------------------------------------------------------- EchoPattern

EchoPattern::EchoPattern(size_t size, Framing framing)
    : size_(size),
      framing_(framing),
      header_(framing == Framing::kLength ? 4 : 0),
      wire_size_(size + header_ + (framing == Framing::kLine ? 1 : 0)),
      filler_(size + kPatternPeriod, '\0') {
  for (size_t i = 0; i < filler_.size(); ++i) filler_[i] = kAlphabet[i % kPatternPeriod];
  const uint32_t n = static_cast<uint32_t>(size);
  length_header_[0] = static_cast<char>(n >> 24);
  length_header_[1] = static_cast<char>(n >> 16);
  length_header_[2] = static_cast<char>(n >> 8);
  length_header_[3] = static_cast<char>(n);
}

void EchoPattern::Write(uint32_t connection, uint64_t seq, char* out) const {
  if (header_ != 0) {
    std::memcpy(out, length_header_, 4);
    out += 4;
  }
  char counter[kCounterDigits];
  Counter(connection, seq, counter);
  const size_t digits = std::min(size_, kCounterDigits);
  std::memcpy(out, counter + kCounterDigits - digits, digits);
  if (size_ > kCounterDigits) {
    std::memcpy(out + kCounterDigits, filler_.data() + Offset(connection, seq),
                size_ - kCounterDigits);
  }
  if (framing_ == Framing::kLine) out[size_] = '\n';
}

bool EchoPattern::Matches(uint32_t connection, uint64_t seq, const char* wire) const {
  if (header_ != 0) {
    if (std::memcmp(wire, length_header_, 4) != 0) return false;
    wire += 4;
  }
  char counter[kCounterDigits];
  Counter(connection, seq, counter);
  const size_t digits = std::min(size_, kCounterDigits);
  if (std::memcmp(wire, counter + kCounterDigits - digits, digits) != 0) return false;
  if (size_ > kCounterDigits &&
      std::memcmp(wire + kCounterDigits, filler_.data() + Offset(connection, seq),
                  size_ - kCounterDigits) != 0) {
    return false;
  }
  return framing_ != Framing::kLine || wire[size_] == '\n';
}

std::string EchoPattern::DescribeMismatch(uint32_t connection, uint64_t seq,
                                          const char* wire) const {
  std::string expected(wire_size_, '\0');
  Write(connection, seq, expected.data());
  size_t at = 0;
  while (at < wire_size_ && expected[at] == wire[at]) ++at;
  auto show = [](char c) {
    return c >= 0x20 && c < 0x7f ? absl::StrFormat("'%c'", c)
                                 : absl::StrFormat("0x%02x", static_cast<unsigned char>(c));
  };
  return absl::StrCat("connection ", connection, ", message ", seq, ": byte ", at, " of ",
                      wire_size_, " came back as ", show(wire[at]), ", sent as ",
                      show(expected[at]));
}

void EchoPattern::Counter(uint32_t connection, uint64_t seq, char* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const uint64_t value = (uint64_t{connection & 0xffffff} << 40) | (seq & 0xffffffffff);
  for (int i = kCounterDigits - 1, shift = 0; i >= 0; --i, shift += 4) {
    out[i] = kHex[(value >> shift) & 0xf];
  }
}

size_t EchoPattern::Offset(uint32_t connection, uint64_t seq) {
  return static_cast<size_t>((seq * kPatternShift + connection) % kPatternPeriod);
}

// ---------------------------------------------------------------- factories

std::unique_ptr<LoadClient> NewEchoConnection(LoadThread* thread, uint32_t id,
                                              const EchoPattern& pattern) {
  return std::make_unique<StreamConnection>(thread, id,
                                            std::make_unique<EchoDialogue>(id, pattern));
}

std::unique_ptr<LoadClient> NewAuthConnection(LoadThread* thread, uint32_t id) {
  return std::make_unique<StreamConnection>(
      thread, id, std::make_unique<AuthDialogue>(id, thread->config(), thread->run_id()));
}

}  // namespace switchboard
