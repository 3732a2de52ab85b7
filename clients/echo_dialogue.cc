// Copyright Switchboard authors.

#include "clients/echo_dialogue.h"

#include "absl/strings/str_cat.h"

namespace switchboard {

void EchoDialogue::WriteRequest(uint64_t seq, Buffer* out) {
  const size_t wire = pattern_.wire_size();
  pattern_.Write(id_, seq, out->PrepareWrite(wire));
  out->CommitWrite(wire);
}

ReplyCheck EchoDialogue::TakeReply(uint64_t seq, Buffer* in, std::string* wrong) {
  const size_t wire = pattern_.wire_size();
  if (in->readable_bytes() < wire) return ReplyCheck::kIncomplete;
  ReplyCheck check = ReplyCheck::kRight;
  if (!pattern_.Matches(id_, seq, in->peek())) {
    check = ReplyCheck::kWrong;
    if (wrong != nullptr) *wrong = pattern_.DescribeMismatch(id_, seq, in->peek());
  }
  in->Consume(wire);
  return check;
}

std::string EchoDialogue::DescribeLeftover(const Buffer& in) const {
  return absl::StrCat("the stream ended inside a reply (", in.readable_bytes(), " of ",
                      pattern_.wire_size(), " bytes)");
}

}  // namespace switchboard
