// Copyright Switchboard authors.
//
// local_backplane.h: `LocalBackplane`, the chat room's shared state in this
// process (the default): a set of nicks, a counter, and a ring of the last
// broadcasts. Every call answers before it returns, and steady traffic
// allocates nothing (the ring's strings keep their capacity).

#ifndef SWITCHBOARD_SERVICES_CHAT_LOCAL_BACKPLANE_H_
#define SWITCHBOARD_SERVICES_CHAT_LOCAL_BACKPLANE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "services/chat/chat_backplane.h"

namespace switchboard {

// One thread only: the room's.
class LocalBackplane final : public ChatBackplane {
 public:
  // Keeps the last `history` broadcasts.
  explicit LocalBackplane(size_t history);

  void SetDelivery(DeliverCallback deliver) override { deliver_ = std::move(deliver); }
  absl::Status Available() const override { return absl::OkStatus(); }
  uint64_t next_sequence() const override { return next_sequence_; }
  void Join(absl::string_view nick, size_t max_members, JoinCallback done) override;
  void Broadcast(absl::string_view verb, absl::string_view nick, absl::string_view tail,
                 SentCallback done) override;
  void Leave(absl::string_view nick, absl::string_view reason, SentCallback done) override;
  void Members(ListCallback done) override;
  void History(uint64_t from_sequence, ListCallback done) override;

 private:
  struct Held {
    uint64_t sequence = 0;
    std::string text;
  };

  const size_t history_size_;
  DeliverCallback deliver_;
  absl::flat_hash_set<std::string> nicks_;
  uint64_t next_sequence_ = 1;
  // A ring of the last broadcasts; history_next_ is the oldest once full.
  std::vector<Held> history_;
  size_t history_next_ = 0;
  // Reused for every broadcast and listing.
  std::string text_;
  std::vector<absl::string_view> listing_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_CHAT_LOCAL_BACKPLANE_H_
