// Copyright Switchboard authors.

#include "clients/load_generator.h"

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "clients/chat_load.h"
#include "clients/load_thread.h"
#include "clients/stream_load.h"
#include "reactor/clock.h"

namespace switchboard {

// ---------------------------------------------------------------- LoadGenerator

namespace {

// The scenario's clients, made on each thread by LoadThread.
LoadThread::ClientFactory ClientFactoryFor(LoadScenario scenario, const EchoPattern* pattern,
                                           const ChatText* text) {
  switch (scenario) {
    case LoadScenario::kEcho:
      return [pattern](LoadThread* thread, uint32_t id) {
        return NewEchoConnection(thread, id, *pattern);
      };
    case LoadScenario::kAuth:
      return [](LoadThread* thread, uint32_t id) { return NewAuthConnection(thread, id); };
    case LoadScenario::kChat:
      return [text](LoadThread* thread, uint32_t id) { return NewChatMember(thread, id, *text); };
  }
  return nullptr;
}

// Why a run that did not complete stopped, when nothing else said so.
std::string WhyStopped(const LoadResults& results, bool reached_window_end) {
  if (results.connections_opened == 0) {
    if (results.config.scenario == LoadScenario::kChat) {
      // A join fails by a timeout or an ERR reply; the first one says why.
      std::string why;
      for (LoadErrorKind kind :
           {LoadErrorKind::kConnect, LoadErrorKind::kTimeout, LoadErrorKind::kRejected}) {
        if (why.empty()) why = results.errors.first(kind);
      }
      return why.empty() ? "no member could join the room"
                         : absl::StrCat("no member could join the room (", why, ")");
    }
    const std::string& why = results.errors.first(LoadErrorKind::kConnect);
    return why.empty() ? "no connection could be opened"
                       : absl::StrCat("no connection could be opened (", why, ")");
  }
  return reached_window_end && results.connections_open_at_end == 0
             ? "no connection was open when the window closed"
             : "every connection ended before the window closed";
}

}  // namespace

// What the controller of one run keeps between the steps of Run.
struct LoadGenerator::RunState {
  RunState(const LoadConfig& config, Clock* clock)
      : run_id(config.run_id.empty() ? NewLoadRunId() : config.run_id) {
    // The scenario's shared, immutable data, which its clients refer to.
    if (config.scenario == LoadScenario::kEcho) {
      echo_pattern = std::make_unique<EchoPattern>(config.message_size, config.framing);
    } else if (config.scenario == LoadScenario::kChat) {
      chat_text = std::make_unique<ChatText>(config.message_size);
    }
    // The run begins once those are made (a large echo pattern takes a while).
    timeline.start = clock->Now();
    const absl::Duration ramp = config.connect_rate > 0
                                    ? absl::Seconds(config.connections / config.connect_rate)
                                    : absl::ZeroDuration();
    timeline.window_start = timeline.start + ramp + config.warmup;
    timeline.window_end = timeline.window_start + config.duration;
    results.config = config;
    results.config.run_id = run_id;
    next_tick = timeline.start + config.progress_interval;
    last_tick = timeline.start;
  }

  const std::string run_id;
  ChatTally chat;
  std::unique_ptr<EchoPattern> echo_pattern;
  std::unique_ptr<ChatText> chat_text;
  Timeline timeline;
  LoadResults results;
  std::optional<absl::Duration> cpu_start;  // the server's, when the window began
  bool window_started = false;
  bool ended = false;               // the window has ended (or was ended)
  bool reached_window_end = false;  // ... at its planned end
  absl::Time end_time;
  // Progress: when the next report is due, and the last one's figures.
  absl::Time next_tick;
  absl::Time last_tick;
  uint64_t last_replies = 0;
  uint64_t last_bytes = 0;
  uint64_t last_deliveries = 0;
  LatencyHistogram phase_latency;
};

// What woke the controller.
struct LoadGenerator::WakeUp {
  bool all_done;  // every thread has finished
  bool stop;      // Stop() was called
  absl::Time last_finished;
};

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
  last_finished_ = SteadyClock()->Now();
}

absl::StatusOr<LoadResults> LoadGenerator::Run(const ProgressCallback& progress) {
  if (absl::Status s = ValidateLoadConfig(config_); !s.ok()) return s;
  RunState run(config_, SteadyClock());
  if (absl::Status s = StartThreads(&run); !s.ok()) return s;
  Supervise(progress, &run);
  for (std::unique_ptr<LoadThread>& thread : threads_) thread->Join();
  CollectResults(&run);
  return std::move(run.results);
}

absl::Status LoadGenerator::StartThreads(RunState* run) {
  const int thread_count = std::min(config_.threads, config_.connections);
  const LoadThread::ClientFactory factory =
      ClientFactoryFor(config_.scenario, run->echo_pattern.get(), run->chat_text.get());
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
    threads_.push_back(std::make_unique<LoadThread>(this, config_, run->timeline, run->run_id,
                                                    &run->chat, factory, std::move(ids[i])));
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
  }
  return start_status;
}

// Until every thread has finished: begins the window, ends it (at its end,
// on Stop(), or when every connection is gone) and reports progress.
void LoadGenerator::Supervise(const ProgressCallback& progress, RunState* run) {
  Clock* const clock = SteadyClock();
  for (;;) {
    const WakeUp wake = WaitForWake(*run, clock);
    const absl::Time now = clock->Now();
    if (!run->window_started && now >= run->timeline.window_start && !run->ended) {
      run->window_started = true;
      if (config_.server_pid > 0) run->cpu_start = ReadServerCpu(run);
    }
    if (!run->ended) {
      if (wake.stop) {
        run->results.interrupted = true;
        run->results.stopped_because = "interrupted";
        EndWindow(std::min(now, run->timeline.window_end), run);
      } else if (now >= run->timeline.window_end &&
                 (!wake.all_done || wake.last_finished >= run->timeline.window_end)) {
        run->reached_window_end = true;
        EndWindow(run->timeline.window_end, run);
      } else if (wake.all_done) {
        // Every connection is gone: the window ended with the last one.
        EndWindow(std::min(wake.last_finished, run->timeline.window_end), run);
      }
    }
    if (wake.all_done) break;
    if (!run->ended && now >= run->next_tick) ReportProgress(now, progress, run);
  }
}

