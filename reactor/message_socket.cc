// Copyright Switchboard authors.

#include "reactor/message_socket.h"

#include "absl/strings/str_cat.h"
#include "reactor/buffer.h"
#include "reactor/length_codec.h"

namespace switchboard {

absl::Status MessageSocket::Send(absl::string_view message) {
  if (message.size() > max_message_) {
    return absl::InvalidArgumentError(
        absl::StrCat("message of ", message.size(), " bytes exceeds the limit of ", max_message_));
  }
  Buffer frame(kLengthHeaderBytes + message.size());
  LengthCodec(max_message_).Encode(message, &frame);
  return SendAll(frame.view());
}

absl::StatusOr<std::string> MessageSocket::Receive() {
  char header[kLengthHeaderBytes];
  size_t got = 0;
  if (absl::Status s = ReceiveExactly(header, sizeof(header), &got); !s.ok()) {
    if (absl::IsOutOfRange(s) && got > 0) {
      return absl::DataLossError("end of stream inside a message header");
    }
    return s;
  }
  const uint32_t length = ReadLengthHeader(absl::string_view(header, sizeof(header)));
  if (length > max_message_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("message of ", length, " bytes exceeds the limit of ", max_message_));
  }
  std::string message(length, '\0');
  if (absl::Status s = ReceiveExactly(message.data(), length); !s.ok()) {
    if (absl::IsOutOfRange(s)) {
      return absl::DataLossError("end of stream inside a message");
    }
    return s;
  }
  return message;
}

}  // namespace switchboard
