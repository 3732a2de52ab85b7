// Copyright Switchboard authors.
//
// services/common/text: strict UTF-8 validation (overlong forms, surrogates,
// code points past U+10FFFF, truncated and stray bytes), control characters
// and Unicode White_Space, SplitArguments on single spaces, and the rules and
// exact reasons of ValidateName, ValidateUserName and ValidatePassword.

#include "services/common/text.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace switchboard {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// A string_view over a literal that may hold NUL bytes.
template <size_t N>
absl::string_view Bytes(const char (&literal)[N]) {
  return absl::string_view(literal, N - 1);
}

// ---------------------------------------------------------------- UTF-8

TEST(IsValidUtf8Test, AcceptsOneToFourByteSequences) {
  EXPECT_TRUE(IsValidUtf8(""));
  EXPECT_TRUE(IsValidUtf8("hello"));
  EXPECT_TRUE(IsValidUtf8(Bytes("\x00")));
  EXPECT_TRUE(IsValidUtf8("\x7f"));
  EXPECT_TRUE(IsValidUtf8("\xc2\x80"));          // U+0080, smallest 2-byte
  EXPECT_TRUE(IsValidUtf8("\xc3\xa9"));          // U+00E9
  EXPECT_TRUE(IsValidUtf8("\xdf\xbf"));          // U+07FF, largest 2-byte
  EXPECT_TRUE(IsValidUtf8("\xe0\xa0\x80"));      // U+0800, smallest 3-byte
  EXPECT_TRUE(IsValidUtf8("\xe2\x82\xac"));      // U+20AC euro sign
  EXPECT_TRUE(IsValidUtf8("\xed\x9f\xbf"));      // U+D7FF, just below surrogates
  EXPECT_TRUE(IsValidUtf8("\xee\x80\x80"));      // U+E000, just above surrogates
  EXPECT_TRUE(IsValidUtf8("\xef\xbf\xbf"));      // U+FFFF
  EXPECT_TRUE(IsValidUtf8("\xf0\x90\x80\x80"));  // U+10000, smallest 4-byte
  EXPECT_TRUE(IsValidUtf8("\xf0\x9f\x98\x80"));  // U+1F600
  EXPECT_TRUE(IsValidUtf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF, the last
  EXPECT_TRUE(IsValidUtf8("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"));
}

TEST(IsValidUtf8Test, RejectsOverlongForms) {
  EXPECT_FALSE(IsValidUtf8("\xc0\x80"));          // NUL in 2 bytes
  EXPECT_FALSE(IsValidUtf8("\xc1\xbf"));          // U+007F in 2 bytes
  EXPECT_FALSE(IsValidUtf8("\xe0\x80\x80"));      // NUL in 3 bytes
  EXPECT_FALSE(IsValidUtf8("\xe0\x9f\xbf"));      // U+07FF in 3 bytes
  EXPECT_FALSE(IsValidUtf8("\xf0\x80\x80\x80"));  // NUL in 4 bytes
  EXPECT_FALSE(IsValidUtf8("\xf0\x8f\xbf\xbf"));  // U+FFFF in 4 bytes
}

TEST(IsValidUtf8Test, RejectsSurrogates) {
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\x80"));  // U+D800
  EXPECT_FALSE(IsValidUtf8("\xed\xaf\xbf"));  // U+DBFF
  EXPECT_FALSE(IsValidUtf8("\xed\xb0\x80"));  // U+DC00
  EXPECT_FALSE(IsValidUtf8("\xed\xbf\xbf"));  // U+DFFF
  // A CESU-8 style surrogate pair for U+1F600.
  EXPECT_FALSE(IsValidUtf8("\xed\xa0\xbd\xed\xb8\x80"));
}

TEST(IsValidUtf8Test, RejectsCodePointsPastTheLast) {
  EXPECT_FALSE(IsValidUtf8("\xf4\x90\x80\x80"));  // U+110000
  EXPECT_FALSE(IsValidUtf8("\xf7\xbf\xbf\xbf"));  // U+1FFFFF
}

TEST(IsValidUtf8Test, RejectsTruncatedSequences) {
  EXPECT_FALSE(IsValidUtf8("\xc3"));
  EXPECT_FALSE(IsValidUtf8("\xe2\x82"));
  EXPECT_FALSE(IsValidUtf8("\xe2"));
  EXPECT_FALSE(IsValidUtf8("\xf0\x9f\x98"));
  EXPECT_FALSE(IsValidUtf8("\xf0\x9f"));
  EXPECT_FALSE(IsValidUtf8("\xf0"));
  EXPECT_FALSE(IsValidUtf8("abc\xc3"));
  // Truncated in the middle: the next byte is not a continuation byte.
  EXPECT_FALSE(
      IsValidUtf8("\xc3"
                  "a"));
  EXPECT_FALSE(
      IsValidUtf8("\xe2\x82"
                  "a"));
  EXPECT_FALSE(
      IsValidUtf8("\xf0\x9f\x98"
                  "a"));
  EXPECT_FALSE(IsValidUtf8("\xe2\xc3\xa9"));
}

TEST(IsValidUtf8Test, RejectsLoneContinuationBytes) {
  EXPECT_FALSE(IsValidUtf8("\x80"));
  EXPECT_FALSE(IsValidUtf8("\xbf"));
  EXPECT_FALSE(
      IsValidUtf8("a\x80"
                  "b"));
  EXPECT_FALSE(IsValidUtf8("\xc3\xa9\xa9"));  // one continuation too many
}

TEST(IsValidUtf8Test, RejectsBytesThatNeverAppear) {
  for (int lead = 0xf5; lead <= 0xff; ++lead) {
    const char alone[] = {static_cast<char>(lead)};
    EXPECT_FALSE(IsValidUtf8(absl::string_view(alone, 1))) << std::hex << lead;
    // Followed by what would be continuation bytes.
    const char sequence[] = {static_cast<char>(lead), '\x80', '\x80', '\x80'};
    EXPECT_FALSE(IsValidUtf8(absl::string_view(sequence, 4))) << std::hex << lead;
  }
}

TEST(IsValidUtf8Test, AcceptsEveryScalarValueAndRejectsSurrogates) {
  // A sweep over the whole code space, encoded by hand: every scalar value
  // is valid and every surrogate is not.
  for (int c = 0; c <= 0x10FFFF; c += (c < 0x3000 ? 1 : 0x7F)) {
    std::string s;
    if (c < 0x80) {
      s += static_cast<char>(c);
    } else if (c < 0x800) {
      s += static_cast<char>(0xC0 | (c >> 6));
      s += static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      s += static_cast<char>(0xE0 | (c >> 12));
      s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (c & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | (c >> 18));
      s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (c & 0x3F));
    }
    const bool surrogate = c >= 0xD800 && c <= 0xDFFF;
    EXPECT_EQ(IsValidUtf8(s), !surrogate) << std::hex << c;
  }
}

