// Copyright Switchboard authors.
//
// MemoryFailureLimiter on a FakeClock: the lock after max_failures within the
// window and its exact length, failures leaving the window, the per-user and
// per-address counts and their maximum, RecordSuccess, the max_keys bound
// (stale entries evicted first), RetrySecondsRoundedUp, and concurrent use
// (run it under --config=tsan).

#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "services/auth/memory_failure_limiter.h"
#include "tests/testing/fake_clock.h"

namespace switchboard {
namespace {

using testing::FakeClock;

constexpr absl::Duration kWindow = absl::Minutes(15);

// The wait, unwrapped: the memory limiter never fails.
std::optional<absl::Duration> WaitOf(FailureLimiter& limiter, absl::string_view user,
                                     absl::string_view address) {
  absl::StatusOr<std::optional<absl::Duration>> wait = limiter.RetryAfter(user, address);
  EXPECT_TRUE(wait.ok()) << wait.status();
  return wait.ok() ? *wait : std::nullopt;
}

TEST(RetrySecondsRoundedUpTest, RoundsUpToAtLeastOneSecond) {
  EXPECT_EQ(RetrySecondsRoundedUp(absl::ZeroDuration()), 1);
  EXPECT_EQ(RetrySecondsRoundedUp(absl::Nanoseconds(1)), 1);
  EXPECT_EQ(RetrySecondsRoundedUp(absl::Milliseconds(500)), 1);
  EXPECT_EQ(RetrySecondsRoundedUp(absl::Seconds(1)), 1);
  EXPECT_EQ(RetrySecondsRoundedUp(absl::Seconds(1) + absl::Nanoseconds(1)), 2);
  EXPECT_EQ(RetrySecondsRoundedUp(absl::Milliseconds(1001)), 2);
  EXPECT_EQ(RetrySecondsRoundedUp(absl::Seconds(2)), 2);
  EXPECT_EQ(RetrySecondsRoundedUp(absl::Milliseconds(899500)), 900);
  EXPECT_EQ(RetrySecondsRoundedUp(absl::Minutes(15)), 900);
  EXPECT_EQ(RetrySecondsRoundedUp(absl::Minutes(15) + absl::Nanoseconds(1)), 901);
}

TEST(FailureLimiterTest, NothingRecordedMeansNoWait) {
  FakeClock clock;
  MemoryFailureLimiter limiter(&clock);
  EXPECT_EQ(WaitOf(limiter, "alice", "10.0.0.1"), std::nullopt);
  EXPECT_EQ(limiter.tracked_users(), 0u);
  EXPECT_EQ(limiter.tracked_addresses(), 0u);
}

TEST(FailureLimiterTest, FifthFailureLocksForTheWholeWindow) {
  FakeClock clock;
  MemoryFailureLimiter limiter(&clock);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(limiter.RecordFailure("alice", "10.0.0.1").ok());
    EXPECT_EQ(WaitOf(limiter, "alice", "10.0.0.1"), std::nullopt) << i;
  }
  ASSERT_TRUE(limiter.RecordFailure("alice", "10.0.0.1").ok());
  EXPECT_EQ(WaitOf(limiter, "alice", "10.0.0.1"), std::optional<absl::Duration>(kWindow));
  EXPECT_EQ(limiter.tracked_users(), 1u);
  EXPECT_EQ(limiter.tracked_addresses(), 1u);

  clock.Advance(absl::Milliseconds(500));
  std::optional<absl::Duration> wait = WaitOf(limiter, "alice", "10.0.0.1");
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(*wait, absl::Milliseconds(899500));
  EXPECT_EQ(RetrySecondsRoundedUp(*wait), 900);

  clock.Advance(absl::Minutes(10));
  wait = WaitOf(limiter, "alice", "10.0.0.1");
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(*wait, absl::Minutes(5) - absl::Milliseconds(500));
  EXPECT_EQ(RetrySecondsRoundedUp(*wait), 300);

