// Copyright Switchboard authors.
//
// The chat room end to end: how many messages a second reach every member,
// with the real server (ChatService on its own loop thread, 127.0.0.1) and
// the protocol of SPEC.md "chat (UDP)".
//
// The benchmark thread owns the members: N non-blocking UDP sockets on
// 127.0.0.1, each connected to the server, joined with the two-step JOIN
// before the timed loop (the room is then at exactly N). Member 0 sends
// `MSG <key> <id> <padding>`, keeping kWindow messages in flight: it sends
// another whenever fewer than kWindow are not yet fully delivered. The
// broadcasts are read with epoll + recvmmsg (MSG_DONTWAIT) across all the
// member sockets; a message counts as delivered when every member, the
// sender included, has received its `MSG <seq> <nick> <id> ...`. One that
// has not reached everyone kLossTimeout after it was sent is counted lost
// and forgotten, so a lost datagram never hangs the benchmark.
//
// One iteration is one message retired (delivered or lost); the time per
// iteration is thus the inverse of the throughput. Counters:
//   msgs/s         messages delivered to all members, per second
//   datagrams/s    MSG broadcasts received, per second (msgs/s x members)
//   lost           messages that missed at least one member (should be 0)
//   latency_us     mean time from send to the last member's receipt
//   server_dropped datagrams the server's socket dropped (full send queue)
//   errors         ERR replies the sender got (should be 0)
//   send_errors    MSGs the kernel refused to send (should be 0)
//
//   ./bazelw run -c opt //bench:chat_broadcast_bench
//
// Measured (2 cores, loopback, window 16, 64-byte text; median of 3 runs):
// 10 members 31k msgs/s, 100 members 3.2k, 1000 members 296; about 300k
// datagrams/s whatever the size, no losses. Another 2 busy threads on the
// machine cut that to ~175k.
//
// The room's per-member rate limit is set out of the way (rate and burst
// 1e9) and the idle timeout to a day, so only the sender ever talks. The
// room and its joined members are kept from one run of a benchmark to the
// next (Google Benchmark calls the function several times to size the
// iteration count, and joining 1000 members costs ~500k JOINED datagrams).
//
// Caveats: on a 2-core machine this benchmark's receiving thread competes
// with the server's loop thread for the CPUs, and over loopback the server's
// sendmmsg also does the receivers' side of the delivery (softirq on its
// CPU), which a real NIC would not.

#include <errno.h>
#include <netinet/in.h>
#include <sodium.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "glog/logging.h"
#include "process/open_file_limit.h"
#include "reactor/event_loop.h"
#include "reactor/inet_address.h"
#include "reactor/poller.h"
#include "services/chat/chat_room.h"
#include "services/chat/chat_service.h"

namespace switchboard {
namespace {

// Messages in flight: another is sent whenever fewer are not yet delivered
// to every member.
constexpr size_t kWindow = 16;
// Bytes of each message's text, its id included.
constexpr size_t kTextBytes = 64;
// A message that has not reached every member this long after it was sent
// is counted lost.
constexpr auto kLossTimeout = std::chrono::seconds(1);
// Joins are sent in groups, each answered before the next is sent. Every
// join is broadcast (JOINED) to the members so far: a group's broadcasts
// are kept to about this many datagrams, so that no receive buffer
// overflows while this thread is busy sending.
constexpr size_t kJoinDatagrams = 4096;
constexpr size_t kMaxJoinGroup = 64;
constexpr int kReceiveBuffer = 1 << 20;
// Datagrams per recvmmsg call.
constexpr int kBatch = 64;
constexpr size_t kSlot = 2048;

using Clock = std::chrono::steady_clock;

// The server: a ChatService made, run and destroyed on a thread of its own.
class Server {
 public:
  Server() = default;
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server() {
    if (!thread_.joinable()) return;
    if (loop_ != nullptr) loop_->Quit();
    thread_.join();
  }

  absl::Status Start(const ChatOptions& options) {
    absl::Notification ready;
    thread_ = std::thread([this, options, &ready] {
      absl::StatusOr<std::unique_ptr<EventLoop>> loop = EventLoop::Create(DefaultPollerKind());
      if (!loop.ok()) {
        status_ = loop.status();
        ready.Notify();
        return;
      }
      absl::StatusOr<InetAddress> any = InetAddress::Parse("127.0.0.1", 0);
      if (!any.ok()) {
        status_ = any.status();
        ready.Notify();
        return;
      }
      absl::StatusOr<std::unique_ptr<ChatService>> service =
          ChatService::Bind(loop->get(), *any, options);
      if (!service.ok()) {
        status_ = service.status();
        ready.Notify();
        return;
      }
      service_ = std::move(*service);
      service_->Start();
      address_ = service_->local_address();
      loop_ = loop->get();
      ready.Notify();
      loop_->Run();
      service_.reset();  // on its loop's thread, as it must be
    });
    ready.WaitForNotification();
    return status_;
  }

