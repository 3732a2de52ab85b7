// Copyright Switchboard authors.
//
// UdpSocket through real loopback sockets (IPv4, IPv6, dual-stack "::"), on
// every available backend: echo, bursts across recvmmsg batches and
// wake-ups, truncation, SendToEach, the bounded send queue (overflow drops,
// writability-driven flush and compaction under injected EAGAIN), sends to
// an address of the wrong family, and destruction with datagrams queued.

#include "reactor/udp_socket.h"

#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "reactor/event_loop.h"
#include "reactor/inet_address.h"
#include "reactor/poller.h"
#include "reactor/socket.h"
#include "tests/testing/loop_thread.h"

// ---------------------------------------------------------------------------
// Fault injection for sendmmsg.
//
// Loopback UDP never reports EAGAIN: the loopback device releases a
// datagram's send-buffer charge as soon as it takes it, so a tiny SO_SNDBUF
// and a receiver that never reads only make the kernel drop on the
// receiving side. The queue's EAGAIN path (writability, Compact) is reached
// by interposition instead: this binary defines sendmmsg, so UdpSocket's
// calls land here and go on to the real one (RTLD_NEXT). While g_fault_fd
// names a descriptor, sendmmsg on it takes at most g_fault_budget more
// datagrams and then fails with g_fault_errno; a negative budget passes
// everything through. Every other descriptor is untouched.
namespace {
std::atomic<int> g_fault_fd{-1};
std::atomic<int> g_fault_budget{-1};
std::atomic<int> g_fault_errno{EAGAIN};
std::atomic<int> g_fault_refusals{0};  // calls failed by the injection
}  // namespace

extern "C" int sendmmsg(int fd, struct mmsghdr* messages, unsigned int count, int flags) {
  using Real = int (*)(int, struct mmsghdr*, unsigned int, int);
  static const Real real = [] {
    void* symbol = dlsym(RTLD_NEXT, "sendmmsg");
    CHECK(symbol != nullptr) << "no sendmmsg after this binary's: " << dlerror();
    return reinterpret_cast<Real>(symbol);
  }();
  if (fd >= 0 && fd == g_fault_fd.load()) {
    const int budget = g_fault_budget.load();
    if (budget == 0) {
      g_fault_refusals.fetch_add(1);
      errno = g_fault_errno.load();
      return -1;
    }
    if (budget > 0) {
      const int n = real(fd, messages, std::min(count, static_cast<unsigned>(budget)), flags);
      if (n > 0) g_fault_budget.fetch_sub(n);
      return n;
    }
  }
  return real(fd, messages, count, flags);
}

namespace switchboard {
namespace {

using testing::LoopThread;

constexpr absl::Duration kTimeout = absl::Seconds(10);

// Makes sendmmsg on `fd` take `budget` more datagrams, then fail with
// `error`, until Lift() or destruction.
class SendFailure {
 public:
  SendFailure(int fd, int budget, int error = EAGAIN) {
    g_fault_errno.store(error);
    g_fault_budget.store(budget);
    g_fault_fd.store(fd);
  }
  ~SendFailure() { Lift(); }
  SendFailure(const SendFailure&) = delete;
  SendFailure& operator=(const SendFailure&) = delete;

  static void SetBudget(int budget) { g_fault_budget.store(budget); }
  void Lift() {
    g_fault_fd.store(-1);
    g_fault_budget.store(-1);
  }
};

InetAddress Address(absl::string_view host, uint16_t port = 0) {
  absl::StatusOr<InetAddress> address = InetAddress::Parse(host, port);
  CHECK(address.ok()) << address.status();
  return *address;
}

bool HaveIpv6Loopback() {
  absl::StatusOr<Socket> socket = Socket::Create(AF_INET6, SOCK_DGRAM);
  return socket.ok() && socket->Bind(Address("::1")).ok();
}

#define REQUIRE_IPV6()                                                     \
  do {                                                                     \
    if (!HaveIpv6Loopback()) GTEST_SKIP() << "no IPv6 loopback (::1) here"; \
  } while (0)

void SetIntOption(int fd, int level, int name, int value) {
  CHECK_EQ(setsockopt(fd, level, name, &value, sizeof value), 0) << strerror(errno);
}

// Datagram `i` of a numbered stream: a 4-byte sequence number, then filler
// that depends on it, `size` bytes in all (at least 4).
std::string Numbered(uint32_t i, size_t size) {
  CHECK_GE(size, 4u);
  std::string data(size, '\0');
  std::memcpy(data.data(), &i, 4);
  for (size_t j = 4; j < size; ++j) data[j] = static_cast<char>((i * 31 + j * 7) & 0xff);
  return data;
}

// Bytes that depend on `i` and their position; any size, 0 included.
std::string Pattern(int i, size_t size) {
  std::string data(size, '\0');
  for (size_t j = 0; j < size; ++j) data[j] = static_cast<char>((i * 131 + j * 13 + 5) & 0xff);
  return data;
}

// A plain blocking UDP socket on the test's thread, every receive bounded
// by kTimeout.
class Client {
 public:
  explicit Client(absl::string_view host = "127.0.0.1", int receive_buffer = 4 << 20) {
    const InetAddress local = Address(host);
    absl::StatusOr<Socket> socket = Socket::Create(local.family(), SOCK_DGRAM);
    CHECK(socket.ok()) << socket.status();
    socket_ = *std::move(socket);
    CHECK(socket_.SetReceiveBufferSize(receive_buffer).ok());
    CHECK(socket_.Bind(local).ok());
    CHECK(socket_.SetReceiveTimeout(kTimeout).ok());
    absl::StatusOr<InetAddress> bound = socket_.LocalAddress();
    CHECK(bound.ok()) << bound.status();
    address_ = *bound;
  }

