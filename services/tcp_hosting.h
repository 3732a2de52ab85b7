// Copyright Switchboard authors.
//
// tcp_hosting.h: `TcpHosting`, how one --model serves the TCP services on
// their bound listeners: ReactorHosting (event loops, a worker pool, one
// ServiceHost per service) or BlockingHosting (a thread per connection, or
// one connection at a time). The Server binds the listeners, picks one
// strategy, and only wires.

#ifndef SWITCHBOARD_SERVICES_TCP_HOSTING_H_
#define SWITCHBOARD_SERVICES_TCP_HOSTING_H_

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "reactor/codec.h"
#include "reactor/socket.h"
#include "services/service.h"

namespace switchboard {

// A TCP service whose listener is bound, waiting to be served.
struct ListeningService {
  std::string name;
  Service* service = nullptr;  // outlives the hosting
  Socket listener;
  Framing framing = Framing::kLine;
  // Sent, framed, to a connection refused past --max_connections (or
  // --max_connections_per_address) before it is closed; empty: closed
  // without a word.
  std::string refusal;
  std::string address_refusal;
};

// Settings every model honours alike.
struct HostingOptions {
  CodecLimits limits;
  absl::Duration idle_timeout = absl::Seconds(300);
  // A line or frame unfinished this long after its first byte ends the
  // session with 408 (reactor model); zero: no deadline.
  absl::Duration request_timeout = absl::Seconds(30);
};

// Start and Shutdown: the server's main loop thread.
class TcpHosting {
 public:
  virtual ~TcpHosting() = default;
  // Starts accepting on every listener.
  virtual void Start() = 0;
  // Stops accepting, lets replies under way go out for at most `grace`,
  // closes every connection still open, and stops the model's threads.
  // Idempotent.
  virtual void Shutdown(absl::Duration grace) = 0;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_TCP_HOSTING_H_
