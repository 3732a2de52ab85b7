// Copyright Switchboard authors.

#include "services/models/blocking_hosting.h"

#include <utility>

#include "glog/logging.h"
#include "reactor/clock.h"
#include "services/models/iterative_server.h"
#include "services/models/thread_per_connection_server.h"

namespace switchboard {

absl::StatusOr<std::unique_ptr<BlockingHosting>> BlockingHosting::Create(
    Kind kind, ConnectionLimit* limit, std::vector<ListeningService> services,
    const HostingOptions& options) {
  std::unique_ptr<BlockingHosting> hosting(new BlockingHosting(limit));
  for (ListeningService& listening : services) {
    BlockingConnectionOptions connection;
    connection.name = listening.name;
    connection.framing = listening.framing;
    connection.refusal = listening.refusal;
    connection.address_refusal = listening.address_refusal;
    connection.limits = options.limits;
    connection.idle_timeout = options.idle_timeout;
    absl::StatusOr<std::unique_ptr<BlockingServer>> server;
    if (kind == Kind::kIterative) {
      server = IterativeServer::Create(listening.service, std::move(listening.listener), limit,
                                       std::move(connection));
    } else {
      server = ThreadPerConnectionServer::Create(listening.service, std::move(listening.listener),
                                                 limit, std::move(connection));
    }
    if (!server.ok()) return server.status();
    hosting->servers_.push_back(*std::move(server));
  }
  return hosting;
}

BlockingHosting::~BlockingHosting() { Shutdown(absl::ZeroDuration()); }

void BlockingHosting::Start() {
  started_ = true;
  for (auto& server : servers_) server->Start();
}

void BlockingHosting::Shutdown(absl::Duration grace) {
  if (stopped_) return;
  stopped_ = true;
  if (!started_) {
    servers_.clear();  // no thread runs yet
    return;
  }
  // Real time, not the main loop's clock: the connection threads wait in
  // real time, and a test's fake clock would never end the grace period.
  const absl::Time deadline = SteadyClock()->Now() + grace;
  // The accept threads close their listeners; each connection's thread
  // answers the request under way, then ends its session (lingering close)
  // instead of reading another.
  for (auto& server : servers_) server->BeginShutdown();
  while (limit_->open() > 0 && SteadyClock()->Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  const int left = limit_->open();
  LOG_IF(INFO, left > 0) << "closing " << left << " connections still open after the grace period";
  // shutdown(SHUT_RDWR) ends every wait (for input, for room to write, for
  // the client's close), so the joins below end once any session call
  // still computing returns.
  for (auto& server : servers_) server->CloseAll();
  for (auto& server : servers_) server->Join();
  servers_.clear();
}

}  // namespace switchboard
