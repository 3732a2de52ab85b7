// Copyright Switchboard authors.

#include "reactor/length_codec.h"

#include <cstring>

namespace switchboard {

uint32_t ReadLengthHeader(absl::string_view header) {
  const auto* b = reinterpret_cast<const unsigned char*>(header.data());
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | uint32_t{b[3]};
}

DecodeStatus LengthCodec::Decode(absl::string_view input, bool /*end_of_stream*/, Frame* frame) {
  if (input.size() < kLengthHeaderBytes) return DecodeStatus::kNeedMore;
  const uint32_t length = ReadLengthHeader(input);
  if (length > max_frame_) return DecodeStatus::kTooLong;
  if (input.size() - kLengthHeaderBytes < length) return DecodeStatus::kNeedMore;
  frame->message = input.substr(kLengthHeaderBytes, length);
  frame->consumed = kLengthHeaderBytes + length;
  return DecodeStatus::kMessage;
}

size_t LengthCodec::AnnouncedBytes(absl::string_view input) const {
  if (input.size() < kLengthHeaderBytes) return 0;
  const uint32_t length = ReadLengthHeader(input);
  return length > max_frame_ ? 0 : kLengthHeaderBytes + length;
}

void LengthCodec::Encode(absl::string_view message, Buffer* out) const {
  out->AppendUint32BigEndian(static_cast<uint32_t>(message.size()));
  out->Append(message);
}

}  // namespace switchboard
