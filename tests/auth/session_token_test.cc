// Copyright Switchboard authors.
//
// Session tokens: NewSessionToken's form (43 base64url characters that
// decode to 32 bytes) and freshness, IsWellFormedToken's rejection of wrong
// lengths, characters outside the alphabet and non-canonical spellings
// (non-zero spare bits in the last character), and TokenHash.

#include "services/auth/session_token.h"

#include <sodium.h>

#include <string>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace switchboard {
namespace {

constexpr absl::string_view kAlphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// The 6-bit value of a base64url character, or -1.
int Base64UrlValue(char c) {
  const size_t at = kAlphabet.find(c);
  return at == absl::string_view::npos ? -1 : static_cast<int>(at);
}

class SessionTokenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_GE(sodium_init(), 0); }
};

TEST_F(SessionTokenTest, NewTokenIs43Base64UrlCharacters) {
  for (int i = 0; i < 100; ++i) {
    const std::string token = NewSessionToken();
    ASSERT_EQ(token.size(), kTokenChars) << token;
    for (const char c : token) {
      EXPECT_NE(Base64UrlValue(c), -1) << "'" << c << "' in " << token;
    }
    // 43 characters carry 258 bits: the last one's low 2 bits are spare, zero.
    EXPECT_EQ(Base64UrlValue(token.back()) % 4, 0) << token;
    EXPECT_TRUE(IsWellFormedToken(token)) << token;
  }
}

