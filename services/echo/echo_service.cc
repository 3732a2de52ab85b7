// Copyright Switchboard authors.

#include "services/echo/echo_service.h"

#include <algorithm>
#include <cstring>

namespace switchboard {
namespace {

constexpr absl::string_view kExit = "exit";

bool IsExitLine(absl::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line == kExit;
}

// Raw framing: portions of the byte stream, echoed as they are.
class RawEchoSession final : public Session {
 public:
  void OnMessage(absl::string_view portion, Replies& out) override {
    const size_t end = exit_.Scan(portion);
    if (end == absl::string_view::npos) {
      out.Reply(portion);
      return;
    }
    out.Reply(portion.substr(0, end));
    out.EndSession();
  }

 private:
  ExitLineDetector exit_;
};

// Line or length framing: whole messages, echoed in the same framing.
class MessageEchoSession final : public Session {
 public:
  void OnMessage(absl::string_view message, Replies& out) override {
    out.Reply(message);
    if (IsExitLine(message)) out.EndSession();
  }
};

}  // namespace

size_t ExitLineDetector::Scan(absl::string_view portion) {
  size_t begin = 0;
  while (begin < portion.size()) {
    const void* found = std::memchr(portion.data() + begin, '\n', portion.size() - begin);
    const size_t end =
        found == nullptr ? portion.size() : static_cast<const char*>(found) - portion.data();
    const size_t segment = end - begin;
    // Keep the line's first bytes while it is short enough to be "exit\r";
    // past that, length_ only records that it is too long.
    if (length_ < sizeof(start_)) {
      const size_t copy = std::min(segment, sizeof(start_) - length_);
      std::memcpy(start_ + length_, portion.data() + begin, copy);
    }
    length_ = std::min(length_ + segment, sizeof(start_) + 1);
    if (found == nullptr) return absl::string_view::npos;
    const bool is_exit =
        length_ <= sizeof(start_) && IsExitLine(absl::string_view(start_, length_));
    length_ = 0;
    if (is_exit) return end + 1;
    begin = end + 1;
  }
  return absl::string_view::npos;
}

std::unique_ptr<Session> EchoService::NewSession(const SessionInfo& info) {
  if (info.framing == Framing::kRaw) return std::make_unique<RawEchoSession>();
  return std::make_unique<MessageEchoSession>();
}

}  // namespace switchboard
