// Copyright Switchboard authors.
//
// Each Store from many threads at once: mixed operations from a thread
// pool, more callers than pooled connections, and racing AddUser calls.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "reactor/thread_pool.h"
#include "services/store/sqlite_store.h"
#include "services/store/store.h"
#include "tests/store/store_test_util.h"

namespace switchboard::store_test {
namespace {

using ::testing::IsEmpty;

// A one-way gate that threads wait on, so that they start together.
// std::mutex so that ThreadSanitizer sees the synchronization.
class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = true;
    cv_.notify_all();
  }
  bool Wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, std::chrono::seconds(30), [this] { return open_; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  bool open_ = false;
};

std::string Addr(int task, int op) {
  return absl::StrCat("10.", task, ".", op / 256, ".", op % 256);
}
std::string UserName(int task, int op) { return absl::StrCat("user-", task, "-", op); }
std::string Token(int task, int op) {
  std::string token(32, '\0');
  token[0] = static_cast<char>(task);
  token[1] = static_cast<char>(op);
  token[2] = static_cast<char>(op >> 8);
  return token;
}
constexpr int kTasks = 8;
constexpr int kOpsPerTask = 100;

TYPED_TEST(StoreTest, ConcurrentMixedOperationsFromAThreadPool) {
  absl::Mutex mu;
  std::vector<std::string> errors;  // guarded by mu
  std::atomic<int> calls{0};
  const auto check = [&](bool ok, const std::string& what) {
    calls.fetch_add(1, std::memory_order_relaxed);
    if (ok) return;
    absl::MutexLock lock(&mu);
    errors.push_back(what);
  };

  {
    ThreadPool pool(4, 64);
    absl::BlockingCounter done(kTasks);
    for (int task = 0; task < kTasks; ++task) {
      ASSERT_TRUE(pool.Submit([&, task]() {
        Store& store = *this->store_;
        for (int op = 0; op < kOpsPerTask; ++op) {
          const std::string tag = absl::StrCat("task ", task, " op ", op, ": ");
          switch (op % 5) {
            case 0: {
              absl::Status s = store.SetName(Addr(task, op), UserName(task, op));
              check(s.ok(), tag + s.ToString());
              absl::StatusOr<std::optional<std::string>> name = store.FindName(Addr(task, op));
              check(name.ok() && *name == UserName(task, op), tag + "FindName");
              break;
            }
            case 1: {
              absl::Status s =
                  store.AddUser(UserName(task, op), Token(task, op).substr(0, 3) + "h");
              check(s.ok(), tag + s.ToString());
              absl::StatusOr<std::optional<std::string>> hash =
                  store.PasswordHash(UserName(task, op));
              check(hash.ok() && hash->has_value(), tag + "PasswordHash");
              break;
            }
            case 2: {
              absl::Status s = store.AddSession(
                  Token(task, op), {UserName(task, op - 1), kCreated + absl::Microseconds(op),
                                    kExpires + absl::Microseconds(task)});
              check(s.ok(), tag + s.ToString());
              absl::StatusOr<std::optional<StoredSession>> session =
                  store.FindSession(Token(task, op));
              check(session.ok() && session->has_value() &&
                        (*session)->user == UserName(task, op - 1),
                    tag + "FindSession");
              break;
            }
            case 3: {
              absl::Status s = store.SetUserAt(Addr(task, op), UserName(task, op - 2));
              check(s.ok(), tag + s.ToString());
              absl::StatusOr<std::optional<std::string>> user = store.UserAt(Addr(task, op));
              check(user.ok() && *user == UserName(task, op - 2), tag + "UserAt");
              break;
            }
            case 4: {
              // Reads of what other tasks may be writing, and writes that
              // change nothing.
              const int other = (task + 1) % kTasks;
              check(store.FindName(Addr(other, op - 4)).ok(), tag + "FindName other");
              check(store.PasswordHash(UserName(other, op - 3)).ok(), tag + "PasswordHash other");
              check(store.FindSession(Token(other, op - 2)).ok(), tag + "FindSession other");
              absl::StatusOr<int> dropped = store.DeleteExpiredSessions(absl::UnixEpoch());
              check(dropped.ok() && *dropped == 0, tag + "DeleteExpiredSessions");
              absl::StatusOr<bool> deleted = store.DeleteSession(absl::StrCat("none", task));
              check(deleted.ok() && !*deleted, tag + "DeleteSession");
              absl::StatusOr<int> ended = store.DeleteOtherSessions("nobody", "x");
              check(ended.ok() && *ended == 0, tag + "DeleteOtherSessions");
              break;
            }
          }
        }
        done.DecrementCount();
      }));
    }
    done.Wait();
    EXPECT_EQ(pool.Stop(absl::InfiniteDuration()), 0u);
  }

  {
    absl::MutexLock lock(&mu);
    EXPECT_THAT(errors, IsEmpty());
  }
  EXPECT_EQ(calls.load(), kTasks * (kOpsPerTask / 5) * (2 + 2 + 2 + 2 + 6));

  for (int task = 0; task < kTasks; ++task) {
    for (int op = 0; op < kOpsPerTask; ++op) {
      SCOPED_TRACE(absl::StrCat("task ", task, " op ", op));
      switch (op % 5) {
        case 0:
          EXPECT_EQ(NameOf(*this->store_, Addr(task, op)), UserName(task, op));
          break;
        case 1:
          EXPECT_EQ(HashOf(*this->store_, UserName(task, op)), Token(task, op).substr(0, 3) + "h");
          break;
        case 2:
          ExpectSession(SessionOf(*this->store_, Token(task, op)),
                        {UserName(task, op - 1), kCreated + absl::Microseconds(op),
                         kExpires + absl::Microseconds(task)});
          break;
        case 3:
          EXPECT_EQ(UserAtOf(*this->store_, Addr(task, op)), UserName(task, op - 2));
          break;
        default:
          break;
      }
    }
  }
  // Nothing beyond what was written.
  this->store_.reset();
  const int64_t each = kTasks * kOpsPerTask / 5;
  EXPECT_EQ(this->kind_.RowCount("identities"), each);
  EXPECT_EQ(this->kind_.RowCount("users"), each);
  EXPECT_EQ(this->kind_.RowCount("sessions"), each);
  EXPECT_EQ(this->kind_.RowCount("user_at"), each);
}

TYPED_TEST(StoreTest, MoreConcurrentCallersThanPooledConnections) {
  // More threads at once than the store keeps idle connections (16), so that
  // connections are opened beyond the pool and closed when returned.
  constexpr int kThreads = 24;
  constexpr int kOps = 10;
  Gate start;
  std::vector<absl::Status> results(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      if (!start.Wait()) {
        results[t] = absl::DeadlineExceededError("gate");
        return;
      }
      for (int op = 0; op < kOps; ++op) {
        absl::Status s = this->store_->SetName(Addr(t, op), UserName(t, op));
        if (s.ok()) {
          absl::StatusOr<std::optional<std::string>> name = this->store_->FindName(Addr(t, op));
          if (!name.ok()) {
            s = name.status();
          } else if (*name != UserName(t, op)) {
            s = absl::InternalError(absl::StrCat("read back ", name->value_or("nothing")));
          }
        }
        if (!s.ok()) {
          results[t] = s;
          return;
        }
      }
    });
  }
  start.Open();
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_TRUE(results[t].ok()) << t << ": " << results[t];
  for (int t = 0; t < kThreads; ++t) {
    for (int op = 0; op < kOps; ++op)
      EXPECT_EQ(NameOf(*this->store_, Addr(t, op)), UserName(t, op));
  }
}

TYPED_TEST(StoreTest, RacingAddUserOfTheSameNameExactlyOneWins) {
  constexpr int kRounds = 20;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(round);
    const std::string user = absl::StrCat("racer-", round);
    Gate start;
    absl::Status results[2];
    std::vector<std::thread> threads;
    for (int t = 0; t < 2; ++t) {
      threads.emplace_back([&, t] {
        results[t] = start.Wait() ? this->store_->AddUser(user, absl::StrCat("hash-", t))
                                  : absl::DeadlineExceededError("gate");
      });
    }
    start.Open();
    for (std::thread& thread : threads) thread.join();
    const int winners = (results[0].ok() ? 1 : 0) + (results[1].ok() ? 1 : 0);
    ASSERT_EQ(winners, 1) << results[0] << " / " << results[1];
    const int winner = results[0].ok() ? 0 : 1;
    EXPECT_EQ(results[1 - winner].code(), absl::StatusCode::kAlreadyExists) << results[1 - winner];
    EXPECT_EQ(HashOf(*this->store_, user), absl::StrCat("hash-", winner));
  }
}

}  // namespace
}  // namespace switchboard::store_test
