// Copyright Switchboard authors.
//
// The echo service speaks RFC 862, so a client nobody here wrote must work
// with it: OpenBSD netcat.

#include <unistd.h>

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/clients/client_test_util.h"
#include "tests/testing/child_process.h"

namespace switchboard::testing {
namespace {

using ::testing::HasSubstr;

// OpenBSD netcat (it has -N: shut down the sending side at end of input).
std::string FindNetcat() {
  for (const char* path : {"/usr/bin/nc.openbsd", "/bin/nc.openbsd", "/usr/bin/nc", "/bin/nc"}) {
    if (access(path, X_OK) == 0) return path;
  }
  return "";
}

class NetcatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    nc_ = FindNetcat();
    if (nc_.empty()) {
      GTEST_SKIP() << "netcat is not installed (apt-get install netcat-openbsd); "
                      "skipping the test with a foreign client";
    }
    absl::StatusOr<ServerProcess> server = ServerProcess::Start({"echo"}, {});
    ASSERT_TRUE(server.ok()) << server.status();
    server_.emplace(*std::move(server));
  }

  RunResult Netcat(absl::string_view input) {
    return RunWithInput(
        {"/bin/sh", "-c",
         absl::StrCat("printf '", input, "' | ", nc_, " -N 127.0.0.1 ", server_->port("echo"))},
        "");
  }

  std::string nc_;
  std::optional<ServerProcess> server_;
};

TEST_F(NetcatTest, EchoesUntilExit) {
  RunResult run = Netcat("hello\\nexit\\nnot sent back\\n");
  EXPECT_EQ(run.out, "hello\nexit\n") << run.err;
  EXPECT_EQ(run.status, 0) << run.err;
  EXPECT_TRUE(Eventually([&] { return server_->process().Stderr(); }, "closed"))
      << server_->process().Stderr();
}

TEST_F(NetcatTest, EchoesUntilHalfClose) {
  RunResult run = Netcat("one\\ntwo\\n");
  EXPECT_EQ(run.out, "one\ntwo\n") << run.err;
  EXPECT_EQ(run.status, 0) << run.err;
  EXPECT_THAT(server_->process().Stderr(), HasSubstr("client 127.0.0.1:"));
}

}  // namespace
}  // namespace switchboard::testing
