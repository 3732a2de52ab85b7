// Copyright Switchboard authors.

#include "clients/load_generator.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

#include "absl/functional/function_ref.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "reactor/buffer.h"
#include "reactor/clock.h"
#include "reactor/event_loop.h"
#include "reactor/io_watcher.h"
#include "reactor/socket.h"

namespace switchboard {
namespace {

// The largest message a line may carry (terminator excluded) and the
// largest length frame: the codecs' limits, which the server enforces.
constexpr size_t kMaxLine = CodecLimits().max_line;
constexpr size_t kMaxFrame = CodecLimits().max_frame;
// Raw framing has no limit of its own; this one keeps a typo from asking
// for gigabytes per connection.
constexpr size_t kMaxRawMessage = 64 << 20;

// The longest a load thread sleeps in one turn of its loop.
constexpr absl::Duration kMaxWait = absl::Milliseconds(100);

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

// The bytes of every message of a run, and their check.
class MessagePattern {
 public:
  MessagePattern(size_t size, Framing framing)
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

  size_t size() const { return size_; }
  // The bytes one message takes on the wire, framing included.
  size_t wire_size() const { return wire_size_; }

  // Writes message `seq` of connection `connection`, framed: wire_size()
  // bytes at `out`.
  void Write(uint32_t connection, uint64_t seq, char* out) const {
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

  // True when `wire` (wire_size() bytes) is exactly message `seq`.
  bool Matches(uint32_t connection, uint64_t seq, const char* wire) const {
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

  // Where and how `wire` differs from message `seq` (after Matches said it
  // does), for the error report.
  std::string DescribeMismatch(uint32_t connection, uint64_t seq, const char* wire) const {
    std::string expected(wire_size_, '\0');
    Write(connection, seq, expected.data());
    size_t at = 0;
    while (at < wire_size_ && expected[at] == wire[at]) ++at;
    auto show = [](char c) {
      return c >= 0x20 && c < 0x7f ? absl::StrFormat("'%c'", c)
                                   : absl::StrFormat("0x%02x", static_cast<unsigned char>(c));
    };
    return absl::StrCat("connection ", connection, ", message ", seq, ": byte ", at,
                        " of ", wire_size_, " came back as ", show(wire[at]),
                        ", sent as ", show(expected[at]));
  }

 private:
  static void Counter(uint32_t connection, uint64_t seq, char* out) {
    static constexpr char kHex[] = "0123456789abcdef";
    const uint64_t value = (uint64_t{connection & 0xffffff} << 40) | (seq & 0xffffffffff);
    for (int i = kCounterDigits - 1, shift = 0; i >= 0; --i, shift += 4) {
      out[i] = kHex[(value >> shift) & 0xf];
    }
  }
  static size_t Offset(uint32_t connection, uint64_t seq) {
    return static_cast<size_t>((seq * kPatternShift + connection) % kPatternPeriod);
  }

  const size_t size_;
  const Framing framing_;
  const size_t header_;
  const size_t wire_size_;
  std::string filler_;  // the pattern, long enough for any shift
  char length_header_[4];
};

// Times a run is made of, on the monotonic clock.
struct Timeline {
  absl::Time start;          // the first connections open
  absl::Time window_start;   // after ramp-up and warm-up
  absl::Time window_end;
};

}  // namespace

// ---------------------------------------------------------------- LoadErrors

absl::string_view LoadErrorKindName(LoadErrorKind kind) {
  switch (kind) {
    case LoadErrorKind::kConnect: return "connect";
    case LoadErrorKind::kMismatch: return "mismatch";
    case LoadErrorKind::kReset: return "reset";
    case LoadErrorKind::kClosed: return "closed";
    case LoadErrorKind::kTimeout: return "timeout";
  }
  return "?";
}

uint64_t LoadErrors::total() const {
  uint64_t sum = 0;
  for (uint64_t n : counts) sum += n;
  return sum;
}

void LoadErrors::Add(LoadErrorKind kind, absl::string_view description) {
  const int i = static_cast<int>(kind);
  if (counts[i]++ == 0) first[i] = std::string(description);
}

void LoadErrors::Merge(const LoadErrors& other) {
  for (int i = 0; i < kLoadErrorKinds; ++i) {
    if (counts[i] == 0 && other.counts[i] != 0) first[i] = other.first[i];
    counts[i] += other.counts[i];
  }
}

// ---------------------------------------------------------------- LoadResults

double LoadResults::messages_per_second() const {
  const double seconds = absl::ToDoubleSeconds(measured);
  return seconds > 0 ? static_cast<double>(messages) / seconds : 0;
}

double LoadResults::megabytes_per_second() const {
  const double seconds = absl::ToDoubleSeconds(measured);
  return seconds > 0 ? static_cast<double>(bytes) / 1e6 / seconds : 0;
}

std::optional<double> LoadResults::server_cpu_us_per_message() const {
  if (!server_cpu.has_value() || messages == 0) return std::nullopt;
  return absl::ToDoubleMicroseconds(*server_cpu) / static_cast<double>(messages);
}

absl::Status ValidateLoadConfig(const LoadConfig& config) {
  if (config.connections < 1) return absl::InvalidArgumentError("connections must be at least 1");
  if (config.threads < 1) return absl::InvalidArgumentError("threads must be at least 1");
  if (config.depth < 1) return absl::InvalidArgumentError("depth must be at least 1");
  if (config.message_size < 1) return absl::InvalidArgumentError("size must be at least 1");
  switch (config.framing) {
    case Framing::kLine:
      if (config.message_size > kMaxLine) {
        return absl::InvalidArgumentError(absl::StrCat(
            "size ", config.message_size, ": a line holds at most ", kMaxLine, " bytes"));
      }
      break;
    case Framing::kLength:
      if (config.message_size > kMaxFrame) {
        return absl::InvalidArgumentError(absl::StrCat(
            "size ", config.message_size, ": a length frame holds at most ", kMaxFrame,
            " bytes"));
      }
      break;
    case Framing::kRaw:
      if (config.message_size > kMaxRawMessage) {
        return absl::InvalidArgumentError(
            absl::StrCat("size ", config.message_size, ": at most ", kMaxRawMessage));
      }
      break;
  }
  if (config.duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("duration must be positive");
  }
  if (config.warmup < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("warmup must not be negative");
  }
  if (config.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("timeout must be positive");
  }
  if (config.drain_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("drain timeout must not be negative");
  }
  if (config.progress_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("progress interval must be positive");
  }
  if (!(config.rate >= 0)) return absl::InvalidArgumentError("rate must not be negative");
  if (!(config.connect_rate >= 0)) {
    return absl::InvalidArgumentError("connect rate must not be negative");
  }
  if (config.server_pid < 0) return absl::InvalidArgumentError("server pid must not be negative");
  if (config.target.port() == 0) return absl::InvalidArgumentError("the target has no port");
  return absl::OkStatus();
}

absl::StatusOr<absl::Duration> ProcessCpuTime(pid_t pid) {
  const std::string path = absl::StrCat("/proc/", pid, "/stat");
  std::ifstream in(path);
  if (!in.is_open()) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so
  // the fields are counted from the last ')'. utime and stime are the 14th
  // and 15th fields, the 12th and 13th after it.
  const std::string all = text.str();
  const size_t paren = all.rfind(')');
  if (paren == std::string::npos) return absl::DataLossError(absl::StrCat("cannot parse ", path));
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(all).substr(paren + 1), ' ', absl::SkipEmpty());
  uint64_t utime = 0;
  uint64_t stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return absl::DataLossError(absl::StrCat("cannot parse ", path));
  }
  const long ticks = sysconf(_SC_CLK_TCK);
  if (ticks <= 0) return absl::InternalError("sysconf(_SC_CLK_TCK) failed");
  return absl::Seconds(static_cast<double>(utime + stime) / static_cast<double>(ticks));
}

// ---------------------------------------------------------------- LoadThread

class LoadConnection;

// One event loop on a thread of its own, with its share of the
// connections. Its figures live in `stats_`, under `stats_mutex_`, which the
// loop thread takes once per batch of replies and the controller once per
// progress report.
class LoadThread {
 public:
  // Counters; the latencies of the phase are kept beside them.
  struct Stats {
    uint64_t messages = 0;     // the current phase (warm-up, then window)
    uint64_t bytes = 0;
    uint64_t replies_total = 0;  // the whole run, for progress rates
    uint64_t bytes_total = 0;
    LoadErrors errors;
    int open_connections = 0;
    int connections_opened = 0;
    uint64_t outstanding_at_end = 0;
    uint64_t behind_at_end = 0;
    int open_at_end = 0;  // connections open when the window closed
  };

