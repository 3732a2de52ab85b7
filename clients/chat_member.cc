// Copyright Switchboard authors.

#include "clients/chat_member.h"

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace switchboard {
namespace {

// The server's limit on a datagram.
constexpr size_t kMaxDatagram = 1200;

}  // namespace

ChatMember::Event ChatMember::OnDatagram(absl::string_view datagram) {
  Event event;
  const std::vector<absl::string_view> words = absl::StrSplit(datagram, absl::MaxSplits(' ', 3));
  const absl::string_view verb = words[0];
  if (verb == "COOKIE" && words.size() == 2 && !joined()) {
    event.send.push_back(absl::StrCat("JOIN ", nick_, " ", words[1]));
  } else if (verb == "OK" && words.size() == 3 && !joined()) {
    key_ = std::string(words[1]);
    event.show.push_back(absl::StrCat("* joined as ", nick_, "; ", words[2],
                                      " member(s) here. /who lists them, /quit leaves."));
  } else if (verb == "ERR") {
    event.show.push_back(absl::StrCat("! ", datagram));
    if (!joined()) event.refused = true;
  } else if ((verb == "MSG" || verb == "JOINED" || verb == "LEFT") && words.size() >= 3) {
    uint64_t sequence = 0;
    if (!absl::SimpleAtoi(words[1], &sequence)) return event;
    const bool late = sequence <= last_sequence_;
    if (!Sequence(sequence, event)) return event;
    const absl::string_view who = words[2];
    const absl::string_view rest = words.size() > 3 ? words[3] : absl::string_view();
    std::string line;
    if (verb == "MSG") {
      line = absl::StrCat("<", who, "> ", rest);
    } else if (verb == "JOINED") {
      line = absl::StrCat("* ", who, " joined");
    } else {
      line = absl::StrCat("* ", who, rest == "timeout" ? " timed out" : " left");
      if (who == nick_ && rest == "leave") event.left = true;
    }
    if (late) line = absl::StrCat(line, "   (late, #", sequence, ")");
    event.show.push_back(std::move(line));
  } else if (verb == "MEMBERS") {
    const absl::string_view nicks = datagram.size() > 8 ? datagram.substr(8) : "";
    for (absl::string_view nick : absl::StrSplit(nicks, ' ', absl::SkipEmpty())) {
      who_.emplace_back(nick);
    }
  } else if (datagram == "END WHO") {
    event.show.push_back(absl::StrCat("* here: ", absl::StrJoin(who_, ", ")));
    who_.clear();
  }
  // PONG, END HISTORY and anything unknown show nothing.
  return event;
}

bool ChatMember::Sequence(uint64_t sequence, Event& event) {
  if (last_sequence_ == 0) {
    last_sequence_ = sequence;  // the first one sets the baseline
    return true;
  }
  if (sequence <= last_sequence_) {
    // From HISTORY, or the network doubled it: show a missing one once.
    return missing_.erase(sequence) > 0;
  }
  if (sequence > last_sequence_ + 1) {
    const uint64_t first = last_sequence_ + 1;
    for (uint64_t s = first; s < sequence && missing_.size() < kMaxMissing; ++s) {
      missing_.insert(s);
    }
    event.show.push_back(
        absl::StrCat("* missed ", sequence - first, " broadcast(s); asking for them"));
    event.send.push_back(absl::StrCat("HISTORY ", key_, " ", first));
  }
  last_sequence_ = sequence;
  return true;
}

ChatMember::Command ChatMember::OnTyped(absl::string_view line) const {
  Command command;
  if (absl::ConsumeSuffix(&line, "\n")) absl::ConsumeSuffix(&line, "\r");
  if (line.empty()) return command;
  if (line == "/quit") {
    command.send = absl::StrCat("LEAVE ", key_);
    command.quit = true;
  } else if (line == "/who") {
    command.send = absl::StrCat("WHO ", key_);
  } else if (line[0] == '/') {
    command.show = "* commands: /who lists the members, /quit leaves; anything else is said";
  } else {
    std::string message = absl::StrCat("MSG ", key_, " ", line);
    if (message.size() > kMaxDatagram) {
      command.show =
          absl::StrCat("! too long by ", message.size() - kMaxDatagram, " bytes; not sent");
    } else {
      command.send = std::move(message);
    }
  }
  return command;
}

void ChatMember::Reset() {
  key_.clear();
  last_sequence_ = 0;
  missing_.clear();
  who_.clear();
}

}  // namespace switchboard
