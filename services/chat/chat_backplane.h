// Copyright Switchboard authors.
//
// chat_backplane.h: `ChatBackplane`, where the chat room's shared state
// lives: the nicks of every member (unique, and the count that decides
// "room full"), the one sequence of numbered broadcasts (MSG, JOINED,
// LEFT), the history of the last broadcasts, and the delivery of each
// broadcast to the room. ChatRoom keeps what stays in one server (member
// keys, addresses, rate limits, idle timers) and asks the backplane for the
// rest. Two implementations: LocalBackplane (this process; answers at once)
// and RedisBackplane (every server naming the same Redis; answers later).
//
// Every callback runs on the room's loop thread, either inside the call
// (local) or on a later turn (Redis); a callback is never run after the
// backplane is destroyed.

#ifndef SWITCHBOARD_SERVICES_CHAT_CHAT_BACKPLANE_H_
#define SWITCHBOARD_SERVICES_CHAT_CHAT_BACKPLANE_H_

#include <cstddef>
#include <cstdint>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace switchboard {

class ChatBackplane {
 public:
  // Gets every numbered broadcast of the room once, as it is to be sent.
  using DeliverCallback = absl::AnyInvocable<void(absl::string_view text)>;
  // The members now, the new one included; or AlreadyExists (nick taken),
  // ResourceExhausted (room full), Unavailable (backplane lost).
  using JoinCallback = absl::AnyInvocable<void(absl::StatusOr<size_t> members)>;
  // The broadcast as numbered; or OutOfRange (it would not fit in one
  // datagram), Unavailable. `text` is valid during the call only.
  using SentCallback = absl::AnyInvocable<void(const absl::Status& status, absl::string_view text)>;
  // Nicks (Members) or broadcasts oldest first (History); valid during the
  // call only.
  using ListCallback = absl::AnyInvocable<void(const absl::Status& status,
                                               absl::Span<const absl::string_view> items)>;

  virtual ~ChatBackplane() = default;

  // Where broadcasts go; set once, before anything else.
  virtual void SetDelivery(DeliverCallback deliver) = 0;
  // OK while requests can be served; Unavailable with the reason otherwise.
  virtual absl::Status Available() const = 0;
  // The sequence number the next broadcast will probably get (exactly, for
  // the local room): for checking sizes before asking.
  virtual uint64_t next_sequence() const = 0;

  // Takes `nick` for a member of this server, unless the room already has
  // `max_members`.
  virtual void Join(absl::string_view nick, size_t max_members, JoinCallback done) = 0;
  // Numbers "<verb> <seq> <nick>[ <tail>]", keeps it in the history and
  // delivers it to every server of the room (this one included).
  virtual void Broadcast(absl::string_view verb, absl::string_view nick, absl::string_view tail,
                         SentCallback done) = 0;
  // Frees `nick` and broadcasts "LEFT <seq> <nick> <reason>" in one step.
  virtual void Leave(absl::string_view nick, absl::string_view reason, SentCallback done) = 0;
  // The nicks of every member of the room.
  virtual void Members(ListCallback done) = 0;
  // The held broadcasts numbered `from_sequence` or later, oldest first.
  virtual void History(uint64_t from_sequence, ListCallback done) = 0;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_CHAT_CHAT_BACKPLANE_H_
