// Copyright Switchboard authors.
//
// Codecs (raw, line, length): decoding a stream however it is split across
// reads, the size limits at and just past their edges, end of stream, and
// Encode followed by Decode.

#include "reactor/codec.h"

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "reactor/buffer.h"
#include "reactor/length_codec.h"
#include "reactor/line_codec.h"
#include "reactor/raw_codec.h"

namespace switchboard {
namespace {

constexpr size_t kMiB = 1024 * 1024;

// What a connection made of a stream.
struct Decoded {
  std::vector<std::string> messages;
  bool too_long = false;
  std::string left_over;  // bytes never consumed
};

// Decodes as a connection does: a buffer of unconsumed input, grown by each
// piece as it arrives, decoded until the codec needs more; at the end, once
// more with end_of_stream. `cuts` are the offsets where reads end.
Decoded DecodeInPieces(Codec& codec, absl::string_view stream, const std::vector<size_t>& cuts,
                       bool end_of_stream) {
  Decoded out;
  std::string pending;
  size_t start = 0;
  auto drain = [&](bool eos) {
    for (;;) {
      Frame frame;
      const DecodeStatus status = codec.Decode(pending, eos, &frame);
      if (status == DecodeStatus::kNeedMore) return;
      if (status == DecodeStatus::kTooLong) {
        out.too_long = true;
        return;
      }
      // A message is a view into the input, and the frame covers it.
      EXPECT_GT(frame.consumed, 0u);
      EXPECT_LE(frame.consumed, pending.size());
      EXPECT_GE(frame.message.data(), pending.data());
      EXPECT_LE(frame.message.data() + frame.message.size(), pending.data() + frame.consumed);
      if (frame.consumed == 0 || frame.consumed > pending.size()) {
        out.too_long = true;  // stop: the codec is broken
        return;
      }
      out.messages.emplace_back(frame.message);
      pending.erase(0, frame.consumed);
    }
  };
  std::vector<size_t> ends = cuts;
  ends.push_back(stream.size());
  for (size_t end : ends) {
    end = std::min(end, stream.size());
    if (end < start) continue;
    pending.append(stream.data() + start, end - start);
    start = end;
    drain(false);
    if (out.too_long) break;
  }
  if (end_of_stream && !out.too_long) drain(true);
  out.left_over = pending;
  return out;
}

Decoded DecodeWhole(Codec& codec, absl::string_view stream, bool end_of_stream) {
  return DecodeInPieces(codec, stream, {}, end_of_stream);
}

// Every way of cutting `stream` into two reads, then into one-byte reads,
// then some random three-way cuts, each with a fresh codec from `make`,
// must give `expected`.
template <typename MakeCodecFn>
void ExpectSameForEverySplit(MakeCodecFn make, absl::string_view stream, bool end_of_stream,
                             const std::vector<std::string>& expected) {
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    std::unique_ptr<Codec> codec = make();
    const Decoded got = DecodeInPieces(*codec, stream, {cut}, end_of_stream);
    ASSERT_FALSE(got.too_long) << "split at " << cut;
    ASSERT_EQ(got.messages, expected) << "split at " << cut;
  }
  {
    std::vector<size_t> every_byte;
    for (size_t i = 1; i < stream.size(); ++i) every_byte.push_back(i);
    std::unique_ptr<Codec> codec = make();
    const Decoded got = DecodeInPieces(*codec, stream, every_byte, end_of_stream);
    ASSERT_FALSE(got.too_long) << "one byte at a time";
    ASSERT_EQ(got.messages, expected) << "one byte at a time";
  }
  std::mt19937 random(7);
  for (int round = 0; round < 200; ++round) {
    size_t a = random() % (stream.size() + 1);
    size_t b = random() % (stream.size() + 1);
    if (a > b) std::swap(a, b);
    std::unique_ptr<Codec> codec = make();
    const Decoded got = DecodeInPieces(*codec, stream, {a, b}, end_of_stream);
    ASSERT_EQ(got.messages, expected) << "splits at " << a << " and " << b;
  }
}

std::string Header(uint32_t length) {
  Buffer buffer;
  buffer.AppendUint32BigEndian(length);
  return buffer.TakeAll();
}

std::string LengthFrame(absl::string_view payload) {
  return Header(static_cast<uint32_t>(payload.size())) + std::string(payload);
}

CodecLimits RawChunk(size_t chunk) {
  CodecLimits limits;
  limits.raw_chunk = chunk;
  return limits;
}
CodecLimits MaxLine(size_t max_line) {
  CodecLimits limits;
  limits.max_line = max_line;
  return limits;
}
CodecLimits MaxFrame(size_t max_frame) {
  CodecLimits limits;
  limits.max_frame = max_frame;
  return limits;
}

// ---------------------------------------------------------------------------
// Names and the factory.

TEST(FramingTest, ParseAndName) {
  for (Framing framing : {Framing::kRaw, Framing::kLine, Framing::kLength}) {
    absl::StatusOr<Framing> parsed = ParseFraming(FramingName(framing));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, framing);
    EXPECT_EQ(MakeCodec(framing)->framing(), framing);
  }
  EXPECT_EQ(FramingName(Framing::kLine), "line");
  EXPECT_EQ(ParseFraming("LINE").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseFraming("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseFraming("lines").status().code(), absl::StatusCode::kInvalidArgument);
}

// ---------------------------------------------------------------------------
// raw

TEST(RawCodecTest, NothingToHandOnUntilBytesArrive) {
  RawCodec codec(1024);
  Frame frame;
  EXPECT_EQ(codec.Decode("", false, &frame), DecodeStatus::kNeedMore);
  EXPECT_EQ(codec.Decode("", true, &frame), DecodeStatus::kNeedMore);
}

TEST(RawCodecTest, PortionsNeverExceedTheChunk) {
  std::unique_ptr<Codec> codec = MakeCodec(Framing::kRaw, RawChunk(1024));
  std::string stream(10000, '\0');
  for (size_t i = 0; i < stream.size(); ++i) stream[i] = static_cast<char>(i * 31);
  const Decoded got = DecodeWhole(*codec, stream, false);
  ASSERT_EQ(got.messages.size(), 10u) << "one big input, many portions";
  std::string joined;
  for (size_t i = 0; i < got.messages.size(); ++i) {
    EXPECT_EQ(got.messages[i].size(), i < 9 ? 1024u : 10000u - 9 * 1024);
    joined += got.messages[i];
  }
  EXPECT_EQ(joined, stream);
  EXPECT_EQ(got.left_over, "");
}

TEST(RawCodecTest, AnySplitGivesTheSameBytesInBoundedPortions) {
  static constexpr char kBinary[] = "exit\r\nhello world\n\x00\x01\xff binary";
  const std::string stream = std::string(kBinary, sizeof(kBinary) - 1) + std::string(3000, 'z');
  for (size_t cut = 0; cut <= stream.size(); cut += 7) {
    RawCodec codec(100);
    const Decoded got = DecodeInPieces(codec, stream, {cut, cut + 50}, true);
    std::string joined;
    for (const std::string& portion : got.messages) {
      ASSERT_LE(portion.size(), 100u);
      ASSERT_FALSE(portion.empty());
      joined += portion;
    }
    ASSERT_EQ(joined, stream) << "split at " << cut;
  }
}

TEST(RawCodecTest, ZeroChunkMeansOneByte) {
  RawCodec codec(0);
  Frame frame;
  ASSERT_EQ(codec.Decode("abc", false, &frame), DecodeStatus::kMessage);
  EXPECT_EQ(frame.message, "a");
  EXPECT_EQ(frame.consumed, 1u);
}

TEST(RawCodecTest, EncodeIsTheBytesThemselves) {
  RawCodec codec(4);
  Buffer out;
  codec.Encode("hello", &out);
  codec.Encode("", &out);
  codec.Encode(absl::string_view("\0x", 2), &out);
  EXPECT_EQ(out.view(), absl::string_view("hello\0x", 7));
  const Decoded got = DecodeWhole(codec, out.view(), false);
  EXPECT_EQ(got.messages, (std::vector<std::string>{"hell", std::string("o\0x", 3)}));
}

// ---------------------------------------------------------------------------
// line

std::unique_ptr<Codec> DefaultLineCodec() { return MakeCodec(Framing::kLine); }

TEST(LineCodecTest, EverySplitGivesTheSameLines) {
  const std::string stream = "hello\r\nworld\n\n\r\nx\r\r\n\rmid\rdle\nlast";
  const std::vector<std::string> expected = {"hello", "world", "", "", "x\r", "\rmid\rdle", "last"};
  ExpectSameForEverySplit(DefaultLineCodec, stream, /*end_of_stream=*/true, expected);
  // Without the end of the stream, the last line waits for its "\n".
  std::vector<std::string> complete = expected;
  complete.pop_back();
  ExpectSameForEverySplit(DefaultLineCodec, stream, /*end_of_stream=*/false, complete);
}

TEST(LineCodecTest, ExactlyOneCarriageReturnIsDropped) {
  LineCodec codec(4096);
  Frame frame;
  ASSERT_EQ(codec.Decode("a\r\n", false, &frame), DecodeStatus::kMessage);
  EXPECT_EQ(frame.message, "a");
  EXPECT_EQ(frame.consumed, 3u);
  ASSERT_EQ(codec.Decode("a\r\r\n", false, &frame), DecodeStatus::kMessage);
  EXPECT_EQ(frame.message, "a\r");
  EXPECT_EQ(frame.consumed, 4u);
  ASSERT_EQ(codec.Decode("\r\n", false, &frame), DecodeStatus::kMessage);
  EXPECT_EQ(frame.message, "");
  ASSERT_EQ(codec.Decode("\ra\n", false, &frame), DecodeStatus::kMessage);
  EXPECT_EQ(frame.message, "\ra") << "only a \\r right before the \\n goes";
}

TEST(LineCodecTest, EmptyLines) {
  LineCodec codec(4096);
  const Decoded got = DecodeWhole(codec, "\n\n\r\n", false);
  EXPECT_EQ(got.messages, (std::vector<std::string>{"", "", ""}));
  EXPECT_EQ(got.left_over, "");
}

TEST(LineCodecTest, ALineOfExactlyTheLimitIsAccepted) {
  const std::string line(4096, 'x');
  for (absl::string_view terminator : {"\n", "\r\n"}) {
    std::unique_ptr<Codec> codec = DefaultLineCodec();
    const Decoded got = DecodeWhole(*codec, line + std::string(terminator) + "next\n", false);
    EXPECT_FALSE(got.too_long);
    ASSERT_EQ(got.messages.size(), 2u);
    EXPECT_EQ(got.messages[0], line);
    EXPECT_EQ(got.messages[1], "next");
  }
}

TEST(LineCodecTest, ALineOneByteOverTheLimitIsTooLong) {
  const std::string line(4097, 'x');
  for (absl::string_view terminator : {"\n", "\r\n"}) {
    std::unique_ptr<Codec> codec = DefaultLineCodec();
    Frame frame;
    EXPECT_EQ(codec->Decode(line + std::string(terminator), false, &frame), DecodeStatus::kTooLong);
  }
}

TEST(LineCodecTest, MoreThanTheLimitWithNoNewlineIsTooLong) {
  std::unique_ptr<Codec> codec = DefaultLineCodec();
  Frame frame;
  EXPECT_EQ(codec->Decode(std::string(4096, 'x'), false, &frame), DecodeStatus::kNeedMore);
  EXPECT_EQ(codec->Decode(std::string(4097, 'x'), false, &frame), DecodeStatus::kTooLong);
}

TEST(LineCodecTest, TooLongIsNoticedAsTheBytesArrive) {
  std::unique_ptr<Codec> codec = DefaultLineCodec();
  std::string pending;
  Frame frame;
  for (int i = 0; i < 4096; ++i) {
    pending += 'y';
    ASSERT_EQ(codec->Decode(pending, false, &frame), DecodeStatus::kNeedMore) << i;
  }
  pending += 'y';
  EXPECT_EQ(codec->Decode(pending, false, &frame), DecodeStatus::kTooLong);
}

TEST(LineCodecTest, AFullLineWithItsCarriageReturnMayWaitForTheNewline) {
  std::unique_ptr<Codec> codec = DefaultLineCodec();
  std::string pending(4096, 'x');
  pending += '\r';
  Frame frame;
  EXPECT_EQ(codec->Decode(pending, false, &frame), DecodeStatus::kNeedMore)
      << "4096 bytes and a \\r is not yet too long";
  pending += '\n';
  ASSERT_EQ(codec->Decode(pending, false, &frame), DecodeStatus::kMessage);
  EXPECT_EQ(frame.message, std::string(4096, 'x'));
  EXPECT_EQ(frame.consumed, 4098u);

  // But a second \r makes the pending line itself too long.
  std::unique_ptr<Codec> other = DefaultLineCodec();
  EXPECT_EQ(other->Decode(std::string(4096, 'x') + "\r\r", false, &frame), DecodeStatus::kTooLong);
}

TEST(LineCodecTest, TheLastLineWithoutNewlineCountsAtEndOfStream) {
  LineCodec codec(4096);
  Frame frame;
  EXPECT_EQ(codec.Decode("last", false, &frame), DecodeStatus::kNeedMore);
  ASSERT_EQ(codec.Decode("last", true, &frame), DecodeStatus::kMessage);
  EXPECT_EQ(frame.message, "last");
  EXPECT_EQ(frame.consumed, 4u);
  ASSERT_EQ(codec.Decode("bye\r", true, &frame), DecodeStatus::kMessage);
  EXPECT_EQ(frame.message, "bye");
  EXPECT_EQ(frame.consumed, 4u);
  EXPECT_EQ(codec.Decode("", true, &frame), DecodeStatus::kNeedMore);

  // A full-length last line is still fine; one byte more is not.
  const std::string full(4096, 'q');
  ASSERT_EQ(codec.Decode(full, true, &frame), DecodeStatus::kMessage);
  EXPECT_EQ(frame.message, full);
  EXPECT_EQ(codec.Decode(full + "q", true, &frame), DecodeStatus::kTooLong);
}

TEST(LineCodecTest, TheLimitComesFromCodecLimits) {
  std::unique_ptr<Codec> codec = MakeCodec(Framing::kLine, MaxLine(5));
  Frame frame;
  ASSERT_EQ(codec->Decode("12345\n", false, &frame), DecodeStatus::kMessage);
  EXPECT_EQ(codec->Decode("123456\n", false, &frame), DecodeStatus::kTooLong);
  EXPECT_EQ(codec->Decode("123456", false, &frame), DecodeStatus::kTooLong);
}

TEST(LineCodecTest, EncodeRoundTrip) {
  LineCodec codec(4096);
  const std::vector<std::string> lines = {"", "hello", "with\rcarriage", std::string(4096, 'L'),
                                          "200 Hello, stranger."};
  Buffer out;
  for (const std::string& line : lines) codec.Encode(line, &out);
  EXPECT_EQ(out.view().substr(0, 7), "\nhello\n");
  const Decoded got = DecodeWhole(codec, out.view(), false);
  EXPECT_EQ(got.messages, lines);
  EXPECT_EQ(got.left_over, "");
}

// ---------------------------------------------------------------------------
// length

std::unique_ptr<Codec> DefaultLengthCodec() { return MakeCodec(Framing::kLength); }

TEST(LengthCodecTest, ReadLengthHeaderIsBigEndianUnsigned) {
  EXPECT_EQ(ReadLengthHeader(absl::string_view("\x00\x00\x00\x00", 4)), 0u);
  EXPECT_EQ(ReadLengthHeader("\x01\x02\x03\x04"), 0x01020304u);
  EXPECT_EQ(ReadLengthHeader("\xff\xff\xff\xfe"), 0xfffffffeu);
  EXPECT_EQ(ReadLengthHeader(absl::string_view("\x00\x00\x01\x00rest", 8)), 256u);
}

TEST(LengthCodecTest, EverySplitGivesTheSameMessages) {
  const std::vector<std::string> messages = {
      "", "a", std::string(300, 'm'), std::string("\n\r\0\xff", 4), "", "end"};
  std::string stream;
  for (const std::string& m : messages) stream += LengthFrame(m);
  ExpectSameForEverySplit(DefaultLengthCodec, stream, false, messages);
  ExpectSameForEverySplit(DefaultLengthCodec, stream, true, messages);
}

TEST(LengthCodecTest, AZeroLengthMessageIsEmpty) {
  LengthCodec codec(kMiB);
  Frame frame;
  ASSERT_EQ(codec.Decode(Header(0), false, &frame), DecodeStatus::kMessage);
  EXPECT_EQ(frame.message, "");
  EXPECT_EQ(frame.consumed, 4u);
}

TEST(LengthCodecTest, TheHeaderMayArriveSplit) {
  LengthCodec codec(kMiB);
  const std::string frame_bytes = LengthFrame("xyz");
  Frame frame;
  for (size_t n = 0; n < kLengthHeaderBytes; ++n) {
    EXPECT_EQ(codec.Decode(absl::string_view(frame_bytes).substr(0, n), false, &frame),
              DecodeStatus::kNeedMore)
        << n;
  }
  for (size_t n = kLengthHeaderBytes; n < frame_bytes.size(); ++n) {
    EXPECT_EQ(codec.Decode(absl::string_view(frame_bytes).substr(0, n), false, &frame),
              DecodeStatus::kNeedMore)
        << n;
  }
  ASSERT_EQ(codec.Decode(frame_bytes, false, &frame), DecodeStatus::kMessage);
  EXPECT_EQ(frame.message, "xyz");
}

TEST(LengthCodecTest, ExactlyOneMebibyteIsAccepted) {
  std::unique_ptr<Codec> codec = DefaultLengthCodec();
  const std::string payload(kMiB, 'p');
  const std::string stream = LengthFrame(payload);
  Frame frame;
  EXPECT_EQ(codec->Decode(absl::string_view(stream).substr(0, stream.size() - 1), false, &frame),
            DecodeStatus::kNeedMore);
  ASSERT_EQ(codec->Decode(stream, false, &frame), DecodeStatus::kMessage);
  EXPECT_EQ(frame.message.size(), kMiB);
  EXPECT_EQ(frame.consumed, kMiB + 4);
  EXPECT_EQ(frame.message.data(), stream.data() + 4) << "a view, not a copy";
}

TEST(LengthCodecTest, OneByteOverOneMebibyteIsTooLongFromTheHeaderAlone) {
  std::unique_ptr<Codec> codec = DefaultLengthCodec();
  Frame frame;
  EXPECT_EQ(codec->Decode(Header(kMiB + 1), false, &frame), DecodeStatus::kTooLong);
  EXPECT_EQ(codec->Decode(Header(0xffffffffu), false, &frame), DecodeStatus::kTooLong);
  EXPECT_EQ(codec->Decode(Header(kMiB + 1) + "abc", true, &frame), DecodeStatus::kTooLong);
}

TEST(LengthCodecTest, TheLimitComesFromCodecLimits) {
  std::unique_ptr<Codec> codec = MakeCodec(Framing::kLength, MaxFrame(3));
  Frame frame;
  ASSERT_EQ(codec->Decode(LengthFrame("abc"), false, &frame), DecodeStatus::kMessage);
  EXPECT_EQ(codec->Decode(LengthFrame("abcd"), false, &frame), DecodeStatus::kTooLong);
}

TEST(LengthCodecTest, ATruncatedLastFrameIsNotAMessage) {
  LengthCodec codec(kMiB);
  const Decoded got = DecodeWhole(codec, LengthFrame("whole") + Header(10) + "part", true);
  EXPECT_EQ(got.messages, (std::vector<std::string>{"whole"}));
  EXPECT_FALSE(got.too_long);
  EXPECT_EQ(got.left_over, Header(10) + "part");
}

TEST(LengthCodecTest, EncodeRoundTrip) {
  LengthCodec codec(kMiB);
  const std::vector<std::string> messages = {"", "one", std::string(kMiB, 'B'),
                                             std::string("\0\0\0\0", 4), "after"};
  Buffer out;
  for (const std::string& m : messages) codec.Encode(m, &out);
  EXPECT_EQ(out.view().substr(0, 11), absl::string_view("\0\0\0\0\0\0\0\3one", 11));
  const Decoded got = DecodeWhole(codec, out.view(), false);
  EXPECT_EQ(got.messages, messages);
  EXPECT_EQ(got.left_over, "");
}

}  // namespace
}  // namespace switchboard

namespace switchboard {
namespace {

TEST(LengthCodecTest, AnnouncesTheWholeSizeOnceTheHeaderIsIn) {
  std::unique_ptr<Codec> length = MakeCodec(Framing::kLength);
  EXPECT_EQ(length->AnnouncedBytes(""), 0u);
  EXPECT_EQ(length->AnnouncedBytes(std::string("\0\0\x01", 3)), 0u) << "a partial header";
  EXPECT_EQ(length->AnnouncedBytes(std::string("\0\x10\0\0", 4)), 4u + (1 << 20));
  EXPECT_EQ(length->AnnouncedBytes(std::string("\0\x10\0\x01", 4)), 0u) << "over the limit";
  EXPECT_EQ(MakeCodec(Framing::kLine)->AnnouncedBytes("no end yet"), 0u);
  EXPECT_EQ(MakeCodec(Framing::kRaw)->AnnouncedBytes("anything"), 0u);
}

}  // namespace
}  // namespace switchboard
