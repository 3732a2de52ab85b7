// Copyright Switchboard authors.
//
// The client tests run the client at a pseudo-terminal through
// ChildProcess (tests/testing). The child must get the terminal as stdin and
// stdout and nothing else of it: holding the master side itself, it would
// never see its terminal hang up when the test closes it.

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/clients/client_test_util.h"
#include "tests/testing/child_process.h"

namespace switchboard::testing {
namespace {

TEST(TerminalChildTest, GetsOnlyTheTerminalAsStdinAndStdout) {
  ChildProcess::Options options;
  options.terminal = true;
  absl::StatusOr<ChildProcess> child =
      ChildProcess::Start({"/bin/ls", "-l", "/proc/self/fd/"}, options);
  ASSERT_TRUE(child.ok()) << child.status();
  const std::string listing = child->ReadAll(kTimeout);
  EXPECT_EQ(child->Wait(kTimeout), 0) << child->Stderr();
  int terminal_fds = 0;
  for (absl::string_view line : absl::StrSplit(listing, '\n')) {
    EXPECT_FALSE(absl::StrContains(line, "/dev/ptmx"))
        << "the child holds the master side of its own terminal: " << line;
    if (absl::StrContains(line, "/dev/pts/")) ++terminal_fds;
  }
  EXPECT_EQ(terminal_fds, 2) << "only fds 0 and 1 should be the terminal:\n" << listing;
}

}  // namespace
}  // namespace switchboard::testing
