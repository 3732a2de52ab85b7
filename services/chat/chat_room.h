// Copyright Switchboard authors.
//
// chat_room.h: `ChatRoom`, the chat protocol of SPEC.md over datagrams:
// the two-step join, members keyed by address and member key, unique nicks,
// one sequence counter for MSG, JOINED and LEFT, a history of the last
// broadcasts, per-member rate limits and idle timeouts. It sees datagrams
// and a clock reading, and sends through a `ChatOutput`: no sockets here.
//
// Strangers (addresses that have not returned a cookie) get nothing but the
// COOKIE reply to `JOIN <nick>`, which is never more than 3 times the
// request's size; members get `ERR <code> <reason>` for what is wrong.

#ifndef SWITCHBOARD_SERVICES_CHAT_CHAT_ROOM_H_
#define SWITCHBOARD_SERVICES_CHAT_CHAT_ROOM_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "reactor/inet_address.h"
#include "services/chat/join_cookies.h"
#include "services/chat/peer_key.h"

namespace switchboard {

// Every datagram in or out is at most this long.
inline constexpr size_t kMaxChatDatagram = 1200;
inline constexpr size_t kMemberKeyChars = 22;  // base64url of 16 bytes
inline constexpr size_t kMaxNickChars = 32;

struct ChatOptions {
  size_t max_members = 1000;
  // A member that sends nothing valid for this long is dropped.
  absl::Duration member_timeout = absl::Seconds(60);
  // Commands per second per member, and how many may come at once.
  double rate = 20;
  double burst = 10;
  // Broadcasts kept for HISTORY.
  size_t history = 1000;
};

// Where the room's datagrams go. Implementations copy what they are given.
class ChatOutput {
 public:
  virtual ~ChatOutput() = default;
  virtual void SendTo(const InetAddress& to, absl::string_view datagram) = 0;
  virtual void SendToEach(absl::Span<const InetAddress> to, absl::string_view datagram) = 0;
};

// One thread only: the loop thread of the socket that feeds it (its
// ChatService asserts that). Needs libsodium initialised.
class ChatRoom {
 public:
  ChatRoom(const ChatOptions& options, ChatOutput* output);
  ChatRoom(const ChatRoom&) = delete;
  ChatRoom& operator=(const ChatRoom&) = delete;

  // One datagram from `from`: `data` as received (possibly cut), `size` its
  // real length.
  void OnDatagram(const InetAddress& from, absl::string_view data, size_t size, absl::Time now);
  // Drops members idle for longer than the timeout, telling the others.
  void ExpireIdleMembers(absl::Time now);

  size_t member_count() const { return members_.size(); }
  uint64_t last_sequence() const { return next_sequence_ - 1; }

 private:
  struct Member {
    std::string nick;
    std::string key;
    InetAddress address;  // as received: where replies go
    absl::Time last_heard;
    double tokens;
    absl::Time refilled;
    size_t slot;  // index into addresses_ and slot_owners_
  };
  struct Broadcast {
    uint64_t sequence = 0;
    std::string text;
  };

  void Join(const InetAddress& from, const PeerKey& peer, Member* member, absl::string_view args,
            absl::Time now);
  void MemberCommand(Member& member, const PeerKey& peer, absl::string_view verb,
                     absl::string_view args, absl::Time now);
  void SendWho(const Member& member);
  void SendHistory(const Member& member, uint64_t from_sequence);
  // Takes a token from the member's bucket; false when it is empty.
  bool TakeToken(Member& member, absl::Time now);
  // Sends "<verb> <seq> <nick>[ <tail>]" to every member and keeps it for
  // HISTORY.
  void BroadcastNumbered(absl::string_view verb, absl::string_view nick, absl::string_view tail);
  void Remove(const PeerKey& peer);
  void Reply(const Member& member, absl::string_view text);

  const ChatOptions options_;
  ChatOutput* const output_;
  const JoinCookies cookies_;
  absl::flat_hash_map<PeerKey, Member> members_;
  absl::flat_hash_map<std::string, PeerKey> nicks_;
  // Dense, for broadcasting: addresses_[i] belongs to slot_owners_[i].
  std::vector<InetAddress> addresses_;
  std::vector<PeerKey> slot_owners_;
  uint64_t next_sequence_ = 1;
  // A ring of the last broadcasts; strings keep their capacity.
  std::vector<Broadcast> history_;
  size_t history_next_ = 0;
  // Reused for every reply, so steady traffic allocates nothing.
  std::string text_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_CHAT_CHAT_ROOM_H_
