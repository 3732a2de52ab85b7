// Copyright Switchboard authors.
//
// session_harness.h: runs a TCP service's sessions as a host does, through
// SessionDriver, inline and without sockets, on connections the fuzzer's
// input describes, and checks every reply.
//
// Input, per connection: [peer][framing][piece size][length hi][length lo]
// then that many bytes of stream, fed in pieces and then ended (a
// half-close). Messages that begin "@@" are the harness's, not the
// service's: "@@tick" moves the clock 10 minutes on, "@@fail" fails the
// store's next call, "@@fail2" the one after, "@@fail3" the third.
// "$TOKEN" in a message becomes the last session token a reply gave, so
// RESUME can find a real session.

#ifndef SWITCHBOARD_FUZZ_SESSION_HARNESS_H_
#define SWITCHBOARD_FUZZ_SESSION_HARNESS_H_

#include <string>

#include "absl/time/time.h"
#include "fuzz/fuzz_util.h"
#include "fuzz/memory_store.h"
#include "reactor/clock.h"
#include "services/service.h"

namespace switchboard::fuzz {

// A clock that moves only when told.
class FixedClock final : public Clock {
 public:
  absl::Time Now() const override { return now_; }
  void Advance(absl::Duration d) { now_ += d; }

 private:
  absl::Time now_ = absl::FromUnixSeconds(1'700'000'000);
};

class SessionHarness {
 public:
  SessionHarness(Service& service, MemoryStore& store, FixedClock& clock)
      : service_(service), store_(store), clock_(clock) {}

  // Runs every connection in `in`, one after another.
  void RunAll(Input& in);

 private:
  void RunConnection(const SessionInfo& info, absl::string_view stream, size_t piece);

  Service& service_;
  MemoryStore& store_;
  FixedClock& clock_;
  std::string token_;
};

}  // namespace switchboard::fuzz

#endif  // SWITCHBOARD_FUZZ_SESSION_HARNESS_H_
