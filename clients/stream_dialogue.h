// Copyright Switchboard authors.
//
// stream_dialogue.h: what one TCP scenario of LoadGenerator says on a
// connection (part of //clients:load_generator, not for other users):
//   ReplyCheck      what taking one reply off the input found.
//   StreamDialogue  the opening and the numbered requests of one connection,
//                   and the check of their replies. EchoDialogue
//                   (echo_dialogue.h) and AuthDialogue (auth_dialogue.h) say
//                   it; StreamConnection (stream_connection.h) carries it.

#ifndef SWITCHBOARD_CLIENTS_STREAM_DIALOGUE_H_
#define SWITCHBOARD_CLIENTS_STREAM_DIALOGUE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "reactor/buffer.h"

namespace switchboard {

enum class ReplyCheck {
  kIncomplete,  // not all of the reply is there yet; nothing was taken
  kRight,       // taken, and as expected
  kWrong,       // taken, and wrong; the connection goes on
  kBroken,      // the stream cannot go on (a wrong opening, a reply too long)
};

// What one scenario says on a TCP connection: an opening, whose replies are
// checked but neither timed nor counted, then numbered requests, each
// answered by one reply, in order. One per connection; loop thread only.
class StreamDialogue {
 public:
  virtual ~StreamDialogue() = default;

  // Appends what goes before the first request to `out`; returns how many
  // replies it is owed (0: there is no opening).
  virtual int WriteOpening(Buffer* /*out*/) { return 0; }
  // Takes opening reply `index` off the front of `in`: kIncomplete, kRight,
  // or kBroken with `*wrong` saying why.
  virtual ReplyCheck TakeOpeningReply(int /*index*/, Buffer* /*in*/, std::string* /*wrong*/) {
    return ReplyCheck::kIncomplete;
  }
  // Appends request `seq` to `out`.
  virtual void WriteRequest(uint64_t seq, Buffer* out) = 0;
  // True when `in` may hold a whole reply: a cheap test before the
  // thread's figures are locked.
  virtual bool MayHoldReply(const Buffer& in) const = 0;
  // Takes the reply to request `seq` off the front of `in`. For kWrong and
  // kBroken, says what was wrong in `*wrong` when `wrong` is not null.
  virtual ReplyCheck TakeReply(uint64_t seq, Buffer* in, std::string* wrong) = 0;
  // What `in` holds at the end of the stream (not empty): a partial reply.
  virtual std::string DescribeLeftover(const Buffer& in) const = 0;
  // Payload bytes of one request, for MB/s (0 where they mean nothing).
  virtual size_t payload_bytes() const = 0;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_CLIENTS_STREAM_DIALOGUE_H_
