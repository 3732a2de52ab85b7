// Copyright Switchboard authors.
//
// ThreadPool and SerialExecutor: every task runs once; one executor's tasks
// run in order and never two at once however many workers there are; the
// bounded queue (TrySubmit refuses, Submit waits); Stop drains within the
// grace period and drops what is left after it.

#include "reactor/thread_pool.h"

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "reactor/serial_executor.h"

namespace switchboard {
namespace {

// A one-way gate that blocked tasks wait on. std::mutex rather than
// absl::Notification so that ThreadSanitizer sees the synchronization.
class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }
  // Waits until open, at most `limit`; true if it opened.
  bool Wait(absl::Duration limit = absl::Seconds(30)) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, absl::ToChronoSeconds(limit), [this] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Waits (bounded, no fixed sleep) until `condition` holds.
template <typename Condition>
bool Eventually(Condition condition, absl::Duration limit = absl::Seconds(30)) {
  const absl::Time deadline = absl::Now() + limit;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

TEST(ThreadPoolTest, RunsEveryTaskOnce) {
  std::atomic<int> ran{0};
  ThreadPool pool(4, 10000);
  EXPECT_EQ(pool.workers(), 4);
  for (int i = 0; i < 5000; ++i) ASSERT_TRUE(pool.Submit([&] { ++ran; }));
  EXPECT_EQ(pool.Stop(absl::InfiniteDuration()), 0u);
  EXPECT_EQ(ran.load(), 5000);
}

TEST(ThreadPoolTest, AtLeastOneWorkerAndOneQueueSlot) {
  Gate gate;
  Gate started;
  ThreadPool pool(0, 0);
  EXPECT_EQ(pool.workers(), 1);
  ASSERT_TRUE(pool.Submit([&] {
    started.Open();
    gate.Wait();
  }));
  ASSERT_TRUE(started.Wait());
  EXPECT_TRUE(pool.TrySubmit([] {}));
  EXPECT_FALSE(pool.TrySubmit([] {})) << "a queue of one";
  gate.Open();
}

TEST(ThreadPoolTest, TrySubmitFailsWhenTheQueueIsFull) {
  Gate gate;
  Gate started;
  ThreadPool pool(1, 3);
  std::atomic<int> ran{0};
  ASSERT_TRUE(pool.Submit([&] {
    started.Open();
    gate.Wait();
    ++ran;
  }));
  ASSERT_TRUE(started.Wait()) << "the worker took the blocking task";
  EXPECT_EQ(pool.queued(), 0u);
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(pool.TrySubmit([&] { ++ran; })) << i;
  EXPECT_EQ(pool.queued(), 3u);
  EXPECT_FALSE(pool.TrySubmit([&] { ADD_FAILURE() << "refused task ran"; }));
  EXPECT_EQ(pool.queued(), 3u);
  gate.Open();
  EXPECT_EQ(pool.Stop(absl::InfiniteDuration()), 0u);
  EXPECT_EQ(ran.load(), 4);
}

TEST(ThreadPoolTest, SubmitWaitsForRoom) {
  Gate gate;
  Gate started;
  ThreadPool pool(1, 1);
  ASSERT_TRUE(pool.Submit([&] {
    started.Open();
    gate.Wait();
  }));
  ASSERT_TRUE(started.Wait());
  ASSERT_TRUE(pool.TrySubmit([] {}));  // the queue is now full

  std::atomic<bool> released{false};
  std::atomic<bool> submitting{false};
  std::atomic<bool> returned_before_release{false};
  std::atomic<bool> ran{false};
  std::thread submitter([&] {
    submitting = true;
    EXPECT_TRUE(pool.Submit([&] { ran = true; }));
    returned_before_release = !released.load();
  });
  ASSERT_TRUE(Eventually([&] { return submitting.load(); }));
  // Give a Submit that does not wait every chance to return early; a
  // correct one cannot return until the worker is released.
  absl::SleepFor(absl::Milliseconds(50));
  released = true;
  gate.Open();
  submitter.join();
  EXPECT_FALSE(returned_before_release) << "Submit returned while the queue was full";
  EXPECT_EQ(pool.Stop(absl::InfiniteDuration()), 0u);
  EXPECT_TRUE(ran);
}

TEST(ThreadPoolTest, StopWithGraceRunsWhatIsQueued) {
  std::atomic<int> ran{0};
  Gate gate;
  Gate started;
  ThreadPool pool(2, 100);
  for (int w = 0; w < 2; ++w) {
    ASSERT_TRUE(pool.Submit([&] {
      started.Open();
      gate.Wait();
    }));
  }
  ASSERT_TRUE(started.Wait());
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(pool.Submit([&] { ++ran; }));
  std::thread opener([&] { gate.Open(); });
  EXPECT_EQ(pool.Stop(absl::Seconds(30)), 0u);
  opener.join();
  EXPECT_EQ(ran.load(), 50);
  EXPECT_FALSE(pool.Submit([] {})) << "no work once stopped";
  EXPECT_FALSE(pool.TrySubmit([] {}));
  EXPECT_EQ(pool.Stop(absl::Seconds(1)), 0u) << "a second Stop is harmless";
}

TEST(ThreadPoolTest, StopDropsWhatIsLeftAfterTheGrace) {
  std::atomic<int> ran{0};
  Gate gate;
  Gate started;
  ThreadPool pool(1, 100);
  ASSERT_TRUE(pool.Submit([&] {
    started.Open();
    gate.Wait();
  }));
  ASSERT_TRUE(started.Wait());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(pool.Submit([&] { ++ran; }));

  size_t dropped = 0;
  std::thread stopper([&] { dropped = pool.Stop(absl::Milliseconds(50)); });
  // The only worker is blocked, so the queue empties only when Stop gives
  // up on it and drops it; then release the worker so Stop can join.
  EXPECT_TRUE(Eventually([&] { return pool.queued() == 0; }));
  gate.Open();
  stopper.join();
  EXPECT_EQ(dropped, 10u);
  EXPECT_EQ(ran.load(), 0) << "dropped tasks never run";
}

TEST(ThreadPoolTest, StopWithZeroGraceDropsAtOnce) {
  std::atomic<int> ran{0};
  Gate gate;
  Gate started;
  ThreadPool pool(1, 100);
  ASSERT_TRUE(pool.Submit([&] {
    started.Open();
    gate.Wait();
  }));
  ASSERT_TRUE(started.Wait());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(pool.Submit([&] { ++ran; }));
  size_t dropped = 0;
  std::thread stopper([&] { dropped = pool.Stop(absl::ZeroDuration()); });
  EXPECT_TRUE(Eventually([&] { return pool.queued() == 0; }));
  gate.Open();
  stopper.join();
  EXPECT_EQ(dropped, 5u);
  EXPECT_EQ(ran.load(), 0);
}

TEST(ThreadPoolTest, SubmitWaitingForRoomFailsWhenThePoolStops) {
  Gate gate;
  Gate started;
  ThreadPool pool(1, 1);
  ASSERT_TRUE(pool.Submit([&] {
    started.Open();
    gate.Wait();
  }));
  ASSERT_TRUE(started.Wait());
  ASSERT_TRUE(pool.TrySubmit([] {}));
  std::atomic<bool> submitting{false};
  bool accepted = true;
  std::thread submitter([&] {
    submitting = true;
    accepted = pool.Submit([] {});
  });
  ASSERT_TRUE(Eventually([&] { return submitting.load(); }));
  std::thread stopper([&] { pool.Stop(absl::ZeroDuration()); });
  submitter.join();  // Stop must wake it
  gate.Open();
  stopper.join();
  EXPECT_FALSE(accepted);
}

// ---------------------------------------------------------------------------
// SerialExecutor

TEST(SerialExecutorTest, RunsTasksInOrder) {
  ThreadPool pool(4, 1000);
  std::shared_ptr<SerialExecutor> executor = SerialExecutor::Create(&pool);
  std::vector<int> order;  // touched only by the executor's tasks
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(executor->Add([&order, i] { order.push_back(i); }));
  }
  pool.Stop(absl::InfiniteDuration());
  ASSERT_EQ(order.size(), 1000u);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(order[i], i);
  EXPECT_EQ(executor->pending(), 0u);
}

// Per-connection order under load: 8 workers, 100 executors, 10,000 tasks
// added from several threads. Each executor's tasks must run in the order
// they were added and never overlap (an atomic flag per executor catches
// two at once).
TEST(SerialExecutorTest, OrderAndExclusionPerExecutorUnderManyWorkers) {
  constexpr int kExecutors = 100;
  constexpr int kTasks = 10000;
  constexpr int kProducers = 4;
  ThreadPool pool(8, 256);
  struct Connection {
    std::shared_ptr<SerialExecutor> executor;
    std::atomic<bool> busy{false};
    std::atomic<int> overlaps{0};
    std::vector<int> order;  // only the connection's own tasks touch it
  };
  std::vector<Connection> connections(kExecutors);
  for (Connection& c : connections) c.executor = SerialExecutor::Create(&pool);

  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      // Producer p owns the executors with index % kProducers == p, so the
      // order of adds to each executor is well defined.
      for (int i = p; i < kTasks; i += kProducers) {
        const int index = (i / kProducers) % (kExecutors / kProducers) * kProducers + p;
        Connection& c = connections[index];
        EXPECT_TRUE(c.executor->Add([&c, i] {
          if (c.busy.exchange(true)) ++c.overlaps;
          c.order.push_back(i);
          if (i % 7 == 0) std::this_thread::yield();  // widen any window
          c.busy.store(false);
        }));
      }
    });
  }
  for (std::thread& t : producers) t.join();
  EXPECT_EQ(pool.Stop(absl::Seconds(60)), 0u);

  size_t total = 0;
  for (int index = 0; index < kExecutors; ++index) {
    const Connection& c = connections[index];
    EXPECT_EQ(c.overlaps.load(), 0) << "executor " << index;
    EXPECT_EQ(c.executor->pending(), 0u);
    for (size_t k = 1; k < c.order.size(); ++k) {
      ASSERT_LT(c.order[k - 1], c.order[k]) << "executor " << index << " out of order";
    }
    total += c.order.size();
  }
  EXPECT_EQ(total, static_cast<size_t>(kTasks));
}

