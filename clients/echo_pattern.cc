// Copyright Switchboard authors.

#include "clients/echo_pattern.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace switchboard {
namespace {

// Message contents: printable, never '\n' or '\r'.
constexpr absl::string_view kAlphabet =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
// The pattern after the numbers repeats every 61 bytes (a prime, so that
// consecutive messages, shifted by 7, differ at every position).
constexpr size_t kPatternPeriod = 61;
constexpr uint64_t kPatternShift = 7;
// A message starts with 16 hex digits: 6 of the connection number and 10
// of the message number (the low ones, when the message is shorter).
constexpr size_t kCounterDigits = 16;

}  // namespace

EchoPattern::EchoPattern(size_t size, Framing framing)
    : size_(size),
      framing_(framing),
      header_(framing == Framing::kLength ? 4 : 0),
      wire_size_(size + header_ + (framing == Framing::kLine ? 1 : 0)),
      filler_(size + kPatternPeriod, '\0') {
  for (size_t i = 0; i < filler_.size(); ++i) filler_[i] = kAlphabet[i % kPatternPeriod];
  const uint32_t n = static_cast<uint32_t>(size);
  length_header_[0] = static_cast<char>(n >> 24);
  length_header_[1] = static_cast<char>(n >> 16);
  length_header_[2] = static_cast<char>(n >> 8);
  length_header_[3] = static_cast<char>(n);
}

void EchoPattern::Write(uint32_t connection, uint64_t seq, char* out) const {
  if (header_ != 0) {
    std::memcpy(out, length_header_, 4);
    out += 4;
  }
  char counter[kCounterDigits];
  Counter(connection, seq, counter);
  const size_t digits = std::min(size_, kCounterDigits);
  std::memcpy(out, counter + kCounterDigits - digits, digits);
  if (size_ > kCounterDigits) {
    std::memcpy(out + kCounterDigits, filler_.data() + Offset(connection, seq),
                size_ - kCounterDigits);
  }
  if (framing_ == Framing::kLine) out[size_] = '\n';
}

bool EchoPattern::Matches(uint32_t connection, uint64_t seq, const char* wire) const {
  if (header_ != 0) {
    if (std::memcmp(wire, length_header_, 4) != 0) return false;
    wire += 4;
  }
  char counter[kCounterDigits];
  Counter(connection, seq, counter);
  const size_t digits = std::min(size_, kCounterDigits);
  if (std::memcmp(wire, counter + kCounterDigits - digits, digits) != 0) return false;
  if (size_ > kCounterDigits &&
      std::memcmp(wire + kCounterDigits, filler_.data() + Offset(connection, seq),
                  size_ - kCounterDigits) != 0) {
    return false;
  }
  return framing_ != Framing::kLine || wire[size_] == '\n';
}

std::string EchoPattern::DescribeMismatch(uint32_t connection, uint64_t seq,
                                          const char* wire) const {
  std::string expected(wire_size_, '\0');
  Write(connection, seq, expected.data());
  size_t at = 0;
  while (at < wire_size_ && expected[at] == wire[at]) ++at;
  auto show = [](char c) {
    return c >= 0x20 && c < 0x7f ? absl::StrFormat("'%c'", c)
                                 : absl::StrFormat("0x%02x", static_cast<unsigned char>(c));
  };
  return absl::StrCat("connection ", connection, ", message ", seq, ": byte ", at, " of ",
                      wire_size_, " came back as ", show(wire[at]), ", sent as ",
                      show(expected[at]));
}

void EchoPattern::Counter(uint32_t connection, uint64_t seq, char* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const uint64_t value = (uint64_t{connection & 0xffffff} << 40) | (seq & 0xffffffffff);
  for (int i = kCounterDigits - 1, shift = 0; i >= 0; --i, shift += 4) {
    out[i] = kHex[(value >> shift) & 0xf];
  }
}

size_t EchoPattern::Offset(uint32_t connection, uint64_t seq) {
  return static_cast<size_t>((seq * kPatternShift + connection) % kPatternPeriod);
}

}  // namespace switchboard
