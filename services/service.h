// Copyright Switchboard authors.
//
// service.h: what a service is to the server. A `Service` makes one
// `Session` per connection; the session reacts to the connection's messages
// (already framed) by sending replies through `Replies`. Services know
// nothing of sockets, loops or threads beyond the promise below.

#ifndef SWITCHBOARD_SERVICES_SERVICE_H_
#define SWITCHBOARD_SERVICES_SERVICE_H_

#include <cstdint>
#include <memory>

#include "absl/strings/string_view.h"
#include "reactor/codec.h"
#include "reactor/inet_address.h"

namespace switchboard {

// Where a session's output goes. Valid only during the Session call it is
// passed to.
class Replies {
 public:
  virtual ~Replies() = default;
  // Sends one message, framed as the session's connection frames them.
  //
  // Hot-path rule: the bytes of `message` may be sent after Reply returns,
  // straight from where they are (raw echo replies go out from the input
  // they came in, several gathered into one send), until the session call
  // that made them returns. Pass bytes that stay unchanged until then: the
  // message being answered or part of it, a member of the session, a
  // literal; not a temporary that dies before the call returns. Nothing is
  // allocated per reply on the I/O thread.
  virtual void Reply(absl::string_view message) = 0;
  // Ends the session once the replies so far are sent; later messages from
  // the client are discarded.
  virtual void EndSession() = 0;
};

// Who a session is talking to.
struct SessionInfo {
  uint64_t connection_id = 0;
  InetAddress peer;  // IPv4-mapped IPv6 already turned into IPv4
  Framing framing = Framing::kRaw;
};

// One connection's conversation. A session is called by one thread at a
// time, in the order its messages arrived (on the connection's I/O thread
// for a cheap service, through a serial executor on the worker pool
// otherwise), so it needs no locking of its own.
class Session {
 public:
  virtual ~Session() = default;
  // The connection is open: greet, if the protocol does.
  virtual void OnStart(Replies& /*out*/) {}
  virtual void OnMessage(absl::string_view message, Replies& out) = 0;
  // The client will send nothing more (it half-closed). The session then
  // ends once every reply is out.
  virtual void OnEndOfInput(Replies& /*out*/) {}
};

class Service {
 public:
  virtual ~Service() = default;
  // As in --services and the "listening" line: "echo".
  virtual absl::string_view name() const = 0;
  // True when every session call is quick and never blocks, so it may run
  // on the I/O thread; false sends the calls to the worker pool.
  virtual bool cheap() const = 0;
  // Called on the connection's I/O thread. Thread-safe.
  virtual std::unique_ptr<Session> NewSession(const SessionInfo& info) = 0;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_SERVICE_H_
