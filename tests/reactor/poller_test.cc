// Copyright Switchboard authors.
//
// Pollers: one suite, instantiated for every backend (skipped where the
// platform lacks it), on socketpairs: readiness, hang-up, interest changes,
// removal, tokens, timeouts. Then the same backends under an EventLoop,
// including a watcher removed while its event is still pending in the turn.

#include "reactor/poller.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "reactor/event_loop.h"
#include "reactor/io_watcher.h"
#include "tests/testing/socket_pair.h"

namespace switchboard {
namespace {

using testing::MakeSocketPair;
using testing::SocketPair;

SocketPair NewPair() {
  absl::StatusOr<SocketPair> pair = MakeSocketPair();
  EXPECT_TRUE(pair.ok()) << pair.status();
  return *std::move(pair);
}

void WriteByte(const Socket& socket, char byte = 'x') {
  ASSERT_EQ(::write(socket.fd(), &byte, 1), 1);
}

// Fills the send side of `socket` until it would block.
void FillUntilFull(const Socket& socket) {
  const std::string chunk(65536, 'f');
  for (int i = 0; i < 10000; ++i) {
    if (::send(socket.fd(), chunk.data(), chunk.size(), MSG_DONTWAIT) < 0) return;
  }
  FAIL() << "the socket never filled up";
}

// ---------------------------------------------------------------------------
// Helpers that know every backend.

TEST(PollerKindTest, NamesRoundTrip) {
  for (PollerKind kind : {PollerKind::kEpoll, PollerKind::kPoll, PollerKind::kKqueue}) {
    absl::StatusOr<PollerKind> parsed = ParsePollerKind(PollerKindName(kind));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, kind);
  }
  EXPECT_EQ(ParsePollerKind("select").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParsePollerKind("").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(PollerKindTest, TheDefaultIsAvailableAndPollAlwaysIs) {
  EXPECT_TRUE(PollerAvailable(DefaultPollerKind()));
  EXPECT_TRUE(PollerAvailable(PollerKind::kPoll));
#if defined(__linux__)
  EXPECT_EQ(DefaultPollerKind(), PollerKind::kEpoll);
#endif
}

TEST(PollerKindTest, MakingAnAbsentBackendIsAnError) {
  for (PollerKind kind : {PollerKind::kEpoll, PollerKind::kPoll, PollerKind::kKqueue}) {
    absl::StatusOr<std::unique_ptr<Poller>> poller = MakePoller(kind);
    if (PollerAvailable(kind)) {
      ASSERT_TRUE(poller.ok()) << poller.status();
      EXPECT_EQ((*poller)->name(), PollerKindName(kind));
    } else {
      EXPECT_EQ(poller.status().code(), absl::StatusCode::kUnimplemented);
      EXPECT_EQ(EventLoop::Create(kind).status().code(), absl::StatusCode::kUnimplemented);
    }
  }
}

TEST(TimeoutToMillisecondsTest, RoundsUpSoTimersAreNeverEarly) {
  EXPECT_EQ(TimeoutToMilliseconds(absl::InfiniteDuration()), -1);
  EXPECT_EQ(TimeoutToMilliseconds(absl::ZeroDuration()), 0);
  EXPECT_EQ(TimeoutToMilliseconds(absl::Milliseconds(-5)), 0);
  EXPECT_EQ(TimeoutToMilliseconds(-absl::InfiniteDuration()), 0);
  EXPECT_EQ(TimeoutToMilliseconds(absl::Nanoseconds(1)), 1);
  EXPECT_EQ(TimeoutToMilliseconds(absl::Milliseconds(1)), 1);
  EXPECT_EQ(TimeoutToMilliseconds(absl::Milliseconds(1) + absl::Nanoseconds(1)), 2);
  EXPECT_EQ(TimeoutToMilliseconds(absl::Seconds(3)), 3000);
  EXPECT_EQ(TimeoutToMilliseconds(absl::Hours(24 * 365)), 1 << 30);
}

TEST(TimeoutToTimespecTest, KeepsNanosecondsAndClampsNegatives) {
  timespec ts{};
  EXPECT_FALSE(TimeoutToTimespec(absl::InfiniteDuration(), &ts));
  ASSERT_TRUE(TimeoutToTimespec(absl::Microseconds(250), &ts));
  EXPECT_EQ(ts.tv_sec, 0);
  EXPECT_EQ(ts.tv_nsec, 250000);
  ASSERT_TRUE(TimeoutToTimespec(absl::Seconds(3) + absl::Nanoseconds(7), &ts));
  EXPECT_EQ(ts.tv_sec, 3);
  EXPECT_EQ(ts.tv_nsec, 7);
  ASSERT_TRUE(TimeoutToTimespec(absl::Milliseconds(-5), &ts));
  EXPECT_EQ(ts.tv_sec, 0);
  EXPECT_EQ(ts.tv_nsec, 0);
  ASSERT_TRUE(TimeoutToTimespec(-absl::InfiniteDuration(), &ts));
  EXPECT_EQ(ts.tv_sec, 0);
  EXPECT_EQ(ts.tv_nsec, 0);
}

// ---------------------------------------------------------------------------
// The backend suite.

class PollerTest : public ::testing::TestWithParam<PollerKind> {
 protected:
  void SetUp() override {
    if (!PollerAvailable(GetParam())) {
      GTEST_SKIP() << PollerKindName(GetParam()) << " is not available here";
    }
    absl::StatusOr<std::unique_ptr<Poller>> poller = MakePoller(GetParam());
    ASSERT_TRUE(poller.ok()) << poller.status();
    poller_ = *std::move(poller);
  }

  // One wait; fails the test on error.
  std::vector<ReadyEvent> Wait(absl::Duration timeout = absl::Seconds(5)) {
    std::vector<ReadyEvent> ready;
    absl::Status status = poller_->Wait(timeout, &ready);
    EXPECT_TRUE(status.ok()) << status;
    return ready;
  }

  // The events reported for `token` in one wait (0 if none), checking that
  // the token comes at most once.
  static uint32_t EventsFor(const std::vector<ReadyEvent>& ready, void* token) {
    uint32_t events = 0;
    int seen = 0;
    for (const ReadyEvent& event : ready) {
      if (event.token == token) {
        events |= event.events;
        ++seen;
      }
    }
    EXPECT_LE(seen, 1) << "a descriptor is reported once per wait";
    return events;
  }

  std::unique_ptr<Poller> poller_;
  int token_a_ = 0;
  int token_b_ = 0;
};

TEST_P(PollerTest, NameMatchesTheKind) { EXPECT_EQ(poller_->name(), PollerKindName(GetParam())); }

TEST_P(PollerTest, ReadableOnceThePeerWrites) {
  SocketPair pair = NewPair();
  ASSERT_TRUE(poller_->Add(pair.second.fd(), kReadable, &token_a_).ok());
  EXPECT_TRUE(Wait(absl::ZeroDuration()).empty());

  WriteByte(pair.first);
  std::vector<ReadyEvent> ready = Wait();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].token, &token_a_);
  EXPECT_EQ(ready[0].events, kReadable);