  LoadThread(LoadGenerator* generator, const LoadConfig& config,
             const MessagePattern* pattern, const Timeline& timeline,
             std::vector<uint32_t> connection_ids);
  ~LoadThread();

  // Starts the thread; returns once its loop exists (or could not be made).
  absl::Status Start();
  void Join();
  // Any thread: ends the window now (if the thread still runs).
  void EndWindowSoon();
  // Any thread: adds the figures so far to `out` and the phase's
  // latencies to `latency`.
  void AddTo(Stats* out, LatencyHistogram* latency);

  // For LoadConnection, on the loop thread.
  EventLoop* loop() const { return loop_; }
  const LoadConfig& config() const { return config_; }
  const MessagePattern& pattern() const { return *pattern_; }
  bool counting() const { return phase_ != Phase::kEnded; }
  absl::Mutex* stats_mutex() ABSL_LOCK_RETURNED(stats_mutex_) { return &stats_mutex_; }
  Stats& stats() ABSL_EXCLUSIVE_LOCKS_REQUIRED(stats_mutex_) { return stats_; }
  LatencyHistogram& latency() ABSL_EXCLUSIVE_LOCKS_REQUIRED(stats_mutex_) { return latency_; }
  void RecordError(LoadErrorKind kind, absl::FunctionRef<std::string()> describe);
  void ConnectionClosed() { --live_; }