// ---------------------------------------------------------------- control

TEST(HasControlCharacterTest, FindsCategoryCc) {
  EXPECT_TRUE(HasControlCharacter(Bytes("\x00")));
  EXPECT_TRUE(
      HasControlCharacter(Bytes("ab\x00"
                                "cd")));
  EXPECT_TRUE(HasControlCharacter("\x01"));
  EXPECT_TRUE(HasControlCharacter("\t"));
  EXPECT_TRUE(HasControlCharacter("\n"));
  EXPECT_TRUE(HasControlCharacter("\r"));
  EXPECT_TRUE(HasControlCharacter("\x1f"));
  EXPECT_TRUE(HasControlCharacter("\x7f"));      // DEL
  EXPECT_TRUE(HasControlCharacter("\xc2\x80"));  // U+0080
  EXPECT_TRUE(HasControlCharacter("\xc2\x85"));  // U+0085 NEL
  EXPECT_TRUE(HasControlCharacter("\xc2\x9f"));  // U+009F
  EXPECT_TRUE(HasControlCharacter("caf\xc3\xa9\x1f"));
}

TEST(HasControlCharacterTest, IgnoresOtherCharacters) {
  EXPECT_FALSE(HasControlCharacter(""));
  EXPECT_FALSE(HasControlCharacter(" "));
  EXPECT_FALSE(HasControlCharacter("hello world"));
  EXPECT_FALSE(HasControlCharacter("~"));
  EXPECT_FALSE(HasControlCharacter("\xc2\xa0"));          // U+00A0 NBSP
  EXPECT_FALSE(HasControlCharacter("\xc3\xa9"));          // U+00E9
  EXPECT_FALSE(HasControlCharacter("\xe2\x80\x8b"));      // U+200B (Cf, not Cc)
  EXPECT_FALSE(HasControlCharacter("\xf4\x8f\xbf\xbf"));  // U+10FFFF
}

