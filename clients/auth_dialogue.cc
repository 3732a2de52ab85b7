// Copyright Switchboard authors.

#include "clients/auth_dialogue.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "clients/load_thread.h"

namespace switchboard {

AuthDialogue::AuthDialogue(uint32_t id, const LoadConfig& config, const std::string& run_id)
    : id_(id),
      target_(config.TargetFor(id).ToString()),
      codec_(MakeCodec(config.framing)),
      user_(absl::StrCat("load", id, "-", run_id)),
      password_(config.password),
      login_(absl::StrCat("LOGIN ", user_, " ", password_)),
      registered_(absl::StrCat("201 registered ", user_, "; session ")),
      welcome_(absl::StrCat("200 welcome ", user_, "; session ")) {}

int AuthDialogue::WriteOpening(Buffer* out) {
  // Sent at once: the server reads it after its greeting.
  codec_->Encode(absl::StrCat("REGISTER ", user_, " ", password_), out);
  return 2;
}

ReplyCheck AuthDialogue::TakeOpeningReply(int index, Buffer* in, std::string* wrong) {
  absl::string_view reply;
  size_t consumed = 0;
  const ReplyCheck framed = Decode(*in, &reply, &consumed, wrong);
  if (framed != ReplyCheck::kRight) return framed;
  const bool right =
      index == 0 ? absl::StartsWith(reply, "220 ") : absl::StartsWith(reply, registered_);
  if (!right) {
    *wrong = index == 0 ? absl::StrCat("connection ", id_,
                                       ": expected the auth service's greeting "
                                       "(220 ...) from ",
                                       target_, ", got ", QuoteReply(reply),
                                       " (is the target the auth service?)")
                        : absl::StrCat("connection ", id_, ": REGISTER ", user_, " got ",
                                       QuoteReply(reply));
    return ReplyCheck::kBroken;
  }
  in->Consume(consumed);
  return ReplyCheck::kRight;
}

ReplyCheck AuthDialogue::TakeReply(uint64_t seq, Buffer* in, std::string* wrong) {
  absl::string_view reply;
  size_t consumed = 0;
  std::string broken;
  const ReplyCheck framed = Decode(*in, &reply, &consumed, &broken);
  if (framed == ReplyCheck::kBroken && wrong != nullptr) *wrong = std::move(broken);
  if (framed != ReplyCheck::kRight) return framed;
  ReplyCheck check = ReplyCheck::kRight;
  if (!absl::StartsWith(reply, welcome_)) {
    check = ReplyCheck::kWrong;
    if (wrong != nullptr) {
      *wrong = absl::StrCat("connection ", id_, ": LOGIN ", seq, " as ", user_, " got ",
                            QuoteReply(reply));
    }
  }
  in->Consume(consumed);
  return check;
}

std::string AuthDialogue::DescribeLeftover(const Buffer& in) const {
  return absl::StrCat("the stream ended inside a reply (", in.readable_bytes(),
                      " byte(s): ", QuoteReply(in.view()), ")");
}

ReplyCheck AuthDialogue::Decode(const Buffer& in, absl::string_view* reply, size_t* consumed,
                                std::string* broken) {
  Frame frame;
  switch (codec_->Decode(in.view(), /*end_of_stream=*/false, &frame)) {
    case DecodeStatus::kNeedMore:
      return ReplyCheck::kIncomplete;
    case DecodeStatus::kTooLong:
      *broken = absl::StrCat("connection ", id_, ": a reply longer than ",
                             FramingName(codec_->framing()), " framing allows from ", target_,
                             " (is the target the auth service, with this framing?)");
      return ReplyCheck::kBroken;
    case DecodeStatus::kMessage:
      break;
  }
  *reply = frame.message;
  *consumed = frame.consumed;
  return ReplyCheck::kRight;
}

}  // namespace switchboard
