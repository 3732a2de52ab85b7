// Copyright Switchboard authors.
//
// raw_codec.h: bytes as they arrive, in portions of at most `chunk` bytes.

#ifndef SWITCHBOARD_REACTOR_RAW_CODEC_H_
#define SWITCHBOARD_REACTOR_RAW_CODEC_H_

#include "reactor/codec.h"

namespace switchboard {

class RawCodec final : public Codec {
 public:
  explicit RawCodec(size_t chunk) : chunk_(chunk == 0 ? 1 : chunk) {}

  // Codec
  DecodeStatus Decode(absl::string_view input, bool end_of_stream, Frame* frame) override;
  void Encode(absl::string_view message, Buffer* out) const override;
  Framing framing() const override { return Framing::kRaw; }

 private:
  const size_t chunk_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_REACTOR_RAW_CODEC_H_