  // One nanosecond before the window ends: still locked.
  clock.SetTime(FakeClock::DefaultStart() + kWindow - absl::Nanoseconds(1));
  EXPECT_EQ(WaitOf(limiter, "alice", "10.0.0.1"),
            std::optional<absl::Duration>(absl::Nanoseconds(1)));
  EXPECT_EQ(RetrySecondsRoundedUp(absl::Nanoseconds(1)), 1);
  // When the window has passed: free.
  clock.SetTime(FakeClock::DefaultStart() + kWindow);
  EXPECT_EQ(WaitOf(limiter, "alice", "10.0.0.1"), std::nullopt);
  clock.Advance(absl::Hours(1));
  EXPECT_EQ(WaitOf(limiter, "alice", "10.0.0.1"), std::nullopt);
}

TEST(FailureLimiterTest, LockRunsFromTheOldestOfTheLastFailures) {
  FakeClock clock;
  MemoryFailureLimiter limiter(&clock);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(limiter.RecordFailure("alice", "10.0.0.1").ok());
    clock.Advance(absl::Minutes(1));
  }
  // Failures at 0..4 min, now 5 min: locked until 15 min.
  EXPECT_EQ(WaitOf(limiter, "alice", "10.0.0.1"), std::optional<absl::Duration>(absl::Minutes(10)));
  // A sixth failure pushes out the one at 0: locked until 16 min.
  ASSERT_TRUE(limiter.RecordFailure("alice", "10.0.0.1").ok());
  EXPECT_EQ(WaitOf(limiter, "alice", "10.0.0.1"), std::optional<absl::Duration>(absl::Minutes(11)));
  clock.SetTime(FakeClock::DefaultStart() + absl::Minutes(16));
  EXPECT_EQ(WaitOf(limiter, "alice", "10.0.0.1"), std::nullopt);
}

TEST(FailureLimiterTest, FailuresOutsideTheWindowStopCounting) {
  FakeClock clock;
  MemoryFailureLimiter limiter(&clock);
  // One failure every 225 s: the fifth comes exactly as the first leaves
  // the 900 s window, so there are never five within it.
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(limiter.RecordFailure("alice", "10.0.0.1").ok());
    EXPECT_EQ(WaitOf(limiter, "alice", "10.0.0.1"), std::nullopt) << i;
    clock.Advance(absl::Seconds(225));
  }
  // A nanosecond less between failures, and the fifth one locks.
  MemoryFailureLimiter tighter(&clock);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(tighter.RecordFailure("bob", "10.0.0.2").ok());
    clock.Advance(absl::Seconds(225) - absl::Nanoseconds(1));
  }
  ASSERT_TRUE(tighter.RecordFailure("bob", "10.0.0.2").ok());
  EXPECT_EQ(WaitOf(tighter, "bob", "10.0.0.2"),
            std::optional<absl::Duration>(absl::Nanoseconds(4)));
}

TEST(FailureLimiterTest, OldFailuresDoNotAddToNewOnes) {
  FakeClock clock;
  MemoryFailureLimiter limiter(&clock);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(limiter.RecordFailure("alice", "10.0.0.1").ok());
  clock.Advance(kWindow);
  // The first four have left the window: four more do not lock.
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(limiter.RecordFailure("alice", "10.0.0.1").ok());
  EXPECT_EQ(WaitOf(limiter, "alice", "10.0.0.1"), std::nullopt);
  ASSERT_TRUE(limiter.RecordFailure("alice", "10.0.0.1").ok());
  EXPECT_EQ(WaitOf(limiter, "alice", "10.0.0.1"), std::optional<absl::Duration>(kWindow));
}

TEST(FailureLimiterTest, UserLockAppliesFromAnyAddress) {
  FakeClock clock;
  MemoryFailureLimiter limiter(&clock);
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(limiter.RecordFailure("alice", absl::StrCat("10.0.0.", i)).ok());
  EXPECT_EQ(limiter.tracked_users(), 1u);
  EXPECT_EQ(limiter.tracked_addresses(), 5u);
  EXPECT_EQ(WaitOf(limiter, "alice", "10.0.0.0"), std::optional<absl::Duration>(kWindow));
  EXPECT_EQ(WaitOf(limiter, "alice", "192.168.1.1"), std::optional<absl::Duration>(kWindow));
  // Each address has one failure: other users may try from them.
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(WaitOf(limiter, "bob", absl::StrCat("10.0.0.", i)), std::nullopt) << i;
  }
}

TEST(FailureLimiterTest, AddressLockAppliesToAnyUser) {
  FakeClock clock;
  MemoryFailureLimiter limiter(&clock);
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(limiter.RecordFailure(absl::StrCat("user", i), "10.0.0.1").ok());
  EXPECT_EQ(limiter.tracked_users(), 5u);
  EXPECT_EQ(limiter.tracked_addresses(), 1u);
  EXPECT_EQ(WaitOf(limiter, "user0", "10.0.0.1"), std::optional<absl::Duration>(kWindow));
  EXPECT_EQ(WaitOf(limiter, "carol", "10.0.0.1"), std::optional<absl::Duration>(kWindow));
  // Each user has one failure: they may try from elsewhere.
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(WaitOf(limiter, absl::StrCat("user", i), "10.0.0.2"), std::nullopt) << i;
  }
}

