// Copyright Switchboard authors.
//
// tcp_server.h: `TcpServer` accepts on one listening socket, hands each
// connection to an I/O loop round-robin, owns the connections (each on its
// own loop), logs their life, and enforces the connection limit.

#ifndef SWITCHBOARD_REACTOR_TCP_SERVER_H_
#define SWITCHBOARD_REACTOR_TCP_SERVER_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "reactor/acceptor.h"
#include "reactor/connection_limit.h"
#include "reactor/event_loop.h"
#include "reactor/event_loop_pool.h"
#include "reactor/tcp_connection.h"

namespace switchboard {

struct TcpServerOptions {
  std::string name = "tcp";  // the service's name, for log lines
  TcpConnectionOptions connection;
  // Sent, best effort and without waiting, to a connection refused past
  // the ConnectionLimit (in all; from its address) before it is closed;
  // empty: nothing.
  std::string refusal;
  std::string address_refusal;
};

// Construction, Start, StopAccepting, EndAllSessions, CloseAll and the
// destructor: the accept loop's thread. Connections live on their I/O
// loops and are touched only there. connection_count(): any thread.
class TcpServer {
 public:
  // Called on the connection's loop for each new connection, before it
  // starts reading: set its handler here.
  using ConnectionCallback = std::function<void(TcpConnection&)>;

  // Connections go to `io_loops` round-robin, or stay on `accept_loop`
  // when `io_loops` is null.
  TcpServer(EventLoop* accept_loop, EventLoopPool* io_loops, Socket listener,
            ConnectionLimit* limit, TcpServerOptions options);
  ~TcpServer();

  void set_connection_callback(ConnectionCallback cb) { on_connection_ = std::move(cb); }

  void Start();
  // Closes the listening socket.
  void StopAccepting();
  // Runs `fn` for every open connection, on each connection's loop thread,
  // and returns when all are done.
  void ForEachConnection(const std::function<void(TcpConnection&)>& fn);
  // Closes every connection now, with `why`, and waits until done.
  void CloseAll(absl::string_view why);

  const InetAddress& local_address() const { return acceptor_.local_address(); }
  int connection_count() const { return count_.load(std::memory_order_acquire); }
  const std::string& name() const { return options_.name; }

 private:
  // The connections of one loop; touched only on that loop's thread.
  struct LoopConnections {
    EventLoop* loop;
    absl::flat_hash_map<uint64_t, std::unique_ptr<TcpConnection>> connections;
  };

  void HandleNewConnection(Socket socket, const InetAddress& peer);
  void AddOnLoop(LoopConnections* slot, uint64_t id, Socket socket, const InetAddress& peer);
  void HandleClosed(LoopConnections* slot, TcpConnection& connection);
  // Runs `fn` on each loop's thread with its connections and waits.
  void ForEachLoop(const std::function<void(LoopConnections&)>& fn);

  EventLoop* const accept_loop_;
  ConnectionLimit* const limit_;
  const TcpServerOptions options_;
  Acceptor acceptor_;
  std::vector<std::unique_ptr<LoopConnections>> loops_;
  size_t next_loop_ = 0;
  uint64_t next_id_ = 1;
  std::atomic<int> count_{0};
  ConnectionCallback on_connection_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_REACTOR_TCP_SERVER_H_
