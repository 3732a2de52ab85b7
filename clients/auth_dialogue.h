// Copyright Switchboard authors.
//
// auth_dialogue.h: AuthDialogue, what an auth connection of LoadGenerator
// says: the greeting and REGISTER once, then LOGIN over and over (part of
// //clients:load_generator, not for other users).

#ifndef SWITCHBOARD_CLIENTS_AUTH_DIALOGUE_H_
#define SWITCHBOARD_CLIENTS_AUTH_DIALOGUE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "clients/load_generator.h"
#include "clients/stream_dialogue.h"
#include "reactor/buffer.h"
#include "reactor/codec.h"

namespace switchboard {

// Auth: the greeting and REGISTER once, then LOGIN over and over, each
// answered by `200 welcome <user>; session <token>`.
class AuthDialogue final : public StreamDialogue {
 public:
  // Connection `id` of the load `config`, as user `load<id>-<run_id>`.
  AuthDialogue(uint32_t id, const LoadConfig& config, const std::string& run_id);

  // StreamDialogue
  int WriteOpening(Buffer* out) override;
  ReplyCheck TakeOpeningReply(int index, Buffer* in, std::string* wrong) override;
  void WriteRequest(uint64_t /*seq*/, Buffer* out) override { codec_->Encode(login_, out); }
  bool MayHoldReply(const Buffer& in) const override { return !in.empty(); }
  ReplyCheck TakeReply(uint64_t seq, Buffer* in, std::string* wrong) override;
  std::string DescribeLeftover(const Buffer& in) const override;
  size_t payload_bytes() const override { return 0; }

 private:
  // The reply at the front of `in`: kRight with `*reply` and `*consumed`
  // set, kIncomplete, or kBroken (with `*broken` saying why) when it
  // breaks the framing's limit.
  ReplyCheck Decode(const Buffer& in, absl::string_view* reply, size_t* consumed,
                    std::string* broken);

  const uint32_t id_;
  const std::string target_;
  const std::unique_ptr<Codec> codec_;
  const std::string user_;
  const std::string password_;
  const std::string login_;       // the request, the same every time
  const std::string registered_;  // what the right replies start with
  const std::string welcome_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_CLIENTS_AUTH_DIALOGUE_H_
