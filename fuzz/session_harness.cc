// Copyright Switchboard authors.

#include "fuzz/session_harness.h"

#include <memory>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_replace.h"
#include "reactor/buffer.h"
#include "reactor/inet_address.h"
#include "services/common/text.h"
#include "services/session_driver.h"

namespace switchboard::fuzz {
namespace {

constexpr absl::string_view kPeers[] = {"127.0.0.1", "127.0.0.2", "::1", "10.1.2.3"};
constexpr size_t kMaxReply = 1024;

// Checks each reply and remembers the last session token given.
class CheckedReplies final : public Replies {
 public:
  CheckedReplies(SessionDriver& driver, std::string& token) : driver_(driver), token_(token) {}

  void Reply(absl::string_view message) override {
    FUZZ_CHECK(!ended_);
    // "<code> <text>": three digits, a space; one line of UTF-8.
    FUZZ_CHECK(message.size() >= 4 && message.size() <= kMaxReply);
    FUZZ_CHECK(absl::ascii_isdigit(message[0]) && absl::ascii_isdigit(message[1]) &&
               absl::ascii_isdigit(message[2]) && message[3] == ' ');
    FUZZ_CHECK(IsValidUtf8(message));
    FUZZ_CHECK(!absl::StrContains(message, '\n') && !absl::StrContains(message, '\r'));
    const size_t at = message.find("; session ");
    if (at != absl::string_view::npos) token_ = std::string(message.substr(at + 10));
  }
  void EndSession() override {
    ended_ = true;
    driver_.MarkEnded();
  }

 private:
  SessionDriver& driver_;
  std::string& token_;
  bool ended_ = false;
};

}  // namespace

void SessionHarness::RunAll(Input& in) {
  while (!in.empty()) {
    SessionInfo info;
    info.connection_id = in.Byte();
    info.peer = *InetAddress::Parse(kPeers[info.connection_id % 4], 40000);
    info.framing = in.Byte() % 2 == 0 ? Framing::kLine : Framing::kLength;
    const size_t piece = 1 + in.Byte();
    const size_t length = size_t{in.Byte()} << 8 | in.Byte();
    RunConnection(info, in.Bytes(length), piece);
  }
}

void SessionHarness::RunConnection(const SessionInfo& info, absl::string_view stream,
                                   size_t piece) {
  // Small limits, so that breaking them is easy.
  CodecLimits limits;
  limits.max_line = 300;
  limits.max_frame = 300;
  SessionDriver driver(service_, info, limits);
  const auto run = [&](SessionCall call, absl::string_view message) {
    std::string rewritten;
    if (absl::StartsWith(message, "@@")) {
      if (message == "@@tick") clock_.Advance(absl::Minutes(10));
      if (message == "@@fail") store_.FailCall(1);
      if (message == "@@fail2") store_.FailCall(2);
      if (message == "@@fail3") store_.FailCall(3);
      return true;
    }
    if (absl::StrContains(message, "$TOKEN")) {
      rewritten = absl::StrReplaceAll(message, {{"$TOKEN", token_}});
      message = rewritten;
    }
    CheckedReplies out(driver, token_);
    driver.Run(call, message, out);
    return true;
  };
  CheckedReplies greeting(driver, token_);
  driver.Run(SessionCall::kStart, "", greeting);
  Buffer input;
  while (!stream.empty() && !driver.ended()) {
    input.Append(stream.substr(0, piece));
    stream.remove_prefix(std::min(piece, stream.size()));
    driver.Decode(input, false, run);
  }
  if (!driver.ended()) driver.Decode(input, true, run);
  FUZZ_CHECK(driver.ended());
}

}  // namespace switchboard::fuzz
