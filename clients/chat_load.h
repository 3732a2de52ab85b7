// Copyright Switchboard authors.
//
// chat_load.h: the chat scenario of LoadGenerator (part of
// //clients:load_generator, not for other users):
//   ChatText       the text of every chat message of a run, and its check.
//   NewChatMember  a member of the room on a UDP socket of its own: it
//                  joins in two steps, sends messages on its share of the
//                  schedule, and counts and times the broadcasts it hears.

#ifndef SWITCHBOARD_CLIENTS_CHAT_LOAD_H_
#define SWITCHBOARD_CLIENTS_CHAT_LOAD_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "clients/load_thread.h"

namespace switchboard {

// The text of every chat message of a run: 32 hex digits (16 of the time
// the message was due, in nanoseconds after the run's start; 6 of the
// member's number; 10 of the message's), then printable filler that shifts
// with the message, `size` bytes in all (kMinChatText or more). Immutable,
// shared by the threads.
class ChatText {
 public:
  explicit ChatText(size_t size);

  size_t size() const { return size_; }
  // Writes message `seq` of member `member`, due `due_ns` after the run's
  // start: size() bytes at `out`.
  void Write(uint64_t due_ns, uint32_t member, uint64_t seq, char* out) const;
  // True when `text` is a whole message of this run; sets `*due_ns`.
  bool Read(absl::string_view text, uint64_t* due_ns) const;

 private:
  static constexpr size_t kDigits = 32;
  static size_t Offset(uint32_t member, uint64_t seq);

  const size_t size_;
  std::string filler_;  // the pattern, long enough for any shift
};

// Member `id` of `thread`, nick `load<id>-<run id>`, sending `text`.
std::unique_ptr<LoadClient> NewChatMember(LoadThread* thread, uint32_t id, const ChatText& text);

}  // namespace switchboard

#endif  // SWITCHBOARD_CLIENTS_CHAT_LOAD_H_
