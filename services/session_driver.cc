// Copyright Switchboard authors.

#include "services/session_driver.h"

#include "glog/logging.h"

namespace switchboard {

absl::string_view TooLongReply(Framing framing) {
  return framing == Framing::kLine ? "400 line too long" : "";
}

SessionDriver::SessionDriver(Service& service, const SessionInfo& info, const CodecLimits& limits)
    : service_name_(service.name()),
      info_(info),
      codec_(MakeCodec(info.framing, limits)),
      session_(service.NewSession(info)) {}

void SessionDriver::Decode(Buffer& input, bool end_of_stream, Schedule schedule) {
  Frame frame;
  bool go_on = true;
  while (go_on && !too_long_ && !ended() && !input.empty()) {
    const DecodeStatus status = codec_->Decode(input.view(), end_of_stream, &frame);
    if (status == DecodeStatus::kNeedMore) break;
    if (status == DecodeStatus::kTooLong) {
      LOG(INFO) << service_name_ << ": connection " << info_.connection_id << " from "
                << info_.peer.ToString() << " sent a " << FramingName(info_.framing)
                << " message over the size limit; ending the session";
      too_long_ = true;
      input.Clear();
      schedule(SessionCall::kTooLong, {});
      return;
    }
    VLOG(1) << service_name_ << ": connection " << info_.connection_id << ": message of "
            << frame.message.size() << " bytes";
    go_on = schedule(SessionCall::kMessage, frame.message);
    input.Consume(frame.consumed);
  }
  // After the end, what the client sent later is discarded.
  if (ended() || too_long_) input.Clear();
  if (end_of_stream && go_on) {
    input.Clear();  // a partial message the codec could not finish
    if (!ended() && !too_long_) schedule(SessionCall::kEndOfInput, {});
  }
}

void SessionDriver::Run(SessionCall call, absl::string_view message, Replies& out) {
  switch (call) {
    case SessionCall::kStart:
      session_->OnStart(out);
      return;
    case SessionCall::kMessage:
      if (!ended()) session_->OnMessage(message, out);
      return;
    case SessionCall::kEndOfInput:
      if (!ended()) session_->OnEndOfInput(out);
      out.EndSession();
      return;
    case SessionCall::kTooLong:
      if (absl::string_view reply = TooLongReply(info_.framing); !reply.empty() && !ended()) {
        out.Reply(reply);
      }
      out.EndSession();
      return;
  }
}

}  // namespace switchboard
