// Copyright Switchboard authors.
//
// echo_pattern.h: EchoPattern, the bytes of every echo message of a
// LoadGenerator run, and their check (part of //clients:load_generator, not
// for other users).

#ifndef SWITCHBOARD_CLIENTS_ECHO_PATTERN_H_
#define SWITCHBOARD_CLIENTS_ECHO_PATTERN_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "reactor/codec.h"

namespace switchboard {

// The bytes of every echo message of a run: `size` bytes of printable text
// (see load_generator.h), framed. Immutable, shared by the threads.
class EchoPattern {
 public:
  EchoPattern(size_t size, Framing framing);

  size_t size() const { return size_; }
  // The bytes one message takes on the wire, framing included.
  size_t wire_size() const { return wire_size_; }

  // Writes message `seq` of connection `connection`, framed: wire_size()
  // bytes at `out`.
  void Write(uint32_t connection, uint64_t seq, char* out) const;
  // True when `wire` (wire_size() bytes) is exactly message `seq`.
  bool Matches(uint32_t connection, uint64_t seq, const char* wire) const;
  // Where and how `wire` differs from message `seq` (after Matches said it
  // does), for the error report.
  std::string DescribeMismatch(uint32_t connection, uint64_t seq, const char* wire) const;

 private:
  static void Counter(uint32_t connection, uint64_t seq, char* out);
  static size_t Offset(uint32_t connection, uint64_t seq);

  const size_t size_;
  const Framing framing_;
  const size_t header_;
  const size_t wire_size_;
  std::string filler_;  // the pattern, long enough for any shift
  char length_header_[4];
};

}  // namespace switchboard

#endif  // SWITCHBOARD_CLIENTS_ECHO_PATTERN_H_