  // Level-triggered: still readable until drained.
  EXPECT_EQ(EventsFor(Wait(), &token_a_), kReadable);
  char byte;
  ASSERT_EQ(::read(pair.second.fd(), &byte, 1), 1);
  EXPECT_TRUE(Wait(absl::ZeroDuration()).empty());
  poller_->Remove(pair.second.fd());
}

TEST_P(PollerTest, WritableAtOnce) {
  SocketPair pair = NewPair();
  ASSERT_TRUE(poller_->Add(pair.first.fd(), kWritable, &token_a_).ok());
  std::vector<ReadyEvent> ready = Wait();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].token, &token_a_);
  EXPECT_EQ(ready[0].events, kWritable);
  poller_->Remove(pair.first.fd());
}

TEST_P(PollerTest, NotWritableWhileFullThenWritableAgain) {
  SocketPair pair = NewPair();
  FillUntilFull(pair.first);
  ASSERT_TRUE(poller_->Add(pair.first.fd(), kWritable, &token_a_).ok());
  EXPECT_EQ(EventsFor(Wait(absl::ZeroDuration()), &token_a_), 0u);
  // Drain the peer; room comes back.
  std::string drained =
      testing::ReadNonBlocking(pair.second.fd(), 64 << 20, absl::Milliseconds(100));
  ASSERT_FALSE(drained.empty());
  EXPECT_EQ(EventsFor(Wait(), &token_a_), kWritable);
  poller_->Remove(pair.first.fd());
}

