// Copyright Switchboard authors.
//
// session_driver.h: `SessionDriver`, the decode -> session -> replies loop
// that every host of a service runs, whatever moves the bytes: the
// reactor's ServiceHost (calls inline on the I/O thread, or queued on the
// worker pool) and the blocking models' BlockingConnection (calls on the
// connection's own thread). The hosts differ only in where the calls run and
// how bytes move, which is the comparison the server models exist to show.

#ifndef SWITCHBOARD_SERVICES_SESSION_DRIVER_H_
#define SWITCHBOARD_SERVICES_SESSION_DRIVER_H_

#include <atomic>
#include <memory>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"
#include "reactor/buffer.h"
#include "reactor/codec.h"
#include "services/service.h"

namespace switchboard {

// One step of a session, as a host schedules it.
enum class SessionCall {
  kStart,       // the connection opened: greet
  kMessage,     // one whole message
  kEndOfInput,  // the client half-closed: answer, then end
  kTooLong,     // the client broke the framing's size limit: say so, end
};

// What a service says when a message breaks the framing's size limit; empty
// for nothing (raw and length framing have no line to say it on).
absl::string_view TooLongReply(Framing framing);

// Thread affinity: Decode() runs on one thread, the one that reads the
// connection (its I/O thread, or its own thread in the blocking models).
// Run() runs on one thread at a time, in the order the calls were decoded
// (inline, or through the connection's serial executor). ended() and
// MarkEnded() may be called from either.
class SessionDriver {
 public:
  // What a host does with each decoded call; false stops decoding (the
  // connection closed under it, say).
  using Schedule = absl::FunctionRef<bool(SessionCall call, absl::string_view message)>;

  SessionDriver(Service& service, const SessionInfo& info, const CodecLimits& limits);
  SessionDriver(const SessionDriver&) = delete;
  SessionDriver& operator=(const SessionDriver&) = delete;

  // Hands every whole message at the front of `input` to `schedule`,
  // consuming each after the call (so views into `input` stay valid until
  // the input is next written). Stops at a partial message, when `schedule`
  // returns false, or once the session ended; after the end, or a message
  // over the limit (scheduled as kTooLong, logged once), what is left of
  // the input is discarded. With `end_of_stream` a final partial message
  // counts, and kEndOfInput is scheduled last unless the session ended.
  void Decode(Buffer& input, bool end_of_stream, Schedule schedule);

  // Runs `call` on the session with `out`. After the session ended,
  // messages are skipped; kEndOfInput and kTooLong end the session.
  void Run(SessionCall call, absl::string_view message, Replies& out);

  // The session asked to end (the host's Replies::EndSession calls this).
  void MarkEnded() { ended_.store(true, std::memory_order_relaxed); }
  bool ended() const { return ended_.load(std::memory_order_relaxed); }

  // Frames replies the way the connection frames its input.
  const Codec& codec() const { return *codec_; }
  const SessionInfo& info() const { return info_; }

 private:
  const std::string service_name_;
  const SessionInfo info_;
  const std::unique_ptr<Codec> codec_;
  const std::unique_ptr<Session> session_;
  // The one stop bit: set by whichever thread runs the call that ended the
  // session, read by the decoding thread to stop early.
  std::atomic<bool> ended_{false};
  bool too_long_ = false;  // decoding thread: kTooLong scheduled
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_SESSION_DRIVER_H_
