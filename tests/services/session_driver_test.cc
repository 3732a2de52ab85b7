// Copyright Switchboard authors.
//
// SessionDriver: the decode -> session -> replies loop both hosts share.
// A recording service stands in for a real one, so each rule (order, the
// size limit, end of input, nothing after the end) is checked alone; the
// hosts' own tests run the real services through it.

#include "services/session_driver.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "reactor/buffer.h"

namespace switchboard {
namespace {

using ::testing::ElementsAre;

// Replies with "<message>!" and ends the session on "bye".
class ShoutingSession final : public Session {
 public:
  void OnStart(Replies& out) override { out.Reply("hello"); }
  void OnMessage(absl::string_view message, Replies& out) override {
    out.Reply(absl::StrCat(message, "!"));
    if (message == "bye") out.EndSession();
  }
  void OnEndOfInput(Replies& out) override { out.Reply("end of input"); }
};

class ShoutingService final : public Service {
 public:
  absl::string_view name() const override { return "shout"; }
  bool cheap() const override { return true; }
  std::unique_ptr<Session> NewSession(const SessionInfo&) override {
    return std::make_unique<ShoutingSession>();
  }
};

// Runs every call inline, as the I/O thread and the blocking models do.
class SessionDriverTest : public ::testing::Test {
 protected:
  class Collect final : public Replies {
   public:
    explicit Collect(SessionDriverTest& test) : test_(test) {}
    void Reply(absl::string_view message) override { test_.replies_.emplace_back(message); }
    void EndSession() override {
      test_.driver_->MarkEnded();
      test_.replies_.push_back("<end>");
    }

   private:
    SessionDriverTest& test_;
  };

  void Make(Framing framing, CodecLimits limits = {}) {
    driver_ = std::make_unique<SessionDriver>(service_, SessionInfo{1, {}, framing}, limits);
  }
  void Feed(absl::string_view bytes, bool end_of_stream = false) {
    input_.Append(bytes);
    driver_->Decode(input_, end_of_stream, [this](SessionCall call, absl::string_view message) {
      Collect out(*this);
      driver_->Run(call, message, out);
      return true;
    });
  }

  ShoutingService service_;
  std::unique_ptr<SessionDriver> driver_;
  Buffer input_;
  std::vector<std::string> replies_;
};

TEST_F(SessionDriverTest, MessagesSplitAndJoinedAnyHowComeOutInOrder) {
  Make(Framing::kLine);
  Feed("a\nb");
  Feed("c\nd\n");
  EXPECT_THAT(replies_, ElementsAre("a!", "bc!", "d!"));
  EXPECT_TRUE(input_.empty());
  EXPECT_FALSE(driver_->ended());
}

TEST_F(SessionDriverTest, TheEndStopsDecodingAndDiscardsWhatFollows) {
  Make(Framing::kLine);
  Feed("one\nbye\ntwo\nthree\n");
  EXPECT_THAT(replies_, ElementsAre("one!", "bye!", "<end>"));
  EXPECT_TRUE(input_.empty());
  Feed("four\n");
  EXPECT_THAT(replies_, ElementsAre("one!", "bye!", "<end>"));
}

TEST_F(SessionDriverTest, ALineOverTheLimitGetsTheLineReplyAndEnds) {
  CodecLimits limits;
  limits.max_line = 8;
  Make(Framing::kLine, limits);
  Feed("ok\n0123456789abcdef");
  EXPECT_THAT(replies_, ElementsAre("ok!", "400 line too long", "<end>"));
  EXPECT_TRUE(input_.empty());
}

TEST_F(SessionDriverTest, AFrameOverTheLimitEndsWithoutAReplyLine) {
  CodecLimits limits;
  limits.max_frame = 4;
  Make(Framing::kLength, limits);
  Feed(std::string("\0\0\0\x10", 4));
  EXPECT_THAT(replies_, ElementsAre("<end>"));
}

TEST_F(SessionDriverTest, EndOfStreamCountsTheLastPartialLineThenEndOfInput) {
  Make(Framing::kLine);
  Feed("a\nlast", /*end_of_stream=*/true);
  EXPECT_THAT(replies_, ElementsAre("a!", "last!", "end of input", "<end>"));
}

TEST_F(SessionDriverTest, EndOfStreamAfterTheSessionEndedSaysNothingMore) {
  Make(Framing::kLine);
  Feed("bye\nlater", /*end_of_stream=*/true);
  EXPECT_THAT(replies_, ElementsAre("bye!", "<end>"));
}

TEST_F(SessionDriverTest, ATooLongLineAtEndOfStreamIsAnsweredLikeAnyOther) {
  CodecLimits limits;
  limits.max_line = 4;
  Make(Framing::kLine, limits);
  Feed("abcdefgh", /*end_of_stream=*/true);
  EXPECT_THAT(replies_, ElementsAre("400 line too long", "<end>"));
}

TEST_F(SessionDriverTest, AScheduleThatStopsLeavesTheRestForLater) {
  Make(Framing::kLine);
  input_.Append("a\nb\n");
  int calls = 0;
  driver_->Decode(input_, false, [&calls](SessionCall, absl::string_view) {
    ++calls;
    return false;  // the connection closed under the host
  });
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(input_.view(), "b\n");
}

TEST_F(SessionDriverTest, RunSkipsMessagesOnceTheSessionEnded) {
  Make(Framing::kLine);
  Collect out(*this);
  driver_->Run(SessionCall::kStart, {}, out);
  driver_->MarkEnded();
  driver_->Run(SessionCall::kMessage, "late", out);
  EXPECT_THAT(replies_, ElementsAre("hello"));
}

TEST(TooLongReplyTest, OnlyLineFramingHasALineToSayItOn) {
  EXPECT_EQ(TooLongReply(Framing::kLine), "400 line too long");
  EXPECT_EQ(TooLongReply(Framing::kRaw), "");
  EXPECT_EQ(TooLongReply(Framing::kLength), "");
}

}  // namespace
}  // namespace switchboard