  const InetAddress& address() const { return address_; }
  int fd() const { return socket_.fd(); }

  void SendTo(const InetAddress& to, absl::string_view data) {
    const ssize_t n = sendto(socket_.fd(), data.data(), data.size(), 0, to.sockaddr_ptr(),
                             to.length());
    CHECK_EQ(n, static_cast<ssize_t>(data.size())) << "sendto: " << strerror(errno);
  }

  // One datagram, or nothing after kTimeout (or at once, with `wait` false).
  std::optional<std::string> Receive(InetAddress* from = nullptr, bool wait = true) {
    char data[65536];
    sockaddr_storage storage;
    socklen_t length = sizeof storage;
    ssize_t n;
    int attempts = 0;
    do {
      length = sizeof storage;
      n = recvfrom(socket_.fd(), data, sizeof data, wait ? 0 : MSG_DONTWAIT,
                   reinterpret_cast<sockaddr*>(&storage), &length);
    } while (n < 0 && errno == EINTR && ++attempts < 100);
    if (n < 0) return std::nullopt;
    if (from != nullptr) {
      *from = InetAddress::FromSockaddr(reinterpret_cast<sockaddr*>(&storage), length);
    }
    return std::string(data, static_cast<size_t>(n));
  }

  // Reads what is already waiting, without blocking; returns how many.
  size_t Drain() {
    size_t n = 0;
    while (n < 1000000 && Receive(nullptr, /*wait=*/false).has_value()) ++n;
    return n;
  }

 private:
  Socket socket_;
  InetAddress address_;
};

// Reads `count` datagrams from `client` on a thread of its own, so that a
// long stream cannot overflow the client's receive buffer.
class Collector {
 public:
  Collector(Client* client, size_t count)
      : thread_([this, client, count] {
          for (size_t i = 0; i < count; ++i) {
            std::optional<std::string> datagram = client->Receive();
            if (!datagram.has_value()) break;  // kTimeout without one
            items_.push_back(*std::move(datagram));
          }
        }) {}
  ~Collector() {
    if (thread_.joinable()) thread_.join();
  }
  std::vector<std::string> Wait() {
    thread_.join();
    return std::move(items_);
  }

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
  void Add(const ReceivedDatagram& datagram) {
    absl::MutexLock lock(&mutex_);
    items_.push_back(Seen{datagram.from, std::string(datagram.data), datagram.size,
                          datagram.truncated()});
  }
  // True once `n` datagrams have arrived; false after kTimeout.
  bool WaitFor(size_t n) {
    absl::MutexLock lock(&mutex_);
    const auto enough = [this, n] { return items_.size() >= n; };
    return mutex_.AwaitWithTimeout(absl::Condition(&enough), kTimeout);
  }
  std::vector<Seen> Get() {
    absl::MutexLock lock(&mutex_);
    return items_;
  }

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
                  PollerKind kind = DefaultPollerKind())
      : thread_(kind) {
    thread_.RunSync([&] {
      absl::StatusOr<std::unique_ptr<UdpSocket>> socket =
          UdpSocket::Bind(thread_.loop(), Address(host), options);
      CHECK(socket.ok()) << socket.status();
      socket_ = *std::move(socket);
      address_ = socket_->local_address();
      // Room for a burst that arrives while the loop is busy.
      SetIntOption(socket_->fd(), SOL_SOCKET, SO_RCVBUF, 4 << 20);
    });
  }
  ~Server() { Destroy(); }

  // Destroys the socket on its loop; it must leave no watcher behind.
  void Destroy() {
    thread_.RunSync([&] {
      socket_.reset();
      EXPECT_EQ(thread_.loop()->watcher_count(), 0u) << "the UdpSocket left its watcher";
    });
  }

  // Runs `fn` on the loop thread and waits for it.
  void Run(const std::function<void(UdpSocket&)>& fn) {
    thread_.RunSync([&] { fn(*socket_); });
  }

  // Starts receiving into inbox(); with `echo`, sends each datagram back.
  void Start(bool echo) {
    Run([this, echo](UdpSocket& socket) {
      UdpSocket* self = &socket;
      Inbox* inbox = &inbox_;
      socket.Start([self, inbox, echo](const ReceivedDatagram& datagram) {
        inbox->Add(datagram);
        if (echo) self->SendTo(datagram.from, datagram.data);
      });
    });
  }

  Counters counters() {
    Counters c{};
    Run([&](UdpSocket& s) { c = Counters{s.received(), s.sent(), s.dropped(), s.queued()}; });
    return c;
  }