 private:
  enum class Phase { kWarmup, kWindow, kEnded };

  void Main();
  void BeginWindow();
  void EndWindow();
  void CheckConnections();

  LoadGenerator* const generator_;
  const LoadConfig& config_;
  const MessagePattern* const pattern_;
  const Timeline timeline_;
  const std::vector<uint32_t> connection_ids_;
  std::thread thread_;
  absl::Notification started_;
  absl::Status start_status_;  // written before started_ is notified

  // Loop thread only.
  EventLoop* loop_ = nullptr;
  std::vector<std::unique_ptr<LoadConnection>> connections_;
  Phase phase_ = Phase::kWarmup;
  int live_ = 0;  // connections not closed yet

  absl::Mutex loop_mutex_;
  EventLoop* posting_loop_ ABSL_GUARDED_BY(loop_mutex_) = nullptr;  // null once gone

  absl::Mutex stats_mutex_;
  Stats stats_ ABSL_GUARDED_BY(stats_mutex_);
  LatencyHistogram latency_ ABSL_GUARDED_BY(stats_mutex_);  // the current phase
};

// One client connection of the load: a non-blocking socket on its thread's
// loop that sends messages and checks and times their echoes. Loop thread
// only. A closed connection stays in its thread's list (so that it is never
// destroyed inside its own callback) until the thread ends.
class LoadConnection {
 public:
  LoadConnection(LoadThread* thread, uint32_t id)
      : thread_(thread),
        config_(thread->config()),
        pattern_(thread->pattern()),
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
  ~LoadConnection() {
    if (watcher_ != nullptr) watcher_->DisableAll();
  }
  LoadConnection(const LoadConnection&) = delete;
  LoadConnection& operator=(const LoadConnection&) = delete;

  bool closed() const { return state_ == State::kClosed; }
  bool sending() const { return state_ == State::kOpen; }

