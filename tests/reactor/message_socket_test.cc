// Copyright Switchboard authors.
//
// MessageSocket over a loopback TCP connection: messages of every size round
// trip, frames split across segments, and each way a stream can end: cleanly
// (OutOfRange), inside a frame (DataLoss), or with a header over the limit
// (ResourceExhausted).

#include "reactor/message_socket.h"

#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "reactor/buffer.h"
#include "tests/testing/socket_pair.h"

namespace switchboard {
namespace {

constexpr size_t kMiB = 1024 * 1024;

std::string Header(uint32_t length) {
  Buffer buffer;
  buffer.AppendUint32BigEndian(length);
  return buffer.TakeAll();
}

std::string Payload(size_t size, int seed) {
  std::string out(size, '\0');
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<char>((i * 131 + seed) % 256);
  return out;
}

class MessageSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::SocketPair> pair = testing::MakeTcpPair();
    ASSERT_TRUE(pair.ok()) << pair.status();
    sender_ = MessageSocket(std::move(pair->first));
    receiver_ = MessageSocket(std::move(pair->second));
  }

  // Sends `messages` from a thread of its own (a large one does not fit in
  // the socket buffers) while the test receives.
  std::thread SendInBackground(std::vector<std::string> messages) {
    return std::thread([this, messages = std::move(messages)] {
      for (const std::string& m : messages) EXPECT_TRUE(sender_.Send(m).ok());
    });
  }

  MessageSocket sender_{Socket()};
  MessageSocket receiver_{Socket()};
};

TEST_F(MessageSocketTest, EmptyMessage) {
  ASSERT_TRUE(sender_.Send("").ok());
  absl::StatusOr<std::string> got = receiver_.Receive();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "");
}

TEST_F(MessageSocketTest, OneByte) {
  ASSERT_TRUE(sender_.Send("x").ok());
  absl::StatusOr<std::string> got = receiver_.Receive();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "x");
}

TEST_F(MessageSocketTest, BinaryBytesSurvive) {
  const std::string binary("\0\n\r\xff\x80 text\0", 11);
  ASSERT_TRUE(sender_.Send(binary).ok());
  absl::StatusOr<std::string> got = receiver_.Receive();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, binary);
}

TEST_F(MessageSocketTest, TheWireFormatIsABigEndianLengthThenTheBytes) {
  ASSERT_TRUE(sender_.Send("abc").ok());
  char wire[7];
  ASSERT_TRUE(receiver_.ReceiveExactly(wire, sizeof(wire)).ok());
  EXPECT_EQ(std::string(wire, 7), Header(3) + "abc");
}

TEST_F(MessageSocketTest, OneMebibyte) {
  const std::string big = Payload(kMiB, 1);
  std::thread sender = SendInBackground({big});
  absl::StatusOr<std::string> got = receiver_.Receive();
  sender.join();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->size(), kMiB);
  EXPECT_TRUE(*got == big);
}

TEST_F(MessageSocketTest, SendRefusesMoreThanTheLimit) {
  absl::Status status = sender_.Send(std::string(kMiB + 1, 'x'));
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  // Nothing went out: the stream is still in step.
  ASSERT_TRUE(sender_.Send("after").ok());
  absl::StatusOr<std::string> got = receiver_.Receive();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "after");
}

TEST_F(MessageSocketTest, ManyMessagesBackToBack) {
  std::vector<std::string> messages;
  for (int i = 0; i < 2000; ++i) messages.push_back(Payload(i % 37 == 0 ? 0 : (i * 97) % 3000, i));
  std::thread sender = SendInBackground(messages);
  for (size_t i = 0; i < messages.size(); ++i) {
    absl::StatusOr<std::string> got = receiver_.Receive();
    ASSERT_TRUE(got.ok()) << "message " << i << ": " << got.status();
    ASSERT_EQ(*got, messages[i]) << "message " << i;
  }
  sender.join();
}

TEST_F(MessageSocketTest, FramesSplitAcrossManySegments) {
  // The raw bytes of three frames, sent a few bytes at a time.
  const std::vector<std::string> messages = {"first", "", Payload(1000, 9)};
  std::string wire;
  for (const std::string& m : messages) wire += Header(static_cast<uint32_t>(m.size())) + m;
  ASSERT_TRUE(sender_.SetNoDelay(true).ok());
  std::thread sender([&] {
    for (size_t i = 0; i < wire.size(); i += 3) {
      EXPECT_TRUE(sender_.SendAll(absl::string_view(wire).substr(i, 3)).ok());
    }
  });
  for (const std::string& expected : messages) {
    absl::StatusOr<std::string> got = receiver_.Receive();
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, expected);
  }
  sender.join();
}

