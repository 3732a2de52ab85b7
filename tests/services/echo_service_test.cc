// Copyright Switchboard authors.

#include "services/echo/echo_service.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard {
namespace {

using ::testing::ElementsAre;

// Records what a session sends.
class RecordingReplies final : public Replies {
 public:
  void Reply(absl::string_view message) override { messages.emplace_back(message); }
  void EndSession() override { ended = true; }
  std::string Joined() const {
    std::string all;
    for (const std::string& m : messages) all += m;
    return all;
  }
  std::vector<std::string> messages;
  bool ended = false;
};

TEST(ExitLineDetectorTest, FindsExitLineInOnePortion) {
  ExitLineDetector detector;
  EXPECT_EQ(detector.Scan("one\ntwo\nexit\nafter\n"), 13u);
}

TEST(ExitLineDetectorTest, AcceptsTelnetCarriageReturn) {
  ExitLineDetector detector;
  EXPECT_EQ(detector.Scan("exit\r\n"), 6u);
}

TEST(ExitLineDetectorTest, ExitInsideALineIsData) {
  ExitLineDetector detector;
  EXPECT_EQ(detector.Scan("exit now\nno exit\nexits\n\rexit\n"), absl::string_view::npos);
  EXPECT_EQ(detector.Scan("exit\r\r\n"), absl::string_view::npos);
}

TEST(ExitLineDetectorTest, EveryTwoWaySplitStillFindsTheEnd) {
  const std::string stream = "abc\nlonger line here\nexit\r\nafter\n";
  const size_t want = stream.find("exit\r\n") + 6;
  for (size_t split = 0; split <= stream.size(); ++split) {
    ExitLineDetector detector;
    const size_t first = detector.Scan(absl::string_view(stream).substr(0, split));
    if (first != absl::string_view::npos) {
      EXPECT_EQ(first, want) << "split at " << split;
      continue;
    }
    const size_t second = detector.Scan(absl::string_view(stream).substr(split));
    ASSERT_NE(second, absl::string_view::npos) << "split at " << split;
    EXPECT_EQ(split + second, want) << "split at " << split;
  }
}

TEST(ExitLineDetectorTest, ByteAtATime) {
  const std::string stream = "xexit\nexi\nexit\n";
  ExitLineDetector detector;
  size_t found = absl::string_view::npos;
  for (size_t i = 0; i < stream.size() && found == absl::string_view::npos; ++i) {
    if (detector.Scan(absl::string_view(stream).substr(i, 1)) == 1) found = i + 1;
  }
  EXPECT_EQ(found, stream.size());
}

TEST(ExitLineDetectorTest, LongLineThenExit) {
  ExitLineDetector detector;
  EXPECT_EQ(detector.Scan(std::string(5000, 'x')), absl::string_view::npos);
  EXPECT_EQ(detector.Scan("exit\n"), absl::string_view::npos);  // same line
  EXPECT_EQ(detector.Scan("exit\n"), 5u);
}

TEST(EchoServiceTest, RawEchoesPortionsAndStopsAtExit) {
  EchoService service;
  auto session = service.NewSession(SessionInfo{1, InetAddress(), Framing::kRaw});
  RecordingReplies out;
  session->OnMessage("hello\nex", out);
  EXPECT_FALSE(out.ended);
  session->OnMessage("it\r\nignored", out);
  EXPECT_TRUE(out.ended);
  EXPECT_EQ(out.Joined(), "hello\nexit\r\n");
}

TEST(EchoServiceTest, LineFramingEchoesMessagesAndEndsOnExit) {
  EchoService service;
  auto session = service.NewSession(SessionInfo{1, InetAddress(), Framing::kLine});
  RecordingReplies out;
  session->OnMessage("", out);
  session->OnMessage("exit now", out);
  EXPECT_FALSE(out.ended);
  session->OnMessage("exit", out);
  EXPECT_TRUE(out.ended);
  EXPECT_THAT(out.messages, ElementsAre("", "exit now", "exit"));
}

TEST(EchoServiceTest, LengthFramingEchoesBinary) {
  EchoService service;
  auto session = service.NewSession(SessionInfo{1, InetAddress(), Framing::kLength});
  RecordingReplies out;
  const std::string binary("\0\n\xff", 3);
  session->OnMessage(binary, out);
  EXPECT_THAT(out.messages, ElementsAre(binary));
  EXPECT_FALSE(out.ended);
}

TEST(EchoServiceTest, IsCheap) {
  EchoService service;
  EXPECT_TRUE(service.cheap());
  EXPECT_EQ(service.name(), "echo");
}

}  // namespace
}  // namespace switchboard