TEST(FailureLimiterTest, WaitIsTheLongerOfUserAndAddress) {
  FakeClock clock;
  MemoryFailureLimiter limiter(&clock);
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(limiter.RecordFailure("alice", absl::StrCat("10.0.1.", i)).ok());
  clock.Advance(absl::Minutes(5));
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(limiter.RecordFailure(absl::StrCat("user", i), "10.0.0.1").ok());
  // alice: until 15 min; 10.0.0.1: until 20 min; now 5 min.
  EXPECT_EQ(WaitOf(limiter, "alice", "10.0.0.2"), std::optional<absl::Duration>(absl::Minutes(10)));
  EXPECT_EQ(WaitOf(limiter, "bob", "10.0.0.1"), std::optional<absl::Duration>(absl::Minutes(15)));
  EXPECT_EQ(WaitOf(limiter, "alice", "10.0.0.1"), std::optional<absl::Duration>(absl::Minutes(15)));
  clock.Advance(absl::Minutes(10));
  EXPECT_EQ(WaitOf(limiter, "alice", "10.0.0.2"), std::nullopt);
  EXPECT_EQ(WaitOf(limiter, "alice", "10.0.0.1"), std::optional<absl::Duration>(absl::Minutes(5)));
}

TEST(FailureLimiterTest, SuccessClearsTheUserAndTheAddress) {
  FakeClock clock;
  MemoryFailureLimiter limiter(&clock);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(limiter.RecordFailure("alice", "10.0.0.1").ok());
  ASSERT_TRUE(limiter.RecordSuccess("alice", "10.0.0.1").ok());
  EXPECT_EQ(limiter.tracked_users(), 0u);
  EXPECT_EQ(limiter.tracked_addresses(), 0u);
  // Counting starts again: four more do not lock, the fifth does.
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(limiter.RecordFailure("alice", "10.0.0.1").ok());
  EXPECT_EQ(WaitOf(limiter, "alice", "10.0.0.1"), std::nullopt);
  ASSERT_TRUE(limiter.RecordFailure("alice", "10.0.0.1").ok());
  EXPECT_EQ(WaitOf(limiter, "alice", "10.0.0.1"), std::optional<absl::Duration>(kWindow));
  // A success lifts a lock too.
  ASSERT_TRUE(limiter.RecordSuccess("alice", "10.0.0.1").ok());
  EXPECT_EQ(WaitOf(limiter, "alice", "10.0.0.1"), std::nullopt);
}

TEST(FailureLimiterTest, SuccessClearsOnlyItsOwnUserAndAddress) {
  FakeClock clock;
  MemoryFailureLimiter limiter(&clock);
  // alice has 4 failures from A; bob 4 from B.
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(limiter.RecordFailure("alice", "A").ok());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(limiter.RecordFailure("bob", "B").ok());
  // alice succeeds from B: clears alice and B, leaves A and bob.
  ASSERT_TRUE(limiter.RecordSuccess("alice", "B").ok());
  EXPECT_EQ(limiter.tracked_users(), 1u);      // bob
  EXPECT_EQ(limiter.tracked_addresses(), 1u);  // A

  ASSERT_TRUE(limiter.RecordFailure("alice", "C").ok());
  EXPECT_EQ(WaitOf(limiter, "alice", "C"), std::nullopt);  // alice: 1
  ASSERT_TRUE(limiter.RecordFailure("dave", "B").ok());
  EXPECT_EQ(WaitOf(limiter, "dave", "B"), std::nullopt);  // B: 1

  ASSERT_TRUE(limiter.RecordFailure("carol", "A").ok());  // A: 5
  EXPECT_EQ(WaitOf(limiter, "carol", "A"), std::optional<absl::Duration>(kWindow));
  ASSERT_TRUE(limiter.RecordFailure("bob", "D").ok());  // bob: 5
  EXPECT_EQ(WaitOf(limiter, "bob", "D"), std::optional<absl::Duration>(kWindow));
}

