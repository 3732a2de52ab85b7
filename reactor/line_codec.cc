// Copyright Switchboard authors.

#include "reactor/line_codec.h"

#include <cstring>

namespace switchboard {
namespace {

// Drops the "\r" that a telnet-style "\r\n" leaves at the end of a line.
absl::string_view StripCarriageReturn(absl::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

}  // namespace

DecodeStatus LineCodec::Decode(absl::string_view input, bool end_of_stream, Frame* frame) {
  if (scanned_ > input.size()) scanned_ = 0;  // the caller started afresh
  const void* found = std::memchr(input.data() + scanned_, '\n', input.size() - scanned_);
  if (found != nullptr) {
    const size_t end = static_cast<const char*>(found) - input.data();
    scanned_ = 0;
    const absl::string_view line = StripCarriageReturn(input.substr(0, end));
    if (line.size() > max_line_) return DecodeStatus::kTooLong;
    frame->message = line;
    frame->consumed = end + 1;
    return DecodeStatus::kMessage;
  }
  scanned_ = input.size();
  // No newline yet: a full line plus its "\r" is the most that may wait.
  const absl::string_view pending = StripCarriageReturn(input);
  if (pending.size() > max_line_) {
    scanned_ = 0;
    return DecodeStatus::kTooLong;
  }
  if (end_of_stream && !input.empty()) {
    // A last line without "\n" still counts.
    scanned_ = 0;
    frame->message = pending;
    frame->consumed = input.size();
    return DecodeStatus::kMessage;
  }
  return DecodeStatus::kNeedMore;
}

void LineCodec::Encode(absl::string_view message, Buffer* out) const {
  char* dst = out->PrepareWrite(message.size() + 1);
  std::memcpy(dst, message.data(), message.size());
  dst[message.size()] = '\n';
  out->CommitWrite(message.size() + 1);
}

}  // namespace switchboard