TEST_F(MessageSocketTest, CleanEndOfStreamIsOutOfRange) {
  ASSERT_TRUE(sender_.Send("only").ok());
  ASSERT_TRUE(sender_.ShutdownWrite().ok());
  absl::StatusOr<std::string> got = receiver_.Receive();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "only");
  got = receiver_.Receive();
  EXPECT_EQ(got.status().code(), absl::StatusCode::kOutOfRange) << got.status();
  got = receiver_.Receive();
  EXPECT_EQ(got.status().code(), absl::StatusCode::kOutOfRange) << "and stays so";
}

TEST_F(MessageSocketTest, EndOfStreamInsideThePayloadIsDataLoss) {
  ASSERT_TRUE(sender_.SendAll(Header(10) + "12345").ok());
  sender_.Close();
  absl::StatusOr<std::string> got = receiver_.Receive();
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
}

TEST_F(MessageSocketTest, EndOfStreamInsideTheHeaderIsDataLoss) {
  ASSERT_TRUE(sender_.SendAll(Header(10).substr(0, 2)).ok());
  ASSERT_TRUE(sender_.ShutdownWrite().ok());
  absl::StatusOr<std::string> got = receiver_.Receive();
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << got.status();
}

TEST_F(MessageSocketTest, AHeaderOverTheLimitIsResourceExhausted) {
  ASSERT_TRUE(sender_.SendAll(Header(kMiB + 1)).ok());
  absl::StatusOr<std::string> got = receiver_.Receive();
  EXPECT_EQ(got.status().code(), absl::StatusCode::kResourceExhausted) << got.status();

  // Exactly the limit is fine (the payload follows from another thread).
  absl::StatusOr<testing::SocketPair> pair = testing::MakeTcpPair();
  ASSERT_TRUE(pair.ok()) << pair.status();
  MessageSocket raw_sender(std::move(pair->first));
  MessageSocket receiver(std::move(pair->second));
  const std::string payload = Payload(kMiB, 4);
  std::thread sender([&] { EXPECT_TRUE(raw_sender.SendAll(Header(kMiB) + payload).ok()); });
  got = receiver.Receive();
  sender.join();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->size(), kMiB);
}

TEST_F(MessageSocketTest, ASmallerLimitAppliesToBothDirections) {
  absl::StatusOr<testing::SocketPair> pair = testing::MakeTcpPair();
  ASSERT_TRUE(pair.ok()) << pair.status();
  MessageSocket a(std::move(pair->first), 8);
  MessageSocket b(std::move(pair->second), 8);
  EXPECT_EQ(a.Send("123456789").code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(a.Send("12345678").ok());
  absl::StatusOr<std::string> got = b.Receive();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, "12345678");
  ASSERT_TRUE(a.SendAll(Header(9) + "123456789").ok());
  EXPECT_EQ(b.Receive().status().code(), absl::StatusCode::kResourceExhausted);
}

TEST_F(MessageSocketTest, RepliesFlowBothWaysOnOneConnection) {
  // One thread may send while another receives on the same socket.
  std::thread echo([&] {
    for (;;) {
      absl::StatusOr<std::string> got = receiver_.Receive();
      if (!got.ok()) break;
      EXPECT_TRUE(receiver_.Send(absl::StrCat("echo:", *got)).ok());
    }
    EXPECT_TRUE(receiver_.ShutdownWrite().ok());
  });
  for (int i = 0; i < 100; ++i) {
    const std::string text = absl::StrCat("message ", i);
    ASSERT_TRUE(sender_.Send(text).ok());
    absl::StatusOr<std::string> reply = sender_.Receive();
    ASSERT_TRUE(reply.ok()) << reply.status();
    EXPECT_EQ(*reply, "echo:" + text);
  }
  ASSERT_TRUE(sender_.ShutdownWrite().ok());
  echo.join();
  EXPECT_EQ(sender_.Receive().status().code(), absl::StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace switchboard