// ---------------------------------------------------------------- whitespace

TEST(HasWhitespaceTest, FindsWhiteSpaceProperty) {
  EXPECT_TRUE(HasWhitespace(" "));
  EXPECT_TRUE(HasWhitespace("\t"));
  EXPECT_TRUE(HasWhitespace("\n"));
  EXPECT_TRUE(HasWhitespace("\v"));
  EXPECT_TRUE(HasWhitespace("\f"));
  EXPECT_TRUE(HasWhitespace("\r"));
  EXPECT_TRUE(HasWhitespace("a b"));
  EXPECT_TRUE(HasWhitespace("\xc2\x85"));      // U+0085 NEL
  EXPECT_TRUE(HasWhitespace("\xc2\xa0"));      // U+00A0 NBSP
  EXPECT_TRUE(HasWhitespace("\xe1\x9a\x80"));  // U+1680 Ogham space mark
  EXPECT_TRUE(HasWhitespace("\xe2\x80\x80"));  // U+2000
  EXPECT_TRUE(HasWhitespace("\xe2\x80\x83"));  // U+2003 em space
  EXPECT_TRUE(HasWhitespace("\xe2\x80\x8a"));  // U+200A
  EXPECT_TRUE(HasWhitespace("\xe2\x80\xa8"));  // U+2028 line separator
  EXPECT_TRUE(HasWhitespace("\xe2\x80\xa9"));  // U+2029 paragraph separator
  EXPECT_TRUE(HasWhitespace("\xe2\x80\xaf"));  // U+202F narrow NBSP
  EXPECT_TRUE(HasWhitespace("\xe2\x81\x9f"));  // U+205F
  EXPECT_TRUE(HasWhitespace("\xe3\x80\x80"));  // U+3000 ideographic space
  EXPECT_TRUE(HasWhitespace("caf\xc3\xa9\xe3\x80\x80x"));
}

TEST(HasWhitespaceTest, IgnoresOtherCharacters) {
  EXPECT_FALSE(HasWhitespace(""));
  EXPECT_FALSE(HasWhitespace("a"));
  EXPECT_FALSE(HasWhitespace("password123"));
  EXPECT_FALSE(HasWhitespace(Bytes("\x00")));
  EXPECT_FALSE(HasWhitespace("\x08"));
  EXPECT_FALSE(HasWhitespace("\x0e"));
  EXPECT_FALSE(HasWhitespace("\x1f"));
  EXPECT_FALSE(HasWhitespace("\xc3\xa9"));      // U+00E9
  EXPECT_FALSE(HasWhitespace("\xe2\x80\x8b"));  // U+200B zero width space
  EXPECT_FALSE(HasWhitespace("\xe2\x80\x8c"));  // U+200C
  EXPECT_FALSE(HasWhitespace("\xe2\x81\xa0"));  // U+2060 word joiner
  EXPECT_FALSE(HasWhitespace("\xef\xbb\xbf"));  // U+FEFF BOM
  EXPECT_FALSE(HasWhitespace("\xe1\xa0\x8e"));  // U+180E (no longer White_Space)
}

// ---------------------------------------------------------------- arguments

TEST(SplitArgumentsTest, SplitsOnSingleSpaces) {
  EXPECT_THAT(SplitArguments(""), IsEmpty());
  EXPECT_THAT(SplitArguments("a"), ElementsAre("a"));
  EXPECT_THAT(SplitArguments("a b"), ElementsAre("a", "b"));
  EXPECT_THAT(SplitArguments("login alice s3cret!!"), ElementsAre("login", "alice", "s3cret!!"));
  EXPECT_THAT(SplitArguments("a  b"), ElementsAre("a", "", "b"));
  EXPECT_THAT(SplitArguments(" a"), ElementsAre("", "a"));
  EXPECT_THAT(SplitArguments("a "), ElementsAre("a", ""));
  EXPECT_THAT(SplitArguments(" "), ElementsAre("", ""));
}

