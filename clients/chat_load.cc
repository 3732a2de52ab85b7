// Copyright Switchboard authors.

#include "clients/chat_load.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "clients/open_loop_schedule.h"
#include "reactor/udp_socket.h"

namespace switchboard {
namespace {

// Chat members per source address when the target is on loopback.
constexpr uint32_t kMembersPerLoopbackAddress = 32;

constexpr absl::string_view kAlphabet =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr size_t kPatternPeriod = 61;  // a prime: see echo_pattern.cc
constexpr uint64_t kPatternShift = 7;
constexpr char kHex[] = "0123456789abcdef";

// The server drops a member silent for --chat_timeout (60 s by default);
// clients PING every 20 s (SPEC.md), and so does a member with nothing to say.
constexpr absl::Duration kKeepAlive = absl::Seconds(20);
// The drain lasts at least this long, so that a message another thread
// sends as its window closes still finds every member listening.
constexpr absl::Duration kMinDrain = absl::Milliseconds(10);
// A datagram of the server is at most 1200 bytes: a slot of more shows
// (as truncated) one that breaks that.
constexpr size_t kReceiveSlot = 1280;

void WriteHex(uint64_t value, int digits, char* out) {
  for (int i = digits - 1; i >= 0; --i, value >>= 4) out[i] = kHex[value & 0xf];
}

// Parses `digits` lower-case hex digits; false for anything else.
bool ReadHex(const char* in, int digits, uint64_t* value) {
  uint64_t v = 0;
  for (int i = 0; i < digits; ++i) {
    const char c = in[i];
    uint64_t d;
    if (c >= '0' && c <= '9') {
      d = static_cast<uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      d = static_cast<uint64_t>(c - 'a' + 10);
    } else {
      return false;
    }
    v = (v << 4) | d;
  }
  *value = v;
  return true;
}

// One member of the room. Loop thread only.
//
// Joining: `JOIN <nick>` until a COOKIE comes, then `JOIN <nick> <cookie>`
// until OK comes; each resent after a quarter of the timeout without an
// answer, the whole join bounded by the timeout. Then `MSG <key> <text>`
// on the member's share of the schedule, phases spread over the members.
// Every datagram heard counts as an answer; a member that hears nothing for
// the timeout after sending has lost the server. At the end of the drain it
// sends LEAVE, so that the room does not keep it until --chat_timeout.
class ChatLoadMember final : public LoadClient {
 public:
  ChatLoadMember(LoadThread* thread, uint32_t id, const ChatText& text)
      : thread_(thread),
        config_(thread->config()),
        timeline_(thread->timeline()),
        tally_(thread->chat()),
        text_(text),
        id_(id),
        target_(config_.TargetFor(id)),
        nick_(absl::StrCat("load", id, "-", thread->run_id())),
        run_suffix_(absl::StrCat("-", thread->run_id())),
        join_retry_(
            std::clamp(config_.timeout / 4, absl::Milliseconds(50), absl::Milliseconds(500))),
        schedule_(config_.rate, config_.connections, id) {}
  ChatLoadMember(const ChatLoadMember&) = delete;
  ChatLoadMember& operator=(const ChatLoadMember&) = delete;

  // LoadClient
  void Open() override;
  bool sending() const override { return state_ == State::kJoined; }
  absl::Time SendDue(absl::Time now) override;
  void Check(absl::Time now) override;
  void EndWindow(absl::Time now, LoadStats* stats) override;

 private:
  // kCookie: JOIN sent, waiting for the cookie; kJoining: JOIN with the
  // cookie sent, waiting for OK.
  enum class State { kIdle, kCookie, kJoining, kJoined, kDraining, kClosed };

  std::string Who() const { return absl::StrCat("member ", id_, " (", nick_, ")"); }

  void Send(absl::string_view datagram, absl::Time now);
  void SendJoin(absl::Time now);
  void HandleDatagram(const ReceivedDatagram& datagram);
  void Joined(absl::string_view args, absl::Time now);
  void HandleBroadcast(absl::string_view args, absl::Time now);
  void HandleError(absl::string_view reply);
  void Fail(LoadErrorKind kind, absl::FunctionRef<std::string()> describe);
  // Ends the membership: LEAVE when joined, then closed.
  void Close();

