// Copyright Switchboard authors.
//
// Each Store's sessions on a store opened for each test: round trips to
// the microsecond, binary token hashes as keys, deleting one, the others of
// a user, or the expired ones, and empty values bound as SQL NULL.

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "services/store/sqlite_store.h"
#include "services/store/store.h"
#include "tests/store/store_test_util.h"

namespace switchboard::store_test {
namespace {

TYPED_TEST(StoreTest, SessionsRoundTripToTheMicrosecond) {
  const std::vector<std::string> hashes = BinaryHashes();
  EXPECT_EQ(SessionOf(*this->store_, hashes[0]), std::nullopt);

  const StoredSession alice{"alice", kCreated, kExpires};
  ASSERT_OK(this->store_->AddSession(hashes[0], alice));
  ExpectSession(SessionOf(*this->store_, hashes[0]), alice);

  // Before 1970, at 0, one microsecond apart, far ahead.
  const StoredSession odd_times{"bob", absl::FromUnixMicros(-123'456'789), absl::FromUnixMicros(0)};
  ASSERT_OK(this->store_->AddSession(hashes[1], odd_times));
  ExpectSession(SessionOf(*this->store_, hashes[1]), odd_times);
  const StoredSession close{"carol", absl::FromUnixMicros(1), absl::FromUnixMicros(2)};
  ASSERT_OK(this->store_->AddSession(hashes[2], close));
  ExpectSession(SessionOf(*this->store_, hashes[2]), close);
  const StoredSession far{
      "dave",
      absl::FromCivil(absl::CivilSecond(2200, 1, 1, 0, 0, 0), absl::UTCTimeZone()) +
          absl::Microseconds(999'999),
      absl::FromCivil(absl::CivilSecond(9999, 12, 31, 23, 59, 59), absl::UTCTimeZone()) +
          absl::Microseconds(1)};
  ASSERT_OK(this->store_->AddSession(hashes[3], far));
  ExpectSession(SessionOf(*this->store_, hashes[3]), far);

  // Finer than a microsecond is not kept, but nothing coarser is lost.
  const absl::Time fine = kCreated + absl::Nanoseconds(999);
  ASSERT_OK(this->store_->AddSession(hashes[4], {"erin", fine, fine}));
  std::optional<StoredSession> found = SessionOf(*this->store_, hashes[4]);
  ASSERT_TRUE(found.has_value());
  EXPECT_LT(absl::AbsDuration(found->created - fine), absl::Microseconds(1));
  EXPECT_LT(absl::AbsDuration(found->expires - fine), absl::Microseconds(1));
}

TYPED_TEST(StoreTest, DuplicateSessionHashIsRefusedAndKeepsTheFirst) {
  const std::string hash(32, '\x07');
  ASSERT_OK(this->store_->AddSession(hash, {"alice", kCreated, kExpires}));
  EXPECT_FALSE(this->store_->AddSession(hash, {"mallory", kCreated, kExpires}).ok());
  ExpectSession(SessionOf(*this->store_, hash), {"alice", kCreated, kExpires});
}

TYPED_TEST(StoreTest, BinaryTokenHashesAreDistinctKeys) {
  const std::vector<std::string> hashes = BinaryHashes();
  for (size_t i = 0; i < hashes.size(); ++i) {
    ASSERT_OK(this->store_->AddSession(hashes[i], {absl::StrCat("user", i), kCreated, kExpires}));
  }
  for (size_t i = 0; i < hashes.size(); ++i) {
    std::optional<StoredSession> found = SessionOf(*this->store_, hashes[i]);
    ASSERT_TRUE(found.has_value()) << i;
    EXPECT_EQ(found->user, absl::StrCat("user", i));
  }
  // Prefixes (up to a zero byte or not) are other keys.
  EXPECT_EQ(SessionOf(*this->store_, std::string(16, '\0')), std::nullopt);
  EXPECT_EQ(SessionOf(*this->store_, std::string(33, '\0')), std::nullopt);
  EXPECT_EQ(SessionOf(*this->store_, std::string("a", 1)), std::nullopt);
  EXPECT_EQ(SessionOf(*this->store_, std::string(2, '\0')), std::nullopt);
  // Longer by a zero byte: another key.
  EXPECT_EQ(SessionOf(*this->store_, std::string("ab\0\0", 4)), std::nullopt);

  // Deleting one deletes that one only.
  absl::StatusOr<bool> deleted = this->store_->DeleteSession(hashes[0]);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_TRUE(*deleted);
  EXPECT_EQ(SessionOf(*this->store_, hashes[0]), std::nullopt);
  for (size_t i = 1; i < hashes.size(); ++i) {
    EXPECT_TRUE(SessionOf(*this->store_, hashes[i]).has_value()) << i;
  }
  deleted = this->store_->DeleteSession(std::string("ab\0", 3));
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_TRUE(*deleted);
  EXPECT_TRUE(SessionOf(*this->store_, std::string("ab", 2)).has_value());
  EXPECT_EQ(SessionOf(*this->store_, std::string("ab\0", 3)), std::nullopt);
}

TYPED_TEST(StoreTest, DeleteSession) {
  const std::string hash(32, '\x42');
  absl::StatusOr<bool> deleted = this->store_->DeleteSession(hash);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_FALSE(*deleted);
  ASSERT_OK(this->store_->AddSession(hash, {"alice", kCreated, kExpires}));
  deleted = this->store_->DeleteSession(hash);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_TRUE(*deleted);
  EXPECT_EQ(SessionOf(*this->store_, hash), std::nullopt);
  deleted = this->store_->DeleteSession(hash);
  ASSERT_TRUE(deleted.ok()) << deleted.status();
  EXPECT_FALSE(*deleted);
  // The hash can be used again.
  ASSERT_OK(this->store_->AddSession(hash, {"bob", kCreated, kExpires}));
  ExpectSession(SessionOf(*this->store_, hash), {"bob", kCreated, kExpires});
}

TYPED_TEST(StoreTest, DeleteOtherSessionsKeepsTheGivenOneAndOtherUsers) {
  const std::string a1(32, '\x01'), a2(32, '\x02'), a3(32, '\0'), a4("\0\0a4", 4);
  const std::string b1(32, '\x0b'), p1(32, '\x0c');
  for (const std::string* hash : {&a1, &a2, &a3, &a4}) {
    ASSERT_OK(this->store_->AddSession(*hash, {"alice", kCreated, kExpires}));
  }
  ASSERT_OK(this->store_->AddSession(b1, {"bob", kCreated, kExpires}));
  // A user whose name starts like alice's is another user.
  ASSERT_OK(this->store_->AddSession(p1, {"alice2", kCreated, kExpires}));

  absl::StatusOr<int> ended = this->store_->DeleteOtherSessions("alice", a3);
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(*ended, 3);
  EXPECT_TRUE(SessionOf(*this->store_, a3).has_value());
  EXPECT_EQ(SessionOf(*this->store_, a1), std::nullopt);
  EXPECT_EQ(SessionOf(*this->store_, a2), std::nullopt);
  EXPECT_EQ(SessionOf(*this->store_, a4), std::nullopt);
  ExpectSession(SessionOf(*this->store_, b1), {"bob", kCreated, kExpires});
  ExpectSession(SessionOf(*this->store_, p1), {"alice2", kCreated, kExpires});

  // Nothing more to end.
  ended = this->store_->DeleteOtherSessions("alice", a3);
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(*ended, 0);
  // A user without sessions.
  ended = this->store_->DeleteOtherSessions("nobody", a3);
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(*ended, 0);

  // `keep` naming another user's session keeps nothing of this user's and
  // does not touch the other's.
  ASSERT_OK(this->store_->AddSession(a1, {"alice", kCreated, kExpires}));
  ended = this->store_->DeleteOtherSessions("alice", b1);
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(*ended, 2);
  EXPECT_EQ(SessionOf(*this->store_, a1), std::nullopt);
  EXPECT_EQ(SessionOf(*this->store_, a3), std::nullopt);
  EXPECT_TRUE(SessionOf(*this->store_, b1).has_value());
  EXPECT_TRUE(SessionOf(*this->store_, p1).has_value());
}

TYPED_TEST(StoreTest, DeleteOtherSessionsWithAnUnknownKeepEndsAll) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK(this->store_->AddSession(std::string(32, static_cast<char>(i)),
                                       {"alice", kCreated, kExpires}));
  }
  // A zero-length hash (not a null one) that matches none.
  const std::string none;
  absl::StatusOr<int> ended = this->store_->DeleteOtherSessions("alice", none);
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(*ended, 5);
}

TYPED_TEST(StoreTest, DeleteExpiredSessionsDropsOnlyThoseBeforeNow) {
  const absl::Time now = kCreated + absl::Hours(1);
  struct Case {
    std::string hash;
    absl::Time expires;
    bool expired;
  };
  const std::vector<Case> cases = {
      {std::string(32, '\x01'), now - absl::Microseconds(1), true},
      {std::string(32, '\x02'), now - absl::Hours(1), true},
      {std::string(32, '\x03'), absl::FromUnixMicros(-5), true},
      {std::string(32, '\x04'), now, false},  // not before now
      {std::string(32, '\x05'), now + absl::Microseconds(1), false},
      {std::string(32, '\x06'), now + absl::Hours(24 * 365), false},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    // Two users: expiry ignores whose session it is.
    ASSERT_OK(this->store_->AddSession(cases[i].hash,
                                       {i % 2 == 0 ? "alice" : "bob", kCreated, cases[i].expires}));
  }
  absl::StatusOr<int> dropped = this->store_->DeleteExpiredSessions(now);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(*dropped, 3);
  for (const Case& c : cases) {
    EXPECT_EQ(SessionOf(*this->store_, c.hash).has_value(), !c.expired) << c.expires;
  }
  dropped = this->store_->DeleteExpiredSessions(now);
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(*dropped, 0);
  // An earlier "now" drops nothing more.
  dropped = this->store_->DeleteExpiredSessions(now - absl::Hours(2));
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(*dropped, 0);
  dropped = this->store_->DeleteExpiredSessions(now + absl::Hours(24 * 366));
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(*dropped, 3);
  for (const Case& c : cases) EXPECT_EQ(SessionOf(*this->store_, c.hash), std::nullopt);
}

// ---------------------------------------------------------------------------
// An empty absl::string_view may have a null data(); bound as such, SQLite
// stores SQL NULL, which matches nothing and breaks NOT NULL constraints.

TYPED_TEST(StoreTest, NullEmptyKeepEndsEveryOtherSession) {
  for (int i = 1; i <= 3; ++i) {
    ASSERT_OK(this->store_->AddSession(std::string(32, static_cast<char>(i)),
                                       {"alice", kCreated, kExpires}));
  }
  const absl::string_view keep;  // empty: keep none
  absl::StatusOr<int> ended = this->store_->DeleteOtherSessions("alice", keep);
  ASSERT_TRUE(ended.ok()) << ended.status();
  EXPECT_EQ(*ended, 3);
}

TYPED_TEST(StoreTest, NullEmptyValuesAreEmptyStrings) {
  const absl::string_view empty;
  // "bob" does not exist: must not be AlreadyExists ("user bob exists").
  EXPECT_OK(this->store_->AddUser("bob", empty));
  EXPECT_EQ(HashOf(*this->store_, "bob"), std::string());
  EXPECT_OK(this->store_->SetName("192.0.2.1", empty));
  EXPECT_EQ(NameOf(*this->store_, "192.0.2.1"), std::string());
  EXPECT_OK(this->store_->SetUserAt(empty, "carol"));
  EXPECT_EQ(UserAtOf(*this->store_, ""), "carol");
  // The same key however its empty string_view was made.
  ASSERT_OK(this->store_->SetName("", "empty-address"));
  EXPECT_EQ(NameOf(*this->store_, empty), "empty-address");
}

}  // namespace
}  // namespace switchboard::store_test
