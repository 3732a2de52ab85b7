// Copyright Switchboard authors.
//
// echo_service.h: `EchoService`, RFC 862 echo. Every message comes back as
// it arrived, at once. A line that is exactly "exit" (one trailing "\r"
// ignored) is echoed and ends the session; in raw framing the line may be
// split over several portions.

#ifndef SWITCHBOARD_SERVICES_ECHO_ECHO_SERVICE_H_
#define SWITCHBOARD_SERVICES_ECHO_ECHO_SERVICE_H_

#include "services/service.h"

namespace switchboard {

class EchoService final : public Service {
 public:
  // Service
  absl::string_view name() const override { return "echo"; }
  bool cheap() const override { return true; }
  std::unique_ptr<Session> NewSession(const SessionInfo& info) override;
};

// Finds the end of an "exit" line in a raw byte stream that arrives in
// portions. Keeps only the start of the current line, so it costs a memchr
// per portion and no allocation.
class ExitLineDetector {
 public:
  // Returns the offset just past the "\n" that ends an "exit" line in
  // `portion`, or absl::string_view::npos when there is none.
  size_t Scan(absl::string_view portion);

 private:
  // The current line's first bytes, while it could still be "exit\r".
  char start_[5] = {};
  size_t length_ = 0;  // bytes of the current line seen so far
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_ECHO_ECHO_SERVICE_H_
