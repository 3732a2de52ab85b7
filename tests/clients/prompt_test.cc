// Copyright Switchboard authors.
//
// Tests of clients/prompt.h: parsing ports, checking hosts, and asking a
// person for them (here: a std::istringstream standing in for the terminal).

#include "clients/prompt.h"

#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard {
namespace {

using ::testing::HasSubstr;

// .invalid is reserved (RFC 2606): it never resolves.
constexpr char kBadHost[] = "no-such-host.invalid";

size_t Count(const std::string& text, absl::string_view part) {
  size_t count = 0;
  for (size_t at = text.find(part.data(), 0, part.size()); at != std::string::npos;
       at = text.find(part.data(), at + part.size(), part.size())) {
    ++count;
  }
  return count;
}

// --- ParsePort ---------------------------------------------------------------

TEST(ParsePortTest, AcceptsValidPorts) {
  EXPECT_EQ(ParsePort("1").value(), 1);
  EXPECT_EQ(ParsePort("80").value(), 80);
  EXPECT_EQ(ParsePort("7007").value(), 7007);
  EXPECT_EQ(ParsePort("65535").value(), 65535);
}

TEST(ParsePortTest, IgnoresSurroundingWhitespace) {
  EXPECT_EQ(ParsePort(" 7007").value(), 7007);
  EXPECT_EQ(ParsePort("7007 ").value(), 7007);
  EXPECT_EQ(ParsePort("\t7007\r\n").value(), 7007);
}

TEST(ParsePortTest, RejectsZero) {
  absl::StatusOr<uint16_t> port = ParsePort("0");
  ASSERT_FALSE(port.ok());
  EXPECT_EQ(port.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_THAT(std::string(port.status().message()), HasSubstr("1..65535"));
}

TEST(ParsePortTest, RejectsTooLarge) {
  for (const char* text : {"65536", "70000", "4294967295"}) {
    absl::StatusOr<uint16_t> port = ParsePort(text);
    EXPECT_FALSE(port.ok()) << text;
    EXPECT_EQ(port.status().code(), absl::StatusCode::kOutOfRange) << text;
  }
  // Past uint32: still an error, whatever the code.
  EXPECT_FALSE(ParsePort("4294967296").ok());
  EXPECT_FALSE(ParsePort("99999999999999999999").ok());
}

TEST(ParsePortTest, RejectsNonNumbers) {
  for (const char* text : {"abc", "80abc", "abc80", "8 0", "0x50", "80.0", "1e3"}) {
    absl::StatusOr<uint16_t> port = ParsePort(text);
    EXPECT_FALSE(port.ok()) << text;
    EXPECT_EQ(port.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
  absl::StatusOr<uint16_t> port = ParsePort("abc");
  ASSERT_FALSE(port.ok());
  EXPECT_THAT(std::string(port.status().message()), HasSubstr("abc"));
  EXPECT_THAT(std::string(port.status().message()), HasSubstr("not a port number"));
}

TEST(ParsePortTest, RejectsSigns) {
  for (const char* text : {"-1", "+5", "-0", "+7007", " +5", " -1 "}) {
    absl::StatusOr<uint16_t> port = ParsePort(text);
    EXPECT_FALSE(port.ok()) << text;
    EXPECT_EQ(port.status().code(), absl::StatusCode::kInvalidArgument) << text;
  }
}

TEST(ParsePortTest, RejectsEmptyAndBlank) {
  for (const char* text : {"", " ", "\t", "  \r\n"}) {
    absl::StatusOr<uint16_t> port = ParsePort(text);
    EXPECT_FALSE(port.ok()) << "'" << text << "'";
    EXPECT_EQ(port.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

// --- CheckHost ---------------------------------------------------------------

TEST(CheckHostTest, AcceptsAddresses) {
  EXPECT_TRUE(CheckHost("127.0.0.1").ok());
  EXPECT_TRUE(CheckHost("::1").ok());
  EXPECT_TRUE(CheckHost("0.0.0.0").ok());
  EXPECT_TRUE(CheckHost(" 127.0.0.1 ").ok());
}

TEST(CheckHostTest, AcceptsLocalhost) { EXPECT_TRUE(CheckHost("localhost").ok()); }

TEST(CheckHostTest, RejectsUnresolvableName) {
  absl::Status status = CheckHost(kBadHost);
  ASSERT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr(kBadHost));
}

TEST(CheckHostTest, RejectsEmpty) {
  EXPECT_FALSE(CheckHost("").ok());
  EXPECT_FALSE(CheckHost("   ").ok());
}

// --- Ask ---------------------------------------------------------------------

absl::Status AcceptAll(absl::string_view) { return absl::OkStatus(); }

absl::Status OnlyYes(absl::string_view answer) {
  if (answer == "yes") return absl::OkStatus();
  return absl::InvalidArgumentError("say yes");
}

TEST(AskTest, ShowsQuestionAndDefault) {
  std::istringstream in("answer\n");
  std::ostringstream out;
  absl::StatusOr<std::string> got = Ask(in, out, "Colour", "blue", &AcceptAll);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "answer");
  EXPECT_EQ(out.str(), "Colour [blue]: ");
}

TEST(AskTest, EmptyAnswerTakesDefault) {
  std::istringstream in("\n");
  std::ostringstream out;
  absl::StatusOr<std::string> got = Ask(in, out, "Colour", "blue", &AcceptAll);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "blue");
}

TEST(AskTest, BlankAnswerTakesDefault) {
  std::istringstream in("   \t\r\n");
  std::ostringstream out;
  absl::StatusOr<std::string> got = Ask(in, out, "Colour", "blue", &AcceptAll);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "blue");
}

TEST(AskTest, AnswerIsTrimmed) {
  std::istringstream in("  red \r\n");
  std::ostringstream out;
  absl::StatusOr<std::string> got = Ask(in, out, "Colour", "blue", &AcceptAll);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "red");
}

TEST(AskTest, LastLineWithoutNewlineCounts) {
  std::istringstream in("red");
  std::ostringstream out;
  absl::StatusOr<std::string> got = Ask(in, out, "Colour", "blue", &AcceptAll);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "red");
}

TEST(AskTest, ReasksAfterBadAnswerAndSaysWhy) {
  std::istringstream in("no\nmaybe\nyes\n");
  std::ostringstream out;
  absl::StatusOr<std::string> got = Ask(in, out, "Sure", "no", &OnlyYes);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "yes");
  EXPECT_EQ(Count(out.str(), "Sure [no]: "), 3u) << out.str();
  EXPECT_EQ(Count(out.str(), "say yes"), 2u) << out.str();
  // The reason comes between the questions.
  EXPECT_THAT(out.str(), HasSubstr("Sure [no]: "));
  EXPECT_LT(out.str().find("say yes"), out.str().rfind("Sure [no]: "));
}

