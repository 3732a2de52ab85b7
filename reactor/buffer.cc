// Copyright Switchboard authors.

#include "reactor/buffer.h"

#include <errno.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cassert>
#include <cstring>

#include "absl/base/attributes.h"

namespace switchboard {

Buffer::Buffer(size_t initial_capacity) : storage_(kPrepend + initial_capacity) {}

void Buffer::Consume(size_t n) {
  assert(n <= readable_bytes());
  read_index_ += n;
  if (read_index_ == write_index_) Clear();
}

std::string Buffer::TakeAll() {
  std::string out(peek(), readable_bytes());
  Clear();
  return out;
}

void Buffer::Append(absl::string_view data) {
  if (data.empty()) return;
  std::memcpy(PrepareWrite(data.size()), data.data(), data.size());
  CommitWrite(data.size());
}

void Buffer::Prepend(absl::string_view data) {
  if (data.size() > read_index_) {
    // Not enough room in front: rebuild with the header first.
    std::string joined;
    joined.reserve(data.size() + readable_bytes());
    joined.append(data.data(), data.size());
    joined.append(peek(), readable_bytes());
    Clear();
    Append(joined);
    return;
  }
  read_index_ -= data.size();
  std::memcpy(storage_.data() + read_index_, data.data(), data.size());
}

void Buffer::AppendUint32BigEndian(uint32_t value) {
  const char bytes[4] = {static_cast<char>(value >> 24), static_cast<char>(value >> 16),
                         static_cast<char>(value >> 8), static_cast<char>(value)};
  Append(absl::string_view(bytes, 4));
}

char* Buffer::PrepareWrite(size_t n) {
  EnsureWritable(n);
  return storage_.data() + write_index_;
}

void Buffer::EnsureWritable(size_t n) {
  if (storage_.size() - write_index_ >= n) return;
  const size_t readable = readable_bytes();
  // (read_index_ may be below kPrepend after a Prepend, so the test is on
  // the whole size rather than on the free space in front.)
  if (kPrepend + readable + n <= storage_.size()) {
    // Enough room overall: slide the readable bytes to just after kPrepend.
    std::memmove(storage_.data() + kPrepend, storage_.data() + read_index_, readable);
  } else {
    // Grow at least geometrically so appends stay amortized O(1).
    std::vector<char> grown(std::max(kPrepend + readable + n, storage_.size() * 2));
    std::memcpy(grown.data() + kPrepend, storage_.data() + read_index_, readable);
    storage_.swap(grown);
  }
  read_index_ = kPrepend;
  write_index_ = kPrepend + readable;
}

void Buffer::ReserveExactly(size_t total_readable) {
  const size_t readable = readable_bytes();
  if (total_readable <= readable || storage_.size() - read_index_ >= total_readable) return;
  if (kPrepend + total_readable <= storage_.size()) {
    std::memmove(storage_.data() + kPrepend, storage_.data() + read_index_, readable);
  } else {
    std::vector<char> grown(kPrepend + total_readable);
    std::memcpy(grown.data() + kPrepend, storage_.data() + read_index_, readable);
    storage_.swap(grown);
  }
  read_index_ = kPrepend;
  write_index_ = kPrepend + readable;
}

void Buffer::Shrink(size_t keep_bytes) {
  std::vector<char>(kPrepend + keep_bytes).swap(storage_);
  Clear();
}

namespace {

// recvmsg goes straight to the socket layer; readv takes the file layer's
// path first (position lock and all), measurably dearer per message. Not a
// socket (a pipe in tests): readv.
ssize_t ReadVectors(int fd, iovec* vectors, int count) {
  msghdr message{};
  message.msg_iov = vectors;
  message.msg_iovlen = static_cast<size_t>(count);
  const ssize_t n = recvmsg(fd, &message, 0);
  if (n < 0 && errno == ENOTSOCK) return readv(fd, vectors, count);
  return n;
}

}  // namespace

ssize_t Buffer::ReadFromFd(int fd, int* saved_errno) {
  const size_t writable = storage_.size() - write_index_;
  ssize_t n;
  if (writable < kReadAreaBytes) {
    n = ReadWithStackArea(fd);
  } else {
    iovec vector{storage_.data() + write_index_, writable};
    n = ReadVectors(fd, &vector, 1);
    if (n > 0) write_index_ += n;
  }
  // Taken at once: logging or freeing memory on the way back may change it.
  if (n < 0) *saved_errno = errno;
  return n;
}

// Out of line, so that the 64 KiB frame (probed page by page for stack-clash
// protection) is set up only when it is used.
ABSL_ATTRIBUTE_NOINLINE ssize_t Buffer::ReadWithStackArea(int fd) {
  char extra[kReadAreaBytes];
  const size_t writable = storage_.size() - write_index_;
  iovec vectors[2] = {{storage_.data() + write_index_, writable}, {extra, sizeof(extra)}};
  const ssize_t n = ReadVectors(fd, vectors, 2);
  if (n <= 0) return n;
  if (static_cast<size_t>(n) <= writable) {
    write_index_ += n;
  } else {
    write_index_ = storage_.size();
    Append(absl::string_view(extra, n - writable));
  }
  return n;
}

}  // namespace switchboard
