// Copyright Switchboard authors.
//
// UdpSocket sending through real loopback sockets: SendToEach, the
// bounded send queue (overflow drops, writability-driven flush and
// compaction under injected EAGAIN), and destruction with datagrams queued.

#include <dlfcn.h>
#include <errno.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "glog/logging.h"
#include "gtest/gtest.h"
#include "reactor/event_loop.h"
#include "reactor/inet_address.h"
#include "reactor/socket.h"
#include "reactor/udp_socket.h"
#include "tests/reactor/udp_socket_test_util.h"
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

namespace switchboard::udp_socket_test {
namespace {

using testing::LoopThread;

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

// ---------------------------------------------------------------------------
// 1. SendToEach.

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
// 2. The bounded send queue.

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
// 3. Destruction with datagrams queued.

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
}  // namespace switchboard::udp_socket_test
