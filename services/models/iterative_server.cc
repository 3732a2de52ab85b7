// Copyright Switchboard authors.

#include "services/models/iterative_server.h"

#include <utility>

namespace switchboard {

absl::StatusOr<std::unique_ptr<IterativeServer>> IterativeServer::Create(
    Service* service, Socket listener, ConnectionLimit* limit, BlockingConnectionOptions options) {
  absl::StatusOr<Wakeup> stop = Wakeup::Create();
  if (!stop.ok()) return stop.status();
  return std::unique_ptr<IterativeServer>(new IterativeServer(
      service, std::move(listener), limit, std::move(options), *std::move(stop)));
}

IterativeServer::~IterativeServer() { Shutdown(); }

void IterativeServer::Start() {
  thread_ = std::thread([this] { Run(); });
}

void IterativeServer::Join() {
  if (thread_.joinable()) thread_.join();
}

void IterativeServer::Run() {
  while (std::unique_ptr<BlockingConnection> connection = Accept()) {
    connection->Serve();
    Finish(std::move(connection));
  }
}

}  // namespace switchboard
