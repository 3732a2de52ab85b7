// Copyright Switchboard authors.
//
// service_table.h: every service Switchboard knows, one row each: its name,
// transport, default port, the framings it accepts, what it needs from the
// process, and how to make it. The server, the flag parser and the
// validation read this table and nothing else, so adding a TCP service means
// one row here and the service's own files.

#ifndef SWITCHBOARD_SERVICES_SERVICE_TABLE_H_
#define SWITCHBOARD_SERVICES_SERVICE_TABLE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "reactor/clock.h"
#include "reactor/codec.h"
#include "services/auth/failure_limiter.h"
#include "services/auth/password_hasher.h"
#include "services/service.h"
#include "services/store/store.h"

namespace switchboard {

// What the process shares with the services that ask for it; each pointer
// outlives the services.
struct ServiceResources {
  Store* store = nullptr;                  // rows with needs_store
  const PasswordHasher* hasher = nullptr;  // rows with needs_passwords
  FailureLimiter* limiter = nullptr;       // rows with needs_passwords
  // REGISTERs per client address (rows with needs_passwords); null: none.
  FailureLimiter* registrations = nullptr;
  const Clock* calendar = nullptr;  // dates what outlives the process
  absl::Duration session_ttl = absl::Hours(24);
};

enum class Transport { kTcp, kUdp };
absl::string_view TransportName(Transport transport);  // "tcp", "udp"

struct ServiceSpec {
  std::string name;  // as in --services, --<name>_port, the listening line
  Transport transport = Transport::kTcp;
  int default_port = 0;
  // The framings --<name>_framing accepts, the default first; empty for a
  // UDP service (one message per datagram).
  std::vector<Framing> framings;
  bool needs_store = false;
  bool needs_passwords = false;  // a password hasher and a failure limiter
  // What a connection refused past --max_connections (or past
  // --max_connections_per_address) is told, as one message of the
  // service's framing before the close; empty for services without lines
  // to say it in (echo).
  std::string busy_reply;
  std::string address_busy_reply;
  // Makes a TCP service; null for UDP ones, which the server binds itself
  // around their own socket.
  std::function<std::unique_ptr<Service>(const ServiceResources&)> make;
};

// Every service, in the default --services order.
const std::vector<ServiceSpec>& ServiceTable();
// The row named `name`; null when there is none.
const ServiceSpec* FindService(absl::string_view name);
// The names of the table's rows, in order.
const std::vector<std::string>& KnownServices();

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_SERVICE_TABLE_H_