TEST(AskTest, RejectedDefaultIsReasked) {
  std::istringstream in("\nyes\n");
  std::ostringstream out;
  absl::StatusOr<std::string> got = Ask(in, out, "Sure", "no", &OnlyYes);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "yes");
  EXPECT_EQ(Count(out.str(), "say yes"), 1u) << out.str();
}

TEST(AskTest, NotFoundAtEndOfInput) {
  std::istringstream in("");
  std::ostringstream out;
  absl::StatusOr<std::string> got = Ask(in, out, "Colour", "blue", &AcceptAll);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(out.str(), "Colour [blue]: ");
}

TEST(AskTest, NotFoundWhenInputEndsAfterBadAnswers) {
  std::istringstream in("no\nmaybe\n");
  std::ostringstream out;
  absl::StatusOr<std::string> got = Ask(in, out, "Sure", "no", &OnlyYes);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Count(out.str(), "Sure [no]: "), 3u) << out.str();
}

// --- AskHost -----------------------------------------------------------------

TEST(AskHostTest, EmptyAnswerTakesDefault) {
  std::istringstream in("\n");
  std::ostringstream out;
  absl::StatusOr<std::string> host = AskHost(in, out, "127.0.0.1");
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_EQ(*host, "127.0.0.1");
  EXPECT_EQ(out.str(), "Host [127.0.0.1]: ");
}

