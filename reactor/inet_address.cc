// Copyright Switchboard authors.

#include "reactor/inet_address.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <cstring>

#include "absl/strings/str_cat.h"

namespace switchboard {

InetAddress::InetAddress() {
  std::memset(&storage_, 0, sizeof(storage_));
  storage_.ss_family = AF_INET;
}

absl::StatusOr<InetAddress> InetAddress::Parse(absl::string_view host, uint16_t port) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string text(host);
  InetAddress address;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&address.storage_);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&address.storage_);
  if (inet_pton(AF_INET, text.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    return address;
  }
  std::memset(&address.storage_, 0, sizeof(address.storage_));
  if (inet_pton(AF_INET6, text.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    return address;
  }
  return absl::InvalidArgumentError(absl::StrCat("'", host, "' is not an IPv4 or IPv6 address"));
}

absl::StatusOr<std::vector<InetAddress>> InetAddress::Resolve(absl::string_view host, uint16_t port,
                                                              int socktype) {
  if (auto numeric = Parse(host, port); numeric.ok()) {
    return std::vector<InetAddress>{*numeric};
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = socktype;
  addrinfo* found = nullptr;
  const std::string text(host);
  const int rc = getaddrinfo(text.c_str(), nullptr, &hints, &found);
  if (rc != 0) {
    return absl::NotFoundError(absl::StrCat("cannot resolve '", host, "': ", gai_strerror(rc)));
  }
  std::vector<InetAddress> out;
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) continue;
    InetAddress address = FromSockaddr(ai->ai_addr, ai->ai_addrlen);
    address.set_port(port);
    out.push_back(address);
  }
  freeaddrinfo(found);
  if (out.empty()) {
    return absl::NotFoundError(absl::StrCat("'", host, "' has no IP address"));
  }
  return out;
}

InetAddress InetAddress::FromSockaddr(const sockaddr* addr, socklen_t length) {
  InetAddress address;
  std::memcpy(&address.storage_, addr, std::min<size_t>(length, sizeof(address.storage_)));
  return address;
}

uint16_t InetAddress::port() const {
  if (is_ipv6()) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
  }
  return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
}

void InetAddress::set_port(uint16_t port) {
  if (is_ipv6()) {
    reinterpret_cast<sockaddr_in6*>(&storage_)->sin6_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in*>(&storage_)->sin_port = htons(port);
  }
}

socklen_t InetAddress::length() const {
  return is_ipv6() ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

InetAddress InetAddress::Unmapped() const {
  if (!is_ipv6()) return *this;
  const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage_);
  if (!IN6_IS_ADDR_V4MAPPED(&v6->sin6_addr)) return *this;
  InetAddress v4;
  auto* out = reinterpret_cast<sockaddr_in*>(&v4.storage_);
  out->sin_family = AF_INET;
  out->sin_port = v6->sin6_port;
  std::memcpy(&out->sin_addr, &v6->sin6_addr.s6_addr[12], 4);
  return v4;
}

std::string InetAddress::IpString() const {
  const InetAddress plain = Unmapped();
  char text[INET6_ADDRSTRLEN] = {};
  if (plain.is_ipv6()) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&plain.storage_)->sin6_addr, text,
              sizeof(text));
  } else {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&plain.storage_)->sin_addr, text,
              sizeof(text));
  }
  return text;
}

std::string InetAddress::ToString() const {
  const InetAddress plain = Unmapped();
  if (plain.is_ipv6()) return absl::StrCat("[", plain.IpString(), "]:", port());
  return absl::StrCat(plain.IpString(), ":", port());
}

}  // namespace switchboard
