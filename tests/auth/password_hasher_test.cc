// Copyright Switchboard authors.
//
// PasswordHasher: libsodium initialisation, the cost names, Argon2id hashes
// with a fresh salt each time, Verify of right, wrong and malformed stored
// hashes, VerifyDummy (once and from several threads at once, which makes
// the dummy hash under call_once), and NeedsRehash across costs. Hashes are
// made at libsodium's minimum cost except for one at the interactive cost.

#include "services/auth/password_hasher.h"

#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace switchboard {
namespace {

class PasswordHasherTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(PasswordHasher::InitSodium().ok()); }

  std::string MustHash(const PasswordHasher& hasher, absl::string_view password) {
    absl::StatusOr<std::string> hash = hasher.Hash(password);
    EXPECT_TRUE(hash.ok()) << hash.status();
    return hash.ok() ? *hash : std::string();
  }
};

TEST(InitSodiumTest, SucceedsAndMayBeRepeated) {
  EXPECT_TRUE(PasswordHasher::InitSodium().ok());
  EXPECT_TRUE(PasswordHasher::InitSodium().ok());
}

TEST(PwhashCostTest, ParsesTheFourNames) {
  absl::StatusOr<PwhashCost> cost = ParsePwhashCost("min");
  ASSERT_TRUE(cost.ok());
  EXPECT_EQ(*cost, PwhashCost::kMin);
  cost = ParsePwhashCost("interactive");
  ASSERT_TRUE(cost.ok());
  EXPECT_EQ(*cost, PwhashCost::kInteractive);
  cost = ParsePwhashCost("moderate");
  ASSERT_TRUE(cost.ok());
  EXPECT_EQ(*cost, PwhashCost::kModerate);
  cost = ParsePwhashCost("sensitive");
  ASSERT_TRUE(cost.ok());
  EXPECT_EQ(*cost, PwhashCost::kSensitive);
}

TEST(PwhashCostTest, RejectsOtherNames) {
  for (const absl::string_view name :
       {"fast", "", "Interactive", "MIN", " min", "min ", "sensitive2", "0"}) {
    const absl::StatusOr<PwhashCost> cost = ParsePwhashCost(name);
    EXPECT_FALSE(cost.ok()) << "'" << name << "'";
    EXPECT_EQ(cost.status().code(), absl::StatusCode::kInvalidArgument) << "'" << name << "'";
  }
}

TEST(PwhashCostTest, NamesRoundTrip) {
  for (const PwhashCost cost : {PwhashCost::kMin, PwhashCost::kInteractive, PwhashCost::kModerate,
                                PwhashCost::kSensitive}) {
    const absl::StatusOr<PwhashCost> parsed = ParsePwhashCost(PwhashCostName(cost));
    ASSERT_TRUE(parsed.ok()) << PwhashCostName(cost);
    EXPECT_EQ(*parsed, cost);
  }
  EXPECT_EQ(PwhashCostName(PwhashCost::kMin), "min");
  EXPECT_EQ(PwhashCostName(PwhashCost::kInteractive), "interactive");
  EXPECT_EQ(PwhashCostName(PwhashCost::kModerate), "moderate");
  EXPECT_EQ(PwhashCostName(PwhashCost::kSensitive), "sensitive");
}

TEST_F(PasswordHasherTest, KeepsItsCost) {
  EXPECT_EQ(PasswordHasher(PwhashCost::kMin).cost(), PwhashCost::kMin);
  EXPECT_EQ(PasswordHasher(PwhashCost::kSensitive).cost(), PwhashCost::kSensitive);
}

TEST_F(PasswordHasherTest, HashIsArgon2idWithAFreshSalt) {
  const PasswordHasher hasher(PwhashCost::kMin);
  const std::string first = MustHash(hasher, "correct horse");
  const std::string second = MustHash(hasher, "correct horse");
  EXPECT_TRUE(absl::StartsWith(first, "$argon2id$")) << first;
  EXPECT_TRUE(absl::StartsWith(second, "$argon2id$")) << second;
  EXPECT_NE(first, second);
  EXPECT_EQ(first.find('\0'), std::string::npos);
  // Both verify.
  EXPECT_TRUE(hasher.Verify(first, "correct horse"));
  EXPECT_TRUE(hasher.Verify(second, "correct horse"));
}

TEST_F(PasswordHasherTest, VerifyTellsRightFromWrong) {
  const PasswordHasher hasher(PwhashCost::kMin);
  const std::string hash = MustHash(hasher, "s3cret-password");
  EXPECT_TRUE(hasher.Verify(hash, "s3cret-password"));
  EXPECT_FALSE(hasher.Verify(hash, "s3cret-passworD"));
  EXPECT_FALSE(hasher.Verify(hash, "s3cret-passwor"));
  EXPECT_FALSE(hasher.Verify(hash, "s3cret-password "));
  EXPECT_FALSE(hasher.Verify(hash, ""));
}

TEST_F(PasswordHasherTest, PasswordsAreBytesNotCStrings) {
  const PasswordHasher hasher(PwhashCost::kMin);
  const std::string with_nul("abc\0def", 7);
  const std::string hash = MustHash(hasher, with_nul);
  EXPECT_TRUE(hasher.Verify(hash, with_nul));
  EXPECT_FALSE(hasher.Verify(hash, "abc"));
  const std::string utf8 = "p\xc3\xa4ssw\xc3\xb6rd";
  const std::string utf8_hash = MustHash(hasher, utf8);
  EXPECT_TRUE(hasher.Verify(utf8_hash, utf8));
}