TEST(AskHostTest, TakesAnAddressOrAName) {
  {
    std::istringstream in("::1\n");
    std::ostringstream out;
    absl::StatusOr<std::string> host = AskHost(in, out, "127.0.0.1");
    ASSERT_TRUE(host.ok()) << host.status();
    EXPECT_EQ(*host, "::1");
  }
  {
    std::istringstream in("localhost\n");
    std::ostringstream out;
    absl::StatusOr<std::string> host = AskHost(in, out, "127.0.0.1");
    ASSERT_TRUE(host.ok()) << host.status();
    EXPECT_EQ(*host, "localhost");
  }
}

TEST(AskHostTest, ReasksAfterUnresolvableHost) {
  std::istringstream in(std::string(kBadHost) + "\n127.0.0.2\n");
  std::ostringstream out;
  absl::StatusOr<std::string> host = AskHost(in, out, "127.0.0.1");
  ASSERT_TRUE(host.ok()) << host.status();
  EXPECT_EQ(*host, "127.0.0.2");
  EXPECT_EQ(Count(out.str(), "Host [127.0.0.1]: "), 2u) << out.str();
  EXPECT_THAT(out.str(), HasSubstr(kBadHost));
  EXPECT_THAT(out.str(), HasSubstr("please try again"));
}

TEST(AskHostTest, NotFoundAtEndOfInput) {
  std::istringstream in(std::string(kBadHost) + "\n");
  std::ostringstream out;
  absl::StatusOr<std::string> host = AskHost(in, out, "127.0.0.1");
  ASSERT_FALSE(host.ok());
  EXPECT_EQ(host.status().code(), absl::StatusCode::kNotFound);
}

// --- AskPort -----------------------------------------------------------------

TEST(AskPortTest, EmptyAnswerTakesDefault) {
  std::istringstream in("\n");
  std::ostringstream out;
  absl::StatusOr<uint16_t> port = AskPort(in, out, 7007);
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_EQ(*port, 7007);
  EXPECT_EQ(out.str(), "Port [7007]: ");
}

TEST(AskPortTest, TakesAPort) {
  std::istringstream in(" 8080 \n");
  std::ostringstream out;
  absl::StatusOr<uint16_t> port = AskPort(in, out, 7007);
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_EQ(*port, 8080);
}

TEST(AskPortTest, ReasksAfterBadPortsAndSaysWhy) {
  std::istringstream in("abc\n70000\n0\n-1\n+5\n9000\n");
  std::ostringstream out;
  absl::StatusOr<uint16_t> port = AskPort(in, out, 7007);
  ASSERT_TRUE(port.ok()) << port.status();
  EXPECT_EQ(*port, 9000);
  EXPECT_EQ(Count(out.str(), "Port [7007]: "), 6u) << out.str();
  EXPECT_EQ(Count(out.str(), "please try again"), 5u) << out.str();
  EXPECT_THAT(out.str(), HasSubstr("'abc' is not a port number"));
  EXPECT_THAT(out.str(), HasSubstr("70000"));
  EXPECT_THAT(out.str(), HasSubstr("1..65535"));
}

TEST(AskPortTest, NotFoundAtEndOfInput) {
  std::istringstream in("abc\n");
  std::ostringstream out;
  absl::StatusOr<uint16_t> port = AskPort(in, out, 7007);
  ASSERT_FALSE(port.ok());
  EXPECT_EQ(port.status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace switchboard
