// Copyright Switchboard authors.
//
// stream_load.h: the TCP scenarios of LoadGenerator (part of
// //clients:load_generator, not for other users):
//   EchoPattern        the bytes of every echo message of a run, and their check.
//   NewEchoConnection  a connection that sends echo messages and checks
//                      every byte that comes back.
//   NewAuthConnection  a connection that registers a user of its own once,
//                      then logs in as it over and over.
// Both are one StreamConnection (in stream_load.cc): connect, send,
// schedule, time, drain; what they say is a StreamDialogue.

#ifndef SWITCHBOARD_CLIENTS_STREAM_LOAD_H_
#define SWITCHBOARD_CLIENTS_STREAM_LOAD_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "clients/load_thread.h"
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

// Connection `id` of `thread`, loading the echo service with `pattern`.
std::unique_ptr<LoadClient> NewEchoConnection(LoadThread* thread, uint32_t id,
                                              const EchoPattern& pattern);

// Connection `id` of `thread`, loading the auth service as user
// `load<id>-<run id>`.
std::unique_ptr<LoadClient> NewAuthConnection(LoadThread* thread, uint32_t id);

}  // namespace switchboard

#endif  // SWITCHBOARD_CLIENTS_STREAM_LOAD_H_
