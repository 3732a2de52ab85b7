// Copyright Switchboard authors.
//
// load_generator.h: `LoadGenerator`, the load of `//:load` (and of the
// benchmarks): many clients spread over a few event loops, with latencies
// in a LatencyHistogram. A `LoadConfig` goes in, a `LoadResults` comes out,
// and a callback hears the progress once a second; nothing here prints or
// reads flags. Also `LoadScenario`, `LoadErrors` and `LoadProgress`.
//
// Scenarios (`LoadConfig::scenario`):
//   echo  non-blocking TCP connections send fixed-size messages whose every
//         echoed byte is checked. The unit is the message.
//   auth  each TCP connection (line or length framing) reads the greeting,
//         registers a user of its own once (`REGISTER load<n>-<run id>
//         <password>`: the run id keeps users of earlier runs from getting
//         in the way with `409 user exists`), then logs in as it over and
//         over (`LOGIN <user> <password>`); a reply that is not
//         `200 welcome <user>; ...` is a mismatch. The unit is the login,
//         which costs the server one Argon2id verification.
//   chat  UDP members, one non-blocking socket each, join the room in two
//         steps (JOIN nick, COOKIE, JOIN nick cookie, OK key count; resent
//         while unanswered, up to `timeout`), then send `MSG <key> <text>`
//         at `rate` messages/s in all (open loop, required) and count the
//         `MSG` broadcasts of the run that each receives. The text carries
//         the time its message was due, so every receipt is timed from it
//         (all members live in this process: one monotonic clock). The
//         unit is the message sent; LoadResults adds the deliveries, those
//         expected (each message times the members joined when it was
//         sent) and the loss. An `ERR` reply is a `rejected` error, counted
//         by its code too. Mind the server's --chat_rate (20 commands/s per
//         member by default): rate / connections must stay below it.
//
// Timeline of a run:
//   ramp-up   connections open, all at once or `connect_rate` per second;
//             lasts connections / connect_rate (0 when all at once).
//   warm-up   load as in the measurement; its figures are thrown away.
//   window    `duration` long: messages, bytes and latencies are counted.
//   drain     each connection stops sending, half-closes and reads the rest
//             of its replies (bounded), so the server sees an orderly end.
//             Chat members stop sending and keep receiving until every
//             broadcast of the window's messages has come (or the drain
//             time is up), then LEAVE.
// Errors count over the whole run, warm-up included. Chat figures belong to
// the window by the due time their message carries, so that the sender and
// the receivers (on any thread) agree on which messages count.
//
// Modes (echo and auth; chat is always open loop):
//   closed loop (rate 0)  each connection keeps `depth` messages in flight:
//                         depth 1 is ping-pong. Latency runs from the write.
//   open loop (rate > 0)  each connection sends on a fixed schedule (its share
//                         of `rate`, phases spread) with at most `depth` in
//                         flight; a message due while the window is full goes
//                         out as soon as a reply frees a place. Latency runs
//                         from the time the schedule meant the message to
//                         leave, so a server that stalls is charged for every
//                         message it delayed (wrk2's correction for
//                         coordinated omission). The loops sleep until the
//                         next send is due, to the microsecond where the
//                         kernel has epoll_pwait2 (Linux 5.11), else to the
//                         millisecond.
//
// Echo messages: `message_size` bytes of printable text (no '\n' or '\r', so
// raw and line framing never see an `exit` line), which carry the
// connection's and the message's number, followed by a pattern that shifts
// with the message. In line framing each ends in '\n'; in length framing
// each has its 4-byte header. The echo of every framing is exactly what was
// sent, so each reply is compared byte for byte with what its request held.

#ifndef SWITCHBOARD_CLIENTS_LOAD_GENERATOR_H_
#define SWITCHBOARD_CLIENTS_LOAD_GENERATOR_H_

#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "clients/latency_histogram.h"
#include "reactor/codec.h"
#include "reactor/inet_address.h"
#include "reactor/poller.h"