// Sleeps until the next progress report, the window's start or end, the
// last thread's end or (before the end) Stop(), whichever comes first.
LoadGenerator::WakeUp LoadGenerator::WaitForWake(const RunState& run, Clock* clock) {
  struct WakeCondition {
    LoadGenerator* self;
    bool ended;
    static bool Ready(WakeCondition* f) ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return f->self->running_threads_ == 0 || (!f->ended && f->self->stop_requested_);
    }
  };
  absl::Time wake = run.next_tick;
  if (!run.window_started) wake = std::min(wake, run.timeline.window_start);
  if (!run.ended) wake = std::min(wake, run.timeline.window_end);
  WakeCondition flags{this, run.ended};
  absl::MutexLock lock(&mutex_);
  mutex_.AwaitWithTimeout(absl::Condition(&WakeCondition::Ready, &flags),
                          std::max(wake - clock->Now(), absl::ZeroDuration()));
  return WakeUp{running_threads_ == 0, stop_requested_, last_finished_};
}

// The server's CPU time so far, when asked for; the first failure to read
// it is kept in the results.
std::optional<absl::Duration> LoadGenerator::ReadServerCpu(RunState* run) {
  if (config_.server_pid <= 0) return std::nullopt;
  absl::StatusOr<absl::Duration> cpu = ProcessCpuTime(config_.server_pid);
  if (!cpu.ok()) {
    if (run->results.server_cpu_error.empty()) {
      run->results.server_cpu_error = std::string(cpu.status().message());
    }
    return std::nullopt;
  }
  return *cpu;
}

// Ends the window at `at`: the server's CPU time over it, and every
// thread told to drain.
void LoadGenerator::EndWindow(absl::Time at, RunState* run) {
  run->ended = true;
  run->end_time = at;
  if (run->window_started && run->cpu_start.has_value()) {
    if (std::optional<absl::Duration> cpu_end = ReadServerCpu(run); cpu_end.has_value()) {
      run->results.server_cpu = *cpu_end - *run->cpu_start;
    }
  }
  for (std::unique_ptr<LoadThread>& thread : threads_) thread->EndWindowSoon();
}

// Calls `progress` with the figures of the interval since the last report.
void LoadGenerator::ReportProgress(absl::Time now, const ProgressCallback& progress,
                                   RunState* run) {
  LoadStats snapshot;
  run->phase_latency.Reset();
  for (std::unique_ptr<LoadThread>& thread : threads_) {
    thread->AddTo(&snapshot, &run->phase_latency);
  }
  const double seconds = absl::ToDoubleSeconds(now - run->last_tick);
  LoadProgress report;
  report.elapsed = now - run->timeline.start;
  report.warming_up = now < run->timeline.window_start;
  if (seconds > 0) {
    report.messages_per_second =
        static_cast<double>(snapshot.replies_total - run->last_replies) / seconds;
    report.megabytes_per_second =
        static_cast<double>(snapshot.bytes_total - run->last_bytes) / 1e6 / seconds;
    report.deliveries_per_second =
        static_cast<double>(snapshot.deliveries_total - run->last_deliveries) / seconds;
  }
  report.p99_ns = run->phase_latency.ValueAtPercentile(99);
  report.phase_messages = snapshot.messages;
  report.errors = snapshot.errors.total();
  report.open_connections = snapshot.open_connections;
  run->last_tick = now;
  run->last_replies = snapshot.replies_total;
  run->last_bytes = snapshot.bytes_total;
  run->last_deliveries = snapshot.deliveries_total;
  while (run->next_tick <= now) run->next_tick += config_.progress_interval;
  if (progress) progress(report);
}

// After every thread has ended: the threads' figures into the results.
void LoadGenerator::CollectResults(RunState* run) {
  LoadResults& results = run->results;
  LoadStats total;
  for (std::unique_ptr<LoadThread>& thread : threads_) thread->AddTo(&total, &results.latency);
  threads_.clear();
  results.measured = run->window_started ? std::clamp(run->end_time - run->timeline.window_start,
                                                      absl::ZeroDuration(), config_.duration)
                                         : absl::ZeroDuration();
  if (!run->window_started) {
    // Nothing of the window ran: the warm-up's figures are not the window's.
    results.latency.Reset();
  } else {
    results.messages = total.messages;
    results.bytes = total.bytes;
    results.deliveries = total.deliveries;
    results.expected_deliveries = total.expected;
  }
  results.errors = total.errors;
  results.connections_opened = total.connections_opened;
  results.outstanding_at_end = total.outstanding_at_end;
  results.behind_at_end = total.behind_at_end;
  results.connections_open_at_end = total.open_at_end;
  // Complete: the window ran to its end with some connection still open.
  results.completed = run->reached_window_end && total.open_at_end > 0;
  if (config_.server_pid > 0 && !results.server_cpu.has_value() &&
      results.server_cpu_error.empty()) {
    results.server_cpu_error = "the window did not run";
  }
  if (!results.completed && results.stopped_because.empty()) {
    results.stopped_because = WhyStopped(results, run->reached_window_end);
  }
}

}  // namespace switchboard
