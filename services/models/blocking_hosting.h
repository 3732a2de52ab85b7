// Copyright Switchboard authors.
//
// blocking_hosting.h: `BlockingHosting`, --model=blocking (a thread per
// connection) and --model=iterative (one connection at a time per service):
// one BlockingServer per service, every session call on the thread that
// reads the connection.

#ifndef SWITCHBOARD_SERVICES_MODELS_BLOCKING_HOSTING_H_
#define SWITCHBOARD_SERVICES_MODELS_BLOCKING_HOSTING_H_

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "reactor/connection_limit.h"
#include "services/models/blocking_server.h"
#include "services/tcp_hosting.h"

namespace switchboard {

class BlockingHosting final : public TcpHosting {
 public:
  enum class Kind {
    kThreadPerConnection,  // --model=blocking
    kIterative,            // --model=iterative
  };

  // Starts nothing until Start(). `limit` is shared by every listener and
  // outlives the hosting.
  static absl::StatusOr<std::unique_ptr<BlockingHosting>> Create(
      Kind kind, ConnectionLimit* limit, std::vector<ListeningService> services,
      const HostingOptions& options);
  ~BlockingHosting() override;

  // TcpHosting
  void Start() override;
  void Shutdown(absl::Duration grace) override;

 private:
  explicit BlockingHosting(ConnectionLimit* limit) : limit_(limit) {}

  ConnectionLimit* const limit_;
  std::vector<std::unique_ptr<BlockingServer>> servers_;
  bool started_ = false;
  bool stopped_ = false;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_MODELS_BLOCKING_HOSTING_H_