TEST_P(PollerTest, ReadableAndWritableComeAsOneEvent) {
  SocketPair pair = NewPair();
  WriteByte(pair.first);
  ASSERT_TRUE(poller_->Add(pair.second.fd(), kReadable | kWritable, &token_a_).ok());
  std::vector<ReadyEvent> ready = Wait();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].token, &token_a_);
  EXPECT_EQ(ready[0].events, kReadable | kWritable);
  poller_->Remove(pair.second.fd());
}

TEST_P(PollerTest, HangUpIsReportedAsReadable) {
  SocketPair pair = NewPair();
  ASSERT_TRUE(poller_->Add(pair.second.fd(), kReadable, &token_a_).ok());
  EXPECT_TRUE(Wait(absl::ZeroDuration()).empty());
  pair.first.Close();
  EXPECT_NE(EventsFor(Wait(), &token_a_) & kReadable, 0u);
  char byte;
  EXPECT_EQ(::read(pair.second.fd(), &byte, 1), 0) << "reading finds the end of stream";
  poller_->Remove(pair.second.fd());
}

TEST_P(PollerTest, HalfCloseIsReportedAsReadable) {
  SocketPair pair = NewPair();
  ASSERT_TRUE(poller_->Add(pair.second.fd(), kReadable, &token_a_).ok());
  ASSERT_TRUE(pair.first.ShutdownWrite().ok());
  EXPECT_NE(EventsFor(Wait(), &token_a_) & kReadable, 0u);
  poller_->Remove(pair.second.fd());
}

TEST_P(PollerTest, ModifyChangesInterestAndToken) {
  SocketPair pair = NewPair();
  ASSERT_TRUE(poller_->Add(pair.first.fd(), kReadable, &token_a_).ok());
  EXPECT_TRUE(Wait(absl::ZeroDuration()).empty()) << "nothing to read";

  ASSERT_TRUE(poller_->Modify(pair.first.fd(), kWritable, &token_b_).ok());
  std::vector<ReadyEvent> ready = Wait();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].token, &token_b_) << "the new token comes back";
  EXPECT_EQ(ready[0].events, kWritable);

  ASSERT_TRUE(poller_->Modify(pair.first.fd(), kReadable, &token_a_).ok());
  EXPECT_TRUE(Wait(absl::ZeroDuration()).empty()) << "writes no longer wanted";

  WriteByte(pair.second);
  ASSERT_TRUE(poller_->Modify(pair.first.fd(), kReadable | kWritable, &token_a_).ok());
  EXPECT_EQ(EventsFor(Wait(), &token_a_), kReadable | kWritable);
  poller_->Remove(pair.first.fd());
}

TEST_P(PollerTest, ModifyOfAnUnknownDescriptorFails) {
  SocketPair pair = NewPair();
  EXPECT_FALSE(poller_->Modify(pair.first.fd(), kReadable, &token_a_).ok());
}

TEST_P(PollerTest, RemoveStopsEvents) {
  SocketPair pair = NewPair();
  WriteByte(pair.first);
  ASSERT_TRUE(poller_->Add(pair.second.fd(), kReadable | kWritable, &token_a_).ok());
  poller_->Remove(pair.second.fd());
  EXPECT_TRUE(Wait(absl::ZeroDuration()).empty());
  poller_->Remove(pair.second.fd());  // a second removal is harmless

  // The descriptor can come back, with a new token.
  ASSERT_TRUE(poller_->Add(pair.second.fd(), kReadable, &token_b_).ok());
  std::vector<ReadyEvent> ready = Wait();
  ASSERT_EQ(ready.size(), 1u);
  EXPECT_EQ(ready[0].token, &token_b_);
  poller_->Remove(pair.second.fd());
}

TEST_P(PollerTest, RemovingOneOfManyKeepsTheOthers) {
  std::vector<SocketPair> pairs;
  std::vector<int> tokens(8);
  for (int i = 0; i < 8; ++i) {
    pairs.push_back(NewPair());
    ASSERT_TRUE(poller_->Add(pairs[i].first.fd(), kWritable, &tokens[i]).ok());
  }
  // Remove from the middle and the ends (poll swaps with the last entry).
  for (int i : {3, 0, 7}) poller_->Remove(pairs[i].first.fd());
  std::set<void*> seen;
  for (const ReadyEvent& event : Wait()) seen.insert(event.token);
  std::set<void*> expected;
  for (int i : {1, 2, 4, 5, 6}) expected.insert(&tokens[i]);
  EXPECT_EQ(seen, expected);
  for (int i : {1, 2, 4, 5, 6}) poller_->Remove(pairs[i].first.fd());
}

