// Copyright Switchboard authors.
//
// iterative_server.h: `IterativeServer`, the --model=iterative host: the
// textbook first server. One thread accepts a connection, serves it with
// blocking calls until it ends, and only then accepts the next; meanwhile
// new clients wait in the listen backlog (their connect() succeeds, but
// nothing is read from them).

#ifndef SWITCHBOARD_SERVICES_MODELS_ITERATIVE_SERVER_H_
#define SWITCHBOARD_SERVICES_MODELS_ITERATIVE_SERVER_H_

#include <memory>
#include <thread>

#include "absl/status/statusor.h"
#include "reactor/connection_limit.h"
#include "reactor/socket.h"
#include "services/models/blocking_connection.h"
#include "services/models/blocking_server.h"
#include "services/service.h"

namespace switchboard {

// Thread affinity: as BlockingServer. The one thread it starts accepts and
// serves (it runs every Session call of this listener, one connection
// after another), so a service needs no locking beyond what the reactor
// already asks of it.
class IterativeServer final : public BlockingServer {
 public:
  // `service` and `limit` must outlive the server.
  static absl::StatusOr<std::unique_ptr<IterativeServer>> Create(Service* service, Socket listener,
                                                                 ConnectionLimit* limit,
                                                                 BlockingConnectionOptions options);
  // Closes what is still open at once and joins the thread.
  ~IterativeServer() override;

  // BlockingServer
  void Start() override;
  void Join() override;

 private:
  using BlockingServer::BlockingServer;

  // Accepts and serves until shutdown. The server's thread.
  void Run();

  std::thread thread_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_MODELS_ITERATIVE_SERVER_H_
