// Copyright Switchboard authors.
//
// inet_address.h: an IPv4 or IPv6 socket address, parsed and printed.

#ifndef SWITCHBOARD_REACTOR_INET_ADDRESS_H_
#define SWITCHBOARD_REACTOR_INET_ADDRESS_H_

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard {

// A value type over sockaddr_in / sockaddr_in6.
class InetAddress {
 public:
  InetAddress();  // 0.0.0.0:0

  // Parses a numeric address ("127.0.0.1", "::", "[::1]"); no DNS.
  static absl::StatusOr<InetAddress> Parse(absl::string_view host, uint16_t port);
  // Resolves a host name or numeric address for `socktype` (SOCK_STREAM or
  // SOCK_DGRAM); the addresses in the order the resolver prefers.
  static absl::StatusOr<std::vector<InetAddress>> Resolve(absl::string_view host, uint16_t port,
                                                          int socktype);
  // From what accept() or getsockname() filled in.
  static InetAddress FromSockaddr(const sockaddr* addr, socklen_t length);

  int family() const { return storage_.ss_family; }
  bool is_ipv6() const { return family() == AF_INET6; }
  uint16_t port() const;
  void set_port(uint16_t port);

  // The IP alone, IPv4-mapped IPv6 shown as IPv4: "127.0.0.1", "::1".
  std::string IpString() const;
  // "127.0.0.1:7007" or "[::]:7007".
  std::string ToString() const;

  // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) turned into plain IPv4;
  // other addresses unchanged. Peers are identified by this form.
  InetAddress Unmapped() const;

  const sockaddr* sockaddr_ptr() const { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* mutable_sockaddr() { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t length() const;

 private:
  sockaddr_storage storage_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_REACTOR_INET_ADDRESS_H_