  const InetAddress& address() const { return address_; }

  // Any thread: the room's size and the socket's drop count, read on the
  // loop thread.
  std::pair<size_t, uint64_t> Stats() {
    std::pair<size_t, uint64_t> stats;
    absl::Notification done;
    loop_->RunInLoop([this, &stats, &done] {
      stats = {service_->room().member_count(), service_->socket().dropped()};
      done.Notify();
    });
    done.WaitForNotification();
    return stats;
  }

 private:
  std::thread thread_;
  EventLoop* loop_ = nullptr;
  std::unique_ptr<ChatService> service_;  // loop thread only
  InetAddress address_;
  absl::Status status_;
};

// The next space-separated token of `*text`, consumed.
absl::string_view Token(absl::string_view* text) {
  const size_t space = text->find(' ');
  absl::string_view token = text->substr(0, space);
  text->remove_prefix(space == absl::string_view::npos ? text->size() : space + 1);
  return token;
}

// The members and the benchmark's view of the room.
class Room {
 public:
  Room() = default;
  Room(const Room&) = delete;
  Room& operator=(const Room&) = delete;
  ~Room() {
    for (const Member& member : members_) close(member.fd);
    if (epoll_ >= 0) close(epoll_);
  }

  size_t size() const { return members_.size(); }

  // Starts the server and joins `count` members. An error message, or "".
  std::string Init(size_t count) {
    if (sodium_init() < 0) return "sodium_init failed";
    // Not a line per join.
    FLAGS_minloglevel = std::max(FLAGS_minloglevel, static_cast<int>(google::GLOG_WARNING));
    // A shortfall is not fatal here: the socket() it leaves short says so.
    RaiseOpenFileLimit(count + 64).IgnoreError();
    ChatOptions options;
    options.max_members = std::max<size_t>(count, 1000);
    options.member_timeout = absl::Hours(24);
    options.rate = 1e9;
    options.burst = 1e9;
    if (absl::Status s = server_.Start(options); !s.ok()) return s.ToString();
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    if (epoll_ < 0) return absl::StrCat("epoll_create1: ", strerror(errno));
    const InetAddress& server = server_.address();
    members_.resize(count);
    for (size_t i = 0; i < count; ++i) {
      Member& member = members_[i];
      member.nick = absl::StrCat("m", i);
      member.fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (member.fd < 0) return absl::StrCat("socket: ", strerror(errno));
      // As root, past net.core.rmem_max; else up to it.
      if (setsockopt(member.fd, SOL_SOCKET, SO_RCVBUFFORCE, &kReceiveBuffer,
                     sizeof kReceiveBuffer) != 0) {
        setsockopt(member.fd, SOL_SOCKET, SO_RCVBUF, &kReceiveBuffer, sizeof kReceiveBuffer);
      }
      // Binds 127.0.0.1 and an ephemeral port; only the server's datagrams
      // come in.
      if (connect(member.fd, server.sockaddr_ptr(), server.length()) != 0) {
        return absl::StrCat("connect: ", strerror(errno));
      }
      epoll_event event{};
      event.events = EPOLLIN;
      event.data.u64 = i;
      if (epoll_ctl(epoll_, EPOLL_CTL_ADD, member.fd, &event) != 0) {
        return absl::StrCat("epoll_ctl: ", strerror(errno));
      }
    }
    for (size_t begin = 0, end = 0; begin < count; begin = end) {
      end = std::min(count,
                     begin + std::clamp<size_t>(kJoinDatagrams / (begin + 1), 1, kMaxJoinGroup));
      for (size_t i = begin; i < end; ++i) {
        if (!Send(members_[i], absl::StrCat("JOIN ", members_[i].nick))) {
          return absl::StrCat("send: ", strerror(errno));
        }
      }
      if (!PumpUntil([&] { return Count(begin, end, &Member::cookie) == end - begin; })) {
        return absl::StrCat("no COOKIE for ", members_[begin].nick,
                            "..; last error: ", last_error_);
      }
      for (size_t i = begin; i < end; ++i) {
        const Member& m = members_[i];
        if (!Send(m, absl::StrCat("JOIN ", m.nick, " ", m.cookie))) {
          return absl::StrCat("send: ", strerror(errno));
        }
      }
      if (!PumpUntil([&] { return Count(begin, end, &Member::key) == end - begin; })) {
        return absl::StrCat("no OK for ", members_[begin].nick, "..; last error: ", last_error_);
      }
    }
    // Let the JOINED broadcasts finish.
    while (Pump(std::chrono::milliseconds(100)) > 0) {
    }
    const size_t joined = server_.Stats().first;
    if (joined != count) return absl::StrCat("the room has ", joined, " members, not ", count);
    padding_.assign(kTextBytes, 'x');
    errors_ = 0;
    return "";
  }