  // Asks the loop until `done` holds; false after kTimeout.
  bool Eventually(const std::function<bool(UdpSocket&)>& done) {
    const absl::Time deadline = absl::Now() + kTimeout;
    for (;;) {
      bool ok = false;
      Run([&](UdpSocket& s) { ok = done(s); });
      if (ok) return true;
      if (absl::Now() > deadline) return false;
      absl::SleepFor(absl::Milliseconds(1));
    }
  }

  // Where a client on `host` ("127.0.0.1" or "::1") reaches this socket.
  InetAddress Target(absl::string_view host) const { return Address(host, address_.port()); }
  const InetAddress& address() const { return address_; }
  EventLoop* loop() const { return thread_.loop(); }
  Inbox& inbox() { return inbox_; }

 private:
  LoopThread thread_;
  std::unique_ptr<UdpSocket> socket_;
  InetAddress address_;
  Inbox inbox_;
};

// ---------------------------------------------------------------------------
// 1. Binding, addresses, dual stack.

TEST(UdpSocketTest, BindOnIpv4PortZeroReportsTheKernelsPort) {
  Server server("127.0.0.1");
  EXPECT_FALSE(server.address().is_ipv6());
  EXPECT_NE(server.address().port(), 0);
  EXPECT_EQ(server.address().IpString(), "127.0.0.1");
  server.Run([&](UdpSocket& s) {
    sockaddr_in name{};
    socklen_t length = sizeof name;
    ASSERT_EQ(getsockname(s.fd(), reinterpret_cast<sockaddr*>(&name), &length), 0);
    EXPECT_EQ(ntohs(name.sin_port), s.local_address().port());
  });

  // The port is the real one: a datagram sent to it arrives, from the client.
  server.Start(/*echo=*/false);
  Client client;
  client.SendTo(server.Target("127.0.0.1"), "ping");
  ASSERT_TRUE(server.inbox().WaitFor(1));
  const Seen seen = server.inbox().Get()[0];
  EXPECT_EQ(seen.data, "ping");
  EXPECT_EQ(seen.size, 4u);
  EXPECT_FALSE(seen.truncated);
  EXPECT_EQ(seen.from.ToString(), client.address().ToString());
}

TEST(UdpSocketTest, BindOnIpv6PortZeroReportsTheKernelsPort) {
  REQUIRE_IPV6();
  Server server("::1");
  EXPECT_TRUE(server.address().is_ipv6());
  EXPECT_NE(server.address().port(), 0);
  EXPECT_EQ(server.address().ToString(), absl::StrCat("[::1]:", server.address().port()));

  server.Start(/*echo=*/true);
  Client client("::1");
  client.SendTo(server.Target("::1"), "ping6");
  InetAddress from;
  std::optional<std::string> echo = client.Receive(&from);
  ASSERT_TRUE(echo.has_value());
  EXPECT_EQ(*echo, "ping6");
  EXPECT_EQ(from.ToString(), server.address().ToString());
  ASSERT_TRUE(server.inbox().WaitFor(1));
  const Seen seen = server.inbox().Get()[0];
  EXPECT_TRUE(seen.from.is_ipv6());
  EXPECT_EQ(seen.from.ToString(), client.address().ToString());
}

TEST(UdpSocketTest, DualStackReceivesFromAnIpv4ClientAsMappedAndAnswers) {
  REQUIRE_IPV6();
  Server server("::");
  EXPECT_TRUE(server.address().is_ipv6());
  EXPECT_NE(server.address().port(), 0);
  server.Start(/*echo=*/true);

  Client v4("127.0.0.1");
  v4.SendTo(server.Target("127.0.0.1"), "from v4");
  InetAddress from;
  std::optional<std::string> echo = v4.Receive(&from);
  ASSERT_TRUE(echo.has_value()) << "no answer to the IPv4 client";
  EXPECT_EQ(*echo, "from v4");
  EXPECT_EQ(from.ToString(), absl::StrCat("127.0.0.1:", server.address().port()));

  Client v6("::1");
  v6.SendTo(server.Target("::1"), "from v6");
  echo = v6.Receive();
  ASSERT_TRUE(echo.has_value()) << "no answer to the IPv6 client";
  EXPECT_EQ(*echo, "from v6");

  ASSERT_TRUE(server.inbox().WaitFor(2));
  const std::vector<Seen> seen = server.inbox().Get();
  // As the kernel reports it: IPv4-mapped IPv6.
  EXPECT_EQ(seen[0].from.family(), AF_INET6);
  const auto* mapped = reinterpret_cast<const sockaddr_in6*>(seen[0].from.sockaddr_ptr());
  EXPECT_TRUE(IN6_IS_ADDR_V4MAPPED(&mapped->sin6_addr));
  const InetAddress plain = seen[0].from.Unmapped();
  EXPECT_FALSE(plain.is_ipv6());
  EXPECT_EQ(plain.IpString(), "127.0.0.1");
  EXPECT_EQ(plain.port(), v4.address().port());
  EXPECT_EQ(seen[1].from.ToString(), v6.address().ToString());
  EXPECT_EQ(seen[1].from.Unmapped().ToString(), v6.address().ToString());
}

TEST(UdpSocketTest, BindFailsWhenThePortIsTaken) {
  Client holder("127.0.0.1");
  LoopThread thread;
  thread.RunSync([&] {
    absl::StatusOr<std::unique_ptr<UdpSocket>> socket =
        UdpSocket::Bind(thread.loop(), holder.address());
    EXPECT_FALSE(socket.ok());
    EXPECT_EQ(thread.loop()->watcher_count(), 0u);
  });
}

// ---------------------------------------------------------------------------
// 2. Echo round trip, on each backend and family.

class UdpEchoTest : public ::testing::TestWithParam<std::tuple<const char*, PollerKind>> {};

TEST_P(UdpEchoTest, EchoesEveryDatagramInOrderWithItsContents) {
  const auto [host, kind] = GetParam();
  if (!PollerAvailable(kind)) GTEST_SKIP() << PollerKindName(kind) << " is not available here";
  if (absl::string_view(host) == "::1") REQUIRE_IPV6();

  Server server(host, {}, kind);
  server.Start(/*echo=*/true);
  Client client(host);
  const InetAddress target = server.Target(host);

  // Sizes 0..1500, 1500 itself included; at most kWindow in flight, so
  // that neither receive buffer can overflow.
  constexpr int kCount = 500;
  constexpr int kWindow = 32;
  const auto size_of = [](int i) -> size_t { return i == 1 ? 1500 : (i * 389) % 1501; };
  int next = 0;
  int got = 0;
  while (got < kCount) {
    while (next < kCount && next - got < kWindow) {
      client.SendTo(target, Pattern(next, size_of(next)));
      ++next;
    }
    InetAddress from;
    std::optional<std::string> echo = client.Receive(&from);
    ASSERT_TRUE(echo.has_value()) << "echo " << got << " did not come back";
    ASSERT_EQ(echo->size(), size_of(got)) << "echo " << got;
    ASSERT_EQ(*echo, Pattern(got, size_of(got))) << "echo " << got;
    ASSERT_EQ(from.ToString(), server.address().ToString());
    ++got;
  }
  EXPECT_FALSE(client.Receive(nullptr, /*wait=*/false).has_value()) << "an extra echo";

  const Counters c = server.counters();
  EXPECT_EQ(c.received, static_cast<uint64_t>(kCount));
  EXPECT_EQ(c.sent, static_cast<uint64_t>(kCount));
  EXPECT_EQ(c.dropped, 0u);
  EXPECT_EQ(c.queued, 0u);
  const std::vector<Seen> seen = server.inbox().Get();
  ASSERT_EQ(seen.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) {
    EXPECT_EQ(seen[i].size, size_of(i));
    EXPECT_FALSE(seen[i].truncated);
    EXPECT_EQ(seen[i].from.ToString(), client.address().ToString());
  }
}

std::string EchoName(const ::testing::TestParamInfo<std::tuple<const char*, PollerKind>>& info) {
  const absl::string_view host = std::get<0>(info.param);
  return absl::StrCat(host == "::1" ? "Ipv6" : "Ipv4", "_",
                      PollerKindName(std::get<1>(info.param)));
}

INSTANTIATE_TEST_SUITE_P(FamiliesAndBackends, UdpEchoTest,
                         ::testing::Combine(::testing::Values("127.0.0.1", "::1"),
                                            ::testing::Values(PollerKind::kEpoll,
                                                              PollerKind::kPoll,
                                                              PollerKind::kKqueue)),
                         EchoName);

// ---------------------------------------------------------------------------
// 3. A burst larger than a batch, sent while the loop is busy.

struct BurstCase {
  const char* name;
  int batch;
  int batches_per_wakeup;
  size_t max_per_wakeup;  // batch (clamped to 64) x batches_per_wakeup
};

void PrintTo(const BurstCase& c, std::ostream* os) { *os << c.name; }

class UdpBurstTest : public ::testing::TestWithParam<BurstCase> {};

TEST_P(UdpBurstTest, DrainsTheWholeBurstInOrderWithinTheWakeUpBound) {
  const BurstCase& param = GetParam();
  UdpSocketOptions options;
  options.batch = param.batch;
  options.batches_per_wakeup = param.batches_per_wakeup;
  options.receive_slot = 64;
  // The callback counts the datagrams of each loop turn: a task queued from
  // the first callback of a turn runs after that turn's I/O.
  std::vector<size_t> per_turn;  // loop thread only
  size_t this_turn = 0;
  bool boundary_queued = false;
  Server server("127.0.0.1", options);
  Inbox* inbox = &server.inbox();
  EventLoop* loop = server.loop();
  server.Run([&](UdpSocket& socket) {
    socket.Start([&, inbox, loop](const ReceivedDatagram& datagram) {
      // Before Add: the test may look as soon as the last one is added.
      ++this_turn;
      if (!boundary_queued) {
        boundary_queued = true;
        loop->QueueInLoop([&] {
          per_turn.push_back(this_turn);
          this_turn = 0;
          boundary_queued = false;
        });
      }
      inbox->Add(datagram);
    });
  });

  // Hold the loop while the whole burst lands in the kernel's buffer.
  // (Shared: the task must not outlive them if the test gives up early.)
  auto holding = std::make_shared<absl::Notification>();
  auto release = std::make_shared<absl::Notification>();
  loop->RunInLoop([holding, release] {
    holding->Notify();
    release->WaitForNotificationWithTimeout(kTimeout);
  });
  ASSERT_TRUE(holding->WaitForNotificationWithTimeout(kTimeout));
  constexpr uint32_t kBurst = 200;
  Client client;
  for (uint32_t i = 0; i < kBurst; ++i) client.SendTo(server.Target("127.0.0.1"), Numbered(i, 8 + i % 50));
  release->Notify();

  ASSERT_TRUE(server.inbox().WaitFor(kBurst)) << "only " << server.inbox().Get().size()
                                              << " of " << kBurst << " arrived";
  const std::vector<Seen> seen = server.inbox().Get();
  ASSERT_EQ(seen.size(), kBurst);
  for (uint32_t i = 0; i < kBurst; ++i) {
    ASSERT_EQ(seen[i].data, Numbered(i, 8 + i % 50)) << "datagram " << i;
  }
  EXPECT_EQ(server.counters().received, kBurst);

  size_t total = 0;
  size_t busiest = 0;
  size_t turns = 0;
  server.Run([&](UdpSocket&) {
    turns = per_turn.size();
    for (size_t n : per_turn) {
      total += n;
      busiest = std::max(busiest, n);
    }
  });
  EXPECT_EQ(total, kBurst);
  EXPECT_LE(busiest, param.max_per_wakeup) << "one wake-up read more than its bound";
  EXPECT_GE(turns, (kBurst + param.max_per_wakeup - 1) / param.max_per_wakeup);
}

INSTANTIATE_TEST_SUITE_P(
    Batches, UdpBurstTest,
    ::testing::Values(BurstCase{"Default", 32, 8, 256},
                      BurstCase{"SmallBatchesManyWakeUps", 8, 2, 16},
                      BurstCase{"OneAtATime", 1, 1, 1},
                      BurstCase{"BatchClampedTo64", 1000, 1, 64}),
    [](const ::testing::TestParamInfo<BurstCase>& info) { return std::string(info.param.name); });

// ---------------------------------------------------------------------------
// 4. Truncation.

TEST(UdpSocketTest, ALongDatagramArrivesCutWithItsRealSize) {
  UdpSocketOptions options;
  options.receive_slot = 100;
  Server server("127.0.0.1", options);
  server.Start(/*echo=*/false);
  Client client;
  const InetAddress target = server.Target("127.0.0.1");
  const std::vector<size_t> sizes = {300, 100, 101, 99, 0, 1500};
  for (size_t i = 0; i < sizes.size(); ++i) {
    client.SendTo(target, Pattern(static_cast<int>(i), sizes[i]));
  }

  ASSERT_TRUE(server.inbox().WaitFor(sizes.size()));
  const std::vector<Seen> seen = server.inbox().Get();
  ASSERT_EQ(seen.size(), sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    SCOPED_TRACE(absl::StrCat("a datagram of ", sizes[i], " bytes"));
    const size_t kept = std::min<size_t>(sizes[i], 100);
    EXPECT_EQ(seen[i].size, sizes[i]);
    EXPECT_EQ(seen[i].data.size(), kept);
    EXPECT_EQ(seen[i].data, Pattern(static_cast<int>(i), sizes[i]).substr(0, kept));
    EXPECT_EQ(seen[i].truncated, sizes[i] > 100);
  }
  EXPECT_EQ(server.counters().received, sizes.size());
}

// ---------------------------------------------------------------------------
// 5. SendToEach.

TEST(UdpSocketTest, SendToEachDeliversTheSamePayloadToEveryReceiver) {
  Server server("127.0.0.1");
  constexpr int kReceivers = 50;
  std::vector<std::unique_ptr<Client>> receivers;
  std::vector<InetAddress> addresses;
  for (int i = 0; i < kReceivers; ++i) {
    receivers.push_back(std::make_unique<Client>("127.0.0.1", 1 << 16));
    addresses.push_back(receivers.back()->address());
  }
  const std::string broadcast = Pattern(7, 1200);
  // Surrounded by single sends, so that the shared copy sits between others
  // in the queue's storage.
  server.Run([&](UdpSocket& s) {
    s.SendTo(addresses[0], "before");
    s.SendToEach(addresses, broadcast);
    s.SendTo(addresses[0], "after");
    EXPECT_EQ(s.queued(), static_cast<size_t>(kReceivers + 2));
    s.Flush();
  });

  for (int i = 0; i < kReceivers; ++i) {
    SCOPED_TRACE(absl::StrCat("receiver ", i));
    if (i == 0) {
      std::optional<std::string> first = receivers[i]->Receive();
      ASSERT_TRUE(first.has_value());
      EXPECT_EQ(*first, "before");
    }
    InetAddress from;
    std::optional<std::string> got = receivers[i]->Receive(&from);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(*got, broadcast);
    EXPECT_EQ(from.ToString(), server.address().ToString());
    if (i == 0) {
      std::optional<std::string> last = receivers[i]->Receive();
      ASSERT_TRUE(last.has_value());
      EXPECT_EQ(*last, "after");
    }
  }
  const Counters c = server.counters();
  EXPECT_EQ(c.sent, static_cast<uint64_t>(kReceivers + 2));
  EXPECT_EQ(c.dropped, 0u);
  EXPECT_EQ(c.queued, 0u);
  for (auto& receiver : receivers) EXPECT_EQ(receiver->Drain(), 0u);
}

TEST(UdpSocketTest, SendToEachLargerThanTheQueueIsSentAsItGoes) {
  // A broadcast to more receivers than the queue holds: each time the queue
  // fills it is flushed, so nobody is left out while the kernel takes them.
  UdpSocketOptions options;
  options.max_queued = 20;
  Server server("127.0.0.1", options);
  constexpr int kReceivers = 50;
  std::vector<std::unique_ptr<Client>> receivers;
  std::vector<InetAddress> addresses;
  for (int i = 0; i < kReceivers; ++i) {
    receivers.push_back(std::make_unique<Client>("127.0.0.1", 1 << 16));
    addresses.push_back(receivers.back()->address());
  }
  server.Run([&](UdpSocket& s) {
    s.SendToEach(addresses, "news");
    EXPECT_LE(s.queued(), 20u);
    s.SendToEach(addresses, "more news");
    EXPECT_LE(s.queued(), 20u);
    s.Flush();
    EXPECT_EQ(s.queued(), 0u);
    EXPECT_EQ(s.sent(), 100u);
    EXPECT_EQ(s.dropped(), 0u);
  });
  for (int i = 0; i < kReceivers; ++i) {
    std::optional<std::string> got = receivers[i]->Receive();
    ASSERT_TRUE(got.has_value()) << "receiver " << i;
    EXPECT_EQ(*got, "news");
    got = receivers[i]->Receive();
    ASSERT_TRUE(got.has_value()) << "receiver " << i;
    EXPECT_EQ(*got, "more news");
  }
  for (int i = 0; i < kReceivers; ++i) EXPECT_EQ(receivers[i]->Drain(), 0u) << "receiver " << i;
}

// ---------------------------------------------------------------------------
// 6. The bounded send queue.

TEST(UdpSocketTest, ABurstPastTheQueueBoundIsFlushedNotBuffered) {
  // Real kernel: a tiny send buffer and a receiver with a tiny receive
  // buffer that does not read. Loopback does not push back (the kernel drops
  // at the receiver), so a full queue is handed to the kernel at once: the
  // queue stays within its bound, nothing is dropped on our side, nothing
  // hangs. (Drops on our side need a kernel that refuses: see
  // UdpSendFailureTest.)
  UdpSocketOptions options;
  options.max_queued = 100;
  Server server("127.0.0.1", options);
  Client receiver("127.0.0.1", 4096);
  server.Run([](UdpSocket& s) { SetIntOption(s.fd(), SOL_SOCKET, SO_SNDBUF, 4096); });
  const std::string payload(1000, 'q');

  uint64_t total = 0;
  server.Run([&](UdpSocket& s) {
    for (int i = 0; i < 5000; ++i) {
      s.SendTo(receiver.address(), payload);
      ASSERT_LE(s.queued(), 100u);
    }
    total += 5000;
    s.Flush();
    EXPECT_EQ(s.sent() + s.dropped() + s.queued(), total);
  });
  for (int round = 0; round < 50; ++round) {
    server.Run([&](UdpSocket& s) {
      for (int i = 0; i < 100; ++i) s.SendTo(receiver.address(), payload);
      total += 100;
      EXPECT_LE(s.queued(), 100u);
      s.Flush();
      EXPECT_EQ(s.sent() + s.dropped() + s.queued(), total);
    });
  }
  EXPECT_TRUE(server.Eventually([](UdpSocket& s) { return s.queued() == 0; }))
      << "the queue never emptied";
  const Counters c = server.counters();
  EXPECT_EQ(c.sent + c.dropped, total);

  // The receiver got some (at least the first), never more than was sent.
  const size_t arrived = receiver.Drain();
  EXPECT_GE(arrived, 1u);
  EXPECT_LE(arrived, c.sent);

  // And the socket still works both ways.
  server.Start(/*echo=*/true);
  Client client;
  client.SendTo(server.Target("127.0.0.1"), "still there?");
  std::optional<std::string> echo = client.Receive();
  ASSERT_TRUE(echo.has_value());
  EXPECT_EQ(*echo, "still there?");
}

class UdpSendFailureTest : public ::testing::TestWithParam<int> {};

TEST_P(UdpSendFailureTest, AFullKernelBufferQueuesUpToTheBoundAndWritabilityFlushes) {
  const int error = GetParam();
  UdpSocketOptions options;
  options.max_queued = 100;
  Server server("127.0.0.1", options);
  Client receiver;
  int fd = -1;
  server.Run([&](UdpSocket& s) { fd = s.fd(); });
  const int refusals_before = g_fault_refusals.load();

  SendFailure failure(fd, /*budget=*/0, error);
  server.Run([&](UdpSocket& s) {
    for (uint32_t i = 0; i < 150; ++i) s.SendTo(receiver.address(), Numbered(i, 16));
    EXPECT_EQ(s.queued(), 100u);
    EXPECT_EQ(s.dropped(), 50u);
    s.Flush();
    EXPECT_EQ(s.queued(), 100u) << "the injected failure did not reach UdpSocket";
    EXPECT_EQ(s.sent(), 0u);
    EXPECT_EQ(s.dropped(), 50u) << "a full buffer is not the datagram's fault";
  });
  EXPECT_GT(g_fault_refusals.load(), refusals_before);

  // While the failure persists, turns come and go (the socket is writable,
  // so the loop keeps retrying) and nothing is lost or sent.
  for (int i = 0; i < 5; ++i) {
    server.Run([&](UdpSocket& s) {
      EXPECT_EQ(s.queued(), 100u);
      EXPECT_EQ(s.sent(), 0u);
    });
  }
  server.Run([&](UdpSocket& s) {
    s.SendTo(receiver.address(), "overflow");
    EXPECT_EQ(s.dropped(), 51u);
  });

  // The kernel takes datagrams again: writability alone (no Flush call)
  // empties the queue.
  failure.Lift();
  Collector collector(&receiver, 100);
  EXPECT_TRUE(server.Eventually([](UdpSocket& s) { return s.queued() == 0; }))
      << "writability never flushed the queue";
  const std::vector<std::string> got = collector.Wait();
  ASSERT_EQ(got.size(), 100u);
  for (uint32_t i = 0; i < 100; ++i) ASSERT_EQ(got[i], Numbered(i, 16)) << "datagram " << i;
  const Counters c = server.counters();
  EXPECT_EQ(c.sent, 100u);
  EXPECT_EQ(c.dropped, 51u);
  EXPECT_EQ(receiver.Drain(), 0u);
}

INSTANTIATE_TEST_SUITE_P(Errors, UdpSendFailureTest, ::testing::Values(EAGAIN, ENOBUFS),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::string(info.param == EAGAIN ? "EAGAIN" : "ENOBUFS");
                         });

