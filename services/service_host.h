// Copyright Switchboard authors.
//
// service_host.h: `ServiceHost` runs one Service on the connections of one
// TcpServer: it frames each connection's bytes with a Codec, hands the
// messages to the connection's Session (on the I/O thread for a cheap
// service, through a per-connection SerialExecutor on the worker pool
// otherwise), and writes the replies back on the connection's loop.

#ifndef SWITCHBOARD_SERVICES_SERVICE_HOST_H_
#define SWITCHBOARD_SERVICES_SERVICE_HOST_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "reactor/codec.h"
#include "reactor/tcp_server.h"
#include "reactor/thread_pool.h"
#include "services/service.h"

namespace switchboard {

// --dispatch: where session calls run.
enum class Dispatch {
  kAuto,  // cheap services on the I/O thread, the others on the pool
  kPool,  // every service on the pool
};

absl::StatusOr<Dispatch> ParseDispatch(absl::string_view name);

struct ServiceHostOptions {
  Framing framing = Framing::kRaw;
  CodecLimits limits;
  Dispatch dispatch = Dispatch::kAuto;
  // Pool dispatch: a connection stops reading while this many messages, or
  // this many bytes of them, wait for the pool.
  size_t max_queued_messages = 64;
  size_t max_queued_bytes = 1 << 20;
  // A line or frame must be complete this long after its first byte came,
  // else "408 request timeout" (line and length framing) and the session
  // ends; zero: no deadline. Raw framing has no messages to time.
  absl::Duration request_timeout = absl::ZeroDuration();
};

// Thread-safe after Attach: it only creates per-connection state, on the
// connection's loop thread.
class ServiceHost {
 public:
  // `service` and `pool` must outlive the host and every connection of it.
  // `pool` may be null when every call runs on the I/O thread.
  ServiceHost(Service* service, ThreadPool* pool, ServiceHostOptions options);

  // Serves every new connection of `server`.
  void Attach(TcpServer* server);

  bool runs_on_pool() const { return on_pool_; }
  const ServiceHostOptions& options() const { return options_; }

 private:
  Service* const service_;
  ThreadPool* const pool_;
  const ServiceHostOptions options_;
  const bool on_pool_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_SERVICE_HOST_H_
