// Copyright Switchboard authors.
//
// UdpSocket receiving through real loopback sockets, on every available
// backend: echo round trips per family, bursts across recvmmsg batches and
// wake-ups, and truncation of a datagram longer than the buffer.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "reactor/event_loop.h"
#include "reactor/inet_address.h"
#include "reactor/poller.h"
#include "reactor/udp_socket.h"
#include "tests/reactor/udp_socket_test_util.h"

namespace switchboard::udp_socket_test {
namespace {

// ---------------------------------------------------------------------------
// 1. Echo round trip, on each backend and family.

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
                                            ::testing::Values(PollerKind::kEpoll, PollerKind::kPoll,
                                                              PollerKind::kKqueue)),
                         EchoName);

// ---------------------------------------------------------------------------
// 2. A burst larger than a batch, sent while the loop is busy.

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
  for (uint32_t i = 0; i < kBurst; ++i) {
    client.SendTo(server.Target("127.0.0.1"), Numbered(i, 8 + i % 50));
  }
  release->Notify();

  ASSERT_TRUE(server.inbox().WaitFor(kBurst))
      << "only " << server.inbox().Get().size() << " of " << kBurst << " arrived";
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

INSTANTIATE_TEST_SUITE_P(Batches, UdpBurstTest,
                         ::testing::Values(BurstCase{"Default", 32, 8, 256},
                                           BurstCase{"SmallBatchesManyWakeUps", 8, 2, 16},
                                           BurstCase{"OneAtATime", 1, 1, 1},
                                           BurstCase{"BatchClampedTo64", 1000, 1, 64}),
                         [](const ::testing::TestParamInfo<BurstCase>& info) {
                           return std::string(info.param.name);
                         });

// ---------------------------------------------------------------------------
// 3. Truncation.

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

}  // namespace
}  // namespace switchboard::udp_socket_test