TEST(UdpSocketTest, PartialSendsUnderPersistentEagainCompactTheQueueWithoutLosingBytes) {
  // Each round queues 700 datagrams (single sends and a shared SendToEach
  // copy), the kernel takes 500 and refuses the rest: the queue grows past
  // 2048 waiting datagrams while Compact runs several times under it.
  Server server("127.0.0.1");
  Client receiver;
  int fd = -1;
  server.Run([&](UdpSocket& s) { fd = s.fd(); });

  // One entry per queue operation: a single send, or one payload to the
  // receiver twice with SendToEach (two queue entries sharing one copy).
  // Per round: single, shared, single, shared, ..., 700 entries exactly.
  constexpr int kRounds = 12;
  constexpr int kPerRound = 700;
  constexpr int kTaken = 500;
  struct Op {
    std::string data;
    bool shared;
  };
  std::vector<std::vector<Op>> rounds(kRounds);
  std::vector<std::string> expected;  // every datagram, in order
  uint32_t number = 0;
  for (auto& ops : rounds) {
    for (int entries = 0; entries < kPerRound;) {
      const bool shared = ops.size() % 2 == 1 && entries + 2 <= kPerRound;
      const std::string data = Numbered(number, 4 + (number * 13) % 60);
      ++number;
      ops.push_back(Op{data, shared});
      expected.push_back(data);
      if (shared) expected.push_back(data);
      entries += shared ? 2 : 1;
    }
  }
  const size_t total = expected.size();
  ASSERT_EQ(total, static_cast<size_t>(kRounds) * kPerRound);

  Collector collector(&receiver, total);
  SendFailure failure(fd, /*budget=*/0);
  size_t max_queued = 0;
  for (int round = 0; round < kRounds; ++round) {
    server.Run([&](UdpSocket& s) {
      const InetAddress to = receiver.address();
      const InetAddress twice[] = {to, to};
      for (const Op& op : rounds[round]) {
        if (op.shared) {
          s.SendToEach(twice, op.data);
        } else {
          s.SendTo(to, op.data);
        }
      }
      SendFailure::SetBudget(kTaken);
      s.Flush();  // 500 go, then EAGAIN (and Compact, when it is due)
      EXPECT_EQ(g_fault_budget.load(), 0) << "round " << round;
      max_queued = std::max(max_queued, s.queued());
      EXPECT_EQ(s.sent(), static_cast<uint64_t>((round + 1) * kTaken));
      EXPECT_EQ(s.queued(), static_cast<size_t>((round + 1) * (kPerRound - kTaken)));
    });
  }
  EXPECT_GT(max_queued, 2048u);
  failure.Lift();

  EXPECT_TRUE(server.Eventually([](UdpSocket& s) { return s.queued() == 0; }))
      << "writability never flushed the queue";
  const std::vector<std::string> got = collector.Wait();
  ASSERT_EQ(got.size(), total);
  for (size_t i = 0; i < total; ++i) ASSERT_EQ(got[i], expected[i]) << "datagram " << i;
  const Counters c = server.counters();
  EXPECT_EQ(c.sent, total);
  EXPECT_EQ(c.dropped, 0u);
}

