// Copyright Switchboard authors.
//
// The client must keep reading replies while it sends: a line bigger than
// what the socket buffers and the server's high-water mark can hold between
// them must still round-trip. A client that blocks in send() without
// reading waits for a server that waits for it: a deadlock.

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/clients/client_test_util.h"
#include "tests/testing/child_process.h"

namespace switchboard::testing {
namespace {

TEST(ClientFlowControlTest, HugeLineRoundTripsWithoutDeadlock) {
  IgnoreSigpipe();
  absl::StatusOr<ServerProcess> server = ServerProcess::Start({"echo"}, {});
  ASSERT_TRUE(server.ok()) << server.status();
  // 32 MiB in one line: far more than loopback buffers (a few MiB each way)
  // plus the server's 1 MiB high-water mark.
  constexpr size_t kSize = 32 << 20;
  std::string input(kSize, 'x');
  for (size_t i = 0; i < kSize; i += 4096) input[i] = static_cast<char>('a' + (i / 4096) % 26);
  input += '\n';
  RunResult run = RunWithInput(
      {ClientPath(), "--host=127.0.0.1", absl::StrCat("--port=", server->port("echo"))}, input,
      absl::Seconds(10));
  ASSERT_TRUE(run.status.has_value())
      << "the client was still running after 10 s with " << run.out.size() << " of " << input.size()
      << " bytes echoed: it blocks in send() without reading the "
      << "replies (deadlock with the server's backpressure)";
  EXPECT_EQ(*run.status, 0) << run.err.substr(0, 2000);
  ASSERT_EQ(run.out.size(), input.size());
  EXPECT_TRUE(run.out == input);
}

}  // namespace
}  // namespace switchboard::testing
