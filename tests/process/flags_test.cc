// Copyright Switchboard authors.
//
// process/flags: durations parsed, and a bad flag is one line on stderr and
// exit status 2 (death tests: the exit runs in a child process).

#include "process/flags.h"

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace switchboard {
namespace {

using ::testing::ExitedWithCode;

TEST(DurationFlagTest, ParsesAbseilDurations) {
  EXPECT_EQ(DurationFlag("load", "duration", "500ms"), absl::Milliseconds(500));
  EXPECT_EQ(DurationFlag("load", "duration", "1m30s"), absl::Seconds(90));
  EXPECT_EQ(DurationFlag("load", "warmup", "0s", DurationRange::kNonNegative),
            absl::ZeroDuration());
  EXPECT_EQ(DurationFlag("server", "idle_timeout", "-1s"), absl::Seconds(-1));
  EXPECT_EQ(DurationFlag("chat", "ping_interval", "20s", DurationRange::kPositive),
            absl::Seconds(20));
}

TEST(DurationFlagDeathTest, NotADurationIsOneLineAndStatusTwo) {
  EXPECT_EXIT(DurationFlag("load", "duration", "forever"), ExitedWithCode(2),
              "^load: --duration: 'forever' is not a duration \\(examples: 500ms, 10s, "
              "5m\\)\n$");
}

TEST(DurationFlagDeathTest, OutOfRangeIsOneLineAndStatusTwo) {
  EXPECT_EXIT(DurationFlag("chat", "ping_interval", "0s", DurationRange::kPositive),
              ExitedWithCode(2), "^chat: --ping_interval: must be positive \\(got 0s\\)\n$");
  EXPECT_EXIT(DurationFlag("load", "warmup", "-1s", DurationRange::kNonNegative), ExitedWithCode(2),
              "^load: --warmup: must not be negative \\(got -1s\\)\n$");
}

TEST(BadFlagDeathTest, SaysWhoAndWhyAndExitsTwo) {
  EXPECT_EXIT(BadFlag("server", "--io_threads must be at least 1"), ExitedWithCode(2),
              "^server: --io_threads must be at least 1\n$");
}

}  // namespace
}  // namespace switchboard