// ---------------------------------------------------------------------------
// 7. A destination of the wrong family (and other datagrams the kernel
// refuses one by one).

TEST(UdpSocketTest, ASendToTheWrongFamilyIsDroppedAndTheRestStillGoes) {
  Server server("127.0.0.1");
  Client receiver;
  const InetAddress v6 = Address("::1", 9);  // never reached: wrong family
  server.Run([&](UdpSocket& s) {
    s.SendTo(v6, "bad first");
    s.SendTo(receiver.address(), "good 1");
    s.SendTo(v6, "bad middle");
    s.SendTo(receiver.address(), std::string(70000, 'x'));  // EMSGSIZE
    s.SendTo(receiver.address(), "good 2");
    s.SendTo(v6, "bad last");
    s.Flush();
    EXPECT_EQ(s.queued(), 0u);
    EXPECT_EQ(s.sent(), 2u);
    EXPECT_EQ(s.dropped(), 4u);
  });
  std::optional<std::string> got = receiver.Receive();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, "good 1");
  got = receiver.Receive();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, "good 2");

  // Alone in the queue, and then the queue works as before.
  server.Run([&](UdpSocket& s) {
    s.SendTo(v6, "bad alone");
    s.Flush();
    EXPECT_EQ(s.queued(), 0u);
    EXPECT_EQ(s.dropped(), 5u);
    s.SendTo(receiver.address(), "good 3");
    s.Flush();
    EXPECT_EQ(s.sent(), 3u);
  });
  got = receiver.Receive();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, "good 3");
  EXPECT_EQ(receiver.Drain(), 0u);
}

