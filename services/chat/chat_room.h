// Copyright Switchboard authors.
//
// chat_room.h: `ChatRoom`, the chat protocol of SPEC.md over datagrams:
// the two-step join, members keyed by address and member key, unique nicks,
// one sequence counter for MSG, JOINED and LEFT, a history of the last
// broadcasts, per-member rate limits and idle timeouts. It sees datagrams
// and a clock reading, and sends through a `ChatOutput`: no sockets here.
// What the servers of one room share (nicks, sequence, history, delivery)
// is asked of a `ChatBackplane`, whose answers may come later.
//
// Strangers (addresses that have not returned a cookie) get nothing but the
// COOKIE reply to `JOIN <nick>`, which is never more than 3 times the
// request's size; members get `ERR <code> <reason>` for what is wrong.

#ifndef SWITCHBOARD_SERVICES_CHAT_CHAT_ROOM_H_
#define SWITCHBOARD_SERVICES_CHAT_CHAT_ROOM_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "reactor/inet_address.h"
#include "services/chat/chat_backplane.h"
#include "services/chat/join_cookies.h"
#include "services/chat/peer_key.h"

namespace switchboard {

// Every datagram in or out is at most this long.
inline constexpr size_t kMaxChatDatagram = 1200;
inline constexpr size_t kMemberKeyChars = 22;  // base64url of 16 bytes
inline constexpr size_t kMaxNickChars = 32;

struct ChatOptions {
  size_t max_members = 1000;
  // Members (and joins under way) from one host, an IPv4 address or an
  // IPv6 /64, so that one host cannot take every place; 0: no cap.
  size_t max_members_per_address = 0;
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
  // The room on `backplane`; null: a LocalBackplane, the room in this
  // process.
  ChatRoom(const ChatOptions& options, ChatOutput* output,
           std::unique_ptr<ChatBackplane> backplane = nullptr);
  ChatRoom(const ChatRoom&) = delete;
  ChatRoom& operator=(const ChatRoom&) = delete;

  // One datagram from `from`: `data` as received (possibly cut), `size` its
  // real length.
  void OnDatagram(const InetAddress& from, absl::string_view data, size_t size, absl::Time now);
  // Drops members idle for longer than the timeout, telling the others.
  void ExpireIdleMembers(absl::Time now);

  // Members of this server.
  size_t member_count() const { return members_.size(); }
  uint64_t last_sequence() const { return backplane_->next_sequence() - 1; }
  const ChatBackplane& backplane() const { return *backplane_; }

 private:
  struct Member {
    std::string nick;
    std::string key;
    InetAddress address;  // as received: where replies go
    absl::Time last_heard;
    double tokens;
    absl::Time refilled;
    size_t slot;  // index into addresses_ and slot_owners_
    uint64_t id;  // names the member in answers that come later
  };

  void Join(const InetAddress& from, const PeerKey& peer, Member* member, absl::string_view args,
            absl::Time now);
  void MemberCommand(Member& member, const PeerKey& peer, absl::string_view verb,
                     absl::string_view args, absl::Time now);
  // Adds the member once the backplane has given it its nick.
  void Admit(const InetAddress& from, absl::string_view nick, size_t count, absl::Time now);
  void SendWho(const Member& member);
  void SendHistory(const Member& member, uint64_t from_sequence);
  // Takes a token from the member's bucket; false when it is empty.
  bool TakeToken(Member& member, absl::Time now);
  // A broadcast of the backplane: to every member of this server.
  void Deliver(absl::string_view text);
  // Tells member `id`, if still here, why its broadcast failed.
  void BroadcastFailed(uint64_t id, const absl::Status& status);
  void Remove(const PeerKey& peer);
  // Gives back one of the host's places (a member gone, a join refused).
  void ReleaseHostPlace(const PeerKey& peer);
  void Reply(const Member& member, absl::string_view text);

  const ChatOptions options_;
  ChatOutput* const output_;
  // Destroyed after the members below: no answer comes to a half-gone room.
  const std::unique_ptr<ChatBackplane> backplane_;
  const JoinCookies cookies_;
  absl::flat_hash_map<PeerKey, Member> members_;
  // Addresses whose JOIN waits for the backplane.
  absl::flat_hash_set<PeerKey> joining_;
  // Members and joins under way per host (PeerKey::Host), when capped.
  absl::flat_hash_map<PeerKey, size_t> per_host_;
  uint64_t next_member_id_ = 1;
  // Dense, for broadcasting: addresses_[i] belongs to slot_owners_[i].
  std::vector<InetAddress> addresses_;
  std::vector<PeerKey> slot_owners_;
  // Reused for every reply, so steady traffic allocates nothing.
  std::string text_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_CHAT_CHAT_ROOM_H_
