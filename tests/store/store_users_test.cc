// Copyright Switchboard authors.
//
// Each Store's names, users and identities (user at an address) on a
// store opened for each test; odd values round-trip exactly, and a
// committed write is visible to another connection at once.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "services/store/sqlite_store.h"
#include "tests/store/store_test_util.h"

namespace switchboard::store_test {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

TYPED_TEST(StoreTest, Names) {
  EXPECT_EQ(NameOf(*this->store_, "127.0.0.1"), std::nullopt);
  ASSERT_OK(this->store_->SetName("127.0.0.1", "alice"));
  ASSERT_OK(this->store_->SetName("::1", "bob"));
  EXPECT_EQ(NameOf(*this->store_, "127.0.0.1"), "alice");
  EXPECT_EQ(NameOf(*this->store_, "::1"), "bob");
  // Addresses match exactly.
  EXPECT_EQ(NameOf(*this->store_, "127.0.0.10"), std::nullopt);
  EXPECT_EQ(NameOf(*this->store_, "127.0.0."), std::nullopt);

  // Set replaces.
  ASSERT_OK(this->store_->SetName("127.0.0.1", "alice2"));
  EXPECT_EQ(NameOf(*this->store_, "127.0.0.1"), "alice2");
  EXPECT_EQ(NameOf(*this->store_, "::1"), "bob");

  absl::StatusOr<bool> forgot = this->store_->ForgetName("127.0.0.1");
  ASSERT_TRUE(forgot.ok()) << forgot.status();
  EXPECT_TRUE(*forgot);
  EXPECT_EQ(NameOf(*this->store_, "127.0.0.1"), std::nullopt);
  forgot = this->store_->ForgetName("127.0.0.1");
  ASSERT_TRUE(forgot.ok()) << forgot.status();
  EXPECT_FALSE(*forgot);
  forgot = this->store_->ForgetName("192.0.2.1");
  ASSERT_TRUE(forgot.ok()) << forgot.status();
  EXPECT_FALSE(*forgot);
  EXPECT_EQ(NameOf(*this->store_, "::1"), "bob");

  // Forgotten, it can be set again.
  ASSERT_OK(this->store_->SetName("127.0.0.1", "carol"));
  EXPECT_EQ(NameOf(*this->store_, "127.0.0.1"), "carol");
}

TYPED_TEST(StoreTest, Users) {
  EXPECT_EQ(HashOf(*this->store_, "alice"), std::nullopt);
  ASSERT_OK(this->store_->AddUser("alice", "$argon2id$v=19$m=65536,t=2,p=1$salt$hash"));
  EXPECT_EQ(HashOf(*this->store_, "alice"), "$argon2id$v=19$m=65536,t=2,p=1$salt$hash");

  const absl::Status duplicate = this->store_->AddUser("alice", "other");
  EXPECT_EQ(duplicate.code(), absl::StatusCode::kAlreadyExists) << duplicate;
  EXPECT_THAT(duplicate.message(), HasSubstr("alice"));
  // The first hash stays.
  EXPECT_EQ(HashOf(*this->store_, "alice"), "$argon2id$v=19$m=65536,t=2,p=1$salt$hash");

  EXPECT_EQ(HashOf(*this->store_, "nobody"), std::nullopt);
  EXPECT_EQ(HashOf(*this->store_, "alic"), std::nullopt);
  const absl::Status missing = this->store_->SetPasswordHash("nobody", "h");
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound) << missing;
  // ... and did not create the user.
  EXPECT_EQ(HashOf(*this->store_, "nobody"), std::nullopt);

  ASSERT_OK(this->store_->AddUser("bob", "bob-1"));
  ASSERT_OK(this->store_->SetPasswordHash("alice", "alice-2"));
  EXPECT_EQ(HashOf(*this->store_, "alice"), "alice-2");
  EXPECT_EQ(HashOf(*this->store_, "bob"), "bob-1");
  // Setting the same hash again is not "not found".
  EXPECT_OK(this->store_->SetPasswordHash("alice", "alice-2"));
}

TYPED_TEST(StoreTest, UserAt) {
  EXPECT_EQ(UserAtOf(*this->store_, "127.0.0.1"), std::nullopt);
  ASSERT_OK(this->store_->SetUserAt("127.0.0.1", "alice"));
  ASSERT_OK(this->store_->SetUserAt("::1", "bob"));
  EXPECT_EQ(UserAtOf(*this->store_, "127.0.0.1"), "alice");
  EXPECT_EQ(UserAtOf(*this->store_, "::1"), "bob");
  ASSERT_OK(this->store_->SetUserAt("127.0.0.1", "carol"));
  EXPECT_EQ(UserAtOf(*this->store_, "127.0.0.1"), "carol");
  EXPECT_EQ(UserAtOf(*this->store_, "::1"), "bob");
  // Independent of the names by address.
  EXPECT_EQ(NameOf(*this->store_, "127.0.0.1"), std::nullopt);
  ASSERT_OK(this->store_->SetName("127.0.0.1", "a-name"));
  EXPECT_EQ(UserAtOf(*this->store_, "127.0.0.1"), "carol");
}