TEST_F(PasswordHasherTest, VerifyRejectsMalformedStoredHashes) {
  const PasswordHasher hasher(PwhashCost::kMin);
  const std::string hash = MustHash(hasher, "s3cret-password");
  ASSERT_FALSE(hash.empty());

  EXPECT_FALSE(hasher.Verify("", "s3cret-password"));
  EXPECT_FALSE(hasher.Verify("garbage", "s3cret-password"));
  EXPECT_FALSE(hasher.Verify("$argon2id$", "s3cret-password"));
  EXPECT_FALSE(hasher.Verify("$argon2id$v=19$m=8,t=1,p=1$", "s3cret-password"));
  // Truncated: every proper prefix of a real hash.
  for (size_t n = 0; n < hash.size(); ++n) {
    EXPECT_FALSE(hasher.Verify(absl::string_view(hash).substr(0, n), "s3cret-password")) << n;
  }
  // A NUL inside: crypto_pwhash_str_verify would stop reading there.
  std::string with_nul = hash;
  with_nul += '\0';
  with_nul += "trailing";
  EXPECT_FALSE(hasher.Verify(with_nul, "s3cret-password"));
  std::string nul_inside = hash;
  nul_inside[nul_inside.size() / 2] = '\0';
  EXPECT_FALSE(hasher.Verify(nul_inside, "s3cret-password"));
  EXPECT_FALSE(hasher.Verify(absl::string_view("\0", 1), "s3cret-password"));
  // Longer than libsodium's buffer: the real hash followed by padding.
  EXPECT_FALSE(hasher.Verify(hash + std::string(200, 'A'), "s3cret-password"));
  EXPECT_FALSE(hasher.Verify(std::string(4096, '$'), "s3cret-password"));
  // A changed character in the digest.
  std::string flipped = hash;
  flipped.back() = flipped.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(hasher.Verify(flipped, "s3cret-password"));
  // The real hash still verifies afterwards.
  EXPECT_TRUE(hasher.Verify(hash, "s3cret-password"));
}

TEST_F(PasswordHasherTest, VerifyDummyRunsRepeatedly) {
  const PasswordHasher hasher(PwhashCost::kMin);
  hasher.VerifyDummy("anything-at-all");
  hasher.VerifyDummy("anything-at-all");
  hasher.VerifyDummy("");
  // The hasher still works for real hashes.
  const std::string hash = MustHash(hasher, "s3cret-password");
  EXPECT_TRUE(hasher.Verify(hash, "s3cret-password"));
}

TEST_F(PasswordHasherTest, VerifyDummyFromSeveralThreadsAtOnce) {
  // A fresh hasher, so that the threads race to make the dummy hash.
  const PasswordHasher hasher(PwhashCost::kMin);
  constexpr int kThreads = 4;
  constexpr int kCallsPerThread = 3;
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&hasher, t] {
      for (int i = 0; i < kCallsPerThread; ++i) {
        hasher.VerifyDummy("guess-" + std::to_string(t) + "-" + std::to_string(i));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
}

TEST_F(PasswordHasherTest, NeedsRehashAcrossCosts) {
  const PasswordHasher min_hasher(PwhashCost::kMin);
  const PasswordHasher interactive_hasher(PwhashCost::kInteractive);
  const std::string min_hash = MustHash(min_hasher, "s3cret-password");
  EXPECT_FALSE(min_hasher.NeedsRehash(min_hash));
  EXPECT_TRUE(interactive_hasher.NeedsRehash(min_hash));

  // The one hash at a real cost: ~0.1 s and 64 MiB.
  const std::string interactive_hash = MustHash(interactive_hasher, "s3cret-password");
  EXPECT_TRUE(absl::StartsWith(interactive_hash, "$argon2id$")) << interactive_hash;
  EXPECT_TRUE(absl::StrContains(interactive_hash, "m=65536,t=2")) << interactive_hash;
  EXPECT_FALSE(interactive_hasher.NeedsRehash(interactive_hash));
  EXPECT_TRUE(min_hasher.NeedsRehash(interactive_hash));
  // A hash verifies under any hasher: the cost is in the string.
  EXPECT_TRUE(min_hasher.Verify(interactive_hash, "s3cret-password"));
  EXPECT_FALSE(min_hasher.Verify(interactive_hash, "wrong-password"));

  // A third cost (no hash made at it: that would take 256 MiB) wants both.
  const PasswordHasher moderate_hasher(PwhashCost::kModerate);
  EXPECT_TRUE(moderate_hasher.NeedsRehash(min_hash));
  EXPECT_TRUE(moderate_hasher.NeedsRehash(interactive_hash));
}

TEST_F(PasswordHasherTest, NeedsRehashForGarbage) {
  const PasswordHasher hasher(PwhashCost::kMin);
  EXPECT_TRUE(hasher.NeedsRehash(""));
  EXPECT_TRUE(hasher.NeedsRehash("garbage"));
  EXPECT_TRUE(hasher.NeedsRehash("$argon2id$"));
  EXPECT_TRUE(hasher.NeedsRehash(std::string(4096, 'x')));
  const std::string hash = MustHash(hasher, "s3cret-password");
  std::string with_nul = hash;
  with_nul[10] = '\0';
  EXPECT_TRUE(hasher.NeedsRehash(with_nul));
  EXPECT_TRUE(hasher.NeedsRehash(hash + std::string(200, 'A')));
}

}  // namespace
}  // namespace switchboard
