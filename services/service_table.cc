// Copyright Switchboard authors.

#include "services/service_table.h"

#include "services/auth/auth_service.h"
#include "services/echo/echo_service.h"
#include "services/identity/identity_service.h"

namespace switchboard {
namespace {

constexpr absl::string_view kTooManyConnections = "421 too many connections; try again later";
constexpr absl::string_view kTooManyFromAddress =
    "421 too many connections from your address; try again later";

std::vector<ServiceSpec> MakeTable() {
  std::vector<ServiceSpec> table;
  table.push_back(ServiceSpec{
      .name = "echo",
      .transport = Transport::kTcp,
      .default_port = 7007,
      .framings = {Framing::kRaw, Framing::kLine, Framing::kLength},
      .make = [](const ServiceResources&) { return std::make_unique<EchoService>(); },
  });
  table.push_back(ServiceSpec{
      .name = "identity",
      .transport = Transport::kTcp,
      .default_port = 7008,
      .framings = {Framing::kLine, Framing::kLength},
      .needs_store = true,
      .busy_reply = std::string(kTooManyConnections),
      .address_busy_reply = std::string(kTooManyFromAddress),
      .make = [](const ServiceResources& r) { return std::make_unique<IdentityService>(r.store); },
  });
  table.push_back(ServiceSpec{
      .name = "auth",
      .transport = Transport::kTcp,
      .default_port = 7009,
      .framings = {Framing::kLine, Framing::kLength},
      .needs_store = true,
      .needs_passwords = true,
      .busy_reply = std::string(kTooManyConnections),
      .address_busy_reply = std::string(kTooManyFromAddress),
      .make =
          [](const ServiceResources& r) {
            AuthServiceOptions options;
            options.session_ttl = r.session_ttl;
            return std::make_unique<AuthService>(r.store, r.hasher, r.limiter, r.calendar, options,
                                                 r.registrations);
          },
  });
  table.push_back(ServiceSpec{
      .name = "chat",
      .transport = Transport::kUdp,
      .default_port = 7010,
  });
  return table;
}

}  // namespace

absl::string_view TransportName(Transport transport) {
  return transport == Transport::kTcp ? "tcp" : "udp";
}

const std::vector<ServiceSpec>& ServiceTable() {
  static const auto* const table = new std::vector<ServiceSpec>(MakeTable());
  return *table;
}

const ServiceSpec* FindService(absl::string_view name) {
  for (const ServiceSpec& spec : ServiceTable()) {
    if (spec.name == name) return &spec;
  }
  return nullptr;
}

const std::vector<std::string>& KnownServices() {
  static const auto* const names = [] {
    auto* names = new std::vector<std::string>;
    for (const ServiceSpec& spec : ServiceTable()) names->push_back(spec.name);
    return names;
  }();
  return *names;
}

}  // namespace switchboard