TEST(SerialExecutorTest, PendingCountsQueuedAndRunningTasks) {
  Gate gate;
  Gate started;
  ThreadPool pool(2, 100);
  std::shared_ptr<SerialExecutor> executor = SerialExecutor::Create(&pool);
  ASSERT_TRUE(executor->Add([&] {
    started.Open();
    gate.Wait();
  }));
  ASSERT_TRUE(started.Wait());
  ASSERT_TRUE(executor->Add([] {}));
  ASSERT_TRUE(executor->Add([] {}));
  EXPECT_EQ(executor->pending(), 3u) << "one running, two waiting behind it";
  gate.Open();
  EXPECT_TRUE(Eventually([&] { return executor->pending() == 0; }));
}

TEST(SerialExecutorTest, ExecutorsDoNotBlockEachOther) {
  // The gates outlive the pool: its destructor joins the workers that use them.
  Gate gate;
  Gate started;
  Gate fast_done;
  ThreadPool pool(2, 100);
  std::shared_ptr<SerialExecutor> slow = SerialExecutor::Create(&pool);
  std::shared_ptr<SerialExecutor> fast = SerialExecutor::Create(&pool);
  ASSERT_TRUE(slow->Add([&] {
    started.Open();
    gate.Wait();
  }));
  ASSERT_TRUE(started.Wait());
  ASSERT_TRUE(fast->Add([&] { fast_done.Open(); }));
  EXPECT_TRUE(fast_done.Wait()) << "a blocked connection held up another";
  gate.Open();
}

