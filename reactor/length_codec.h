// Copyright Switchboard authors.
//
// length_codec.h: a 4-byte big-endian unsigned length, then that many bytes.
// A length over the limit stops the stream with no reply.

#ifndef SWITCHBOARD_REACTOR_LENGTH_CODEC_H_
#define SWITCHBOARD_REACTOR_LENGTH_CODEC_H_

#include <cstdint>

#include "reactor/codec.h"

namespace switchboard {

inline constexpr size_t kLengthHeaderBytes = 4;

// Reads the big-endian header at the front of `header` (4 bytes or more).
uint32_t ReadLengthHeader(absl::string_view header);

class LengthCodec final : public Codec {
 public:
  explicit LengthCodec(size_t max_frame) : max_frame_(max_frame) {}

  // Codec
  DecodeStatus Decode(absl::string_view input, bool end_of_stream, Frame* frame) override;
  void Encode(absl::string_view message, Buffer* out) const override;
  size_t AnnouncedBytes(absl::string_view input) const override;
  Framing framing() const override { return Framing::kLength; }

 private:
  const size_t max_frame_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_REACTOR_LENGTH_CODEC_H_
