// Copyright Switchboard authors.
//
// load_thread.h: the insides of LoadGenerator that its scenarios share
// (part of //clients:load_generator, not for other users):
//   QuoteReply   a reply as an error report shows it.
//   Timeline     the times a run is made of.
//   ChatTally    what the chat members of every thread count together.
//   LoadStats    a thread's counters.
//   LoadClient   one client of the load on a thread's loop: a TCP
//                connection (stream_load.h) or a chat member (chat_load.h).
//   LoadThread   an event loop on a thread of its own with its share of the
//                clients and their figures.

#ifndef SWITCHBOARD_CLIENTS_LOAD_THREAD_H_
#define SWITCHBOARD_CLIENTS_LOAD_THREAD_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "clients/latency_histogram.h"
#include "clients/load_generator.h"
#include "reactor/event_loop.h"

namespace switchboard {

// `text` (a reply) in quotes for an error report: escaped, cut to 120 bytes.
std::string QuoteReply(absl::string_view text);

// Times a run is made of, on the monotonic clock.
struct Timeline {
  absl::Time start;         // the first connections open
  absl::Time window_start;  // after ramp-up and warm-up
  absl::Time window_end;

  bool InWindow(absl::Time t) const { return t >= window_start && t < window_end; }
};

// Chat counters shared by the threads of a run, so that each thread's drain
// can end as soon as the members, wherever they live, have received every
// broadcast the window's messages owe them.
struct ChatTally {
  std::atomic<int> joined{0};          // members in the room now
  std::atomic<uint64_t> owed{0};       // deliveries the window's messages owe
  std::atomic<uint64_t> delivered{0};  // of those, received
  bool AllDelivered() const {
    return delivered.load(std::memory_order_relaxed) >= owed.load(std::memory_order_relaxed);
  }
};

// A thread's counters; the latencies of the phase are kept beside them.
struct LoadStats {
  uint64_t messages = 0;  // the current phase (warm-up, then window)
  uint64_t bytes = 0;
  uint64_t replies_total = 0;  // the whole run, for progress rates
  uint64_t bytes_total = 0;
  uint64_t deliveries = 0;        // chat: receipts of the window's messages
  uint64_t deliveries_total = 0;  // chat: every receipt, for progress rates
  uint64_t expected = 0;          // chat: receipts the window's messages owe
  LoadErrors errors;
  int open_connections = 0;
  int connections_opened = 0;
  uint64_t outstanding_at_end = 0;
  uint64_t behind_at_end = 0;
  int open_at_end = 0;  // connections open when the window closed

  // Adds everything `other` holds.
  void Add(const LoadStats& other);
};

// One client of the load. Loop thread only. A closed client stays in its
// thread's list (so that it is never destroyed inside its own callback)
// until the thread ends.
class LoadClient {
 public:
  virtual ~LoadClient() = default;

  // Starts connecting (or joining); does nothing once abandoned.
  virtual void Open() = 0;
  // True while it may send on the open loop's schedule.
  virtual bool sending() const = 0;
  // Open loop: sends what the schedule has made due, as far as it may.
  // Returns when the next message is due, or InfiniteFuture() when only a
  // reply can let more go.
  virtual absl::Time SendDue(absl::Time now) = 0;
  // Periodic: timeouts, retries, the end of the drain.
  virtual void Check(absl::Time now) = 0;
  // The window closed: stop sending and drain; adds what was open,
  // outstanding and behind to `stats`.
  virtual void EndWindow(absl::Time now, LoadStats* stats) = 0;
};

// One event loop on a thread of its own, with its share of the clients.
// Its figures live in `stats_`, under `stats_mutex_`, which the loop thread
// takes once per batch of replies (per datagram, for chat) and the
// controller once per progress report.
class LoadThread {
 public:
  // Makes client `id` of this thread.
  using ClientFactory = std::function<std::unique_ptr<LoadClient>(LoadThread*, uint32_t id)>;

  LoadThread(LoadGenerator* generator, const LoadConfig& config, const Timeline& timeline,
             const std::string& run_id, ChatTally* chat, ClientFactory factory,
             std::vector<uint32_t> client_ids);
  ~LoadThread();
  LoadThread(const LoadThread&) = delete;
  LoadThread& operator=(const LoadThread&) = delete;

  // Starts the thread; returns once its loop exists (or could not be made).
  absl::Status Start();
  void Join();
  // Any thread: ends the window now (if the thread still runs).
  void EndWindowSoon();
  // Any thread: adds the figures so far to `out` and the phase's
  // latencies to `latency`.
  void AddTo(LoadStats* out, LatencyHistogram* latency);

  // For the clients, on the loop thread.
  EventLoop* loop() const { return loop_; }
  const LoadConfig& config() const { return config_; }
  const Timeline& timeline() const { return timeline_; }
  const std::string& run_id() const { return run_id_; }
  ChatTally* chat() const { return chat_; }
  bool counting() const { return phase_ != Phase::kEnded; }
  absl::Mutex* stats_mutex() ABSL_LOCK_RETURNED(stats_mutex_) { return &stats_mutex_; }
  LoadStats& stats() ABSL_EXCLUSIVE_LOCKS_REQUIRED(stats_mutex_) { return stats_; }
  LatencyHistogram& latency() ABSL_EXCLUSIVE_LOCKS_REQUIRED(stats_mutex_) { return latency_; }
  void RecordError(LoadErrorKind kind, absl::FunctionRef<std::string()> describe);
  // A kRejected error for the server's reply `reply` ("ERR <code> ...").
  void RecordRejection(absl::string_view reply, absl::FunctionRef<std::string()> describe);
  void ClientClosed() { --live_; }

 private:
  enum class Phase { kWarmup, kWindow, kEnded };

  void Main();
  void BeginWindow();
  void EndWindow();
  void CheckClients();

  LoadGenerator* const generator_;
  const LoadConfig& config_;
  const Timeline timeline_;
  const std::string run_id_;
  ChatTally* const chat_;
  const ClientFactory factory_;
  const std::vector<uint32_t> client_ids_;
  std::thread thread_;
  absl::Notification started_;
  absl::Status start_status_;  // written before started_ is notified

  // Loop thread only.
  EventLoop* loop_ = nullptr;
  std::vector<std::unique_ptr<LoadClient>> clients_;
  Phase phase_ = Phase::kWarmup;
  int live_ = 0;  // clients not closed yet

  absl::Mutex loop_mutex_;
  EventLoop* posting_loop_ ABSL_GUARDED_BY(loop_mutex_) = nullptr;  // null once gone

  absl::Mutex stats_mutex_;
  LoadStats stats_ ABSL_GUARDED_BY(stats_mutex_);
  LatencyHistogram latency_ ABSL_GUARDED_BY(stats_mutex_);  // the current phase
};

}  // namespace switchboard

#endif  // SWITCHBOARD_CLIENTS_LOAD_THREAD_H_
