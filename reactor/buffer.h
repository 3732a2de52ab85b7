// Copyright Switchboard authors.
//
// buffer.h: the byte buffer connections read into and write from.
//
// Layout, as in muduo:  | prependable | readable | writable |
//                        0        read_index  write_index  size
// Consuming from the front only moves read_index; the space in front is
// reused when the buffer would otherwise grow, so steady traffic allocates
// nothing. Not thread-safe: a buffer belongs to one connection's loop.

#ifndef SWITCHBOARD_REACTOR_BUFFER_H_
#define SWITCHBOARD_REACTOR_BUFFER_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace switchboard {

class Buffer {
 public:
  // Room kept in front for a header, so a frame can be prefixed in place.
  static constexpr size_t kPrepend = 8;
  // The most one ReadFromFd brings beyond the free space: the size of its
  // stack area, and of the buffer a loop thread lends its connections.
  static constexpr size_t kReadAreaBytes = 64 << 10;

  explicit Buffer(size_t initial_capacity = 0);

  size_t readable_bytes() const { return write_index_ - read_index_; }
  bool empty() const { return readable_bytes() == 0; }
  size_t capacity() const { return storage_.size(); }

  // The readable bytes.
  absl::string_view view() const {
    return absl::string_view(storage_.data() + read_index_, readable_bytes());
  }
  const char* peek() const { return storage_.data() + read_index_; }

  // Drops `n` readable bytes from the front (n <= readable_bytes()).
  void Consume(size_t n);
  void Clear() { read_index_ = write_index_ = kPrepend; }
  // Returns and drops everything readable.
  std::string TakeAll();

  void Append(absl::string_view data);
  // Puts `data` in front of the readable bytes (a header, say).
  void Prepend(absl::string_view data);
  void AppendUint32BigEndian(uint32_t value);

  // Makes room for `n` more bytes and returns where to write them; call
  // CommitWrite with what was written.
  char* PrepareWrite(size_t n);
  void CommitWrite(size_t n) { write_index_ += n; }

  // Makes room for `total_readable` readable bytes in all, allocating exactly
  // that much if it must grow (not the doubling appends use): for a message
  // whose size is announced, so that it costs its size while it arrives.
  void ReserveExactly(size_t total_readable);

  // Returns the memory of an empty buffer whose capacity exceeds
  // `keep_bytes`, so that a connection that once had a burst does not keep
  // holding its peak.
  void ShrinkIfEmpty(size_t keep_bytes) {
    if (storage_.size() > kPrepend + keep_bytes && empty()) Shrink(keep_bytes);
  }

  // Reads what `fd` has in one system call: into the free space, plus a
  // kReadAreaBytes stack area when the free space is smaller, so an idle
  // connection holds a small buffer while one call can still bring a large
  // burst. Returns the bytes read, 0 at end of stream, or -1 with the
  // call's errno in `*saved_errno` (left alone otherwise).
  ssize_t ReadFromFd(int fd, int* saved_errno);

 private:
  void EnsureWritable(size_t n);
  void Shrink(size_t keep_bytes);
  // ReadFromFd when the free space is under kReadAreaBytes.
  ssize_t ReadWithStackArea(int fd);

  std::vector<char> storage_;
  size_t read_index_ = kPrepend;
  size_t write_index_ = kPrepend;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_REACTOR_BUFFER_H_