  LoadThread* const thread_;
  const LoadConfig& config_;
  const Timeline& timeline_;
  ChatTally* const tally_;
  const ChatText& text_;
  const uint32_t id_;
  const InetAddress target_;  // the server this member joins
  const std::string nick_;
  const std::string run_suffix_;  // what ends the nicks of this run
  const absl::Duration join_retry_;
  OpenLoopSchedule schedule_;

  State state_ = State::kIdle;
  // Kept until the member is destroyed, even once closed: a receive
  // callback must not destroy its socket.
  std::unique_ptr<UdpSocket> socket_;
  std::string cookie_;
  std::string key_;
  // "MSG <key> " and room for the text: each message is written over the
  // text in place, so steady sending allocates nothing.
  std::string datagram_;
  size_t text_at_ = 0;
  uint64_t sent_ = 0;  // messages sent
  absl::Time join_started_;
  absl::Time join_sent_;  // the latest JOIN datagram
  absl::Time last_sent_;
  // The first send since the last datagram heard; InfiniteFuture() when
  // everything sent has been answered by something.
  absl::Time unanswered_since_ = absl::InfiniteFuture();
  absl::Time drain_started_;
  absl::Time drain_deadline_;
};

void ChatLoadMember::Open() {
  if (state_ != State::kIdle) return;
  const absl::Time now = thread_->loop()->Now();
  InetAddress local;  // 0.0.0.0:0
  if (target_.is_ipv6()) {
    absl::StatusOr<InetAddress> any = InetAddress::Parse("::", 0);
    if (any.ok()) local = *any;
  } else if (absl::StartsWith(target_.IpString(), "127.")) {
    // On loopback, members come from many addresses of 127.0.0.0/8, as
    // many hosts would: a server caps the members of one address
    // (--chat_max_members_per_address, 64 by default).
    absl::StatusOr<InetAddress> source = InetAddress::Parse(
        absl::StrCat("127.0.0.", 1 + (id_ / kMembersPerLoopbackAddress) % 254), 0);
    if (source.ok()) local = *source;
  }
  UdpSocketOptions options;
  options.receive_slot = kReceiveSlot;
  options.batch = 16;
  absl::StatusOr<std::unique_ptr<UdpSocket>> socket =
      UdpSocket::Bind(thread_->loop(), local, options);
  if (!socket.ok()) {
    Fail(LoadErrorKind::kConnect,
         [&] { return absl::StrCat(Who(), ": no UDP socket: ", socket.status().message()); });
    return;
  }
  socket_ = *std::move(socket);
  socket_->Start([this](const ReceivedDatagram& datagram) { HandleDatagram(datagram); });
  state_ = State::kCookie;
  join_started_ = now;
  SendJoin(now);
}

void ChatLoadMember::Send(absl::string_view datagram, absl::Time now) {
  socket_->SendTo(target_, datagram);
  socket_->Flush();
  last_sent_ = now;
  if (unanswered_since_ == absl::InfiniteFuture()) unanswered_since_ = now;
}

void ChatLoadMember::SendJoin(absl::Time now) {
  join_sent_ = now;
  Send(state_ == State::kCookie ? absl::StrCat("JOIN ", nick_)
                                : absl::StrCat("JOIN ", nick_, " ", cookie_),
       now);
}

absl::Time ChatLoadMember::SendDue(absl::Time now) {
  if (state_ != State::kJoined) return absl::InfiniteFuture();
  if (now < schedule_.start()) return schedule_.start();
  const uint64_t due = schedule_.Due(now);
  if (sent_ < due) {
    // Each message owes one delivery to every member in the room now.
    const uint64_t members =
        static_cast<uint64_t>(std::max(0, tally_->joined.load(std::memory_order_relaxed)));
    const size_t size = text_.size();
    uint64_t owed = 0;
    {
      absl::MutexLock lock(thread_->stats_mutex());
      LoadStats& stats = thread_->stats();
      for (; sent_ < due; ++sent_) {
        const absl::Time at = schedule_.Intended(sent_);
        text_.Write(static_cast<uint64_t>(absl::ToInt64Nanoseconds(at - timeline_.start)), id_,
                    sent_, datagram_.data() + text_at_);
        socket_->SendTo(target_, datagram_);
        ++stats.replies_total;
        stats.bytes_total += size;
        if (timeline_.InWindow(at)) {
          ++stats.messages;
          stats.bytes += size;
          stats.expected += members;
          owed += members;
        }
      }
    }
    if (owed != 0) tally_->owed.fetch_add(owed, std::memory_order_relaxed);
    socket_->Flush();
    last_sent_ = now;
    if (unanswered_since_ == absl::InfiniteFuture()) unanswered_since_ = now;
  }
  return schedule_.Intended(sent_);
}

void ChatLoadMember::Check(absl::Time now) {
  switch (state_) {
    case State::kCookie:
    case State::kJoining:
      if (now - join_started_ >= config_.timeout) {
        Fail(LoadErrorKind::kTimeout, [&] {
          return absl::StrCat(Who(), ": no answer to JOIN from ", target_.ToString(), " within ",
                              absl::FormatDuration(config_.timeout),
                              " (is the target the chat service's UDP port?)");
        });
      } else if (now - join_sent_ >= join_retry_) {
        SendJoin(now);  // the datagram or its answer may have been lost
      }
      break;
    case State::kJoined:
      if (now - unanswered_since_ >= config_.timeout) {
        Fail(LoadErrorKind::kTimeout, [&] {
          return absl::StrCat(Who(), ": nothing heard for ", absl::FormatDuration(config_.timeout),
                              " after sending");
        });
      } else if (now - last_sent_ >= kKeepAlive) {
        Send(absl::StrCat("PING ", key_), now);
      }
      break;
    case State::kDraining:
      if (now >= drain_deadline_ || (now - drain_started_ >= kMinDrain && tally_->AllDelivered())) {
        Close();
      }
      break;
    case State::kIdle:
    case State::kClosed:
      break;
  }
}

void ChatLoadMember::EndWindow(absl::Time now, LoadStats* stats) {
  switch (state_) {
    case State::kIdle:
    case State::kCookie:
    case State::kJoining:
      Close();  // not an error: the run is over
      return;
    case State::kJoined:
      ++stats->open_at_end;
      stats->behind_at_end += schedule_.Behind(now, sent_);
      state_ = State::kDraining;
      drain_started_ = now;
      drain_deadline_ = now + config_.drain_timeout;
      return;
    case State::kDraining:
    case State::kClosed:
      return;
  }
}

void ChatLoadMember::HandleDatagram(const ReceivedDatagram& datagram) {
  if (state_ == State::kClosed || state_ == State::kIdle) return;
  const absl::Time now = thread_->loop()->Now();
  unanswered_since_ = absl::InfiniteFuture();
  const absl::string_view data = datagram.data;
  if (absl::StartsWith(data, "MSG ")) {
    if (state_ == State::kJoined || state_ == State::kDraining) {
      HandleBroadcast(data.substr(4), now);
    }
  } else if (absl::StartsWith(data, "COOKIE ")) {
    if (state_ == State::kCookie) {
      cookie_ = std::string(data.substr(7));
      state_ = State::kJoining;
      SendJoin(now);
    }
  } else if (absl::StartsWith(data, "OK ")) {
    if (state_ == State::kJoining) Joined(data.substr(3), now);
  } else if (absl::StartsWith(data, "ERR ")) {
    HandleError(data);
  }
  // JOINED, LEFT, PONG: nothing to count.
}

void ChatLoadMember::Joined(absl::string_view args, absl::Time now) {
  key_ = std::string(args.substr(0, args.find(' ')));
  if (key_.empty()) {
    Fail(LoadErrorKind::kMismatch, [&] { return absl::StrCat(Who(), ": OK without a key"); });
    return;
  }
  datagram_ = absl::StrCat("MSG ", key_, " ");
  text_at_ = datagram_.size();
  datagram_.resize(text_at_ + text_.size());
  state_ = State::kJoined;
  tally_->joined.fetch_add(1, std::memory_order_relaxed);
  {
    absl::MutexLock lock(thread_->stats_mutex());
    ++thread_->stats().open_connections;
    ++thread_->stats().connections_opened;
  }
  last_sent_ = now;
  schedule_.Start(now);
}

void ChatLoadMember::HandleBroadcast(absl::string_view args, absl::Time now) {
  // "<seq> <nick> <text>"
  const size_t seq_end = args.find(' ');
  if (seq_end == absl::string_view::npos) return;
  const absl::string_view rest = args.substr(seq_end + 1);
  const size_t nick_end = rest.find(' ');
  if (nick_end == absl::string_view::npos) return;
  const absl::string_view nick = rest.substr(0, nick_end);
  // Someone else's message (a person in the room, an earlier run).
  if (!absl::StartsWith(nick, "load") || !absl::EndsWith(nick, run_suffix_)) return;
  const absl::string_view text = rest.substr(nick_end + 1);
  uint64_t due_ns = 0;
  if (!text_.Read(text, &due_ns)) {
    thread_->RecordError(LoadErrorKind::kMismatch, [&] {
      return absl::StrCat(Who(), ": a broadcast from ", nick, " came back as ", QuoteReply(text));
    });
    return;
  }
  const absl::Time due = timeline_.start + absl::Nanoseconds(static_cast<int64_t>(due_ns));
  const bool in_window = timeline_.InWindow(due);
  {
    absl::MutexLock lock(thread_->stats_mutex());
    LoadStats& stats = thread_->stats();
    ++stats.deliveries_total;
    if (in_window) {
      ++stats.deliveries;
      thread_->latency().Record(absl::ToInt64Nanoseconds(now - due));
    }
  }
  if (in_window) tally_->delivered.fetch_add(1, std::memory_order_relaxed);
}

void ChatLoadMember::HandleError(absl::string_view reply) {
  // The answer to a JOIN resent while its OK was on the way.
  if (state_ != State::kCookie && state_ != State::kJoining &&
      absl::StartsWith(reply, "ERR 409 already joined")) {
    return;
  }
  thread_->RecordRejection(reply, [&] { return absl::StrCat(Who(), ": ", QuoteReply(reply)); });
  // Refused entry: there is nothing more this member can do.
  if (state_ == State::kCookie || state_ == State::kJoining) Close();
}

void ChatLoadMember::Fail(LoadErrorKind kind, absl::FunctionRef<std::string()> describe) {
  if (state_ == State::kClosed) return;
  thread_->RecordError(kind, describe);
  Close();
}

void ChatLoadMember::Close() {
  if (state_ == State::kClosed) return;
  if (state_ == State::kJoined || state_ == State::kDraining) {
    Send(absl::StrCat("LEAVE ", key_), thread_->loop()->Now());
    tally_->joined.fetch_sub(1, std::memory_order_relaxed);
    absl::MutexLock lock(thread_->stats_mutex());
    --thread_->stats().open_connections;
  }
  state_ = State::kClosed;
  thread_->ClientClosed();
}

}  // namespace

// ---------------------------------------------------------------- ChatText

ChatText::ChatText(size_t size) : size_(size), filler_(size + kPatternPeriod, '\0') {
  for (size_t i = 0; i < filler_.size(); ++i) filler_[i] = kAlphabet[i % kPatternPeriod];
}

size_t ChatText::Offset(uint32_t member, uint64_t seq) {
  return static_cast<size_t>((seq * kPatternShift + member) % kPatternPeriod);
}

void ChatText::Write(uint64_t due_ns, uint32_t member, uint64_t seq, char* out) const {
  WriteHex(due_ns, 16, out);
  WriteHex(member & 0xffffff, 6, out + 16);
  WriteHex(seq & 0xffffffffff, 10, out + 22);
  std::memcpy(out + kDigits, filler_.data() + Offset(member, seq), size_ - kDigits);
}

bool ChatText::Read(absl::string_view text, uint64_t* due_ns) const {
  if (text.size() != size_) return false;
  uint64_t member = 0;
  uint64_t seq = 0;
  if (!ReadHex(text.data(), 16, due_ns) || !ReadHex(text.data() + 16, 6, &member) ||
      !ReadHex(text.data() + 22, 10, &seq)) {
    return false;
  }
  return std::memcmp(text.data() + kDigits,
                     filler_.data() + Offset(static_cast<uint32_t>(member), seq),
                     size_ - kDigits) == 0;
}

std::unique_ptr<LoadClient> NewChatMember(LoadThread* thread, uint32_t id, const ChatText& text) {
  return std::make_unique<ChatLoadMember>(thread, id, text);
}

}  // namespace switchboard
