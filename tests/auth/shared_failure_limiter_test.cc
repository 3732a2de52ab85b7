// Copyright Switchboard authors.
//
// SharedFailureLimiter over a real PostgreSQL store, on a FakeClock: the
// policy is the memory limiter's (5 failures in 15 minutes lock the user
// and the address until the oldest leaves the window; a success clears
// both), and two limiters on one store, as two servers would have, count
// the same failures: attempts spread over them get no more tries than one.

#include "services/auth/shared_failure_limiter.h"

#include <memory>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "services/store/postgres_store.h"
#include "tests/testing/fake_clock.h"
#include "tests/testing/postgres_test.h"

namespace switchboard {
namespace {

using testing::FakeClock;

constexpr absl::Duration kWindow = absl::Minutes(15);

class SharedFailureLimiterTest : public testing::PostgresTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(PostgresTest::SetUp());
    // Two stores, as two servers have, on one database.
    for (auto* store : {&store_a_, &store_b_}) {
      absl::StatusOr<std::unique_ptr<PostgresStore>> opened = PostgresStore::Open(uri_, 2);
      ASSERT_TRUE(opened.ok()) << opened.status();
      *store = *std::move(opened);
    }
    clock_.SetTime(absl::FromUnixSeconds(1'800'000'000));
    a_ = std::make_unique<SharedFailureLimiter>(store_a_.get(), &clock_);
    b_ = std::make_unique<SharedFailureLimiter>(store_b_.get(), &clock_);
  }

  static std::optional<absl::Duration> WaitOf(FailureLimiter& limiter, absl::string_view user,
                                              absl::string_view address) {
    absl::StatusOr<std::optional<absl::Duration>> wait = limiter.RetryAfter(user, address);
    EXPECT_TRUE(wait.ok()) << wait.status();
    return wait.ok() ? *wait : std::nullopt;
  }

  FakeClock clock_;
  std::unique_ptr<PostgresStore> store_a_;
  std::unique_ptr<PostgresStore> store_b_;
  std::unique_ptr<SharedFailureLimiter> a_;
  std::unique_ptr<SharedFailureLimiter> b_;
};

TEST_F(SharedFailureLimiterTest, FailuresSpreadOverTwoServersLockOnBoth) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(a_->RecordFailure("alice", "10.0.0.1").ok());
  ASSERT_TRUE(b_->RecordFailure("alice", "10.0.0.2").ok());
  EXPECT_EQ(WaitOf(*a_, "alice", "10.0.0.3"), std::nullopt);
  EXPECT_EQ(WaitOf(*b_, "alice", "10.0.0.3"), std::nullopt);
  clock_.Advance(absl::Seconds(10));
  ASSERT_TRUE(b_->RecordFailure("alice", "10.0.0.2").ok());
  // Five in the window: locked until the first leaves it, on either server.
  EXPECT_EQ(WaitOf(*a_, "alice", "10.0.0.3"), kWindow - absl::Seconds(10));
  EXPECT_EQ(WaitOf(*b_, "alice", "10.0.0.3"), kWindow - absl::Seconds(10));
  // Other users from other addresses are not affected.
  EXPECT_EQ(WaitOf(*a_, "bob", "10.0.0.3"), std::nullopt);
}

TEST_F(SharedFailureLimiterTest, AddressLockAppliesToAnyUserOnAnyServer) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE((i % 2 == 0 ? a_ : b_)->RecordFailure(absl::StrCat("user", i), "10.0.0.9").ok());
  }
  EXPECT_EQ(WaitOf(*a_, "somebody", "10.0.0.9"), kWindow);
  EXPECT_EQ(WaitOf(*b_, "somebody", "10.0.0.9"), kWindow);
  EXPECT_EQ(WaitOf(*b_, "somebody", "10.0.0.10"), std::nullopt);
}

TEST_F(SharedFailureLimiterTest, FailuresLeaveTheWindow) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(a_->RecordFailure("alice", "10.0.0.1").ok());
    clock_.Advance(absl::Minutes(1));
  }
  // The oldest was 5 minutes ago: 10 more to go.
  EXPECT_EQ(WaitOf(*b_, "alice", "10.0.0.1"), absl::Minutes(10));
  clock_.Advance(absl::Minutes(10));
  EXPECT_EQ(WaitOf(*b_, "alice", "10.0.0.1"), std::nullopt);
  // Four remain in the window; one more locks again, from the oldest of
  // the last five.
  ASSERT_TRUE(b_->RecordFailure("alice", "10.0.0.1").ok());
  EXPECT_EQ(WaitOf(*a_, "alice", "10.0.0.1"), absl::Minutes(1));
}

TEST_F(SharedFailureLimiterTest, SuccessOnOneServerClearsForAll) {
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(a_->RecordFailure("alice", "10.0.0.1").ok());
  ASSERT_TRUE(b_->RecordSuccess("alice", "10.0.0.1").ok());
  ASSERT_TRUE(a_->RecordFailure("alice", "10.0.0.1").ok());
  EXPECT_EQ(WaitOf(*a_, "alice", "10.0.0.1"), std::nullopt);
}

TEST_F(SharedFailureLimiterTest, SweepDropsOnlyFailuresOutOfTheWindow) {
  ASSERT_TRUE(a_->RecordFailure("alice", "10.0.0.1").ok());
  clock_.Advance(kWindow);
  ASSERT_TRUE(a_->RecordFailure("bob", "10.0.0.2").ok());
  absl::StatusOr<int> dropped = store_a_->DeleteFailuresBefore(clock_.Now() - kWindow);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(*dropped, 2);  // alice's: one by user, one by address
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(a_->RecordFailure("bob", "10.0.0.2").ok());
  EXPECT_EQ(WaitOf(*b_, "bob", "10.0.0.2"), kWindow);
}

// Registrations per address live in the same log under their own keys: a
// limiter with a key prefix counts apart from the login limiter, even for a
// user named like the address.
TEST_F(SharedFailureLimiterTest, AKeyPrefixKeepsCountsApart) {
  SharedFailureLimiter registrations(store_a_.get(), &clock_, 2, kWindow, "register ");
  SharedFailureLimiter registrations_b(store_b_.get(), &clock_, 2, kWindow, "register ");
  ASSERT_TRUE(registrations.RecordFailure("127.0.0.1", "127.0.0.1").ok());
  ASSERT_TRUE(registrations_b.RecordFailure("127.0.0.1", "127.0.0.1").ok());
  EXPECT_EQ(WaitOf(registrations, "127.0.0.1", "127.0.0.1"), kWindow);
  EXPECT_EQ(WaitOf(registrations_b, "127.0.0.1", "127.0.0.1"), kWindow);
  EXPECT_EQ(WaitOf(*a_, "127.0.0.1", "127.0.0.1"), std::nullopt);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(a_->RecordFailure("127.0.0.1", "10.0.0.1").ok());
  EXPECT_EQ(WaitOf(registrations, "10.0.0.1", "10.0.0.1"), std::nullopt);
}

TEST_F(SharedFailureLimiterTest, LostStoreIsAnErrorNotAFreeTry) {
  ASSERT_TRUE(cluster_->Kill().ok());
  absl::StatusOr<std::optional<absl::Duration>> wait = a_->RetryAfter("alice", "10.0.0.1");
  EXPECT_EQ(wait.status().code(), absl::StatusCode::kUnavailable) << wait.status();
  EXPECT_EQ(a_->RecordFailure("alice", "10.0.0.1").code(), absl::StatusCode::kUnavailable);
  ASSERT_TRUE(cluster_->Restart().ok());
}

}  // namespace
}  // namespace switchboard
