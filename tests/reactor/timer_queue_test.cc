// Copyright Switchboard authors.
//
// TimerQueue on its own, driven with explicit times: one-shot and repeating
// timers, cancelling (before firing, from its own callback, from another
// timer's callback), the order of equal deadlines, NextDeadline, and many
// cancellations (the stale heap entries they leave are compacted away).

#include "reactor/timer_queue.h"

#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace switchboard {
namespace {

const absl::Time kStart = absl::UnixEpoch() + absl::Hours(1000);

absl::Time At(int64_t ms) { return kStart + absl::Milliseconds(ms); }

TEST(TimerQueueTest, EmptyQueue) {
  TimerQueue timers;
  EXPECT_EQ(timers.size(), 0u);
  EXPECT_EQ(timers.NextDeadline(), absl::InfiniteFuture());
  EXPECT_EQ(timers.RunExpired(At(1000000)), 0);
}

TEST(TimerQueueTest, IdsAreNonZeroAndDistinct) {
  TimerQueue timers;
  const TimerId a = timers.Add(At(1), absl::ZeroDuration(), [] {});
  const TimerId b = timers.Add(At(1), absl::ZeroDuration(), [] {});
  EXPECT_NE(a, 0u);
  EXPECT_NE(b, 0u);
  EXPECT_NE(a, b);
  timers.Cancel(a);
  const TimerId c = timers.Add(At(1), absl::ZeroDuration(), [] {});
  EXPECT_NE(c, a) << "ids are not reused";
}

TEST(TimerQueueTest, OneShotFiresOnceAtItsDeadline) {
  TimerQueue timers;
  int fired = 0;
  timers.Add(At(100), absl::ZeroDuration(), [&] { ++fired; });
  EXPECT_EQ(timers.size(), 1u);
  EXPECT_EQ(timers.NextDeadline(), At(100));

  EXPECT_EQ(timers.RunExpired(At(99)), 0);
  EXPECT_EQ(fired, 0);
  EXPECT_EQ(timers.RunExpired(At(100)), 1) << "due exactly at its deadline";
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(timers.RunExpired(At(10000)), 0);
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(timers.size(), 0u);
  EXPECT_EQ(timers.NextDeadline(), absl::InfiniteFuture());
}

TEST(TimerQueueTest, ADeadlineInThePastFiresAtOnce) {
  TimerQueue timers;
  int fired = 0;
  timers.Add(absl::InfinitePast(), absl::ZeroDuration(), [&] { ++fired; });
  EXPECT_EQ(timers.RunExpired(At(0)), 1);
  EXPECT_EQ(fired, 1);
}

TEST(TimerQueueTest, RepeatingFiresEveryInterval) {
  TimerQueue timers;
  std::vector<absl::Time> fired_at;
  absl::Time now = At(0);
  timers.Add(At(10), absl::Milliseconds(10), [&] { fired_at.push_back(now); });
  for (int step = 1; step <= 50; ++step) {
    now = At(step * 2);  // time moves in steps of 2 ms
    timers.RunExpired(now);
  }
  ASSERT_EQ(fired_at.size(), 10u);
  for (size_t i = 0; i < fired_at.size(); ++i) {
    EXPECT_EQ(fired_at[i], At(10 * static_cast<int64_t>(i + 1)));
  }
  EXPECT_EQ(timers.size(), 1u) << "a repeating timer stays until cancelled";
  EXPECT_EQ(timers.NextDeadline(), At(110));
}

TEST(TimerQueueTest, RepeatingTimerDoesNotBurstAfterAStall) {
  TimerQueue timers;
  int fired = 0;
  timers.Add(At(10), absl::Milliseconds(10), [&] { ++fired; });
  // The loop was away for many periods: one run, not one per missed period.
  EXPECT_EQ(timers.RunExpired(At(1005)), 1);
  EXPECT_EQ(fired, 1);
  EXPECT_GT(timers.NextDeadline(), At(1005));
  EXPECT_LE(timers.NextDeadline(), At(1015));
}

TEST(TimerQueueTest, CancelBeforeFiring) {
  TimerQueue timers;
  int fired = 0;
  const TimerId id = timers.Add(At(10), absl::ZeroDuration(), [&] { ++fired; });
  timers.Cancel(id);
  EXPECT_EQ(timers.size(), 0u);
  EXPECT_EQ(timers.NextDeadline(), absl::InfiniteFuture());
  EXPECT_EQ(timers.RunExpired(At(100)), 0);
  EXPECT_EQ(fired, 0);
}

TEST(TimerQueueTest, CancelIsHarmlessForUnknownFiredOrCancelledTimers) {
  TimerQueue timers;
  int fired = 0;
  const TimerId id = timers.Add(At(10), absl::ZeroDuration(), [&] { ++fired; });
  const TimerId other = timers.Add(At(20), absl::ZeroDuration(), [&] { ++fired; });
  timers.Cancel(0);
  timers.Cancel(987654);
  EXPECT_EQ(timers.RunExpired(At(10)), 1);
  timers.Cancel(id);  // already fired
  timers.Cancel(id);
  EXPECT_EQ(timers.size(), 1u);
  EXPECT_EQ(timers.RunExpired(At(20)), 1);
  EXPECT_EQ(fired, 2);
  timers.Cancel(other);
}

TEST(TimerQueueTest, CancellingTheEarliestMovesNextDeadline) {
  TimerQueue timers;
  const TimerId first = timers.Add(At(10), absl::ZeroDuration(), [] {});
  timers.Add(At(30), absl::ZeroDuration(), [] {});
  timers.Add(At(20), absl::ZeroDuration(), [] {});
  EXPECT_EQ(timers.NextDeadline(), At(10));
  timers.Cancel(first);
  EXPECT_EQ(timers.NextDeadline(), At(20));
}

TEST(TimerQueueTest, OneShotMayCancelItselfFromItsCallback) {
  TimerQueue timers;
  int fired = 0;
  TimerId id = 0;
  id = timers.Add(At(10), absl::ZeroDuration(), [&] {
    ++fired;
    timers.Cancel(id);
  });
  EXPECT_EQ(timers.RunExpired(At(10)), 1);
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(timers.size(), 0u);
}

TEST(TimerQueueTest, RepeatingTimerCancelsItselfAfterThreeRuns) {
  TimerQueue timers;
  int fired = 0;
  TimerId id = 0;
  id = timers.Add(At(10), absl::Milliseconds(10), [&] {
    if (++fired == 3) timers.Cancel(id);
  });
  for (int ms = 10; ms <= 200; ms += 10) timers.RunExpired(At(ms));
  EXPECT_EQ(fired, 3);
  EXPECT_EQ(timers.size(), 0u);
  EXPECT_EQ(timers.NextDeadline(), absl::InfiniteFuture());
}

TEST(TimerQueueTest, ACallbackMayCancelAnotherTimerDueInTheSameRun) {
  TimerQueue timers;
  std::vector<std::string> fired;
  TimerId second = 0;
  timers.Add(At(10), absl::ZeroDuration(), [&] {
    fired.push_back("first");
    timers.Cancel(second);
  });
  second = timers.Add(At(10), absl::ZeroDuration(), [&] { fired.push_back("second"); });
  timers.Add(At(10), absl::ZeroDuration(), [&] { fired.push_back("third"); });
  EXPECT_EQ(timers.RunExpired(At(10)), 2);
  EXPECT_EQ(fired, (std::vector<std::string>{"first", "third"}));
}

TEST(TimerQueueTest, ACallbackMayAddTimers) {
  TimerQueue timers;
  std::vector<std::string> fired;
  timers.Add(At(10), absl::ZeroDuration(), [&] {
    fired.push_back("outer");
    timers.Add(At(50), absl::ZeroDuration(), [&] { fired.push_back("inner"); });
  });
  EXPECT_EQ(timers.RunExpired(At(10)), 1);
  EXPECT_EQ(timers.NextDeadline(), At(50));
  EXPECT_EQ(timers.RunExpired(At(50)), 1);
  EXPECT_EQ(fired, (std::vector<std::string>{"outer", "inner"}));
}

// A callback that schedules a timer already due (a zero delay, say) must not
// keep RunExpired going: with a clock that does not move, that would never
// end. The new timer runs on the next pass.
TEST(TimerQueueTest, ATimerAddedDueDuringAPassWaitsForTheNextPass) {
  TimerQueue timers;
  int runs = 0;
  std::function<void()> again = [&] {
    ++runs;
    timers.Add(At(10), absl::ZeroDuration(), again);
  };
  timers.Add(At(10), absl::ZeroDuration(), again);
  EXPECT_EQ(timers.RunExpired(At(10)), 1);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(timers.NextDeadline(), At(10));
  EXPECT_EQ(timers.RunExpired(At(10)), 1);
  EXPECT_EQ(runs, 2);
}

TEST(TimerQueueTest, EarlierDeadlinesRunFirst) {
  TimerQueue timers;
  std::vector<int> order;
  for (int ms : {50, 10, 40, 20, 30}) {
    timers.Add(At(ms), absl::ZeroDuration(), [&order, ms] { order.push_back(ms); });
  }
  EXPECT_EQ(timers.RunExpired(At(100)), 5);
  EXPECT_EQ(order, (std::vector<int>{10, 20, 30, 40, 50}));
}

TEST(TimerQueueTest, EqualDeadlinesRunInTheOrderTheyWereAdded) {
  TimerQueue timers;
  std::vector<int> order;
  for (int i = 0; i < 100; ++i) {
    timers.Add(At(10), absl::ZeroDuration(), [&order, i] { order.push_back(i); });
  }
  EXPECT_EQ(timers.RunExpired(At(10)), 100);
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
}

TEST(TimerQueueTest, ManyCancellationsLeaveTheQueueCorrect) {
  TimerQueue timers;
  std::vector<TimerId> ids;
  std::vector<int> fired;
  for (int i = 0; i < 1000; ++i) {
    ids.push_back(
        timers.Add(At(1000 - i), absl::ZeroDuration(), [&fired, i] { fired.push_back(i); }));
  }
  // Keep every hundredth timer; cancel the rest (compaction happens on the
  // way, once stale entries outnumber the live ones).
  for (int i = 0; i < 1000; ++i) {
    if (i % 100 != 0) timers.Cancel(ids[i]);
  }
  EXPECT_EQ(timers.size(), 10u);
  EXPECT_EQ(timers.NextDeadline(), At(1000 - 900));
  EXPECT_EQ(timers.RunExpired(At(2000)), 10);
  EXPECT_EQ(fired, (std::vector<int>{900, 800, 700, 600, 500, 400, 300, 200, 100, 0}));
  EXPECT_EQ(timers.NextDeadline(), absl::InfiniteFuture());
}

TEST(TimerQueueTest, AddAndCancelChurnStaysBounded) {
  // An idle timeout re-armed on every message: add, cancel, add, cancel ...
  TimerQueue timers;
  int fired = 0;
  timers.Add(At(5), absl::Milliseconds(5), [&] { ++fired; });  // a steady ticker
  TimerId idle = 0;
  for (int i = 0; i < 50000; ++i) {
    timers.Cancel(idle);
    idle = timers.Add(At(100000 + i), absl::ZeroDuration(), [] { FAIL() << "cancelled"; });
    ASSERT_LE(timers.size(), 2u);
    if (i % 250 == 0) timers.RunExpired(At(i / 250));
  }
  EXPECT_EQ(timers.size(), 2u);
  EXPECT_EQ(timers.NextDeadline(), At(200));
  timers.Cancel(idle);
  EXPECT_EQ(timers.RunExpired(At(1000000)), 1);
  EXPECT_GE(fired, 40);
}

TEST(TimerQueueTest, CompactionInsideACallbackKeepsDueTimers) {
  TimerQueue timers;
  std::vector<TimerId> doomed;
  for (int i = 0; i < 500; ++i) {
    doomed.push_back(
        timers.Add(At(5000 + i), absl::ZeroDuration(), [] { FAIL() << "a cancelled timer ran"; }));
  }
  std::vector<std::string> fired;
  int ticks = 0;
  timers.Add(At(10), absl::ZeroDuration(), [&] {
    fired.push_back("canceller");
    for (TimerId id : doomed) timers.Cancel(id);  // compacts the heap mid-run
  });
  TimerId ticker = timers.Add(At(10), absl::Milliseconds(10), [&] {
    fired.push_back("ticker");
    ++ticks;
  });
  timers.Add(At(10), absl::ZeroDuration(), [&] { fired.push_back("last"); });
  EXPECT_EQ(timers.RunExpired(At(10)), 3);
  EXPECT_EQ(fired, (std::vector<std::string>{"canceller", "ticker", "last"}));
  EXPECT_EQ(timers.size(), 1u);
  EXPECT_EQ(timers.NextDeadline(), At(20));
  EXPECT_EQ(timers.RunExpired(At(20)), 1);
  EXPECT_EQ(ticks, 2);
  timers.Cancel(ticker);
  EXPECT_EQ(timers.RunExpired(At(10000)), 0);
}

TEST(TimerQueueTest, RepeatingTimerCancelledByAnotherDoesNotRunAgain) {
  TimerQueue timers;
  int ticks = 0;
  const TimerId ticker = timers.Add(At(10), absl::Milliseconds(10), [&] { ++ticks; });
  timers.Add(At(25), absl::ZeroDuration(), [&] { timers.Cancel(ticker); });
  for (int ms = 10; ms <= 100; ms += 5) timers.RunExpired(At(ms));
  EXPECT_EQ(ticks, 2);
  EXPECT_EQ(timers.size(), 0u);
}

}  // namespace
}  // namespace switchboard
