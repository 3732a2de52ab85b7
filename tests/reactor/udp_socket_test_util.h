// Copyright Switchboard authors.
//
// udp_socket_test_util.h: what the UdpSocket tests share. They run real
// loopback sockets: a `Server` (a UdpSocket on a loop thread of its own,
// its callback's datagrams in an `Inbox`) talks to plain blocking `Client`
// sockets on the test's thread; a `Collector` reads a long stream on a
// thread of its own. `Numbered` and `Pattern` make datagrams whose contents
// show what was lost, reordered or cut.

#ifndef SWITCHBOARD_TESTS_REACTOR_UDP_SOCKET_TEST_UTIL_H_
#define SWITCHBOARD_TESTS_REACTOR_UDP_SOCKET_TEST_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "reactor/event_loop.h"
#include "reactor/inet_address.h"
#include "reactor/poller.h"
#include "reactor/socket.h"
#include "reactor/udp_socket.h"
#include "tests/testing/loop_thread.h"

namespace switchboard::udp_socket_test {

// How long any one wait of these tests may take before it fails.
inline constexpr absl::Duration kTimeout = absl::Seconds(10);

// `host` and `port` as an address; the test dies when `host` is no address.
InetAddress Address(absl::string_view host, uint16_t port = 0);

// Whether a UDP socket can bind ::1 here (containers often have no IPv6).
bool HaveIpv6Loopback();

#define REQUIRE_IPV6()                                                      \
  do {                                                                      \
    if (!HaveIpv6Loopback()) GTEST_SKIP() << "no IPv6 loopback (::1) here"; \
  } while (0)

void SetIntOption(int fd, int level, int name, int value);

// Datagram `i` of a numbered stream: a 4-byte sequence number, then filler
// that depends on it, `size` bytes in all (at least 4).
std::string Numbered(uint32_t i, size_t size);

// Bytes that depend on `i` and their position; any size, 0 included.
std::string Pattern(int i, size_t size);

// A plain blocking UDP socket on the test's thread, every receive bounded
// by kTimeout.
class Client {
 public:
  explicit Client(absl::string_view host = "127.0.0.1", int receive_buffer = 4 << 20);

  const InetAddress& address() const { return address_; }
  int fd() const { return socket_.fd(); }

  void SendTo(const InetAddress& to, absl::string_view data);
  // One datagram, or nothing after kTimeout (or at once, with `wait` false).
  std::optional<std::string> Receive(InetAddress* from = nullptr, bool wait = true);
  // Reads what is already waiting, without blocking; returns how many.
  size_t Drain();

 private:
  Socket socket_;
  InetAddress address_;
};

// Reads `count` datagrams from `client` on a thread of its own, so that a
// long stream cannot overflow the client's receive buffer.
class Collector {
 public:
  Collector(Client* client, size_t count);
  ~Collector();
  // Joins the thread; what it read, in order (fewer than `count` when one
  // did not come within kTimeout).
  std::vector<std::string> Wait();

 private:
  std::vector<std::string> items_;  // before thread_, which starts at once
  std::thread thread_;
};

// A datagram as the receive callback saw it, copied.
struct Seen {
  InetAddress from;
  std::string data;
  size_t size;
  bool truncated;
};

// What a UdpSocket's callback saw: written on the loop thread, read on the
// test's.
class Inbox {
 public:
  void Add(const ReceivedDatagram& datagram);
  // True once `n` datagrams have arrived; false after kTimeout.
  bool WaitFor(size_t n);
  std::vector<Seen> Get();

 private:
  absl::Mutex mutex_;
  std::vector<Seen> items_ ABSL_GUARDED_BY(mutex_);
};

struct Counters {
  uint64_t received;
  uint64_t sent;
  uint64_t dropped;
  size_t queued;
};

// A UdpSocket on a loop thread of its own; every use goes through the loop.
class Server {
 public:
  explicit Server(absl::string_view host, UdpSocketOptions options = {},
                  PollerKind kind = DefaultPollerKind());
  ~Server() { Destroy(); }

  // Destroys the socket on its loop; it must leave no watcher behind.
  void Destroy();
  // Runs `fn` on the loop thread and waits for it.
  void Run(const std::function<void(UdpSocket&)>& fn);
  // Starts receiving into inbox(); with `echo`, sends each datagram back.
  void Start(bool echo);
  Counters counters();
  // Asks the loop until `done` holds; false after kTimeout.
  bool Eventually(const std::function<bool(UdpSocket&)>& done);

  // Where a client on `host` ("127.0.0.1" or "::1") reaches this socket.
  InetAddress Target(absl::string_view host) const { return Address(host, address_.port()); }
  const InetAddress& address() const { return address_; }
  EventLoop* loop() const { return thread_.loop(); }
  Inbox& inbox() { return inbox_; }

 private:
  testing::LoopThread thread_;
  std::unique_ptr<UdpSocket> socket_;
  InetAddress address_;
  Inbox inbox_;
};

}  // namespace switchboard::udp_socket_test

#endif  // SWITCHBOARD_TESTS_REACTOR_UDP_SOCKET_TEST_UTIL_H_