  // Starts a non-blocking connect (or does nothing once abandoned).
  void Open() {
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

  // Open loop: sends what the schedule has made due, as far as the window
  // allows. Returns when the next message is due, or InfiniteFuture() when
  // only a reply can let more go.
  absl::Time SendDue(absl::Time now) {
    if (state_ != State::kOpen) return absl::InfiniteFuture();
    if (now < schedule_start_) return schedule_start_;
    const uint64_t due = Due(now);
    SendUpTo(std::min(due, received_ + static_cast<uint64_t>(config_.depth)), now);
    if (state_ != State::kOpen || sent_ < due) return absl::InfiniteFuture();
    return Intended(sent_);
  }

  // Periodic: timeouts and the end of the drain.
  void Check(absl::Time now) {
    switch (state_) {
      case State::kConnecting:
        if (now - connect_started_ >= config_.timeout) {
          Fail(LoadErrorKind::kConnect, [&] {
            return absl::StrCat("connect to ", config_.target.ToString(), ": no answer within ",
                                Seconds(config_.timeout));
          });
        }
        break;
      case State::kOpen:
        if ((sent_ > received_ || !output_.empty()) &&
            now - last_progress_ >= config_.timeout) {
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

  // The window closed: stop sending, half-close, and read what is still
  // owed until the server closes or the drain time is up.
  void EndWindow(absl::Time now, LoadThread::Stats* stats) {
    switch (state_) {
      case State::kIdle:
      case State::kConnecting:
        Close();  // not an error: the run is over
        return;
      case State::kOpen:
        ++stats->open_at_end;
        stats->outstanding_at_end += sent_ - received_;
        if (!closed_loop_ && now >= schedule_start_) {
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

 private:
  enum class State { kIdle, kConnecting, kOpen, kDraining, kClosed };

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

  void Established(absl::Time now) {
    state_ = State::kOpen;
    last_progress_ = now;
    {
      absl::MutexLock lock(thread_->stats_mutex());
      ++thread_->stats().open_connections;
      ++thread_->stats().connections_opened;
    }
    watcher_->DisableWriting();
    watcher_->EnableReading();
    if (closed_loop_) {
      SendUpTo(static_cast<uint64_t>(config_.depth), now);
    } else {
      schedule_start_ = now + phase_offset_;
      SendDue(now);
    }
  }

  // Queues messages sent_ .. limit-1 and writes what the socket takes.
  void SendUpTo(uint64_t limit, absl::Time now) {
    if (sent_ >= limit) return;
    // Replies are owed from now on: the timeout counts from here.
    if (sent_ == received_) last_progress_ = now;
    const size_t wire = pattern_.wire_size();
    const size_t count = static_cast<size_t>(limit - sent_);
    char* out = output_.PrepareWrite(count * wire);
    for (; sent_ < limit; ++sent_, out += wire) {
      pattern_.Write(id_, sent_, out);
      if (closed_loop_) sent_at_[sent_ % sent_at_.size()] = now;
    }
    output_.CommitWrite(count * wire);
    Flush();
  }

  // Writes what the output holds as far as the socket takes it; watches
  // for writability while some is left. False when the connection failed.
  bool Flush() {
    while (!output_.empty()) {
      const ssize_t n = ::send(socket_.fd(), output_.peek(), output_.readable_bytes(),
                               MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          watcher_->EnableWriting();
          return true;
        }
        const int error = errno;
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

  void ShutdownWrite() {
    if (write_shut_) return;
    write_shut_ = true;
    socket_.ShutdownWrite().IgnoreError();
  }

  void HandleWrite() {
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

  void HandleRead() {
    const ssize_t n = input_.ReadFromFd(socket_.fd());
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK) return;
      const int error = errno;
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
      SendUpTo(received_ + static_cast<uint64_t>(config_.depth), thread_->loop()->Now());
    } else {
      SendDue(now);
    }
  }

  // Checks and times each complete reply in the input. False when the
  // connection failed.
  bool TakeReplies(absl::Time now) {
    const size_t wire = pattern_.wire_size();
    if (input_.readable_bytes() < wire) return true;
    uint64_t extra = 0;  // bytes beyond everything that was sent
    {
      absl::MutexLock lock(thread_->stats_mutex());
      LoadThread::Stats& stats = thread_->stats();
      LatencyHistogram& latency = thread_->latency();
      const bool counting = thread_->counting() && state_ == State::kOpen;
      while (input_.readable_bytes() >= wire) {
        if (received_ == sent_) {
          extra = input_.readable_bytes();
          break;
        }
        const char* reply = input_.peek();
        if (pattern_.Matches(id_, received_, reply)) {
          ++stats.replies_total;
          stats.bytes_total += pattern_.size();
          if (counting) {
            latency.Record(absl::ToInt64Nanoseconds(now - SentAt(received_)));
            ++stats.messages;
            stats.bytes += pattern_.size();
          }
        } else {
          if (stats.errors.count(LoadErrorKind::kMismatch) == 0) {
            stats.errors.Add(LoadErrorKind::kMismatch,
                             pattern_.DescribeMismatch(id_, received_, reply));
          } else {
            stats.errors.Add(LoadErrorKind::kMismatch, {});
          }
        }
        ++received_;
        input_.Consume(wire);
      }
    }
    if (extra != 0) {
      Fail(LoadErrorKind::kMismatch, [&] {
        return absl::StrCat("connection ", id_, ": ", extra,
                            " byte(s) more than were sent came back");
      });
      return false;
    }
    return true;
  }

  // At the end of the stream: bytes of an incomplete reply are a mismatch.
  void CheckLeftover() {
    if (input_.empty()) return;
    thread_->RecordError(LoadErrorKind::kMismatch, [&] {
      return absl::StrCat("connection ", id_, ": the stream ended inside a reply (",
                          input_.readable_bytes(), " of ", pattern_.wire_size(), " bytes)");
    });
    input_.Clear();
  }

  void Fail(LoadErrorKind kind, absl::FunctionRef<std::string()> describe) {
    if (state_ == State::kClosed) return;
    thread_->RecordError(kind, describe);
    Close();
  }

  void Close() {
    if (state_ == State::kClosed) return;
    if (state_ == State::kOpen || state_ == State::kDraining) {
      absl::MutexLock lock(thread_->stats_mutex());
      --thread_->stats().open_connections;
    }
    state_ = State::kClosed;
    if (watcher_ != nullptr) watcher_->DisableAll();
    socket_.Close();
    output_.Clear();
    thread_->ConnectionClosed();
  }

  LoadThread* const thread_;
  const LoadConfig& config_;
  const MessagePattern& pattern_;
  const uint32_t id_;
  const bool closed_loop_;

  State state_ = State::kIdle;
  Socket socket_;
  std::unique_ptr<IoWatcher> watcher_;
  Buffer input_;
  Buffer output_;
  bool write_shut_ = false;
  uint64_t sent_ = 0;      // messages written to the output
  uint64_t received_ = 0;  // replies taken (right or wrong)
  std::vector<absl::Time> sent_at_;  // closed loop: by seq % depth
  double interval_seconds_ = 0;      // open loop: between this one's messages
  absl::Duration phase_offset_;
  absl::Time schedule_start_;        // open loop: when message 0 is due
  absl::Time connect_started_;
  absl::Time last_progress_;         // the last reply bytes, or the first owed
  absl::Time drain_deadline_;
};

LoadThread::LoadThread(LoadGenerator* generator, const LoadConfig& config,
                       const MessagePattern* pattern, const Timeline& timeline,
                       std::vector<uint32_t> connection_ids)
    : generator_(generator),
      config_(config),
      pattern_(pattern),
      timeline_(timeline),
      connection_ids_(std::move(connection_ids)) {}

LoadThread::~LoadThread() { Join(); }

absl::Status LoadThread::Start() {
  thread_ = std::thread([this] { Main(); });
  started_.WaitForNotification();
  return start_status_;
}

void LoadThread::Join() {
  if (thread_.joinable()) thread_.join();
}

void LoadThread::EndWindowSoon() {
  absl::MutexLock lock(&loop_mutex_);
  if (posting_loop_ != nullptr) posting_loop_->QueueInLoop([this] { EndWindow(); });
}

void LoadThread::AddTo(Stats* out, LatencyHistogram* latency) {
  absl::MutexLock lock(&stats_mutex_);
  if (latency != nullptr) latency->Merge(latency_);
  out->messages += stats_.messages;
  out->bytes += stats_.bytes;
  out->replies_total += stats_.replies_total;
  out->bytes_total += stats_.bytes_total;
  out->errors.Merge(stats_.errors);
  out->open_connections += stats_.open_connections;
  out->connections_opened += stats_.connections_opened;
  out->outstanding_at_end += stats_.outstanding_at_end;
  out->behind_at_end += stats_.behind_at_end;
  out->open_at_end += stats_.open_at_end;
}

void LoadThread::RecordError(LoadErrorKind kind, absl::FunctionRef<std::string()> describe) {
  absl::MutexLock lock(&stats_mutex_);
  if (stats_.errors.count(kind) == 0) {
    stats_.errors.Add(kind, describe());
  } else {
    stats_.errors.Add(kind, {});
  }
}

void LoadThread::Main() {
  absl::StatusOr<std::unique_ptr<EventLoop>> created = EventLoop::Create(config_.poller);
  if (!created.ok()) {
    start_status_ = created.status();
    started_.Notify();
    generator_->ThreadFinished();
    return;
  }
  EventLoop* loop = created->get();
  loop_ = loop;
  {
    absl::MutexLock lock(&loop_mutex_);
    posting_loop_ = loop;
  }
  started_.Notify();

  const absl::Time now = loop->Now();
  phase_ = now < timeline_.window_start ? Phase::kWarmup : Phase::kWindow;
  for (uint32_t id : connection_ids_) {
    connections_.push_back(std::make_unique<LoadConnection>(this, id));
    ++live_;
  }
  for (size_t i = 0; i < connections_.size(); ++i) {
    LoadConnection* connection = connections_[i].get();
    const absl::Time at =
        config_.connect_rate > 0
            ? timeline_.start + absl::Seconds(connection_ids_[i] / config_.connect_rate)
            : timeline_.start;
    if (at <= now) {
      connection->Open();
    } else {
      loop->RunAt(at, [connection] { connection->Open(); });
    }
  }
  loop->RunAt(timeline_.window_start, [this] { BeginWindow(); });
  loop->RunAt(timeline_.window_end, [this] { EndWindow(); });
  const absl::Duration check_every =
      std::clamp(config_.timeout / 4, absl::Milliseconds(10), absl::Milliseconds(100));
  loop->RunEvery(check_every, [this] { CheckConnections(); });

  const bool open_loop = config_.rate > 0;
  while (live_ > 0) {
    absl::Duration wait = kMaxWait;
    if (open_loop && phase_ != Phase::kEnded) {
      const absl::Time turn = loop->Now();
      absl::Time next = absl::InfiniteFuture();
      for (const std::unique_ptr<LoadConnection>& connection : connections_) {
        if (connection->sending()) next = std::min(next, connection->SendDue(turn));
      }
      if (next != absl::InfiniteFuture()) {
        // The pollers wait to the nanosecond (epoll_pwait2, ppoll), so the
        // loop sleeps until the next send is due, never spinning.
        wait = std::clamp(next - turn, absl::ZeroDuration(), kMaxWait);
      }
    }
    loop->RunOnce(wait);
  }

  {
    absl::MutexLock lock(&loop_mutex_);
    posting_loop_ = nullptr;
  }
  if (phase_ == Phase::kWarmup) {
    // Every connection ended before the window began: what this thread
    // counted was warm-up, which the window's figures must not include.
    absl::MutexLock lock(&stats_mutex_);
    latency_.Reset();
    stats_.messages = 0;
    stats_.bytes = 0;
  }
  connections_.clear();
  loop_ = nullptr;
  created->reset();
  generator_->ThreadFinished();
}

void LoadThread::BeginWindow() {
  if (phase_ != Phase::kWarmup) return;
  phase_ = Phase::kWindow;
  absl::MutexLock lock(&stats_mutex_);
  latency_.Reset();
  stats_.messages = 0;
  stats_.bytes = 0;
}

void LoadThread::EndWindow() {
  if (phase_ == Phase::kEnded) return;
  phase_ = Phase::kEnded;
  const absl::Time now = loop_->Now();
  Stats ended;
  for (const std::unique_ptr<LoadConnection>& connection : connections_) {
    connection->EndWindow(now, &ended);
  }
  absl::MutexLock lock(&stats_mutex_);
  stats_.outstanding_at_end += ended.outstanding_at_end;
  stats_.behind_at_end += ended.behind_at_end;
  stats_.open_at_end += ended.open_at_end;
}

void LoadThread::CheckConnections() {
  const absl::Time now = loop_->Now();
  for (const std::unique_ptr<LoadConnection>& connection : connections_) {
    connection->Check(now);
  }
}

// ---------------------------------------------------------------- LoadGenerator

LoadGenerator::LoadGenerator(const LoadConfig& config) : config_(config) {}

LoadGenerator::~LoadGenerator() {
  Stop();
  for (std::unique_ptr<LoadThread>& thread : threads_) thread->Join();
}

void LoadGenerator::Stop() {
  absl::MutexLock lock(&mutex_);
  stop_requested_ = true;
}

void LoadGenerator::ThreadFinished() {
  absl::MutexLock lock(&mutex_);
  --running_threads_;
  last_finished_ = RealClock()->Now();
}

absl::StatusOr<LoadResults> LoadGenerator::Run(const ProgressCallback& progress) {
  if (absl::Status s = ValidateLoadConfig(config_); !s.ok()) return s;
  Clock* const clock = RealClock();
  const MessagePattern pattern(config_.message_size, config_.framing);
  const int thread_count = std::min(config_.threads, config_.connections);

  Timeline timeline;
  timeline.start = clock->Now();
  const absl::Duration ramp =
      config_.connect_rate > 0 ? absl::Seconds(config_.connections / config_.connect_rate)
                               : absl::ZeroDuration();
  timeline.window_start = timeline.start + ramp + config_.warmup;
  timeline.window_end = timeline.window_start + config_.duration;

  std::vector<std::vector<uint32_t>> ids(thread_count);
  for (int i = 0; i < config_.connections; ++i) {
    ids[i % thread_count].push_back(static_cast<uint32_t>(i));
  }
  {
    absl::MutexLock lock(&mutex_);
    running_threads_ = thread_count;
  }
  absl::Status start_status;
  for (int i = 0; i < thread_count; ++i) {
    threads_.push_back(
        std::make_unique<LoadThread>(this, config_, &pattern, timeline, std::move(ids[i])));
    if (absl::Status s = threads_.back()->Start(); !s.ok()) {
      start_status = s;
      // The threads not started yet will never finish.
      absl::MutexLock lock(&mutex_);
      running_threads_ -= thread_count - i - 1;
      break;
    }
  }
  if (!start_status.ok()) {
    for (std::unique_ptr<LoadThread>& thread : threads_) thread->EndWindowSoon();
    for (std::unique_ptr<LoadThread>& thread : threads_) thread->Join();
    return start_status;
  }

  LoadResults results;
  results.config = config_;
  std::optional<absl::Duration> cpu_start;
  bool window_started = false;
  bool ended = false;
  bool reached_window_end = false;
  absl::Time end_time;
  absl::Time next_tick = timeline.start + config_.progress_interval;
  absl::Time last_tick = timeline.start;
  uint64_t last_replies = 0;
  uint64_t last_bytes = 0;
  LatencyHistogram phase_latency;

  auto read_cpu = [&]() -> std::optional<absl::Duration> {
    if (config_.server_pid <= 0) return std::nullopt;
    absl::StatusOr<absl::Duration> cpu = ProcessCpuTime(config_.server_pid);
    if (!cpu.ok()) {
      if (results.server_cpu_error.empty()) {
        results.server_cpu_error = std::string(cpu.status().message());
      }
      return std::nullopt;
    }
    return *cpu;
  };
  auto end_window = [&](absl::Time at) {
    ended = true;
    end_time = at;
    if (window_started && cpu_start.has_value()) {
      if (std::optional<absl::Duration> cpu_end = read_cpu(); cpu_end.has_value()) {
        results.server_cpu = *cpu_end - *cpu_start;
      }
    }
    for (std::unique_ptr<LoadThread>& thread : threads_) thread->EndWindowSoon();
  };

  struct WakeCondition {
    LoadGenerator* self;
    bool ended;
    static bool Ready(WakeCondition* f) ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return f->self->running_threads_ == 0 || (!f->ended && f->self->stop_requested_);
    }
  };
  for (;;) {
    absl::Time wake = next_tick;
    if (!window_started) wake = std::min(wake, timeline.window_start);
    if (!ended) wake = std::min(wake, timeline.window_end);
    bool all_done;
    bool stop;
    absl::Time last_finished;
    {
      WakeCondition flags{this, ended};
      absl::MutexLock lock(&mutex_);
      mutex_.AwaitWithTimeout(absl::Condition(&WakeCondition::Ready, &flags),
                              std::max(wake - clock->Now(), absl::ZeroDuration()));
      all_done = running_threads_ == 0;
      stop = stop_requested_;
      last_finished = last_finished_;
    }
    const absl::Time now = clock->Now();
    if (!window_started && now >= timeline.window_start && !ended) {
      window_started = true;
      if (config_.server_pid > 0) cpu_start = read_cpu();
    }
    if (!ended) {
      if (stop) {
        results.interrupted = true;
        results.stopped_because = "interrupted";
        end_window(std::min(now, timeline.window_end));
      } else if (now >= timeline.window_end &&
                 (!all_done || last_finished >= timeline.window_end)) {
        reached_window_end = true;
        end_window(timeline.window_end);
      } else if (all_done) {
        // Every connection is gone: the window ended with the last one.
        end_window(std::min(last_finished, timeline.window_end));
      }
    }
    if (all_done) break;
    if (!ended && now >= next_tick) {
      LoadThread::Stats snapshot;
      phase_latency.Reset();
      for (std::unique_ptr<LoadThread>& thread : threads_) {
        thread->AddTo(&snapshot, &phase_latency);
      }
      const double seconds = absl::ToDoubleSeconds(now - last_tick);
      LoadProgress report;
      report.elapsed = now - timeline.start;
      report.warming_up = now < timeline.window_start;
      if (seconds > 0) {
        report.messages_per_second =
            static_cast<double>(snapshot.replies_total - last_replies) / seconds;
        report.megabytes_per_second =
            static_cast<double>(snapshot.bytes_total - last_bytes) / 1e6 / seconds;
      }
      report.p99_ns = phase_latency.ValueAtPercentile(99);
      report.phase_messages = snapshot.messages;
      report.errors = snapshot.errors.total();
      report.open_connections = snapshot.open_connections;
      last_tick = now;
      last_replies = snapshot.replies_total;
      last_bytes = snapshot.bytes_total;
      while (next_tick <= now) next_tick += config_.progress_interval;
      if (progress) progress(report);
    }
  }
  for (std::unique_ptr<LoadThread>& thread : threads_) thread->Join();

  LoadThread::Stats total;
  for (std::unique_ptr<LoadThread>& thread : threads_) thread->AddTo(&total, &results.latency);
  threads_.clear();
  results.measured = window_started ? std::clamp(end_time - timeline.window_start,
                                                 absl::ZeroDuration(), config_.duration)
                                    : absl::ZeroDuration();
  if (!window_started) {
    // Nothing of the window ran: the warm-up's figures are not the window's.
    results.latency.Reset();
  } else {
    results.messages = total.messages;
    results.bytes = total.bytes;
  }
  results.errors = total.errors;
  results.connections_opened = total.connections_opened;
  results.outstanding_at_end = total.outstanding_at_end;
  results.behind_at_end = total.behind_at_end;
  results.connections_open_at_end = total.open_at_end;
  // Complete: the window ran to its end with some connection still open.
  results.completed = reached_window_end && total.open_at_end > 0;
  if (config_.server_pid > 0 && !results.server_cpu.has_value() &&
      results.server_cpu_error.empty()) {
    results.server_cpu_error = "the window did not run";
  }
  if (!results.completed && results.stopped_because.empty()) {
    if (results.connections_opened == 0) {
      const std::string& why = results.errors.first[static_cast<int>(LoadErrorKind::kConnect)];
      results.stopped_because =
          why.empty() ? "no connection could be opened"
                      : absl::StrCat("no connection could be opened (", why, ")");
    } else {
      results.stopped_because = reached_window_end && total.open_at_end == 0
                                    ? "no connection was open when the window closed"
                                    : "every connection ended before the window closed";
    }
  }
  return results;
}

}  // namespace switchboard
