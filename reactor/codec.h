// Copyright Switchboard authors.
//
// codec.h: incremental framing of a byte stream into messages.
//
// A `Codec` finds message boundaries in what a connection has received so
// far and frames outgoing messages. Decoding is incremental: a codec may
// remember how far it has already scanned, so the caller must pass the same
// unconsumed bytes (plus whatever arrived since) on the next call. Codecs
// never allocate while decoding; a message is a view into the input.
// Implementations: RawCodec, LineCodec, LengthCodec. Not thread-safe: one per
// connection.

#ifndef SWITCHBOARD_REACTOR_CODEC_H_
#define SWITCHBOARD_REACTOR_CODEC_H_

#include <cstddef>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "reactor/buffer.h"

namespace switchboard {

enum class Framing { kRaw, kLine, kLength };

// Parses "raw", "line", "length".
absl::StatusOr<Framing> ParseFraming(absl::string_view name);
absl::string_view FramingName(Framing framing);

enum class DecodeStatus {
  kNeedMore,  // no whole message yet
  kMessage,   // *message and *consumed are set
  kTooLong,   // the peer broke the size limit; the stream cannot go on
};

struct Frame {
  absl::string_view message;  // the payload, a view into the input
  size_t consumed = 0;        // bytes of input the frame used, header included
};

class Codec {
 public:
  virtual ~Codec() = default;

  // Looks for the next message at the front of `input`. `end_of_stream` says
  // the peer will send no more, so a partial last message may be complete.
  virtual DecodeStatus Decode(absl::string_view input, bool end_of_stream, Frame* frame) = 0;

  // Appends `message`, framed, to `out`.
  virtual void Encode(absl::string_view message, Buffer* out) const = 0;

  // The whole size, framing included, of the message at the front of
  // `input` when the framing announces it before it is complete (length
  // framing, once the header is in and within the limit); 0 otherwise.
  virtual size_t AnnouncedBytes(absl::string_view /*input*/) const { return 0; }

  virtual Framing framing() const = 0;
};

struct CodecLimits {
  size_t raw_chunk = 1024;         // raw: largest portion handed on
  size_t max_line = 4096;          // line: longest line, terminator excluded
  size_t max_frame = 1024 * 1024;  // length: largest payload
};

std::unique_ptr<Codec> MakeCodec(Framing framing, const CodecLimits& limits = {});

}  // namespace switchboard

#endif  // SWITCHBOARD_REACTOR_CODEC_H_
