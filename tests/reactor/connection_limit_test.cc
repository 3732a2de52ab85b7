// Copyright Switchboard authors.
//
// ConnectionLimit: the total cap, the per-address cap (by address, not
// port; IPv4-mapped IPv6 is the caller's to unmap), slots given back, and
// many threads taking and giving back at once (run it under TSan).

#include "reactor/connection_limit.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "reactor/inet_address.h"

namespace switchboard {
namespace {

using Verdict = ConnectionLimit::Verdict;

InetAddress From(const char* ip, uint16_t port = 40000) { return *InetAddress::Parse(ip, port); }

TEST(ConnectionLimitTest, TotalCapWithoutAPerAddressOne) {
  ConnectionLimit limit(2);
  EXPECT_EQ(limit.TryAcquire(From("127.0.0.1")), Verdict::kAdmitted);
  EXPECT_EQ(limit.TryAcquire(From("127.0.0.1")), Verdict::kAdmitted);
  EXPECT_EQ(limit.TryAcquire(From("127.0.0.2")), Verdict::kFull);
  EXPECT_EQ(limit.open(), 2);
  limit.Release(From("127.0.0.1"));
  EXPECT_EQ(limit.TryAcquire(From("127.0.0.2")), Verdict::kAdmitted);
}

TEST(ConnectionLimitTest, PerAddressCapCountsAddressesNotPorts) {
  ConnectionLimit limit(10, 2);
  EXPECT_EQ(limit.TryAcquire(From("127.0.0.2", 1)), Verdict::kAdmitted);
  EXPECT_EQ(limit.TryAcquire(From("127.0.0.2", 2)), Verdict::kAdmitted);
  EXPECT_EQ(limit.TryAcquire(From("127.0.0.2", 3)), Verdict::kAddressFull);
  EXPECT_EQ(limit.TryAcquire(From("127.0.0.3", 3)), Verdict::kAdmitted);
  EXPECT_EQ(limit.TryAcquire(From("::1", 3)), Verdict::kAdmitted);
  EXPECT_EQ(limit.open(), 4) << "a refusal takes no slot";
  limit.Release(From("127.0.0.2", 1));
  EXPECT_EQ(limit.TryAcquire(From("127.0.0.2", 4)), Verdict::kAdmitted);
}

TEST(ConnectionLimitTest, TotalCapWinsAndLeavesNoAddressCountBehind) {
  ConnectionLimit limit(1, 5);
  EXPECT_EQ(limit.TryAcquire(From("127.0.0.2")), Verdict::kAdmitted);
  EXPECT_EQ(limit.TryAcquire(From("127.0.0.3")), Verdict::kFull);
  limit.Release(From("127.0.0.2"));
  // 127.0.0.3's refusal counted nothing against it.
  EXPECT_EQ(limit.TryAcquire(From("127.0.0.3")), Verdict::kAdmitted);
  EXPECT_EQ(limit.open(), 1);
}

TEST(ConnectionLimitTest, ManyThreadsNeverPassEitherCap) {
  constexpr int kThreads = 8;
  constexpr int kRounds = 2000;
  ConnectionLimit limit(6, 3);
  std::vector<std::thread> threads;
  std::atomic<int> over{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const InetAddress peer = From(t % 2 == 0 ? "127.0.0.2" : "127.0.0.3");
      for (int i = 0; i < kRounds; ++i) {
        if (limit.TryAcquire(peer) != Verdict::kAdmitted) continue;
        if (limit.open() > 6) over.fetch_add(1);
        limit.Release(peer);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(over.load(), 0);
  EXPECT_EQ(limit.open(), 0);
  // Everything given back: both addresses have their whole share again.
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limit.TryAcquire(From("127.0.0.2")), Verdict::kAdmitted);
  EXPECT_EQ(limit.TryAcquire(From("127.0.0.2")), Verdict::kAddressFull);
}

}  // namespace
}  // namespace switchboard
