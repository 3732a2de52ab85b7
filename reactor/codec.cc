// Copyright Switchboard authors.

#include "reactor/codec.h"

#include "absl/strings/str_cat.h"
#include "reactor/length_codec.h"
#include "reactor/line_codec.h"
#include "reactor/raw_codec.h"

namespace switchboard {

absl::StatusOr<Framing> ParseFraming(absl::string_view name) {
  if (name == "raw") return Framing::kRaw;
  if (name == "line") return Framing::kLine;
  if (name == "length") return Framing::kLength;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown framing '", name, "' (raw, line or length)"));
}

absl::string_view FramingName(Framing framing) {
  switch (framing) {
    case Framing::kRaw:
      return "raw";
    case Framing::kLine:
      return "line";
    case Framing::kLength:
      return "length";
  }
  return "unknown";
}

std::unique_ptr<Codec> MakeCodec(Framing framing, const CodecLimits& limits) {
  switch (framing) {
    case Framing::kRaw:
      return std::make_unique<RawCodec>(limits.raw_chunk);
    case Framing::kLine:
      return std::make_unique<LineCodec>(limits.max_line);
    case Framing::kLength:
      return std::make_unique<LengthCodec>(limits.max_frame);
  }
  return nullptr;
}

}  // namespace switchboard
