// Copyright Switchboard authors.
//
// acceptor.h: `Acceptor` takes new TCP connections off a listening socket
// without blocking.

#ifndef SWITCHBOARD_REACTOR_ACCEPTOR_H_
#define SWITCHBOARD_REACTOR_ACCEPTOR_H_

#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "reactor/event_loop.h"
#include "reactor/inet_address.h"
#include "reactor/io_watcher.h"
#include "reactor/socket.h"

namespace switchboard {

// Loop thread only (the loop given at construction).
class Acceptor {
 public:
  // Receives each new connection, already non-blocking and close-on-exec.
  using NewConnectionCallback = std::function<void(Socket, const InetAddress& peer)>;

  Acceptor(EventLoop* loop, Socket listener, NewConnectionCallback callback);
  ~Acceptor();

  // Starts accepting.
  void Listen();
  // Stops accepting and closes the listening socket: new connection
  // attempts are refused from now on.
  void Close();

  const InetAddress& local_address() const { return local_address_; }
  // Connections accepted and dropped because descriptors ran out.
  uint64_t dropped_for_descriptors() const { return dropped_; }

 private:
  void HandleReadable();
  // EMFILE/ENFILE: without a descriptor to accept with, the pending
  // connection would keep the socket readable and the loop spinning. Close
  // the spare descriptor, accept and close the connection (the peer sees a
  // clean close), and take the spare back (muduo's and libev's trick).
  void ShedOneConnection(int accept_errno);
  void ReopenSpare();

  EventLoop* const loop_;
  Socket listener_;
  InetAddress local_address_;
  IoWatcher watcher_;
  NewConnectionCallback callback_;
  int spare_fd_ = -1;
  uint64_t dropped_ = 0;
  TimerId resume_timer_ = 0;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_REACTOR_ACCEPTOR_H_
