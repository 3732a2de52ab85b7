// Copyright Switchboard authors.
//
// peer_key.h: `PeerKey`, a chat peer's address and port as 18 fixed bytes
// (IPv4 as IPv4-mapped IPv6), so that one client is one key whether it
// reaches a dual-stack socket over IPv4 or IPv6, and so that lookups hash a
// few bytes instead of formatting a string per datagram.

#ifndef SWITCHBOARD_SERVICES_CHAT_PEER_KEY_H_
#define SWITCHBOARD_SERVICES_CHAT_PEER_KEY_H_

#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/strings/string_view.h"
#include "reactor/inet_address.h"

namespace switchboard {

struct PeerKey {
  std::array<unsigned char, 18> bytes{};

  static PeerKey Of(const InetAddress& address) {
    PeerKey key;
    const InetAddress plain = address.Unmapped();
    if (plain.family() == AF_INET) {
      const auto* v4 = reinterpret_cast<const sockaddr_in*>(plain.sockaddr_ptr());
      key.bytes[10] = key.bytes[11] = 0xFF;
      std::memcpy(key.bytes.data() + 12, &v4->sin_addr, 4);
    } else {
      const auto* v6 = reinterpret_cast<const sockaddr_in6*>(plain.sockaddr_ptr());
      std::memcpy(key.bytes.data(), &v6->sin6_addr, 16);
    }
    const uint16_t port = htons(plain.port());
    std::memcpy(key.bytes.data() + 16, &port, 2);
    return key;
  }

  // The host part alone, for counting what one host holds: the IPv4
  // address, or the IPv6 /64 (a host is given a whole /64, so counting
  // single IPv6 addresses would count nothing).
  PeerKey Host() const {
    PeerKey host = *this;
    host.bytes[16] = host.bytes[17] = 0;
    const bool v4 =
        bytes[10] == 0xFF && bytes[11] == 0xFF &&
        std::all_of(bytes.begin(), bytes.begin() + 10, [](unsigned char b) { return b == 0; });
    if (!v4) std::fill(host.bytes.begin() + 8, host.bytes.begin() + 16, 0);
    return host;
  }

  absl::string_view view() const {
    return absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  friend bool operator==(const PeerKey& a, const PeerKey& b) { return a.bytes == b.bytes; }
  template <typename H>
  friend H AbslHashValue(H h, const PeerKey& key) {
    return H::combine(std::move(h), key.view());
  }
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_CHAT_PEER_KEY_H_
