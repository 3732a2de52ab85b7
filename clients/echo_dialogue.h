// Copyright Switchboard authors.
//
// echo_dialogue.h: EchoDialogue, what an echo connection of LoadGenerator
// says: EchoPattern's messages, every byte of each reply checked (part of
// //clients:load_generator, not for other users).

#ifndef SWITCHBOARD_CLIENTS_ECHO_DIALOGUE_H_
#define SWITCHBOARD_CLIENTS_ECHO_DIALOGUE_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "clients/echo_pattern.h"
#include "clients/stream_dialogue.h"
#include "reactor/buffer.h"

namespace switchboard {

// Echo: every message comes back exactly as it went. There is no opening.
class EchoDialogue final : public StreamDialogue {
 public:
  // Connection `id`'s messages; `pattern` must outlive this.
  EchoDialogue(uint32_t id, const EchoPattern& pattern) : id_(id), pattern_(pattern) {}

  // StreamDialogue
  void WriteRequest(uint64_t seq, Buffer* out) override;
  bool MayHoldReply(const Buffer& in) const override {
    return in.readable_bytes() >= pattern_.wire_size();
  }
  ReplyCheck TakeReply(uint64_t seq, Buffer* in, std::string* wrong) override;
  std::string DescribeLeftover(const Buffer& in) const override;
  size_t payload_bytes() const override { return pattern_.size(); }

 private:
  const uint32_t id_;
  const EchoPattern& pattern_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_CLIENTS_ECHO_DIALOGUE_H_