TEST(FailureLimiterTest, HonoursOtherLimitsAndWindows) {
  FakeClock clock;
  MemoryFailureLimiter limiter(&clock, /*max_failures=*/2, /*window=*/absl::Seconds(30));
  ASSERT_TRUE(limiter.RecordFailure("alice", "10.0.0.1").ok());
  EXPECT_EQ(WaitOf(limiter, "alice", "10.0.0.1"), std::nullopt);
  clock.Advance(absl::Seconds(10));
  ASSERT_TRUE(limiter.RecordFailure("alice", "10.0.0.1").ok());
  EXPECT_EQ(WaitOf(limiter, "alice", "10.0.0.1"), std::optional<absl::Duration>(absl::Seconds(20)));
  clock.Advance(absl::Seconds(20));
  EXPECT_EQ(WaitOf(limiter, "alice", "10.0.0.1"), std::nullopt);
}

TEST(FailureLimiterTest, MaxKeysBoundsTheMaps) {
  FakeClock clock;
  MemoryFailureLimiter limiter(&clock, 5, kWindow, /*max_keys=*/3);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(limiter.RecordFailure(absl::StrCat("user", i), absl::StrCat("10.0.0.", i)).ok());
    EXPECT_LE(limiter.tracked_users(), 3u) << i;
    EXPECT_LE(limiter.tracked_addresses(), 3u) << i;
  }
  EXPECT_GE(limiter.tracked_users(), 1u);
  // The newest is always kept.
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(limiter.RecordFailure("user9", "10.0.0.9").ok());
  EXPECT_EQ(WaitOf(limiter, "user9", "10.0.0.99"), std::optional<absl::Duration>(kWindow));
  EXPECT_EQ(WaitOf(limiter, "user99", "10.0.0.9"), std::optional<absl::Duration>(kWindow));
  EXPECT_LE(limiter.tracked_users(), 3u);
  EXPECT_LE(limiter.tracked_addresses(), 3u);
}

TEST(FailureLimiterTest, MaxKeysIsNotSpentOnKnownKeys) {
  FakeClock clock;
  MemoryFailureLimiter limiter(&clock, 5, kWindow, /*max_keys=*/3);
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(limiter.RecordFailure(absl::StrCat("user", i), "10.0.0.1").ok());
  // More failures for tracked users evict nobody.
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 3; ++i)
      ASSERT_TRUE(limiter.RecordFailure(absl::StrCat("user", i), "10.0.0.1").ok());
  }
  EXPECT_EQ(limiter.tracked_users(), 3u);
  for (int i = 0; i < 3; ++i) {
    // 4 failures each (their shared address has 12, but is not asked about).
    EXPECT_EQ(WaitOf(limiter, absl::StrCat("user", i), "10.0.0.2"), std::nullopt) << i;
    ASSERT_TRUE(limiter.RecordFailure(absl::StrCat("user", i), "10.0.0.2").ok());
    EXPECT_EQ(WaitOf(limiter, absl::StrCat("user", i), "10.0.0.3"),
              std::optional<absl::Duration>(kWindow))
        << i;
  }
}

TEST(FailureLimiterTest, StaleEntriesAreEvictedFirst) {
  FakeClock clock;
  MemoryFailureLimiter limiter(&clock, 5, kWindow, /*max_keys=*/3);
  // "old" fails once at 0 min; "a" and "b" five times each at 10 min.
  ASSERT_TRUE(limiter.RecordFailure("old", "10.0.0.1").ok());
  clock.Advance(absl::Minutes(10));
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(limiter.RecordFailure("a", "10.0.0.2").ok());
    ASSERT_TRUE(limiter.RecordFailure("b", "10.0.0.3").ok());
  }
  ASSERT_EQ(limiter.tracked_users(), 3u);
  ASSERT_EQ(limiter.tracked_addresses(), 3u);
  // At 16 min "old" has left the window; "a" and "b" are locked until 25.
  clock.Advance(absl::Minutes(6));
  ASSERT_EQ(WaitOf(limiter, "a", "10.9.9.9"), std::optional<absl::Duration>(absl::Minutes(9)));
  ASSERT_EQ(WaitOf(limiter, "b", "10.9.9.9"), std::optional<absl::Duration>(absl::Minutes(9)));

  ASSERT_TRUE(limiter.RecordFailure("new", "10.0.0.4").ok());
  EXPECT_EQ(limiter.tracked_users(), 3u);
  EXPECT_EQ(limiter.tracked_addresses(), 3u);
  // Only "old" (and its address) can have made room: both locks survive.
  EXPECT_EQ(WaitOf(limiter, "a", "10.9.9.9"), std::optional<absl::Duration>(absl::Minutes(9)));
  EXPECT_EQ(WaitOf(limiter, "b", "10.9.9.9"), std::optional<absl::Duration>(absl::Minutes(9)));
  EXPECT_EQ(WaitOf(limiter, "x", "10.0.0.2"), std::optional<absl::Duration>(absl::Minutes(9)));
  EXPECT_EQ(WaitOf(limiter, "x", "10.0.0.3"), std::optional<absl::Duration>(absl::Minutes(9)));
  // "new" is tracked: four more failures lock it.
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(limiter.RecordFailure("new", "10.0.0.4").ok());
  EXPECT_EQ(WaitOf(limiter, "new", "10.9.9.9"), std::optional<absl::Duration>(kWindow));
}

