// Copyright Switchboard authors.

#include "clients/load_thread.h"

#include <algorithm>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace switchboard {
namespace {

// The longest a load thread sleeps in one turn of its loop.
constexpr absl::Duration kMaxWait = absl::Milliseconds(100);
// A reply quoted in an error report is cut to this many bytes.
constexpr size_t kQuoteLimit = 120;

}  // namespace

std::string QuoteReply(absl::string_view text) {
  const bool cut = text.size() > kQuoteLimit;
  return absl::StrCat("\"", absl::CHexEscape(text.substr(0, kQuoteLimit)), cut ? "...\"" : "\"");
}

void LoadStats::Add(const LoadStats& other) {
  messages += other.messages;
  bytes += other.bytes;
  replies_total += other.replies_total;
  bytes_total += other.bytes_total;
  deliveries += other.deliveries;
  deliveries_total += other.deliveries_total;
  expected += other.expected;
  errors.Merge(other.errors);
  open_connections += other.open_connections;
  connections_opened += other.connections_opened;
  outstanding_at_end += other.outstanding_at_end;
  behind_at_end += other.behind_at_end;
  open_at_end += other.open_at_end;
}

LoadThread::LoadThread(LoadGenerator* generator, const LoadConfig& config, const Timeline& timeline,
                       const std::string& run_id, ChatTally* chat, ClientFactory factory,
                       std::vector<uint32_t> client_ids)
    : generator_(generator),
      config_(config),
      timeline_(timeline),
      run_id_(run_id),
      chat_(chat),
      factory_(std::move(factory)),
      client_ids_(std::move(client_ids)) {}

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

void LoadThread::AddTo(LoadStats* out, LatencyHistogram* latency) {
  absl::MutexLock lock(&stats_mutex_);
  if (latency != nullptr) latency->Merge(latency_);
  out->Add(stats_);
}

void LoadThread::RecordError(LoadErrorKind kind, absl::FunctionRef<std::string()> describe) {
  absl::MutexLock lock(&stats_mutex_);
  if (stats_.errors.count(kind) == 0) {
    stats_.errors.Add(kind, describe());
  } else {
    stats_.errors.Add(kind, {});
  }
}

void LoadThread::RecordRejection(absl::string_view reply,
                                 absl::FunctionRef<std::string()> describe) {
  absl::MutexLock lock(&stats_mutex_);
  const bool first = stats_.errors.count(LoadErrorKind::kRejected) == 0;
  stats_.errors.AddRejection(reply, first ? describe() : std::string());
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
  for (uint32_t id : client_ids_) {
    clients_.push_back(factory_(this, id));
    ++live_;
  }
  for (size_t i = 0; i < clients_.size(); ++i) {
    LoadClient* client = clients_[i].get();
    const absl::Time at =
        config_.connect_rate > 0
            ? timeline_.start + absl::Seconds(client_ids_[i] / config_.connect_rate)
            : timeline_.start;
    if (at <= now) {
      client->Open();
    } else {
      loop->RunAt(at, [client] { client->Open(); });
    }
  }
  loop->RunAt(timeline_.window_start, [this] { BeginWindow(); });
  loop->RunAt(timeline_.window_end, [this] { EndWindow(); });
  const absl::Duration check_every =
      std::clamp(config_.timeout / 4, absl::Milliseconds(10), absl::Milliseconds(100));
  loop->RunEvery(check_every, [this] { CheckClients(); });

  const bool open_loop = config_.rate > 0;
  while (live_ > 0) {
    absl::Duration wait = kMaxWait;
    if (open_loop && phase_ != Phase::kEnded) {
      const absl::Time turn = loop->Now();
      absl::Time next = absl::InfiniteFuture();
      for (const std::unique_ptr<LoadClient>& client : clients_) {
        if (client->sending()) next = std::min(next, client->SendDue(turn));
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
    // Every client ended before the window began: what this thread
    // counted was warm-up, which the window's figures must not include.
    absl::MutexLock lock(&stats_mutex_);
    latency_.Reset();
    stats_.messages = 0;
    stats_.bytes = 0;
  }
  clients_.clear();
  loop_ = nullptr;
  created->reset();
  generator_->ThreadFinished();
}

void LoadThread::BeginWindow() {
  if (phase_ != Phase::kWarmup) return;
  phase_ = Phase::kWindow;
  // Chat counts only what the window's messages did (by the due time each
  // carries), so there is no warm-up to throw away, and a reset here would
  // lose what this thread's timer was late for.
  if (config_.scenario == LoadScenario::kChat) return;
  absl::MutexLock lock(&stats_mutex_);
  latency_.Reset();
  stats_.messages = 0;
  stats_.bytes = 0;
}

void LoadThread::EndWindow() {
  if (phase_ == Phase::kEnded) return;
  phase_ = Phase::kEnded;
  const absl::Time now = loop_->Now();
  LoadStats ended;
  for (const std::unique_ptr<LoadClient>& client : clients_) {
    client->EndWindow(now, &ended);
  }
  absl::MutexLock lock(&stats_mutex_);
  stats_.outstanding_at_end += ended.outstanding_at_end;
  stats_.behind_at_end += ended.behind_at_end;
  stats_.open_at_end += ended.open_at_end;
}

void LoadThread::CheckClients() {
  const absl::Time now = loop_->Now();
  for (const std::unique_ptr<LoadClient>& client : clients_) {
    client->Check(now);
  }
}

}  // namespace switchboard