// ---------------------------------------------------------------------------
// 8. Destruction with datagrams queued.

TEST(UdpSocketTest, DestroyedWithDatagramsQueuedAndNeverFlushed) {
  Server server("127.0.0.1");
  server.Start(/*echo=*/false);
  Client receiver;
  server.Run([&](UdpSocket& s) {
    for (uint32_t i = 0; i < 1000; ++i) s.SendTo(receiver.address(), Numbered(i, 100));
    EXPECT_EQ(s.queued(), 1000u);
  });
  server.Destroy();  // checks that the watcher is gone; ASan checks the rest
  EXPECT_EQ(receiver.Drain(), 0u);
}

TEST(UdpSocketTest, DestroyedWhileWaitingForWritability) {
  Server server("127.0.0.1");
  server.Start(/*echo=*/false);
  Client receiver;
  int fd = -1;
  server.Run([&](UdpSocket& s) { fd = s.fd(); });
  SendFailure failure(fd, /*budget=*/1500);
  server.Run([&](UdpSocket& s) {
    for (uint32_t i = 0; i < 3000; ++i) s.SendTo(receiver.address(), Numbered(i, 32));
    s.Flush();  // 1500 go, then EAGAIN: compacted, writing enabled
    EXPECT_EQ(s.sent(), 1500u);
    EXPECT_EQ(s.queued(), 1500u);
  });
  server.Run([](UdpSocket&) {});  // a turn or more of EPOLLOUT meeting EAGAIN
  server.Destroy();
  failure.Lift();
  EXPECT_LE(receiver.Drain(), 1500u);
}

