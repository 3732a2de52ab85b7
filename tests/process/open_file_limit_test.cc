// Copyright Switchboard authors.
//
// process/open_file_limit: the soft limit raised as far as needed and the
// hard limit allows, never lowered, and a shortfall that says what limit
// there is. (Each test binary is a process of its own: its limits are its
// own to change.)

#include "process/open_file_limit.h"

#include <sys/resource.h>

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard {
namespace {

using ::testing::HasSubstr;

rlimit Current() {
  rlimit limit{};
  EXPECT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  return limit;
}

TEST(OpenFileLimitTest, NeverLowersTheLimit) {
  const rlimit before = Current();
  EXPECT_TRUE(RaiseOpenFileLimit(1).ok());
  EXPECT_EQ(Current().rlim_cur, before.rlim_cur);
}

TEST(OpenFileLimitTest, RaisesTheSoftLimitAsFarAsNeeded) {
  rlimit limit = Current();
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < 64) GTEST_SKIP() << "hard limit < 64";
  // Lowered first, so that there is something to raise.
  limit.rlim_cur = 32;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &limit), 0);
  EXPECT_TRUE(RaiseOpenFileLimit(64).ok());
  EXPECT_EQ(Current().rlim_cur, 64u);
}

TEST(OpenFileLimitTest, BeyondTheHardLimitSaysWhatItGot) {
  rlimit limit = Current();
  if (limit.rlim_max == RLIM_INFINITY) GTEST_SKIP() << "no hard limit";
  limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 32);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &limit), 0);
  const absl::Status status = RaiseOpenFileLimit(limit.rlim_max + 1);
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_THAT(status.message(),
              HasSubstr(absl::StrCat("needs ", limit.rlim_max + 1, " descriptors but the limit is ",
                                     limit.rlim_max, " (was ", limit.rlim_cur, ";")));
  EXPECT_EQ(Current().rlim_cur, limit.rlim_max);
}

TEST(OpenFileLimitTest, ToTheHardLimitRaisesTheSoftOneAllTheWay) {
  rlimit limit = Current();
  if (limit.rlim_max == RLIM_INFINITY) GTEST_SKIP() << "no hard limit";
  limit.rlim_cur = std::min<rlim_t>(limit.rlim_max, 32);
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &limit), 0);
  EXPECT_EQ(RaiseOpenFileLimitToHardLimit(), limit.rlim_max);
  EXPECT_EQ(Current().rlim_cur, limit.rlim_max);
}

}  // namespace
}  // namespace switchboard