TEST(SplitArgumentsTest, SplitsOnlyOnSpace) {
  EXPECT_THAT(SplitArguments("a\tb"), ElementsAre("a\tb"));
  EXPECT_THAT(SplitArguments("a\xc2\xa0"
                             "b"),
              ElementsAre("a\xc2\xa0"
                          "b"));
}

TEST(SplitArgumentsTest, PiecesPointIntoTheMessage) {
  const std::string message = "one two";
  const std::vector<absl::string_view> parts = SplitArguments(message);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].data(), message.data());
  EXPECT_EQ(parts[1].data(), message.data() + 4);
}

// ---------------------------------------------------------------- names

TEST(ValidateNameTest, AcceptsOrdinaryNames) {
  EXPECT_TRUE(ValidateName("a").ok());
  EXPECT_TRUE(ValidateName("Alice").ok());
  EXPECT_TRUE(ValidateName("Alice Smith").ok());
  EXPECT_TRUE(ValidateName(" leading and trailing ").ok());
  EXPECT_TRUE(ValidateName("Zo\xc3\xab").ok());
  EXPECT_TRUE(ValidateName("\xe6\x9d\xb1\xe4\xba\xac").ok());
  EXPECT_TRUE(ValidateName("\xc2\xa0").ok());  // NBSP is not a control character
}

