// Copyright Switchboard authors.
//
// TokenFile: the client's saved auth session, on real files.

#include "clients/token_file.h"

#include <stdlib.h>
#include <sys/stat.h>

#include <string>

#include "gtest/gtest.h"
#include "tests/testing/child_process.h"

namespace switchboard {
namespace {

using testing::TempPath;

const std::string kToken(43, 'T');

int ModeOf(const std::string& path) {
  struct stat info;
  if (stat(path.c_str(), &info) != 0) return -1;
  return static_cast<int>(info.st_mode & 0777);
}

TEST(TokenFileTest, SaveLoadRemove) {
  const std::string folder = TempPath("state");
  TokenFile file(folder + "/switchboard/token-127.0.0.1-7009");
  EXPECT_FALSE(file.Load().has_value());
  ASSERT_TRUE(file.Save(kToken).ok());
  EXPECT_EQ(file.Load(), kToken);
  EXPECT_EQ(ModeOf(file.path()), 0600);
  EXPECT_EQ(ModeOf(folder + "/switchboard"), 0700);
  ASSERT_TRUE(file.Save(std::string(43, 'U')).ok());
  EXPECT_EQ(file.Load(), std::string(43, 'U'));
  ASSERT_TRUE(file.Remove().ok());
  EXPECT_FALSE(file.Load().has_value());
  EXPECT_TRUE(file.Remove().ok()) << "removing a missing file is fine";
}

TEST(TokenFileTest, ModeIs0600WhateverTheUmask) {
  const mode_t old = umask(0);
  TokenFile file(TempPath("umask") + "/token");
  ASSERT_TRUE(file.Save(kToken).ok());
  umask(old);
  EXPECT_EQ(ModeOf(file.path()), 0600);
}

TEST(TokenFileTest, GarbageInTheFileIsNoToken) {
  const std::string path = TempPath("garbage");
  TokenFile file(path);
  ASSERT_TRUE(file.Save("not a token!").ok());
  EXPECT_FALSE(file.Load().has_value());
}

TEST(TokenFileTest, DefaultPathFollowsXdgStateHome) {
  setenv("XDG_STATE_HOME", "/state/here", 1);
  EXPECT_EQ(TokenFile::DefaultPath("127.0.0.1", 7009),
            "/state/here/switchboard/token-127.0.0.1-7009");
  EXPECT_EQ(TokenFile::DefaultPath("::1", 7009), "/state/here/switchboard/token-__1-7009");
  unsetenv("XDG_STATE_HOME");
  setenv("HOME", "/home/someone", 1);
  EXPECT_EQ(TokenFile::DefaultPath("localhost", 7),
            "/home/someone/.local/state/switchboard/token-localhost-7");
}

TEST(TokenInReplyTest, FindsTokensOnlyWhereTheyAreHandedOut) {
  EXPECT_EQ(TokenInReply("201 registered ada; session " + kToken), kToken);
  EXPECT_EQ(TokenInReply("200 welcome ada; session " + kToken), kToken);
  EXPECT_FALSE(TokenInReply("200 welcome back ada").has_value());
  EXPECT_FALSE(TokenInReply("200 ada; session " + kToken).has_value());
  EXPECT_FALSE(TokenInReply("201 registered ada; session ").has_value());
  EXPECT_FALSE(TokenInReply("201 registered ada; session a/b").has_value());
}

}  // namespace
}  // namespace switchboard
