// Copyright Switchboard authors.
//
// chat_member.h: `ChatMember`, the client side of the chat protocol without
// the socket: it turns the server's datagrams into lines for a person,
// notices gaps in the room's sequence numbers and asks for what was missed
// with HISTORY, shows late arrivals once, and turns typed lines into
// commands (/who, /quit, or a message).

#ifndef SWITCHBOARD_CLIENTS_CHAT_MEMBER_H_
#define SWITCHBOARD_CLIENTS_CHAT_MEMBER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/strings/string_view.h"

namespace switchboard {

// One thread (the client's).
class ChatMember {
 public:
  // Gaps larger than the server's history cannot be filled; at most this
  // many missing numbers are remembered.
  static constexpr size_t kMaxMissing = 1000;

  explicit ChatMember(std::string nick) : nick_(std::move(nick)) {}

  const std::string& nick() const { return nick_; }
  const std::string& key() const { return key_; }
  bool joined() const { return !key_.empty(); }

  // What to send to begin joining.
  std::string JoinRequest() const { return "JOIN " + nick_; }

  // The result of one datagram from the server.
  struct Event {
    std::vector<std::string> show;  // lines for the person
    std::vector<std::string> send;  // datagrams for the server
    bool left = false;              // our LEAVE was confirmed
    bool refused = false;           // the join failed for good (ERR during join)
  };
  Event OnDatagram(absl::string_view datagram);

  // A line the person typed. Empty `send` means nothing goes out.
  struct Command {
    std::optional<std::string> send;
    std::optional<std::string> show;  // help or a local error
    bool quit = false;                // leave after sending
  };
  Command OnTyped(absl::string_view line) const;

  std::string Ping() const { return "PING " + key_; }
  // Forgets the membership (the server dropped us): join again.
  void Reset();

  uint64_t last_sequence() const { return last_sequence_; }
  size_t missing() const { return missing_.size(); }

 private:
  // Handles a numbered broadcast; returns false for a duplicate.
  bool Sequence(uint64_t sequence, Event& event);

  const std::string nick_;
  std::string key_;
  uint64_t last_sequence_ = 0;  // 0: nothing numbered seen yet
  absl::btree_set<uint64_t> missing_;
  std::vector<std::string> who_;  // nicks of a WHO answer in progress
};

}  // namespace switchboard

#endif  // SWITCHBOARD_CLIENTS_CHAT_MEMBER_H_