TEST_F(SessionTokenTest, NewTokenDecodesTo32Bytes) {
  const std::string token = NewSessionToken();
  unsigned char bytes[kTokenBytes + 8];
  size_t length = 0;
  const char* end = nullptr;
  ASSERT_EQ(sodium_base642bin(bytes, sizeof bytes, token.data(), token.size(), nullptr, &length,
                              &end, sodium_base64_VARIANT_URLSAFE_NO_PADDING),
            0);
  EXPECT_EQ(length, kTokenBytes);
  EXPECT_EQ(end, token.data() + token.size());
  // And encodes back to the same spelling.
  char text[sodium_base64_ENCODED_LEN(kTokenBytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(text, sizeof text, bytes, kTokenBytes,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  EXPECT_EQ(std::string(text), token);
}

TEST_F(SessionTokenTest, ThousandTokensAreDistinct) {
  absl::flat_hash_set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string token = NewSessionToken();
    EXPECT_TRUE(seen.insert(token).second) << "repeated: " << token;
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST_F(SessionTokenTest, RejectsWrongLengths) {
  const std::string token = NewSessionToken();
  ASSERT_TRUE(IsWellFormedToken(token));
  EXPECT_FALSE(IsWellFormedToken(""));
  EXPECT_FALSE(IsWellFormedToken(token.substr(0, 42)));
  EXPECT_FALSE(IsWellFormedToken(token + "A"));
  EXPECT_FALSE(IsWellFormedToken(token + token));
  EXPECT_FALSE(IsWellFormedToken(token.substr(0, 1)));
  // 44 characters: the padded standard length.
  EXPECT_FALSE(IsWellFormedToken(token + "="));
  // 42 characters ending in a canonical character.
  EXPECT_FALSE(IsWellFormedToken(std::string(42, 'A')));
  EXPECT_FALSE(IsWellFormedToken(std::string(44, 'A')));
}

TEST_F(SessionTokenTest, AllZeroTokenIsWellFormed) {
  // 32 zero bytes encode as 43 'A's.
  EXPECT_TRUE(IsWellFormedToken(std::string(43, 'A')));
}

TEST_F(SessionTokenTest, RejectsAsciiCharactersOutsideTheAlphabet) {
  const std::string token = NewSessionToken();
  ASSERT_TRUE(IsWellFormedToken(token));
  for (const char bad : {'+', '/', '=', ' ', '.', '\0', '\n', '~', '\x7f'}) {
    for (const size_t at : {size_t{0}, size_t{20}, kTokenChars - 1}) {
      std::string changed = token;
      changed[at] = bad;
      ASSERT_EQ(changed.size(), kTokenChars);
      EXPECT_FALSE(IsWellFormedToken(changed))
          << "byte " << static_cast<int>(static_cast<unsigned char>(bad)) << " at " << at;
    }
  }
  // Every ASCII byte outside the alphabet, in the first position.
  for (int c = 0; c < 0x80; ++c) {
    if (Base64UrlValue(static_cast<char>(c)) != -1) continue;
    std::string changed = token;
    changed[0] = static_cast<char>(c);
    EXPECT_FALSE(IsWellFormedToken(changed)) << "byte " << c;
  }
}

// Debian's libsodium 1.0.18 decodes every byte 0x80-0xFF as '_' (63): a
// check that relied on sodium_base642bin alone accepted these.
TEST_F(SessionTokenTest, RejectsNonAsciiBytes) {
  const std::string token = NewSessionToken();
  ASSERT_TRUE(IsWellFormedToken(token));
  for (const char bad : {'\x80', '\xc3', '\xff'}) {
    for (const size_t at : {size_t{0}, size_t{20}, kTokenChars - 1}) {
      std::string changed = token;
      changed[at] = bad;
      ASSERT_EQ(changed.size(), kTokenChars);
      EXPECT_FALSE(IsWellFormedToken(changed))
          << "byte " << static_cast<int>(static_cast<unsigned char>(bad)) << " at " << at;
    }
  }
  // Two bytes of UTF-8 in place of two characters: still 43 bytes.
  std::string utf8 = token;
  utf8.replace(10, 2, "\xc3\xa9");
  ASSERT_EQ(utf8.size(), kTokenChars);
  EXPECT_FALSE(IsWellFormedToken(utf8));
  // The same token spelled with a non-ASCII byte where it has a '_'.
  std::string underscore = std::string(20, 'A') + "_" + std::string(22, 'A');
  ASSERT_TRUE(IsWellFormedToken(underscore));
  underscore[20] = '\xff';
  EXPECT_FALSE(IsWellFormedToken(underscore));
}

TEST_F(SessionTokenTest, RejectsNonZeroSpareBits) {
  const std::string token = NewSessionToken();
  ASSERT_TRUE(IsWellFormedToken(token));
  int accepted = 0;
  for (const char last : kAlphabet) {
    std::string changed = token;
    changed.back() = last;
    const bool canonical = Base64UrlValue(last) % 4 == 0;
    EXPECT_EQ(IsWellFormedToken(changed), canonical) << "last character '" << last << "'";
    if (canonical) ++accepted;
  }
  EXPECT_EQ(accepted, 16);
  // Explicitly: 'A' (0) is canonical, 'B' (1), 'C' (2), 'D' (3) are not.
  std::string changed = token;
  changed.back() = 'A';
  EXPECT_TRUE(IsWellFormedToken(changed));
  for (const char last : {'B', 'C', 'D', '_', '-', 'z'}) {
    changed.back() = last;
    EXPECT_FALSE(IsWellFormedToken(changed)) << last;
  }
}

TEST_F(SessionTokenTest, TokenHashIs32DeterministicBytes) {
  const std::string token = NewSessionToken();
  const std::string hash = TokenHash(token);
  EXPECT_EQ(hash.size(), kTokenHashBytes);
  EXPECT_EQ(TokenHash(token), hash);
  EXPECT_EQ(TokenHash(std::string(token)), hash);
  EXPECT_NE(hash, token);
  // BLAKE2b-256, unkeyed, of the token's characters.
  unsigned char expected[kTokenHashBytes];
  crypto_generichash(expected, sizeof expected,
                     reinterpret_cast<const unsigned char*>(token.data()), token.size(), nullptr,
                     0);
  EXPECT_EQ(hash, std::string(reinterpret_cast<const char*>(expected), sizeof expected));
}

TEST_F(SessionTokenTest, TokenHashDiffersForDifferentTokens) {
  absl::flat_hash_set<std::string> hashes;
  for (int i = 0; i < 100; ++i) {
    const std::string hash = TokenHash(NewSessionToken());
    ASSERT_EQ(hash.size(), kTokenHashBytes);
    EXPECT_TRUE(hashes.insert(hash).second);
  }
  // Tokens one character apart.
  std::string a(43, 'A');
  std::string b = a;
  b[0] = 'E';
  EXPECT_NE(TokenHash(a), TokenHash(b));
  EXPECT_EQ(TokenHash("").size(), kTokenHashBytes);
}

}  // namespace
}  // namespace switchboard
