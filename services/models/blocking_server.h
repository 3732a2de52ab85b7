// Copyright Switchboard authors.
//
// blocking_server.h: `BlockingServer`, what the two blocking models
// (IterativeServer, ThreadPerConnectionServer) share: one service on one
// listening socket, taken with blocking waits; the connection limit, the
// connection ids and the log lines the reactor's TcpServer also writes; and
// the set of open connections that shutdown reaches. The models differ only
// in which thread serves an accepted connection.

#ifndef SWITCHBOARD_SERVICES_MODELS_BLOCKING_SERVER_H_
#define SWITCHBOARD_SERVICES_MODELS_BLOCKING_SERVER_H_

#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "reactor/connection_limit.h"
#include "reactor/socket.h"
#include "reactor/wakeup.h"
#include "services/models/blocking_connection.h"
#include "services/service.h"

namespace switchboard {

// Thread affinity: Start, BeginShutdown, CloseAll, Join and the destructor
// belong to the owner's thread (the server's main loop) and are never
// called from the model's own threads. Accept() runs on the accept thread;
// Finish() on whichever thread served the connection. open_connections():
// any thread.
class BlockingServer {
 public:
  BlockingServer(const BlockingServer&) = delete;
  BlockingServer& operator=(const BlockingServer&) = delete;
  // A derived class calls Shutdown() in its own destructor, while its
  // threads can still use it.
  virtual ~BlockingServer();

  // Starts the model's threads; connections are accepted from now on.
  virtual void Start() = 0;

  // Stops accepting (the accept thread closes the listener as it leaves)
  // and asks every open connection to end its session at its next wait for
  // input, after the request under way is answered. Returns at once.
  void BeginShutdown();
  // Shuts down both directions of every connection still open, and of any
  // accepted later, so that a thread blocked in a read or a write returns
  // at once. After BeginShutdown.
  void CloseAll();
  // Waits until every thread of the model has ended. After BeginShutdown.
  virtual void Join() = 0;

  int open_connections() const;

 protected:
  // `service` must outlive the server; `limit` too (it is shared by every
  // listener of the process). `stop` is notified once, never drained, so it
  // stays readable for every wait that watches it.
  BlockingServer(Service* service, Socket listener, ConnectionLimit* limit,
                 BlockingConnectionOptions options, Wakeup stop);

  // BeginShutdown, CloseAll and Join: for destructors.
  void Shutdown();

  // Waits for the next connection within the limit (connections past it are
  // closed at once, with a log line) and returns it registered, so that
  // CloseAll reaches it, and holding a slot of the limit. Returns null once
  // shutdown began, after closing the listener. Accept thread.
  std::unique_ptr<BlockingConnection> Accept();
  // Releases what Accept() took for `connection` and destroys it. After its
  // Serve() returned, on the thread that served it.
  void Finish(std::unique_ptr<BlockingConnection> connection);

  const BlockingConnectionOptions& options() const { return options_; }

 private:
  // Waits until the listener is readable; false once shutdown began.
  bool WaitForConnection();

  Service* const service_;
  ConnectionLimit* const limit_;
  const BlockingConnectionOptions options_;
  const Wakeup stop_;
  Socket listener_;                  // accept thread only, once started
  uint64_t next_id_ = 1;             // accept thread only
  bool out_of_descriptors_ = false;  // accept thread only

  mutable absl::Mutex mu_;
  absl::flat_hash_set<BlockingConnection*> open_ ABSL_GUARDED_BY(mu_);
  bool closing_all_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_MODELS_BLOCKING_SERVER_H_