TEST(SerialExecutorTest, AddFailsOnceThePoolStops) {
  ThreadPool pool(1, 10);
  std::shared_ptr<SerialExecutor> executor = SerialExecutor::Create(&pool);
  pool.Stop(absl::InfiniteDuration());
  EXPECT_FALSE(executor->Add([] { ADD_FAILURE() << "ran after stop"; }));
  EXPECT_EQ(executor->pending(), 0u) << "the refused task is dropped";
}

// Bug (reactor/serial_executor.cc, SerialExecutor::Add): the header
// promises false (and the task dropped) once the pool is stopping, but Add
// only asks the pool when no drain is scheduled. While one is running it
// queues the task and returns true, and the running Drain (whose TrySubmit
// now fails) keeps going on its worker: tasks added after Stop began still
// run, and a connection that keeps adding keeps ThreadPool::Stop from ever
// joining that worker.
TEST(SerialExecutorTest, AddFailsOnceThePoolIsStoppingEvenWhileADrainRuns) {
  Gate gate;
  Gate started;
  std::atomic<int> late_runs{0};
  ThreadPool pool(1, 10);
  std::shared_ptr<SerialExecutor> executor = SerialExecutor::Create(&pool);
  ASSERT_TRUE(executor->Add([&] {
    started.Open();
    gate.Wait();
  }));
  ASSERT_TRUE(started.Wait()) << "the executor's drain is running";
  std::thread stopper([&] { pool.Stop(absl::ZeroDuration()); });
  ASSERT_TRUE(Eventually([&] { return pool.stopping(); }));
  const bool accepted = executor->Add([&] { ++late_runs; });
  gate.Open();
  stopper.join();
  EXPECT_FALSE(accepted) << "Add accepted a task after Stop began";
  EXPECT_EQ(late_runs.load(), 0) << "a task added after Stop began still ran";
}

TEST(SerialExecutorTest, AnExecutorOutlivesItsOwnersHandle) {
  ThreadPool pool(2, 10);
  std::atomic<int> ran{0};
  {
    std::shared_ptr<SerialExecutor> executor = SerialExecutor::Create(&pool);
    for (int i = 0; i < 100; ++i) ASSERT_TRUE(executor->Add([&] { ++ran; }));
  }  // the connection is gone; queued work still completes
  pool.Stop(absl::InfiniteDuration());
  EXPECT_EQ(ran.load(), 100);
}

}  // namespace
}  // namespace switchboard