TEST_P(PollerTest, TokensRoundTripForManyDescriptors) {
  // More than epoll's first batch of 64, so the event array has to grow.
  constexpr int kCount = 150;
  std::vector<SocketPair> pairs;
  std::vector<int> tokens(kCount);
  for (int i = 0; i < kCount; ++i) {
    pairs.push_back(NewPair());
    ASSERT_TRUE(poller_->Add(pairs[i].first.fd(), kWritable, &tokens[i]).ok());
  }
  std::set<void*> seen;
  for (int round = 0; round < 10 && seen.size() < kCount; ++round) {
    for (const ReadyEvent& event : Wait()) {
      EXPECT_EQ(event.events, kWritable);
      seen.insert(event.token);
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) EXPECT_TRUE(seen.count(&tokens[i])) << i;
  // Once grown, one wait reports them all.
  EXPECT_EQ(Wait().size(), static_cast<size_t>(kCount));
  for (int i = 0; i < kCount; ++i) poller_->Remove(pairs[i].first.fd());
}

TEST_P(PollerTest, TimeoutReturnsWithNoEvents) {
  SocketPair pair = NewPair();
  ASSERT_TRUE(poller_->Add(pair.second.fd(), kReadable, &token_a_).ok());
  std::vector<ReadyEvent> ready = {ReadyEvent{&token_b_, kWritable}};  // stale content
  const absl::Time start = absl::Now();
  ASSERT_TRUE(poller_->Wait(absl::Milliseconds(30), &ready).ok());
  const absl::Duration waited = absl::Now() - start;
  EXPECT_TRUE(ready.empty()) << "Wait replaces what the vector held";
  // A poller may never wake before its timeout (a timer would fire early).
  EXPECT_GE(waited, absl::Milliseconds(29));
  poller_->Remove(pair.second.fd());
}

TEST_P(PollerTest, WaitWithNothingRegistered) {
  std::vector<ReadyEvent> ready;
  EXPECT_TRUE(poller_->Wait(absl::ZeroDuration(), &ready).ok());
  EXPECT_TRUE(ready.empty());
  EXPECT_TRUE(poller_->Wait(absl::Milliseconds(1), &ready).ok());
  EXPECT_TRUE(ready.empty());
}

// ---------------------------------------------------------------------------
// The same backends under an EventLoop.

class EventLoopPerPollerTest : public PollerTest {
 protected:
  void SetUp() override {
    PollerTest::SetUp();
    if (IsSkipped()) return;
    absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create(GetParam());
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = *std::move(loop);
  }
  void TearDown() override {
    if (loop_ != nullptr) {
      EXPECT_EQ(loop_->watcher_count(), 0u) << "watchers left behind";
    }
  }

  std::unique_ptr<EventLoop> loop_;
};

TEST_P(EventLoopPerPollerTest, UsesTheRequestedBackend) {
  EXPECT_EQ(loop_->poller_name(), PollerKindName(GetParam()));
}

TEST_P(EventLoopPerPollerTest, ReadCallbackRunsWhenReadable) {
  SocketPair pair = NewPair();
  int reads = 0;
  std::string got;
  {
    IoWatcher watcher(loop_.get(), pair.second.fd());
    watcher.set_read_callback([&] {
      ++reads;
      got += testing::ReadNonBlocking(pair.second.fd(), 100, absl::ZeroDuration());
    });
    watcher.EnableReading();
    EXPECT_EQ(loop_->watcher_count(), 1u);
    loop_->RunOnce(absl::ZeroDuration());
    EXPECT_EQ(reads, 0);

    ASSERT_TRUE(testing::WriteAllNonBlocking(pair.first.fd(), "ping").ok());
    for (int i = 0; i < 100 && got.size() < 4; ++i) loop_->RunOnce(absl::Seconds(5));
    EXPECT_EQ(got, "ping");
    EXPECT_GE(reads, 1);
  }
  EXPECT_EQ(loop_->watcher_count(), 0u);
}

TEST_P(EventLoopPerPollerTest, WriteCallbackRunsWhileWritingIsWanted) {
  SocketPair pair = NewPair();
  int writes = 0;
  IoWatcher watcher(loop_.get(), pair.first.fd());
  watcher.set_write_callback([&] {
    if (++writes == 3) watcher.DisableWriting();
  });
  watcher.EnableWriting();
  for (int i = 0; i < 10; ++i) loop_->RunOnce(absl::ZeroDuration());
  EXPECT_EQ(writes, 3);
  EXPECT_FALSE(watcher.writing());
  EXPECT_EQ(loop_->watcher_count(), 0u) << "no interest left: deregistered";
}

TEST_P(EventLoopPerPollerTest, ReadThenWriteInOneTurnAndReadCanCancelWrite) {
  SocketPair pair = NewPair();
  WriteByte(pair.first);
  std::vector<std::string> calls;
  IoWatcher watcher(loop_.get(), pair.second.fd());
  watcher.set_read_callback([&] {
    calls.push_back("read");
    if (calls.size() > 1) watcher.DisableWriting();
  });
  watcher.set_write_callback([&] { calls.push_back("write"); });
  watcher.EnableReading();
  watcher.EnableWriting();
  loop_->RunOnce(absl::Seconds(5));
  EXPECT_EQ(calls, (std::vector<std::string>{"read", "write"}));
  loop_->RunOnce(absl::Seconds(5));
  EXPECT_EQ(calls, (std::vector<std::string>{"read", "write", "read"}))
      << "the read callback turned writing off, so no write callback";
  watcher.DisableAll();
}

TEST_P(EventLoopPerPollerTest, HangUpReachesTheReadCallback) {
  SocketPair pair = NewPair();
  bool saw_end = false;
  IoWatcher watcher(loop_.get(), pair.second.fd());
  watcher.set_read_callback([&] {
    char byte;
    if (::read(pair.second.fd(), &byte, 1) == 0) {
      saw_end = true;
      watcher.DisableAll();
    }
  });
  watcher.EnableReading();
  pair.first.Close();
  for (int i = 0; i < 10 && !saw_end; ++i) loop_->RunOnce(absl::Seconds(5));
  EXPECT_TRUE(saw_end);
}

// Two watchers ready in the same turn; whichever runs first destroys the
// other. The other's callback must not run: its event is still in the
// turn's batch, and running it would use a destroyed object.
TEST_P(EventLoopPerPollerTest, WatcherDestroyedWhileItsEventIsPendingDoesNotRun) {
  SocketPair one = NewPair();
  SocketPair two = NewPair();
  WriteByte(one.first);
  WriteByte(two.first);
  std::unique_ptr<IoWatcher> watchers[2];
  int calls[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    const SocketPair& pair = i == 0 ? one : two;
    watchers[i] = std::make_unique<IoWatcher>(loop_.get(), pair.second.fd());
    watchers[i]->set_read_callback([&, i] {
      ++calls[i];
      watchers[1 - i].reset();  // the other one, not this one
    });
    watchers[i]->EnableReading();
  }
  ASSERT_EQ(loop_->watcher_count(), 2u);
  loop_->RunOnce(absl::Seconds(5));
  EXPECT_EQ(calls[0] + calls[1], 1) << "calls: " << calls[0] << ", " << calls[1];
  EXPECT_EQ(loop_->watcher_count(), 1u);
  // The survivor keeps working (its byte is still unread).
  const int survivor = watchers[0] != nullptr ? 0 : 1;
  ASSERT_NE(watchers[survivor], nullptr);
  watchers[survivor]->set_read_callback([&] { ++calls[survivor]; });
  loop_->RunOnce(absl::Seconds(5));
  EXPECT_EQ(calls[survivor], 2);
  watchers[survivor].reset();
}

// The same with the other watcher disabled rather than destroyed.
TEST_P(EventLoopPerPollerTest, WatcherDisabledWhileItsEventIsPendingDoesNotRun) {
  SocketPair one = NewPair();
  SocketPair two = NewPair();
  WriteByte(one.first);
  WriteByte(two.first);
  std::unique_ptr<IoWatcher> watchers[2];
  int calls[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    const SocketPair& pair = i == 0 ? one : two;
    watchers[i] = std::make_unique<IoWatcher>(loop_.get(), pair.second.fd());
    watchers[i]->set_read_callback([&, i] {
      ++calls[i];
      watchers[1 - i]->DisableReading();
    });
    watchers[i]->EnableReading();
  }
  loop_->RunOnce(absl::Seconds(5));
  EXPECT_EQ(calls[0] + calls[1], 1) << "calls: " << calls[0] << ", " << calls[1];
  EXPECT_EQ(loop_->watcher_count(), 1u);

  // Disabled and enabled again within one turn: not this turn, but the
  // next one (level-triggered, so nothing is lost).
  SocketPair three = NewPair();
  SocketPair four = NewPair();
  WriteByte(three.first);
  WriteByte(four.first);
  int later[2] = {0, 0};
  std::unique_ptr<IoWatcher> again[2];
  for (int i = 0; i < 2; ++i) {
    const SocketPair& pair = i == 0 ? three : four;
    again[i] = std::make_unique<IoWatcher>(loop_.get(), pair.second.fd());
    again[i]->set_read_callback([&, i] {
      if (++later[i] == 1 && later[1 - i] == 0) {
        again[1 - i]->DisableReading();
        again[1 - i]->EnableReading();
      }
    });
    again[i]->EnableReading();
  }
  loop_->RunOnce(absl::Seconds(5));
  EXPECT_EQ(later[0] + later[1], 1) << "the re-enabled one waits for the next turn";
  loop_->RunOnce(absl::Seconds(5));
  EXPECT_EQ(std::min(later[0], later[1]), 1) << later[0] << ", " << later[1];
  EXPECT_EQ(std::max(later[0], later[1]), 2) << later[0] << ", " << later[1];

  for (auto& w : watchers) w.reset();
  for (auto& w : again) w.reset();
}

// A watcher destroyed and a new one made in its place (the allocator may
// well reuse the address) must not inherit the old watcher's pending event.
TEST_P(EventLoopPerPollerTest, ReplacementWatcherDoesNotInheritAPendingEvent) {
  SocketPair one = NewPair();
  SocketPair two = NewPair();
  SocketPair quiet = NewPair();  // never readable
  WriteByte(one.first);
  WriteByte(two.first);
  std::unique_ptr<IoWatcher> watchers[2];
  int calls[2] = {0, 0};
  int replacement_calls = 0;
  for (int i = 0; i < 2; ++i) {
    const SocketPair& pair = i == 0 ? one : two;
    watchers[i] = std::make_unique<IoWatcher>(loop_.get(), pair.second.fd());
    watchers[i]->set_read_callback([&, i] {
      ++calls[i];
      if (watchers[1 - i] == nullptr) return;
      watchers[1 - i].reset();
      watchers[1 - i] = std::make_unique<IoWatcher>(loop_.get(), quiet.second.fd());
      watchers[1 - i]->set_read_callback([&] { ++replacement_calls; });
      watchers[1 - i]->EnableReading();
    });
    watchers[i]->EnableReading();
  }
  loop_->RunOnce(absl::Seconds(5));
  EXPECT_EQ(calls[0] + calls[1], 1);
  EXPECT_EQ(replacement_calls, 0);
  loop_->RunOnce(absl::ZeroDuration());
  EXPECT_EQ(replacement_calls, 0) << "the quiet socket has nothing to read";
  for (auto& w : watchers) w.reset();
}

TEST_P(EventLoopPerPollerTest, CrossThreadTaskWakesABlockedLoop) {
  bool ran = false;
  std::thread other([&] { loop_->QueueInLoop([&] { ran = true; }); });
  // Bounded: a lost wake-up fails the test through the watchdog.
  bool timed_out = false;
  const TimerId watchdog = loop_->RunAfter(absl::Seconds(20), [&] { timed_out = true; });
  while (!ran && !timed_out) loop_->RunOnce(absl::InfiniteDuration());
  other.join();
  loop_->CancelTimer(watchdog);
  EXPECT_TRUE(ran);
  EXPECT_FALSE(timed_out);
}

std::string KindName(const ::testing::TestParamInfo<PollerKind>& info) {
  return std::string(PollerKindName(info.param));
}

INSTANTIATE_TEST_SUITE_P(Backends, PollerTest,
                         ::testing::Values(PollerKind::kEpoll, PollerKind::kPoll,
                                           PollerKind::kKqueue),
                         KindName);
INSTANTIATE_TEST_SUITE_P(Backends, EventLoopPerPollerTest,
                         ::testing::Values(PollerKind::kEpoll, PollerKind::kPoll,
                                           PollerKind::kKqueue),
                         KindName);

}  // namespace
}  // namespace switchboard
