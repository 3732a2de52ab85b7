// Copyright Switchboard authors.

#include "services/chat/chat_room.h"

#include <sodium.h>

#include <algorithm>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "glog/logging.h"
#include "services/chat/local_backplane.h"
#include "services/common/text.h"

namespace switchboard {
namespace {

constexpr absl::string_view kNickRule =
    "ERR 400 a nick is 1 to 32 characters, without spaces or control characters";

// 16 random bytes, base64url without padding.
std::string NewMemberKey() {
  unsigned char bytes[16];
  randombytes_buf(bytes, sizeof bytes);
  char text[sodium_base64_ENCODED_LEN(sizeof bytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
  sodium_bin2base64(text, sizeof text, bytes, sizeof bytes,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  return std::string(text);
}

bool IsValidNick(absl::string_view nick) {
  if (nick.empty() || !IsValidUtf8(nick)) return false;
  const size_t characters = Utf8Length(nick);
  return characters <= kMaxNickChars && !HasWhitespace(nick) && !HasControlCharacter(nick);
}

// "ERR 503 <reason>" for a backplane that cannot serve now.
std::string Unavailable(const absl::Status& status) {
  return absl::StrCat("ERR 503 ", status.message());
}

}  // namespace

ChatRoom::ChatRoom(const ChatOptions& options, ChatOutput* output,
                   std::unique_ptr<ChatBackplane> backplane)
    : options_(options),
      output_(output),
      backplane_(backplane != nullptr ? std::move(backplane)
                                      : std::make_unique<LocalBackplane>(options.history)) {
  backplane_->SetDelivery([this](absl::string_view text) { Deliver(text); });
}

void ChatRoom::OnDatagram(const InetAddress& from, absl::string_view data, size_t size,
                          absl::Time now) {
  const PeerKey peer = PeerKey::Of(from);
  auto it = members_.find(peer);
  Member* member = it == members_.end() ? nullptr : &it->second;
  if (size > kMaxChatDatagram) {
    if (member != nullptr) Reply(*member, "ERR 413 too large");
    return;
  }
  // What `nc -u` adds.
  if (absl::ConsumeSuffix(&data, "\n")) absl::ConsumeSuffix(&data, "\r");
  if (!IsValidUtf8(data)) {
    if (member != nullptr) Reply(*member, "ERR 400 not UTF-8");
    return;
  }
  const size_t space = data.find(' ');
  const absl::string_view verb = data.substr(0, space);
  const absl::string_view args =
      space == absl::string_view::npos ? absl::string_view() : data.substr(space + 1);
  if (verb == "JOIN") {
    Join(from, peer, member, args, now);
    return;
  }
  // Strangers get nothing for anything else: no amplification, and no way
  // to probe who is in the room.
  if (member == nullptr) return;
  MemberCommand(*member, peer, verb, args, now);
}

void ChatRoom::Join(const InetAddress& from, const PeerKey& peer, Member* member,
                    absl::string_view args, absl::Time now) {
  const size_t space = args.find(' ');
  const absl::string_view nick = args.substr(0, space);
  if (nick.empty()) {
    if (member != nullptr) Reply(*member, "ERR 400 usage: JOIN <nick> [<cookie>]");
    return;
  }
  if (space == absl::string_view::npos) {
    // A nick that could never join gets no cookie: a stranger gets nothing
    // for it, as for anything else wrong.
    if (!IsValidNick(nick)) {
      if (member != nullptr) output_->SendTo(from, kNickRule);
      return;
    }
    // Step one, the only reply a stranger ever gets: "COOKIE " and 11
    // characters, 18 bytes, while the shortest request ("JOIN x") is 6.
    text_.assign("COOKIE ");
    text_.append(cookies_.Make(peer, now));
    const size_t request = 5 + args.size();
    if (text_.size() <= 3 * request) output_->SendTo(from, text_);
    return;
  }
  if (!cookies_.Check(peer, args.substr(space + 1), now)) {
    if (member != nullptr) Reply(*member, "ERR 403 bad cookie");
    return;
  }
  // The address has shown it receives what is sent to it: errors may go.
  if (member != nullptr) return Reply(*member, "ERR 409 already joined; LEAVE first");
  if (joining_.contains(peer)) return;  // the first JOIN's answer is on its way
  if (!IsValidNick(nick)) return output_->SendTo(from, kNickRule);
  if (absl::Status up = backplane_->Available(); !up.ok()) {
    return output_->SendTo(from, Unavailable(up));
  }
  if (options_.max_members_per_address > 0) {
    size_t& places = per_host_[peer.Host()];
    if (places >= options_.max_members_per_address) {
      return output_->SendTo(from, "ERR 503 too many members from your address");
    }
    ++places;
  }
  joining_.insert(peer);
  backplane_->Join(nick, options_.max_members,
                   [this, from, peer, now, name = std::string(nick)](absl::StatusOr<size_t> count) {
                     joining_.erase(peer);
                     if (count.ok()) return Admit(from, name, *count, now);
                     ReleaseHostPlace(peer);
                     switch (count.status().code()) {
                       case absl::StatusCode::kAlreadyExists:
                         return output_->SendTo(from, "ERR 409 nick taken");
                       case absl::StatusCode::kResourceExhausted:
                         return output_->SendTo(from, "ERR 503 room full");
                       default:
                         return output_->SendTo(from, Unavailable(count.status()));
                     }
                   });
}

void ChatRoom::Admit(const InetAddress& from, absl::string_view nick, size_t count,
                     absl::Time now) {
  const PeerKey peer = PeerKey::Of(from);
  Member joined{std::string(nick), NewMemberKey(),   from, now, options_.burst, now,
                addresses_.size(), next_member_id_++};
  addresses_.push_back(from);
  slot_owners_.push_back(peer);
  Member& added = members_.emplace(peer, std::move(joined)).first->second;
  text_.clear();
  absl::StrAppend(&text_, "OK ", added.key, " ", count);
  Reply(added, text_);
  LOG(INFO) << "chat: " << added.nick << " joined from " << from.ToString() << " ("
            << members_.size() << " members here, " << count << " in the room)";
  backplane_->Broadcast("JOINED", added.nick, {},
                        [this, id = added.id](const absl::Status& status, absl::string_view) {
                          if (!status.ok()) BroadcastFailed(id, status);
                        });
}

void ChatRoom::MemberCommand(Member& member, const PeerKey& peer, absl::string_view verb,
                             absl::string_view args, absl::Time now) {
  if (verb != "MSG" && verb != "WHO" && verb != "PING" && verb != "HISTORY" && verb != "LEAVE") {
    return Reply(member, "ERR 500 unknown command");
  }
  const size_t space = args.find(' ');
  const absl::string_view key = args.substr(0, space);
  const bool more = space != absl::string_view::npos;
  const absl::string_view rest = more ? args.substr(space + 1) : absl::string_view();
  if (key.size() != kMemberKeyChars ||
      sodium_memcmp(key.data(), member.key.data(), kMemberKeyChars) != 0) {
    return Reply(member, "ERR 403 bad key");
  }
  if (!TakeToken(member, now)) return Reply(member, "ERR 429 slow down");
  member.last_heard = now;

  if (verb == "PING") {
    if (more) return Reply(member, "ERR 400 usage: PING <key>");
    return Reply(member, "PONG");
  }
  // Everything else needs the room's shared state.
  if (absl::Status up = backplane_->Available(); !up.ok()) return Reply(member, Unavailable(up));
  if (verb == "MSG") {
    if (rest.empty()) return Reply(member, "ERR 400 empty text");
    // "MSG <seq> <nick> <text>" must fit in one datagram (the backplane
    // checks again with the number it really gives).
    const size_t size = 4 + absl::StrCat(backplane_->next_sequence()).size() + 1 +
                        member.nick.size() + 1 + rest.size();
    if (size > kMaxChatDatagram) return Reply(member, "ERR 413 too large");
    VLOG(1) << "chat: " << member.nick << " says " << rest.size() << " bytes";
    backplane_->Broadcast("MSG", member.nick, rest,
                          [this, id = member.id](const absl::Status& status, absl::string_view) {
                            if (!status.ok()) BroadcastFailed(id, status);
                          });
  } else if (verb == "WHO") {
    if (more) return Reply(member, "ERR 400 usage: WHO <key>");
    SendWho(member);
  } else if (verb == "HISTORY") {
    uint64_t from_sequence = 0;
    if (!more || !absl::SimpleAtoi(rest, &from_sequence) || !absl::ascii_isdigit(rest[0])) {
      return Reply(member, "ERR 400 usage: HISTORY <key> <from-seq>");
    }
    SendHistory(member, from_sequence);
  } else {  // LEAVE
    if (more) return Reply(member, "ERR 400 usage: LEAVE <key>");
    const std::string nick = member.nick;
    const InetAddress address = member.address;
    Remove(peer);
    LOG(INFO) << "chat: " << nick << " left (" << members_.size() << " members here)";
    // The one leaving hears it too: its proof that the LEAVE arrived.
    backplane_->Leave(nick, "leave",
                      [this, address](const absl::Status& status, absl::string_view text) {
                        output_->SendTo(address, status.ok() ? text : Unavailable(status));
                      });
  }
}

void ChatRoom::SendWho(const Member& member) {
  backplane_->Members([this, to = member.address](const absl::Status& status,
                                                  absl::Span<const absl::string_view> nicks) {
    if (!status.ok()) return output_->SendTo(to, Unavailable(status));
    text_.assign("MEMBERS");
    for (absl::string_view nick : nicks) {
      if (text_.size() + 1 + nick.size() > kMaxChatDatagram) {
        output_->SendTo(to, text_);
        text_.assign("MEMBERS");
      }
      text_.push_back(' ');
      text_.append(nick.data(), nick.size());
    }
    if (!nicks.empty()) output_->SendTo(to, text_);
    output_->SendTo(to, "END WHO");
  });
}

void ChatRoom::SendHistory(const Member& member, uint64_t from_sequence) {
  backplane_->History(from_sequence,
                      [this, to = member.address](const absl::Status& status,
                                                  absl::Span<const absl::string_view> broadcasts) {
                        if (!status.ok()) return output_->SendTo(to, Unavailable(status));
                        for (absl::string_view broadcast : broadcasts)
                          output_->SendTo(to, broadcast);
                        output_->SendTo(to, "END HISTORY");
                      });
}

bool ChatRoom::TakeToken(Member& member, absl::Time now) {
  const double elapsed = std::max(0.0, absl::ToDoubleSeconds(now - member.refilled));
  member.tokens = std::min(options_.burst, member.tokens + elapsed * options_.rate);
  member.refilled = now;
  if (member.tokens < 1) return false;
  member.tokens -= 1;
  return true;
}

void ChatRoom::Deliver(absl::string_view text) { output_->SendToEach(addresses_, text); }

void ChatRoom::BroadcastFailed(uint64_t id, const absl::Status& status) {
  // Rare (the backplane was lost with the request under way): a scan will do.
  for (const auto& [peer, member] : members_) {
    if (member.id != id) continue;
    if (status.code() == absl::StatusCode::kOutOfRange) return Reply(member, "ERR 413 too large");
    return Reply(member, Unavailable(status));
  }
}

void ChatRoom::ExpireIdleMembers(absl::Time now) {
  std::vector<PeerKey> idle;
  for (const auto& [peer, member] : members_) {
    if (now - member.last_heard >= options_.member_timeout) idle.push_back(peer);
  }
  for (const PeerKey& peer : idle) {
    const std::string nick = members_.find(peer)->second.nick;
    Remove(peer);
    LOG(INFO) << "chat: " << nick << " timed out after "
              << absl::FormatDuration(options_.member_timeout) << " of silence (" << members_.size()
              << " members here)";
    // Lost with the backplane, the nick is freed when its lease runs out.
    backplane_->Leave(nick, "timeout", [](const absl::Status&, absl::string_view) {});
  }
}

void ChatRoom::ReleaseHostPlace(const PeerKey& peer) {
  if (options_.max_members_per_address == 0) return;
  auto it = per_host_.find(peer.Host());
  if (it != per_host_.end() && --it->second == 0) per_host_.erase(it);
}

void ChatRoom::Remove(const PeerKey& peer) {
  auto it = members_.find(peer);
  if (it == members_.end()) return;
  ReleaseHostPlace(peer);
  const size_t slot = it->second.slot;
  const size_t last = addresses_.size() - 1;
  if (slot != last) {
    addresses_[slot] = addresses_[last];
    slot_owners_[slot] = slot_owners_[last];
    members_.find(slot_owners_[slot])->second.slot = slot;
  }
  addresses_.pop_back();
  slot_owners_.pop_back();
  members_.erase(it);
}

void ChatRoom::Reply(const Member& member, absl::string_view text) {
  output_->SendTo(member.address, text);
}

}  // namespace switchboard