TYPED_TEST(StoreTest, OddValuesRoundTripExactly) {
  const std::vector<std::string> odd = OddValues();
  for (size_t i = 0; i < odd.size(); ++i) {
    SCOPED_TRACE(i);
    const std::string& v = odd[i];
    // As values ...
    ASSERT_OK(this->store_->SetName(absl::StrCat("addr-", i), v));
    ASSERT_OK(this->store_->SetUserAt(absl::StrCat("addr-", i), v));
    ASSERT_OK(this->store_->AddSession(absl::StrCat("token-", i), {v, kCreated, kExpires}));
    // ... and as keys.
    ASSERT_OK(this->store_->SetName(v, absl::StrCat("name-", i)));
    ASSERT_OK(this->store_->SetUserAt(v, absl::StrCat("user-", i)));
    ASSERT_OK(this->store_->AddUser(v, v));
    ASSERT_OK(this->store_->AddSession(v, {absl::StrCat("user-", i), kCreated, kExpires}));
  }
  for (size_t i = 0; i < odd.size(); ++i) {
    SCOPED_TRACE(i);
    const std::string& v = odd[i];
    EXPECT_EQ(NameOf(*this->store_, absl::StrCat("addr-", i)), v);
    EXPECT_EQ(UserAtOf(*this->store_, absl::StrCat("addr-", i)), v);
    ExpectSession(SessionOf(*this->store_, absl::StrCat("token-", i)), {v, kCreated, kExpires});
    EXPECT_EQ(NameOf(*this->store_, v), absl::StrCat("name-", i));
    EXPECT_EQ(UserAtOf(*this->store_, v), absl::StrCat("user-", i));
    EXPECT_EQ(HashOf(*this->store_, v), v);
    ExpectSession(SessionOf(*this->store_, v), {absl::StrCat("user-", i), kCreated, kExpires});
    EXPECT_TRUE(absl::IsAlreadyExists(this->store_->AddUser(v, "again")));
  }
  // Values with the odd ones' NUL cut off are other keys.
  EXPECT_EQ(HashOf(*this->store_, "nul"), std::nullopt);
  EXPECT_EQ(NameOf(*this->store_, "nul"), std::nullopt);

  // Deleting by an odd key deletes that one only.
  for (size_t i = 0; i < odd.size(); ++i) {
    absl::StatusOr<bool> forgot = this->store_->ForgetName(odd[i]);
    ASSERT_TRUE(forgot.ok()) << forgot.status();
    EXPECT_TRUE(*forgot) << i;
    EXPECT_EQ(NameOf(*this->store_, absl::StrCat("addr-", i)), odd[i]) << i;
  }
  // One DeleteOtherSessions per odd user name ends exactly its own.
  for (size_t i = 0; i < odd.size(); ++i) {
    absl::StatusOr<int> ended = this->store_->DeleteOtherSessions(odd[i], "keep-nothing");
    ASSERT_TRUE(ended.ok()) << ended.status();
    EXPECT_EQ(*ended, 1) << i;
  }

  // The injection attempts injected nothing.
  this->store_.reset();
  EXPECT_EQ(this->kind_.Tables(), TypeParam::kTables);
  EXPECT_EQ(this->kind_.RowCount("users"), static_cast<int64_t>(odd.size()));
  EXPECT_EQ(this->kind_.RowCount("identities"), static_cast<int64_t>(odd.size()));
  EXPECT_EQ(this->kind_.RowCount("user_at"), 2 * static_cast<int64_t>(odd.size()));
  EXPECT_EQ(this->kind_.RowCount("sessions"), static_cast<int64_t>(odd.size()));
}

TYPED_TEST(StoreTest, CommittedWritesAreVisibleToAnotherConnectionAtOnce) {
  ASSERT_OK(this->store_->AddUser("alice", "h1"));
  EXPECT_EQ(this->kind_.HashBehindTheBack("alice"), "h1");
  ASSERT_OK(this->store_->SetPasswordHash("alice", "h2"));
  EXPECT_EQ(this->kind_.HashBehindTheBack("alice"), "h2");
  ASSERT_OK(this->store_->AddSession("t", {"alice", kCreated, kExpires}));
  EXPECT_EQ(this->kind_.RowCount("sessions"), 1);
  ASSERT_TRUE(this->store_->DeleteSession("t").value_or(false));
  EXPECT_EQ(this->kind_.RowCount("sessions"), 0);
  // And the other way: a write by another connection is read by the store.
  this->kind_.InsertIdentityBehindTheBack("192.0.2.7", "outside");
  EXPECT_EQ(NameOf(*this->store_, "192.0.2.7"), "outside");
}

}  // namespace
}  // namespace switchboard::store_test
