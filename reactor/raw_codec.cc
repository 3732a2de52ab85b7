// Copyright Switchboard authors.

#include "reactor/raw_codec.h"

#include <algorithm>

namespace switchboard {

DecodeStatus RawCodec::Decode(absl::string_view input, bool /*end_of_stream*/, Frame* frame) {
  if (input.empty()) return DecodeStatus::kNeedMore;
  const size_t n = std::min(input.size(), chunk_);
  frame->message = input.substr(0, n);
  frame->consumed = n;
  return DecodeStatus::kMessage;
}

void RawCodec::Encode(absl::string_view message, Buffer* out) const { out->Append(message); }

}  // namespace switchboard
