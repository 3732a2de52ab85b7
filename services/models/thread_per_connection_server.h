// Copyright Switchboard authors.
//
// thread_per_connection_server.h: `ThreadPerConnectionServer`, the
// --model=blocking host: an accept thread starts one thread per connection,
// and that thread serves it with blocking reads and writes from greeting to
// close, running every Session call itself (the reactor's cheap/pool
// dispatch does not apply). --max_connections bounds the threads as it
// bounds the connections.

#ifndef SWITCHBOARD_SERVICES_MODELS_THREAD_PER_CONNECTION_SERVER_H_
#define SWITCHBOARD_SERVICES_MODELS_THREAD_PER_CONNECTION_SERVER_H_

#include <cstdint>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "reactor/connection_limit.h"
#include "reactor/socket.h"
#include "services/models/blocking_connection.h"
#include "services/models/blocking_server.h"
#include "services/service.h"

namespace switchboard {

// Thread affinity: as BlockingServer. The accept thread only accepts and
// starts threads; each connection thread serves its connection, releases
// it and ends. No thread outlives Join().
class ThreadPerConnectionServer final : public BlockingServer {
 public:
  // `service` and `limit` must outlive the server.
  static absl::StatusOr<std::unique_ptr<ThreadPerConnectionServer>> Create(
      Service* service, Socket listener, ConnectionLimit* limit, BlockingConnectionOptions options);
  // Closes what is still open at once and joins every thread.
  ~ThreadPerConnectionServer() override;

  // BlockingServer
  void Start() override;
  void Join() override;

 private:
  using BlockingServer::BlockingServer;

  // Accepts until shutdown, a thread per connection. The accept thread.
  void AcceptLoop();
  // Serves `connection` (owned from here on), then hands this thread's own
  // handle on to be joined. The connection's thread.
  void ServeAndExit(BlockingConnection* connection);

  std::thread accept_thread_;
  absl::Mutex threads_mu_;
  // The threads still serving, by connection id.
  absl::flat_hash_map<uint64_t, std::thread> running_ ABSL_GUARDED_BY(threads_mu_);
  // A thread cannot join itself: each exiting thread leaves its handle here
  // and joins the one that exited before it, so at most one ended thread is
  // unjoined, and joining it means every earlier one has ended too.
  std::thread last_exited_ ABSL_GUARDED_BY(threads_mu_);
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_MODELS_THREAD_PER_CONNECTION_SERVER_H_