TEST(ValidateNameTest, LengthLimitsInBytes) {
  EXPECT_TRUE(ValidateName(std::string(64, 'x')).ok());
  const absl::Status too_long = ValidateName(std::string(65, 'x'));
  EXPECT_EQ(too_long.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(too_long.message(), "name is longer than 64 bytes");

  // 32 two-byte characters: 64 bytes.
  std::string two_byte;
  for (int i = 0; i < 32; ++i) two_byte += "\xc3\xa9";
  ASSERT_EQ(two_byte.size(), 64u);
  EXPECT_TRUE(ValidateName(two_byte).ok());
  // 16 four-byte characters: 64 bytes.
  std::string four_byte;
  for (int i = 0; i < 16; ++i) four_byte += "\xf0\x9f\x98\x80";
  ASSERT_EQ(four_byte.size(), 64u);
  EXPECT_TRUE(ValidateName(four_byte).ok());
  // 33 two-byte characters: 33 characters, but 66 bytes.
  EXPECT_EQ(ValidateName(two_byte + "\xc3\xa9").message(), "name is longer than 64 bytes");
}

TEST(ValidateNameTest, ExactReasons) {
  const absl::Status empty = ValidateName("");
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(empty.message(), "name is empty");

  const absl::Status bad_utf8 = ValidateName("caf\xc3");
  EXPECT_EQ(bad_utf8.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad_utf8.message(), "name is not valid UTF-8");
  EXPECT_EQ(ValidateName("\xc0\x80").message(), "name is not valid UTF-8");
  EXPECT_EQ(ValidateName("\xed\xa0\x80").message(), "name is not valid UTF-8");
  EXPECT_EQ(ValidateName("\xff").message(), "name is not valid UTF-8");

  const absl::Status control = ValidateName("a\tb");
  EXPECT_EQ(control.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(control.message(), "name contains a control character");
  EXPECT_EQ(ValidateName(Bytes("a\x00"
                               "b"))
                .message(),
            "name contains a control character");
  EXPECT_EQ(ValidateName("a\nb").message(), "name contains a control character");
  EXPECT_EQ(ValidateName("\x7f").message(), "name contains a control character");
  EXPECT_EQ(ValidateName("x\xc2\x9f").message(), "name contains a control character");
}

// ---------------------------------------------------------------- user names

TEST(ValidateUserNameTest, LengthLimits) {
  EXPECT_TRUE(ValidateUserName("a").ok());
  EXPECT_TRUE(ValidateUserName(std::string(32, 'a')).ok());
  EXPECT_EQ(ValidateUserName("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateUserName(std::string(33, 'a')).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ValidateUserNameTest, AllowedCharacters) {
  EXPECT_TRUE(ValidateUserName("ABCDEFGHIJKLMNOPQRSTUVWXYZ").ok());
  EXPECT_TRUE(ValidateUserName("abcdefghijklmnopqrstuvwxyz").ok());
  EXPECT_TRUE(ValidateUserName("0123456789").ok());
  EXPECT_TRUE(ValidateUserName("_.-").ok());
  EXPECT_TRUE(ValidateUserName("alice.smith-2_x").ok());
  EXPECT_TRUE(ValidateUserName(".").ok());
  EXPECT_TRUE(ValidateUserName("-").ok());
}

TEST(ValidateUserNameTest, RejectsOtherCharacters) {
  for (const absl::string_view bad :
       {"alice!", "alice smith", " alice", "alice ", "a@b", "a/b", "a+b", "a:b", "a\tb",
        "caf\xc3\xa9", "\xc3\xa9", "\xff", "a\x7f"}) {
    EXPECT_EQ(ValidateUserName(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_FALSE(ValidateUserName(Bytes("a\x00")).ok());
}

// ---------------------------------------------------------------- passwords

TEST(ValidatePasswordTest, LengthLimitsInBytes) {
  EXPECT_TRUE(ValidatePassword(std::string(8, 'p')).ok());
  EXPECT_TRUE(ValidatePassword(std::string(256, 'p')).ok());
  EXPECT_EQ(ValidatePassword(std::string(7, 'p')).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidatePassword(std::string(257, 'p')).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(ValidatePassword("").ok());
  // 4 two-byte characters: 4 characters but 8 bytes.
  EXPECT_TRUE(ValidatePassword("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9").ok());
  // 3 two-byte characters: 6 bytes.
  EXPECT_FALSE(ValidatePassword("\xc3\xa9\xc3\xa9\xc3\xa9").ok());
}

TEST(ValidatePasswordTest, AcceptsMultibyteUtf8AndPunctuation) {
  EXPECT_TRUE(ValidatePassword("p\xc3\xa4ssw\xc3\xb6rd").ok());
  EXPECT_TRUE(ValidatePassword("\xf0\x9f\x98\x80\xf0\x9f\x98\x80").ok());
  EXPECT_TRUE(ValidatePassword("!@#$%^&*()_+{}|:\"<>?").ok());
  EXPECT_TRUE(ValidatePassword("zero\xe2\x80\x8bwidth").ok());  // U+200B is not White_Space
}

TEST(ValidatePasswordTest, RejectsWhitespace) {
  for (const absl::string_view bad :
       {"pass word", " password", "password ", "pass\tword", "pass\nword", "pass\xc2\xa0word",
        "pass\xe2\x80\x83word", "pass\xe3\x80\x80word", "pass\xc2\x85word"}) {
    EXPECT_EQ(ValidatePassword(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ValidatePasswordTest, RejectsControlCharacters) {
  EXPECT_FALSE(ValidatePassword(Bytes("pass\x00word")).ok());
  EXPECT_FALSE(ValidatePassword("pass\x1fword").ok());
  EXPECT_FALSE(ValidatePassword("pass\x7fword").ok());
  EXPECT_FALSE(ValidatePassword("pass\xc2\x80word").ok());
  EXPECT_FALSE(ValidatePassword("pass\xc2\x9fword").ok());
}

TEST(ValidatePasswordTest, RejectsInvalidUtf8) {
  EXPECT_FALSE(ValidatePassword("password\xc3").ok());
  EXPECT_FALSE(ValidatePassword("pass\xc0\x80word").ok());
  EXPECT_FALSE(ValidatePassword("pass\xed\xa0\x80word").ok());
  EXPECT_FALSE(ValidatePassword("pass\x80word").ok());
  EXPECT_FALSE(ValidatePassword("pass\xffword").ok());
  EXPECT_FALSE(ValidatePassword("pass\xf4\x90\x80\x80word").ok());
}

TEST(Utf8LengthTest, CountsCharactersNotBytes) {
  EXPECT_EQ(Utf8Length(""), 0u);
  EXPECT_EQ(Utf8Length("abc"), 3u);
  EXPECT_EQ(Utf8Length("\xc3\xa9t\xc3\xa9"), 3u);  // été
  EXPECT_EQ(Utf8Length("\xe2\x82\xac"), 1u);       // U+20AC
  EXPECT_EQ(Utf8Length("\xf0\x9f\x98\x80!"), 2u);  // U+1F600 and '!'
}

}  // namespace
}  // namespace switchboard