  // One benchmark run.
  void Run(benchmark::State& state) {
    const uint64_t dropped_before = server_.Stats().second;
    const uint64_t errors_before = errors_;
    const uint64_t send_errors_before = send_errors_;
    delivered_ = 0;
    lost_ = 0;
    datagrams_ = 0;
    latency_ = Clock::duration::zero();
    retired_ = 0;
    for (auto _ : state) {
      while (in_flight_ < kWindow) SendMessage();
      while (retired_ == 0) Pump(std::chrono::milliseconds(10));
      --retired_;
    }
    // Counted now: what the timed loop saw.
    const double delivered = static_cast<double>(delivered_);
    const double datagrams = static_cast<double>(datagrams_);
    const double latency_us =
        delivered_ == 0 ? 0.0
                        : std::chrono::duration<double, std::micro>(latency_).count() / delivered;
    // Untimed: let the window empty (each message is delivered or lost
    // within kLossTimeout), so the next run starts clean.
    while (in_flight_ > 0) Pump(std::chrono::milliseconds(10));
    while (Pump(std::chrono::milliseconds(0)) > 0) {
    }
    const uint64_t dropped_after = server_.Stats().second;
    state.counters["msgs/s"] = benchmark::Counter(delivered, benchmark::Counter::kIsRate);
    state.counters["datagrams/s"] = benchmark::Counter(datagrams, benchmark::Counter::kIsRate);
    state.counters["lost"] = static_cast<double>(lost_);
    state.counters["latency_us"] = latency_us;
    state.counters["server_dropped"] = static_cast<double>(dropped_after - dropped_before);
    state.counters["errors"] = static_cast<double>(errors_ - errors_before);
    state.counters["send_errors"] = static_cast<double>(send_errors_ - send_errors_before);
    state.SetLabel(
        absl::StrCat(members_.size(), " members, window ", kWindow, ", ", kTextBytes, " B text"));
  }

 private:
  struct Member {
    int fd = -1;
    std::string nick;
    std::string cookie;
    std::string key;
  };
  struct Message {
    Clock::time_point sent;
    size_t received = 0;  // members that have it
    bool retired = false;
  };

  static bool Send(const Member& member, absl::string_view datagram) {
    for (;;) {
      if (send(member.fd, datagram.data(), datagram.size(), 0) >= 0) return true;
      if (errno != EINTR) return false;
    }
  }

  size_t Count(size_t begin, size_t end, std::string Member::*field) const {
    size_t n = 0;
    for (size_t i = begin; i < end; ++i) n += (members_[i].*field).empty() ? 0 : 1;
    return n;
  }

  // Pumps until `done()`, for at most 5 s; false when it never was.
  template <typename Done>
  bool PumpUntil(Done done) {
    const Clock::time_point deadline = Clock::now() + std::chrono::seconds(5);
    while (!done()) {
      if (Clock::now() >= deadline) return false;
      Pump(std::chrono::milliseconds(10));
    }
    return true;
  }

  // Member 0 sends the next message. One the kernel refuses is still
  // tracked, so that it ends as lost rather than never.
  void SendMessage() {
    const uint64_t id = next_id_++;
    text_.clear();
    absl::StrAppend(&text_, "MSG ", members_[0].key, " ", id, " ");
    const size_t id_chars = absl::StrCat(id).size() + 1;
    text_.append(padding_, 0, kTextBytes - std::min(kTextBytes - 1, id_chars));
    if (window_.empty()) window_base_ = id;
    window_.push_back(Message{Clock::now(), 0, false});
    ++in_flight_;
    if (!Send(members_[0], text_)) ++send_errors_;
  }