namespace switchboard {

enum class LoadScenario { kEcho, kAuth, kChat };

// "echo", "auth", "chat".
absl::string_view LoadScenarioName(LoadScenario scenario);
// Parses "echo", "auth", "chat".
absl::StatusOr<LoadScenario> ParseLoadScenario(absl::string_view name);

// A chat text must hold the 32 hex digits that identify and time its
// message, and its broadcast (`MSG <seq> <nick> <text>`, nick and sequence
// number included) must fit in the server's 1200-byte datagram.
inline constexpr size_t kMinChatText = 32;
inline constexpr size_t kMaxChatText = 1100;

struct LoadConfig {
  LoadScenario scenario = LoadScenario::kEcho;
  InetAddress target;  // the service: echo, auth (TCP) or chat (UDP)
  // Further servers of the same service: connection (or member) i goes to
  // TargetFor(i), so that one run spreads over several server processes.
  std::vector<InetAddress> more_targets;
  int connections = 10;                         // chat: members
  size_t message_size = 1024;                   // echo: payload bytes, framing excluded;
                                                // chat: text bytes; auth: unused
  absl::Duration duration = absl::Seconds(10);  // the measurement window
  absl::Duration warmup = absl::Seconds(1);
  int depth = 1;                    // messages in flight per connection (not chat)
  double rate = 0;                  // messages/s in all; 0: closed loop (chat: > 0)
  double connect_rate = 0;          // connections opened/s; 0: all at once
  Framing framing = Framing::kRaw;  // the service's framing (auth: line or length)
  int threads = 1;                  // event loops (at most `connections`)
  pid_t server_pid = 0;             // > 0: measure its CPU time (Linux)
  // A connect, or a connection owed replies that receives nothing, for this
  // long counts as a timeout error; the connection is then closed. Chat: a
  // join unanswered for this long (its datagrams resent meanwhile), or a
  // member that hears nothing for this long after sending.
  absl::Duration timeout = absl::Seconds(2);
  // How long the drain after the window may take.
  absl::Duration drain_timeout = absl::Seconds(1);
  absl::Duration progress_interval = absl::Seconds(1);
  PollerKind poller = DefaultPollerKind();
  // auth and chat: what makes this run's user names and nicks
  // (`load<connection>-<run_id>`) its own; at most 16 characters of
  // [A-Za-z0-9_.-]. Empty: Run makes one of the process id and a random
  // number.
  std::string run_id;
  // auth: every user's password (8 to 256 bytes, no whitespace).
  std::string password = "switchboard-load";

  // The server of connection `id`: the targets in turn.
  const InetAddress& TargetFor(uint32_t id) const {
    const size_t n = 1 + more_targets.size();
    const size_t k = id % n;
    return k == 0 ? target : more_targets[k - 1];
  }
  // Every target, comma-separated, for reports.
  std::string TargetsText() const;
};

// Checks that `config` describes a load that can run: counts at least 1,
// durations positive (warm-up non-negative), a message size the framing
// can carry (a line holds at most 4096 bytes, a length frame 1 MiB), a
// framing the scenario's service speaks, a rate for chat and a chat text of
// kMinChatText to kMaxChatText bytes, a usable run id and password.
absl::Status ValidateLoadConfig(const LoadConfig& config);

enum class LoadErrorKind {
  kConnect,   // a connection could not be opened (refused, unreachable, timed out)
  kMismatch,  // a reply differed from its request
  kReset,     // a connection failed while sending or receiving (reset, ...)
  kClosed,    // the server closed a connection before the run ended
  kTimeout,   // no reply for `timeout` while replies were owed
  kRejected,  // chat: the server answered with `ERR <code> <reason>`
};
inline constexpr int kLoadErrorKinds = 6;
// Every kind, in the order reports list them.
inline constexpr std::array<LoadErrorKind, kLoadErrorKinds> kAllLoadErrorKinds = {
    LoadErrorKind::kConnect, LoadErrorKind::kMismatch, LoadErrorKind::kReset,
    LoadErrorKind::kClosed,  LoadErrorKind::kTimeout,  LoadErrorKind::kRejected,
};

// "connect", "mismatch", "reset", "closed", "timeout", "rejected".
absl::string_view LoadErrorKindName(LoadErrorKind kind);

// Errors by kind, each with a description of its first occurrence.
class LoadErrors {
 public:
  uint64_t count(LoadErrorKind kind) const { return counts_[Index(kind)]; }
  // The description of the first error of `kind` ("" when there was none,
  // or it came without one).
  const std::string& first(LoadErrorKind kind) const { return first_[Index(kind)]; }
  uint64_t total() const;
  // kRejected again, by the reply's first two words ("ERR 429").
  const std::map<std::string, uint64_t, std::less<>>& rejected_by_code() const {
    return rejected_by_code_;
  }

  // Counts one error of `kind`; `description` is kept if it is the first.
  void Add(LoadErrorKind kind, absl::string_view description);
  // Counts one kRejected error for the server's reply `reply` ("ERR <code>
  // ..."), by its code too; `description` is kept if it is the first.
  void AddRejection(absl::string_view reply, absl::string_view description);
  void Merge(const LoadErrors& other);

 private:
  static size_t Index(LoadErrorKind kind) { return static_cast<size_t>(kind); }

