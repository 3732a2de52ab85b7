// Copyright Switchboard authors.

#include "services/chat/local_backplane.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace switchboard {

LocalBackplane::LocalBackplane(size_t history) : history_size_(history) {
  history_.reserve(history_size_);
}

void LocalBackplane::Join(absl::string_view nick, size_t max_members, JoinCallback done) {
  if (nicks_.contains(nick)) return done(absl::AlreadyExistsError("nick taken"));
  if (nicks_.size() >= max_members) return done(absl::ResourceExhaustedError("room full"));
  nicks_.emplace(std::string(nick));
  done(nicks_.size());
}

void LocalBackplane::Broadcast(absl::string_view verb, absl::string_view nick,
                               absl::string_view tail, SentCallback done) {
  const uint64_t sequence = next_sequence_++;
  text_.clear();
  absl::StrAppend(&text_, verb, " ", sequence, " ", nick);
  if (!tail.empty()) absl::StrAppend(&text_, " ", tail);
  if (deliver_) deliver_(text_);
  if (history_size_ > 0) {
    if (history_.size() < history_size_) {
      history_.push_back(Held{sequence, text_});
    } else {
      history_[history_next_].sequence = sequence;
      history_[history_next_].text.assign(text_);
    }
    history_next_ = (history_next_ + 1) % history_size_;
  }
  done(absl::OkStatus(), text_);
}

void LocalBackplane::Leave(absl::string_view nick, absl::string_view reason, SentCallback done) {
  // The nick goes first, so the LEFT it is told about is already true.
  const std::string gone(nick);
  nicks_.erase(gone);
  Broadcast("LEFT", gone, reason, std::move(done));
}

void LocalBackplane::Members(ListCallback done) {
  listing_.clear();
  for (const std::string& nick : nicks_) listing_.push_back(nick);
  done(absl::OkStatus(), listing_);
}

void LocalBackplane::History(uint64_t from_sequence, ListCallback done) {
  listing_.clear();
  const size_t held = history_.size();
  const size_t start = held < history_size_ ? 0 : history_next_;
  for (size_t i = 0; i < held; ++i) {
    const Held& broadcast = history_[(start + i) % held];
    if (broadcast.sequence >= from_sequence) listing_.push_back(broadcast.text);
  }
  done(absl::OkStatus(), listing_);
}

}  // namespace switchboard
