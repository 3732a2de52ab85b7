// Copyright Switchboard authors.
//
// line_codec.h: messages are lines ending in "\n"; one "\r" before it is
// dropped. Lines longer than the limit stop the stream.

#ifndef SWITCHBOARD_REACTOR_LINE_CODEC_H_
#define SWITCHBOARD_REACTOR_LINE_CODEC_H_

#include "reactor/codec.h"

namespace switchboard {

class LineCodec final : public Codec {
 public:
  explicit LineCodec(size_t max_line) : max_line_(max_line) {}

  // Codec
  DecodeStatus Decode(absl::string_view input, bool end_of_stream, Frame* frame) override;
  void Encode(absl::string_view message, Buffer* out) const override;
  Framing framing() const override { return Framing::kLine; }

 private:
  const size_t max_line_;
  // Bytes at the front of the input already known to hold no "\n", so that
  // a line arriving in many small reads is scanned once (as netty does).
  size_t scanned_ = 0;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_REACTOR_LINE_CODEC_H_
