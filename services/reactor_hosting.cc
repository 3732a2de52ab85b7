// Copyright Switchboard authors.

#include "services/reactor_hosting.h"

#include <algorithm>
#include <utility>

#include "glog/logging.h"

namespace switchboard {

ReactorHosting::ReactorHosting(EventLoop* main_loop, ThreadPool* workers, ConnectionLimit* limit)
    : main_loop_(main_loop), workers_(workers), limit_(limit) {}

absl::StatusOr<std::unique_ptr<ReactorHosting>> ReactorHosting::Create(
    EventLoop* main_loop, ThreadPool* workers, ConnectionLimit* limit,
    std::vector<ListeningService> services, const ReactorHostingOptions& options) {
  main_loop->AssertInLoopThread();
  std::unique_ptr<ReactorHosting> hosting(new ReactorHosting(main_loop, workers, limit));
  hosting->io_loops_ =
      std::make_unique<EventLoopPool>(options.io_threads, options.poller, main_loop->clock());
  if (absl::Status s = hosting->io_loops_->Start(); !s.ok()) return s;
  TcpServerOptions tcp_options;
  tcp_options.connection.idle_timeout = options.common.idle_timeout;
  for (ListeningService& listening : services) {
    ServiceHostOptions host_options;
    host_options.framing = listening.framing;
    host_options.limits = options.common.limits;
    host_options.request_timeout = options.common.request_timeout;
    host_options.dispatch = options.dispatch;
    Hosted hosted;
    hosted.host = std::make_unique<ServiceHost>(listening.service, workers, host_options);
    tcp_options.name = listening.name;
    tcp_options.refusal = listening.refusal;
    tcp_options.address_refusal = listening.address_refusal;
    hosted.tcp = std::make_unique<TcpServer>(main_loop, hosting->io_loops_.get(),
                                             std::move(listening.listener), limit, tcp_options);
    hosted.host->Attach(hosted.tcp.get());
    hosting->hosted_.push_back(std::move(hosted));
  }
  return hosting;
}

ReactorHosting::~ReactorHosting() { Shutdown(absl::ZeroDuration()); }

void ReactorHosting::Start() {
  main_loop_->AssertInLoopThread();
  for (Hosted& hosted : hosted_) hosted.tcp->Start();
}

void ReactorHosting::Shutdown(absl::Duration grace) {
  main_loop_->AssertInLoopThread();
  if (stopped_) return;
  stopped_ = true;
  const absl::Time deadline = main_loop_->Now() + grace;
  for (Hosted& hosted : hosted_) hosted.tcp->StopAccepting();
  // No new requests: what is under way finishes, nothing more starts.
  for (Hosted& hosted : hosted_) {
    hosted.tcp->ForEachConnection([](TcpConnection& c) { c.PauseReading(); });
  }
  workers_->Stop(std::max(absl::ZeroDuration(), deadline - main_loop_->Now()));
  // The workers' replies are queued on the I/O loops; each connection now
  // sends what it owes and closes: at once when nothing is unread either
  // way, so that idle clients do not hold the shutdown, else lingering.
  for (Hosted& hosted : hosted_) {
    hosted.tcp->ForEachConnection([](TcpConnection& c) { c.EndSessionForShutdown(); });
  }
  while (limit_->open() > 0 && main_loop_->Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  const int left = limit_->open();
  LOG_IF(INFO, left > 0) << "closing " << left << " connections still open after the grace period";
  for (Hosted& hosted : hosted_) hosted.tcp->CloseAll("the server is shutting down");
  io_loops_->Stop();
  hosted_.clear();
}

}  // namespace switchboard