TEST(UdpSocketTest, DestroyedFromATaskItsOwnCallbackQueued) {
  // The documented way to end a socket from its callback: QueueInLoop.
  auto thread = std::make_unique<LoopThread>();
  std::unique_ptr<UdpSocket> socket;
  InetAddress address;
  Client client;
  absl::Notification destroyed;
  thread->RunSync([&] {
    absl::StatusOr<std::unique_ptr<UdpSocket>> bound =
        UdpSocket::Bind(thread->loop(), Address("127.0.0.1"));
    ASSERT_TRUE(bound.ok()) << bound.status();
    socket = *std::move(bound);
    address = socket->local_address();
    EventLoop* loop = thread->loop();
    const InetAddress to = client.address();
    socket->Start([&, loop, to](const ReceivedDatagram& datagram) {
      socket->SendTo(to, datagram.data);  // flushed after this batch
      if (datagram.data == "bye") {
        // By value: the callback (and what it holds) dies with the socket.
        loop->QueueInLoop([&socket, &destroyed, loop, to] {
          for (int i = 0; i < 10; ++i) socket->SendTo(to, "never sent");
          socket.reset();
          EXPECT_EQ(loop->watcher_count(), 0u);
          destroyed.Notify();
        });
      }
    });
  });
  client.SendTo(address, "hello");
  client.SendTo(address, "bye");
  ASSERT_TRUE(destroyed.WaitForNotificationWithTimeout(kTimeout));
  std::optional<std::string> got = client.Receive();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, "hello");
  got = client.Receive();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, "bye");
  thread->RunSync([&] { socket.reset(); });  // a no-op unless the test failed early
  EXPECT_EQ(client.Drain(), 0u);
  thread.reset();
}

}  // namespace
}  // namespace switchboard
