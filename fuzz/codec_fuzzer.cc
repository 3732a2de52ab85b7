// Copyright Switchboard authors.
//
// codec_fuzzer: the raw, line and length codecs on a stream cut anyhow.
// Input: [framing][limits][piece lengths...] 0xff [stream]. The stream is
// fed in pieces of the chosen lengths, then the rest with end of stream.
// Checks: a frame consumes no more than is there and at least its message,
// messages keep the limits, the messages do not depend on how the stream
// was cut (for raw: their bytes do not), and decode(encode(x)) == x.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "fuzz/fuzz_util.h"
#include "reactor/buffer.h"
#include "reactor/codec.h"

namespace switchboard {
namespace {

constexpr char kTooLong[] = "<too long>";

size_t Limit(const CodecLimits& limits, Framing framing) {
  switch (framing) {
    case Framing::kRaw:
      return limits.raw_chunk;
    case Framing::kLine:
      return limits.max_line;
    case Framing::kLength:
      return limits.max_frame;
  }
  return 0;
}

// Decodes every whole message at the front of `input` into `out`; false
// once the codec said the stream cannot go on.
bool DecodeAll(Codec& codec, size_t limit, Buffer& input, bool end_of_stream,
               std::vector<std::string>& out) {
  for (;;) {
    const absl::string_view view = input.view();
    Frame frame;
    switch (codec.Decode(view, end_of_stream, &frame)) {
      case DecodeStatus::kNeedMore:
        return true;
      case DecodeStatus::kTooLong:
        out.push_back(kTooLong);
        return false;
      case DecodeStatus::kMessage:
        break;
    }
    FUZZ_CHECK(frame.consumed > 0);
    FUZZ_CHECK(frame.consumed <= view.size());
    FUZZ_CHECK(frame.message.size() <= frame.consumed);
    FUZZ_CHECK(frame.message.size() <= limit);
    FUZZ_CHECK(frame.message.data() >= view.data());
    FUZZ_CHECK(frame.message.data() + frame.message.size() <= view.data() + frame.consumed);
    if (codec.framing() == Framing::kRaw) FUZZ_CHECK(!frame.message.empty());
    if (codec.framing() == Framing::kLine) {
      FUZZ_CHECK(frame.message.find('\n') == absl::string_view::npos);
    }
    out.emplace_back(frame.message);
    input.Consume(frame.consumed);
  }
}

std::vector<std::string> DecodePieces(Framing framing, const CodecLimits& limits,
                                      const std::vector<absl::string_view>& pieces) {
  const std::unique_ptr<Codec> codec = MakeCodec(framing, limits);
  FUZZ_CHECK(codec->framing() == framing);
  Buffer input;
  std::vector<std::string> messages;
  for (size_t i = 0; i < pieces.size(); ++i) {
    input.Append(pieces[i]);
    if (!DecodeAll(*codec, Limit(limits, framing), input, i + 1 == pieces.size(), messages)) break;
  }
  return messages;
}

void CheckRoundTrip(Framing framing, const CodecLimits& limits,
                    const std::vector<std::string>& messages) {
  const std::unique_ptr<Codec> codec = MakeCodec(framing, limits);
  std::vector<std::string> sent;
  Buffer encoded;
  for (const std::string& message : messages) {
    if (message == kTooLong) break;
    // A line that ends in '\r' loses it when read back: line framing
    // cannot carry it, by design.
    if (framing == Framing::kLine && !message.empty() && message.back() == '\r') continue;
    codec->Encode(message, &encoded);
    sent.push_back(message);
  }
  const std::string stream(encoded.view());
  std::vector<std::string> decoded = DecodePieces(framing, limits, {stream});
  if (framing == Framing::kRaw) {
    FUZZ_CHECK(absl::StrJoin(decoded, "") == absl::StrJoin(sent, ""));
  } else {
    FUZZ_CHECK(decoded == sent);
  }
}

}  // namespace
}  // namespace switchboard

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace switchboard;
  fuzz::Input in(data, size);
  const Framing framing = static_cast<Framing>(in.Byte() % 3);
  CodecLimits limits;
  const uint8_t limit = in.Byte();
  if (limit < 0x80) {  // small limits, so that breaking them is easy
    limits.raw_chunk = 1 + limit % 64;
    limits.max_line = limit % 64;
    limits.max_frame = limit % 64;
  }
  std::vector<size_t> lengths;
  while (!in.empty() && lengths.size() < 64) {
    const uint8_t b = in.Byte();
    if (b == 0xff) break;
    lengths.push_back(b);
  }
  const absl::string_view stream = in.Rest();
  std::vector<absl::string_view> pieces;
  absl::string_view rest = stream;
  for (size_t length : lengths) {
    pieces.push_back(rest.substr(0, length));
    rest.remove_prefix(pieces.back().size());
  }
  pieces.push_back(rest);

  const std::vector<std::string> cut = DecodePieces(framing, limits, pieces);
  const std::vector<std::string> whole = DecodePieces(framing, limits, {stream});
  if (framing == Framing::kRaw) {
    FUZZ_CHECK(absl::StrJoin(cut, "") == stream);
    FUZZ_CHECK(absl::StrJoin(whole, "") == stream);
  } else {
    FUZZ_CHECK(cut == whole);
  }
  CheckRoundTrip(framing, limits, whole);

  // The names of the framings, as --*_framing flags give them.
  for (Framing f : {Framing::kRaw, Framing::kLine, Framing::kLength}) {
    const absl::StatusOr<Framing> parsed = ParseFraming(FramingName(f));
    FUZZ_CHECK(parsed.ok() && *parsed == f);
  }
  const absl::StatusOr<Framing> parsed = ParseFraming(stream);
  if (parsed.ok()) FUZZ_CHECK(FramingName(*parsed) == stream);
  return 0;
}
