// Copyright Switchboard authors.
//
// reactor_hosting.h: `ReactorHosting`, --model=reactor: I/O event loops
// carry the connections, a ServiceHost per service runs the sessions
// inline or on the worker pool.

#ifndef SWITCHBOARD_SERVICES_REACTOR_HOSTING_H_
#define SWITCHBOARD_SERVICES_REACTOR_HOSTING_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "reactor/connection_limit.h"
#include "reactor/event_loop.h"
#include "reactor/event_loop_pool.h"
#include "reactor/poller.h"
#include "reactor/tcp_server.h"
#include "reactor/thread_pool.h"
#include "services/service_host.h"
#include "services/tcp_hosting.h"

namespace switchboard {

struct ReactorHostingOptions {
  HostingOptions common;
  int io_threads = 1;
  PollerKind poller = DefaultPollerKind();
  Dispatch dispatch = Dispatch::kAuto;
};

class ReactorHosting final : public TcpHosting {
 public:
  // Starts the I/O threads; accepts nothing until Start(). `main_loop`
  // accepts; `workers` runs the sessions that may block and is stopped by
  // Shutdown; `limit` is shared by every listener. All three outlive the
  // hosting.
  static absl::StatusOr<std::unique_ptr<ReactorHosting>> Create(
      EventLoop* main_loop, ThreadPool* workers, ConnectionLimit* limit,
      std::vector<ListeningService> services, const ReactorHostingOptions& options);
  ~ReactorHosting() override;

  // TcpHosting
  void Start() override;
  void Shutdown(absl::Duration grace) override;

 private:
  struct Hosted {
    std::unique_ptr<ServiceHost> host;
    std::unique_ptr<TcpServer> tcp;
  };

  ReactorHosting(EventLoop* main_loop, ThreadPool* workers, ConnectionLimit* limit);

  EventLoop* const main_loop_;
  ThreadPool* const workers_;
  ConnectionLimit* const limit_;
  std::unique_ptr<EventLoopPool> io_loops_;
  std::vector<Hosted> hosted_;
  bool stopped_ = false;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_REACTOR_HOSTING_H_
