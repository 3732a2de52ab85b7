// Copyright Switchboard authors.
//
// Buffer: appending, consuming, prepending, growth that keeps the data,
// reuse of the space in front instead of growing, ShrinkIfEmpty, and
// ReadFromFd with more waiting than the buffer has room for.

#include "reactor/buffer.h"

#include <errno.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <string>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "tests/testing/socket_pair.h"

namespace switchboard {
namespace {

using testing::MakeSocketPair;
using testing::SocketPair;

// Bytes that differ from position to position, so that a misplaced copy
// shows up as a mismatch.
std::string Pattern(size_t size, size_t seed = 0) {
  std::string out(size, '\0');
  for (size_t i = 0; i < size; ++i) {
    out[i] = static_cast<char>('a' + (i * 7 + seed) % 26);
  }
  return out;
}

TEST(BufferTest, StartsEmpty) {
  Buffer buffer;
  EXPECT_TRUE(buffer.empty());
  EXPECT_EQ(buffer.readable_bytes(), 0u);
  EXPECT_EQ(buffer.view(), "");
  EXPECT_EQ(buffer.capacity(), Buffer::kPrepend);

  Buffer sized(100);
  EXPECT_TRUE(sized.empty());
  EXPECT_EQ(sized.capacity(), Buffer::kPrepend + 100);
}

TEST(BufferTest, AppendThenConsumeFromTheFront) {
  Buffer buffer;
  buffer.Append("hello");
  buffer.Append("");
  buffer.Append(", world");
  EXPECT_EQ(buffer.view(), "hello, world");
  EXPECT_EQ(buffer.readable_bytes(), 12u);
  EXPECT_EQ(absl::string_view(buffer.peek(), 5), "hello");

  buffer.Consume(7);
  EXPECT_EQ(buffer.view(), "world");
  buffer.Consume(0);
  EXPECT_EQ(buffer.view(), "world");
  EXPECT_EQ(buffer.TakeAll(), "world");
  EXPECT_TRUE(buffer.empty());
  EXPECT_EQ(buffer.TakeAll(), "");
}

TEST(BufferTest, ClearDropsEverything) {
  Buffer buffer;
  buffer.Append("abc");
  buffer.Clear();
  EXPECT_TRUE(buffer.empty());
  buffer.Append("xyz");
  EXPECT_EQ(buffer.view(), "xyz");
}

TEST(BufferTest, PrependPutsAHeaderInTheReservedFrontRoom) {
  Buffer buffer(64);
  buffer.Append("payload");
  const size_t capacity = buffer.capacity();
  buffer.Prepend("HDR:");
  EXPECT_EQ(buffer.view(), "HDR:payload");
  EXPECT_EQ(buffer.capacity(), capacity) << "a header of up to kPrepend bytes "
                                            "needs no allocation";
  buffer.Prepend("1234");
  EXPECT_EQ(buffer.view(), "1234HDR:payload");
}

TEST(BufferTest, PrependLargerThanTheFrontRoomStillWorks) {
  Buffer buffer;
  buffer.Append("tail");
  buffer.Prepend("a header longer than eight bytes|");
  EXPECT_EQ(buffer.view(), "a header longer than eight bytes|tail");
  buffer.Consume(2);
  EXPECT_EQ(buffer.view(), "header longer than eight bytes|tail");
}

TEST(BufferTest, PrependIntoSpaceFreedByConsume) {
  Buffer buffer(64);
  buffer.Append("0123456789abcdef");
  buffer.Consume(10);
  buffer.Prepend("XYZ");
  EXPECT_EQ(buffer.view(), "XYZabcdef");
}

TEST(BufferTest, AppendUint32BigEndian) {
  Buffer buffer;
  buffer.AppendUint32BigEndian(0x01020304u);
  buffer.AppendUint32BigEndian(0xFFFFFFFEu);
  buffer.AppendUint32BigEndian(0);
  EXPECT_EQ(buffer.view(), absl::string_view("\x01\x02\x03\x04\xff\xff\xff\xfe"
                                             "\x00\x00\x00\x00",
                                             12));
}

TEST(BufferTest, PrepareWriteAndCommitWrite) {
  Buffer buffer;
  buffer.Append("ab");
  char* out = buffer.PrepareWrite(100);
  for (int i = 0; i < 100; ++i) out[i] = 'x';
  buffer.CommitWrite(3);  // only part of what was prepared
  EXPECT_EQ(buffer.view(), "abxxx");
  EXPECT_GE(buffer.capacity(), Buffer::kPrepend + 2 + 100);
}

TEST(BufferTest, GrowthKeepsTheData) {
  Buffer buffer;
  std::string expected;
  size_t last_capacity = buffer.capacity();
  int growths = 0;
  for (size_t i = 0; expected.size() < (1u << 20); ++i) {
    const std::string piece = Pattern(1 + i % 997, i);
    buffer.Append(piece);
    expected += piece;
    if (buffer.capacity() != last_capacity) {
      ++growths;
      last_capacity = buffer.capacity();
    }
  }
  EXPECT_EQ(buffer.view(), expected);
  // Geometric growth: a megabyte in small appends takes few reallocations.
  EXPECT_LE(growths, 25);
}

TEST(BufferTest, ReusesTheFrontSpaceInsteadOfGrowing) {
  Buffer buffer(1024);
  const size_t capacity = buffer.capacity();
  std::string expected = Pattern(700);
  buffer.Append(expected);
  // Steady traffic: as much consumed as appended, never all of it, so the
  // write position keeps reaching the end and the bytes must slide forward.
  for (int round = 0; round < 1000; ++round) {
    const std::string piece = Pattern(300, round);
    buffer.Append(piece);
    expected += piece;
    buffer.Consume(300);
    expected.erase(0, 300);
    ASSERT_EQ(buffer.capacity(), capacity) << "grew in round " << round;
    ASSERT_EQ(buffer.view(), expected) << "round " << round;
  }
}

TEST(BufferTest, MixedOperationsMatchAStringModel) {
  std::mt19937 random(42);
  Buffer buffer;
  std::string model;
  for (int step = 0; step < 20000; ++step) {
    switch (random() % 4) {
      case 0:
      case 1: {
        const std::string piece = Pattern(random() % 3000, step);
        buffer.Append(piece);
        model += piece;
        break;
      }
      case 2: {
        const size_t n = model.empty() ? 0 : random() % (model.size() + 1);
        buffer.Consume(n);
        model.erase(0, n);
        break;
      }
      case 3: {
        const size_t n = random() % 2000;
        char* out = buffer.PrepareWrite(n);
        const std::string piece = Pattern(n, step + 1);
        std::copy(piece.begin(), piece.end(), out);
        buffer.CommitWrite(n);
        model += piece;
        break;
      }
    }
    ASSERT_EQ(buffer.readable_bytes(), model.size()) << "step " << step;
    ASSERT_EQ(buffer.view(), model) << "step " << step;
  }
}

TEST(BufferTest, ShrinkIfEmptyReturnsAPeak) {
  Buffer buffer;
  buffer.Append(Pattern(1 << 20));
  const size_t peak = buffer.capacity();
  ASSERT_GE(peak, Buffer::kPrepend + (1u << 20));

  buffer.ShrinkIfEmpty(4096);  // not empty: keeps everything
  EXPECT_EQ(buffer.capacity(), peak);
  EXPECT_EQ(buffer.readable_bytes(), 1u << 20);

  buffer.Consume(buffer.readable_bytes());
  buffer.ShrinkIfEmpty(4096);
  EXPECT_EQ(buffer.capacity(), Buffer::kPrepend + 4096);
  EXPECT_TRUE(buffer.empty());

  // Already small: nothing to do.
  buffer.ShrinkIfEmpty(1 << 20);
  EXPECT_EQ(buffer.capacity(), Buffer::kPrepend + 4096);

  // Still usable afterwards, front room included.
  buffer.Append("after");
  buffer.Prepend("!");
  EXPECT_EQ(buffer.view(), "!after");
}

TEST(BufferTest, ReadFromFdTakesMoreThanTheFreeSpace) {
  int error = 0;
  absl::StatusOr<SocketPair> pair = MakeSocketPair();
  ASSERT_TRUE(pair.ok()) << pair.status();
  const std::string sent = Pattern(100000);
  ASSERT_TRUE(testing::WriteAllNonBlocking(pair->first.fd(), sent).ok());

  Buffer buffer(1000);
  const size_t free_space = buffer.capacity() - Buffer::kPrepend;
  const ssize_t first = buffer.ReadFromFd(pair->second.fd(), &error);
  // One call brings the free space plus the 64 KiB stack area.
  ASSERT_GT(first, static_cast<ssize_t>(free_space));
  EXPECT_EQ(first, static_cast<ssize_t>(free_space + Buffer::kReadAreaBytes));
  EXPECT_EQ(buffer.readable_bytes(), static_cast<size_t>(first));
  EXPECT_EQ(buffer.view(), absl::string_view(sent).substr(0, first));

  for (int i = 0; i < 100 && buffer.readable_bytes() < sent.size(); ++i) {
    const ssize_t n = buffer.ReadFromFd(pair->second.fd(), &error);
    ASSERT_GT(n, 0) << "errno " << error;
  }
  EXPECT_EQ(buffer.view(), sent);

  // Nothing waiting on a non-blocking socket: -1 with EAGAIN, kept where
  // the caller asked even if errno changes afterwards.
  error = 0;
  EXPECT_EQ(buffer.ReadFromFd(pair->second.fd(), &error), -1);
  errno = 0;
  EXPECT_TRUE(error == EAGAIN || error == EWOULDBLOCK) << error;

  // End of stream: 0, and the data already read stays.
  pair->first.Close();
  EXPECT_EQ(buffer.ReadFromFd(pair->second.fd(), &error), 0);
  EXPECT_EQ(buffer.view(), sent);
}

TEST(BufferTest, ReadFromFdWithPlentyOfRoomReadsEverything) {
  int error = 0;
  absl::StatusOr<SocketPair> pair = MakeSocketPair();
  ASSERT_TRUE(pair.ok()) << pair.status();
  const std::string sent = Pattern(100000, 3);
  ASSERT_TRUE(testing::WriteAllNonBlocking(pair->first.fd(), sent).ok());

  Buffer buffer(1 << 20);
  buffer.Append("kept:");
  const size_t capacity = buffer.capacity();
  EXPECT_EQ(buffer.ReadFromFd(pair->second.fd(), &error), 100000);
  EXPECT_EQ(buffer.view(), "kept:" + sent);
  EXPECT_EQ(buffer.capacity(), capacity);
}

TEST(BufferTest, ReadFromFdAppendsAfterConsumedData) {
  int error = 0;
  absl::StatusOr<SocketPair> pair = MakeSocketPair();
  ASSERT_TRUE(pair.ok()) << pair.status();
  Buffer buffer(16);
  buffer.Append("0123456789");
  buffer.Consume(8);
  ASSERT_TRUE(testing::WriteAllNonBlocking(pair->first.fd(), Pattern(40)).ok());
  EXPECT_EQ(buffer.ReadFromFd(pair->second.fd(), &error), 40);
  EXPECT_EQ(buffer.view(), "89" + Pattern(40));
}

TEST(BufferTest, ReadFromFdOnAPipeAtEndOfStream) {
  int error = 0;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_EQ(write(fds[1], "last", 4), 4);
  close(fds[1]);
  Buffer buffer;
  EXPECT_EQ(buffer.ReadFromFd(fds[0], &error), 4);
  EXPECT_EQ(buffer.ReadFromFd(fds[0], &error), 0);
  EXPECT_EQ(buffer.view(), "last");
  close(fds[0]);
}

TEST(BufferTest, AppendAfterPrependGrowsWhenTheEndIsFull) {
  Buffer buffer(64);
  buffer.Append(std::string(60, 'a'));
  buffer.Prepend("HDR!");  // the read position is now inside the front room
  const size_t readable = buffer.readable_bytes();
  ASSERT_EQ(readable, 64u);
  buffer.PrepareWrite(8);  // only 4 bytes free at the end: must move or grow
  EXPECT_GE(buffer.capacity(), Buffer::kPrepend + readable + 8);
  buffer.Append("12345678");
  EXPECT_EQ(buffer.view(), "HDR!" + std::string(60, 'a') + "12345678");
}

// Bug (reactor/buffer.cc, Buffer::EnsureWritable): after Prepend has moved
// the read position into the reserved front room (read_index_ < kPrepend),
// the free-space test `read_index_ - kPrepend + (storage_.size() -
// write_index_) >= n` is computed in size_t; when read_index_ plus the free
// tail is less than kPrepend it wraps to a huge value, so the buffer
// "slides" the bytes forward to kPrepend instead of growing: the memmove
// and the write that follows go past the end of the storage. The simplest
// case is a header prepended to an empty buffer, then a body appended. It
// runs in a child process because the bug corrupts the heap (glibc aborts
// with "munmap_chunk(): invalid pointer"; AddressSanitizer reports a
// heap-buffer-overflow in Buffer::EnsureWritable).
TEST(BufferDeathTest, AppendAfterPrependOnAnEmptyBufferKeepsBoth) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Buffer buffer;
        buffer.Prepend("HEAD");
        buffer.Append(std::string(1000, 'b'));
        const bool intact = buffer.view() == "HEAD" + std::string(1000, 'b');
        std::_Exit(intact ? 0 : 3);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace switchboard

namespace switchboard {
namespace {

// A message whose size is announced costs its size, not the next doubling.
TEST(BufferTest, ReserveExactlyGrowsToTheAnnouncedSizeOnce) {
  Buffer buffer;
  buffer.Append(std::string(100, 'h'));
  buffer.ReserveExactly((1 << 20) + 4);
  EXPECT_EQ(buffer.capacity(), Buffer::kPrepend + (1 << 20) + 4);
  EXPECT_EQ(buffer.view(), std::string(100, 'h'));
  // Filling it up to the announced size does not grow it again.
  while (buffer.readable_bytes() < (1 << 20) + 4) {
    const size_t n = std::min<size_t>(65536, (1 << 20) + 4 - buffer.readable_bytes());
    buffer.Append(std::string(n, 'p'));
  }
  EXPECT_EQ(buffer.capacity(), Buffer::kPrepend + (1 << 20) + 4);
  // Already big enough, or asked for less than it holds: nothing changes.
  buffer.ReserveExactly(10);
  EXPECT_EQ(buffer.capacity(), Buffer::kPrepend + (1 << 20) + 4);
}

TEST(BufferTest, ReserveExactlySlidesInsteadOfGrowingWhenThereIsRoom) {
  Buffer buffer;
  buffer.Append(std::string(1000, 'a'));
  buffer.Consume(900);
  const size_t capacity = buffer.capacity();
  buffer.ReserveExactly(capacity - Buffer::kPrepend);
  EXPECT_EQ(buffer.capacity(), capacity);
  EXPECT_EQ(buffer.view(), std::string(100, 'a'));
}

}  // namespace
}  // namespace switchboard
