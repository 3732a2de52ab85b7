// Copyright Switchboard authors.
//
// open_loop_schedule.h: OpenLoopSchedule, when each message of one client
// of an open-loop load is due (part of //clients:load_generator, not for
// other users). Both the TCP connections (stream_connection.h) and the chat
// members (chat_load.h) send on it.

#ifndef SWITCHBOARD_CLIENTS_OPEN_LOOP_SCHEDULE_H_
#define SWITCHBOARD_CLIENTS_OPEN_LOOP_SCHEDULE_H_

#include <cstdint>

#include "absl/time/time.h"

namespace switchboard {

// One client's share of the open loop (load_generator.h): `rate` messages
// per second over `clients` clients is one message every clients / rate
// seconds each, the clients' phases spread over one such interval so that
// they do not all send at once. A value; loop thread only.
class OpenLoopSchedule {
 public:
  // Nothing is ever due (a closed-loop client).
  OpenLoopSchedule() = default;
  // Client `id` of `clients` that share `rate` messages per second.
  OpenLoopSchedule(double rate, int clients, uint32_t id)
      : interval_seconds_(1.0 / (rate / clients)),
        phase_offset_(absl::Seconds(interval_seconds_ * id / clients)) {}

  // Message 0 becomes due at `now` plus this client's phase.
  void Start(absl::Time now) { start_ = now + phase_offset_; }
  // When message 0 is due.
  absl::Time start() const { return start_; }
  // How many messages are due at `now` (not before start()).
  uint64_t Due(absl::Time now) const {
    return static_cast<uint64_t>(absl::ToDoubleSeconds(now - start_) / interval_seconds_) + 1;
  }
  // When message `seq` is due.
  absl::Time Intended(uint64_t seq) const {
    return start_ + absl::Seconds(static_cast<double>(seq) * interval_seconds_);
  }
  // How many of the messages due at `now` are beyond the `sent` first.
  uint64_t Behind(absl::Time now, uint64_t sent) const {
    if (now < start_) return 0;
    const uint64_t due = Due(now);
    return due > sent ? due - sent : 0;
  }

 private:
  double interval_seconds_ = 0;  // between this client's messages
  absl::Duration phase_offset_;
  absl::Time start_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_CLIENTS_OPEN_LOOP_SCHEDULE_H_