  std::array<uint64_t, kLoadErrorKinds> counts_{};
  std::array<std::string, kLoadErrorKinds> first_;
  std::map<std::string, uint64_t, std::less<>> rejected_by_code_;
};

// What the progress callback receives, once per progress_interval.
struct LoadProgress {
  absl::Duration elapsed;            // since the run began
  bool warming_up = false;           // before the window: figures thrown away later
  double messages_per_second = 0;    // over the last interval (chat: sent)
  double deliveries_per_second = 0;  // chat: broadcasts received, over the last interval
  double megabytes_per_second = 0;   // payload, 10^6 bytes, over the last interval
  uint64_t phase_messages = 0;       // replies counted in the current phase so far
                                     // (chat: messages sent in the window)
  int64_t p99_ns = 0;                // their latency's 99th percentile (chat: receipts')
  uint64_t errors = 0;               // the whole run so far
  int open_connections = 0;
};

struct LoadResults {
  LoadConfig config;
  absl::Duration measured;  // how much of the window ran
  // Correct replies received in the window (echo), successful logins (auth),
  // messages sent (chat).
  uint64_t messages = 0;
  uint64_t bytes = 0;  // their payload bytes (auth: 0)
  // Nanoseconds; open loop: from the schedule. Chat: one value per receipt,
  // from the time the message was due.
  LatencyHistogram latency;
  LoadErrors errors;
  int connections_opened = 0;       // connections established (chat: members joined)
  int connections_open_at_end = 0;  // still open when the window closed
  // Chat: broadcasts of the window's messages that members received (in the
  // window or the drain after it), and how many there should have been.
  uint64_t deliveries = 0;
  uint64_t expected_deliveries = 0;
  uint64_t outstanding_at_end = 0;           // sent, not answered when the window closed
  uint64_t behind_at_end = 0;                // open loop: due, not yet sent at the close
  std::optional<absl::Duration> server_cpu;  // over the window
  std::string server_cpu_error;              // why server_cpu is missing, if asked for
  bool completed = false;                    // the whole window ran
  bool interrupted = false;                  // Stop() ended it early
  std::string stopped_because;               // when not completed

  double messages_per_second() const;
  double megabytes_per_second() const;
  // Chat: deliveries per second of the window; those expected that never
  // came, and their share of those expected.
  double deliveries_per_second() const;
  uint64_t lost() const {
    return expected_deliveries > deliveries ? expected_deliveries - deliveries : 0;
  }
  double loss_ratio() const;
  std::optional<double> server_cpu_us_per_message() const;
  // Completed with no error.
  bool ok() const { return completed && errors.total() == 0; }
};

class Clock;
class LoadThread;

// Runs one load. Run() from one thread; Stop() from any.
class LoadGenerator {
 public:
  using ProgressCallback = std::function<void(const LoadProgress&)>;

  explicit LoadGenerator(const LoadConfig& config);
  ~LoadGenerator();
  LoadGenerator(const LoadGenerator&) = delete;
  LoadGenerator& operator=(const LoadGenerator&) = delete;

  // Runs the whole load and returns its figures; blocks for ramp-up +
  // warm-up + window + drain, or less if every connection fails or Stop()
  // is called. Calls `progress` (may be empty) on this thread. An error
  // only for a bad config or when the event loops cannot be created; a
  // load that fails (nothing listening, the server closing) returns results
  // that say so. Call once.
  absl::StatusOr<LoadResults> Run(const ProgressCallback& progress);

  // Any thread: ends the window now; Run returns the figures so far.
  void Stop();

 private:
  friend class LoadThread;
  struct RunState;  // what Run's steps share
  struct WakeUp;

  // Called by each load thread as it finishes.
  void ThreadFinished();

  // The steps of Run, in order: start the threads, supervise the run
  // (window, progress, stop), collect the figures.
  absl::Status StartThreads(RunState* run);
  void Supervise(const ProgressCallback& progress, RunState* run);
  WakeUp WaitForWake(const RunState& run, Clock* clock) ABSL_LOCKS_EXCLUDED(mutex_);
  std::optional<absl::Duration> ReadServerCpu(RunState* run);
  void EndWindow(absl::Time at, RunState* run);
  void ReportProgress(absl::Time now, const ProgressCallback& progress, RunState* run);
  void CollectResults(RunState* run);

  const LoadConfig config_;
  std::vector<std::unique_ptr<LoadThread>> threads_;

  absl::Mutex mutex_;
  int running_threads_ ABSL_GUARDED_BY(mutex_) = 0;
  bool stop_requested_ ABSL_GUARDED_BY(mutex_) = false;
  absl::Time last_finished_ ABSL_GUARDED_BY(mutex_);  // when a thread last finished
};

// A run id (LoadConfig::run_id) of this process's id and a random number.
std::string NewLoadRunId();

// The CPU time (user + system) process `pid` has used so far, from
// /proc/<pid>/stat. Unavailable where there is no /proc.
absl::StatusOr<absl::Duration> ProcessCpuTime(pid_t pid);

}  // namespace switchboard

#endif  // SWITCHBOARD_CLIENTS_LOAD_GENERATOR_H_