  void Retire(Message& message) {
    message.retired = true;
    --in_flight_;
    ++retired_;
  }

  // Forgets retired messages at the front; retires as lost those at the
  // front that are overdue.
  void Expire(Clock::time_point now) {
    while (!window_.empty()) {
      Message& front = window_.front();
      if (!front.retired) {
        if (now - front.sent < kLossTimeout) return;
        ++lost_;
        Retire(front);
      }
      window_.pop_front();
      ++window_base_;
    }
  }

  void OnDatagram(Member& member, absl::string_view data) {
    if (absl::ConsumePrefix(&data, "MSG ")) {
      Token(&data);  // seq
      Token(&data);  // nick
      uint64_t id = 0;
      if (!absl::SimpleAtoi(Token(&data), &id)) return;
      // Late (after being counted lost) or from before: ignored.
      if (id < window_base_ || id - window_base_ >= window_.size()) return;
      ++datagrams_;
      Message& message = window_[id - window_base_];
      if (message.retired) return;
      if (++message.received == members_.size()) {
        ++delivered_;
        latency_ += Clock::now() - message.sent;
        Retire(message);
      }
    } else if (absl::ConsumePrefix(&data, "COOKIE ")) {
      member.cookie = std::string(data);
    } else if (absl::ConsumePrefix(&data, "OK ")) {
      member.key = std::string(Token(&data));
    } else if (absl::StartsWith(data, "ERR ")) {
      ++errors_;
      last_error_ = absl::StrCat(member.nick, ": ", data);
    }
    // JOINED: ignored.
  }

  // Waits up to `timeout` for datagrams, reads all that are there, handles
  // them. Returns how many were read.
  size_t Pump(std::chrono::milliseconds timeout) {
    epoll_event events[256];
    const int ready = epoll_wait(epoll_, events, 256, static_cast<int>(timeout.count()));
    size_t total = 0;
    for (int e = 0; e < ready; ++e) {
      Member& member = members_[events[e].data.u64];
      for (;;) {
        for (int i = 0; i < kBatch; ++i) {
          vectors_[i].iov_base = slots_.data() + kSlot * static_cast<size_t>(i);
          vectors_[i].iov_len = kSlot;
          std::memset(&messages_[i], 0, sizeof messages_[i]);
          messages_[i].msg_hdr.msg_iov = &vectors_[i];
          messages_[i].msg_hdr.msg_iovlen = 1;
        }
        const int n = recvmmsg(member.fd, messages_, kBatch, MSG_DONTWAIT, nullptr);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        total += static_cast<size_t>(n);
        for (int i = 0; i < n; ++i) {
          OnDatagram(member, absl::string_view(static_cast<const char*>(vectors_[i].iov_base),
                                               messages_[i].msg_len));
        }
        if (n < kBatch) break;
      }
    }
    Expire(Clock::now());
    return total;
  }

  Server server_;
  int epoll_ = -1;
  std::vector<Member> members_;
  std::string padding_;
  std::string text_;
  std::string last_error_;
  // The messages from window_base_ on, oldest first.
  std::deque<Message> window_;
  uint64_t window_base_ = 0;
  uint64_t next_id_ = 0;
  size_t in_flight_ = 0;  // not yet retired
  size_t retired_ = 0;    // retired, not yet taken by an iteration
  uint64_t delivered_ = 0;
  uint64_t lost_ = 0;
  uint64_t datagrams_ = 0;
  uint64_t errors_ = 0;
  uint64_t send_errors_ = 0;
  Clock::duration latency_{};
  std::vector<char> slots_ = std::vector<char>(kSlot * kBatch);
  mmsghdr messages_[kBatch];
  iovec vectors_[kBatch];
};

void BM_ChatBroadcast(benchmark::State& state) {
  // Kept between runs with the same size; destroyed (the server's thread
  // joined) at exit, before the libraries' own statics.
  static std::unique_ptr<Room> room;
  const size_t members = static_cast<size_t>(state.range(0));
  if (room == nullptr || room->size() != members) {
    room.reset();
    auto made = std::make_unique<Room>();
    if (std::string error = made->Init(members); !error.empty()) {
      state.SkipWithError(error.c_str());
      return;
    }
    room = std::move(made);
  }
  room->Run(state);
}

BENCHMARK(BM_ChatBroadcast)
    ->ArgName("members")
    ->Arg(10)
    ->Arg(100)
    ->Arg(1000)
    ->UseRealTime()
    ->MinTime(0.5)
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace switchboard