TEST(FailureLimiterTest, AllStaleEntriesGoAtOnce) {
  FakeClock clock;
  MemoryFailureLimiter limiter(&clock, 5, kWindow, /*max_keys=*/3);
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(limiter.RecordFailure(absl::StrCat("user", i), "10.0.0.1").ok());
  clock.Advance(kWindow);
  ASSERT_TRUE(limiter.RecordFailure("fresh", "10.0.0.2").ok());
  // All three users were stale: only "fresh" remains.
  EXPECT_EQ(limiter.tracked_users(), 1u);
  EXPECT_EQ(limiter.tracked_addresses(), 2u);  // room was not needed there
}

TEST(FailureLimiterTest, ConcurrentFailuresAndQueries) {
  FakeClock clock;
  MemoryFailureLimiter limiter(&clock);
  constexpr int kWriters = 4;
  constexpr int kFailuresPerWriter = 1000;
  constexpr int kReaders = 2;
  constexpr int kQueriesPerReader = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&limiter, t] {
      const std::string address = absl::StrCat("10.0.", t, ".1");
      for (int i = 0; i < kFailuresPerWriter; ++i) {
        ASSERT_TRUE(limiter.RecordFailure(absl::StrCat("w", t, "-user", i), address).ok());
      }
    });
  }
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&limiter, &clock, r] {
      for (int i = 0; i < kQueriesPerReader; ++i) {
        (void)WaitOf(limiter, absl::StrCat("w", i % kWriters, "-user", i % kFailuresPerWriter),
                     absl::StrCat("10.0.", i % kWriters, ".1"));
        if (i % 100 == 0) {
          (void)limiter.tracked_users();
          (void)limiter.tracked_addresses();
        }
        if (r == 0 && i % 500 == 0) clock.Advance(absl::Milliseconds(1));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  EXPECT_EQ(limiter.tracked_users(), static_cast<size_t>(kWriters * kFailuresPerWriter));
  EXPECT_EQ(limiter.tracked_addresses(), static_cast<size_t>(kWriters));
  for (int t = 0; t < kWriters; ++t) {
    // Every address saw 1000 failures; every user one.
    EXPECT_TRUE(WaitOf(limiter, "anyone", absl::StrCat("10.0.", t, ".1")).has_value()) << t;
    EXPECT_EQ(WaitOf(limiter, absl::StrCat("w", t, "-user0"), "10.9.9.9"), std::nullopt);
  }
}

TEST(FailureLimiterTest, ConcurrentFailuresStayWithinMaxKeys) {
  FakeClock clock;
  MemoryFailureLimiter limiter(&clock, 5, kWindow, /*max_keys=*/50);
  constexpr int kWriters = 4;
  constexpr int kFailuresPerWriter = 1000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&limiter, t] {
      for (int i = 0; i < kFailuresPerWriter; ++i) {
        ASSERT_TRUE(
            limiter.RecordFailure(absl::StrCat("w", t, "-user", i), absl::StrCat("a", t, "-", i))
                .ok());
      }
    });
  }
  threads.emplace_back([&limiter] {
    for (int i = 0; i < 2000; ++i) {
      (void)WaitOf(limiter, absl::StrCat("w0-user", i % 1000), "a0-0");
      EXPECT_LE(limiter.tracked_users(), 50u);
      EXPECT_LE(limiter.tracked_addresses(), 50u);
    }
  });
  for (std::thread& thread : threads) thread.join();
  EXPECT_LE(limiter.tracked_users(), 50u);
  EXPECT_LE(limiter.tracked_addresses(), 50u);
}

}  // namespace
}  // namespace switchboard
