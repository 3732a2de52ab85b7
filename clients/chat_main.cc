// Copyright Switchboard authors.
//
// The chat client: joins the UDP chat room as --nick, shows what the room
// says while you type, and sends each line you type as a message (/who
// lists the members, /quit leaves). It pings the server every
// --ping_interval so that it is not dropped as idle, asks for broadcasts it
// missed (HISTORY) when sequence numbers jump, and joins again when the
// server stops answering (a restart, or a long sleep that timed it out).
// One poll loop watches standard input and the socket. Its own events
// (joined, sent, received, left) go to stderr; what the room says goes to
// stdout.

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/chat_member.h"
#include "clients/prompt.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "process/flags.h"
#include "reactor/inet_address.h"
#include "reactor/socket.h"

DEFINE_string(host, "127.0.0.1", "Chat server (name or address)");
DEFINE_int32(port, 7010, "Chat server's UDP port");
DEFINE_string(bind, "", "Local address to send from, e.g. 127.0.0.2");
DEFINE_string(nick, "", "Your nick: 1 to 32 characters, no spaces (asked for when not given)");
DEFINE_string(ping_interval, "20s", "How often to tell the server we are still here");
DEFINE_string(join_timeout, "30s",
              "How long to keep trying to join; JOIN is re-sent after 0.5 s, then "
              "twice as long each time, up to 8 s");

namespace switchboard {
namespace {

[[noreturn]] void Fail(absl::string_view message) {
  std::cerr << "chat: " << message << std::endl;
  std::exit(1);
}

class ChatSession {
 public:
  ChatSession(Socket socket, std::string server_name, ChatMember member,
              absl::Duration ping_interval, absl::Duration join_timeout)
      : socket_(std::move(socket)),
        server_name_(std::move(server_name)),
        member_(std::move(member)),
        ping_interval_(ping_interval),
        join_timeout_(join_timeout) {}

  int Run() {
    if (!Join()) return 1;
    absl::Time next_ping = absl::Now() + ping_interval_;
    absl::Time heard = absl::Now();
    bool quitting = false;
    absl::Time quit_deadline;
    for (;;) {
      const absl::Time now = absl::Now();
      if (quitting && now >= quit_deadline) return 0;  // LEAVE is best effort
      if (!quitting && now - heard > 2.5 * ping_interval_) {
        LOG(WARNING) << "no word from the server for " << absl::FormatDuration(now - heard)
                     << "; joining again";
        member_.Reset();
        if (!Join()) return 1;
        heard = absl::Now();
      }
      if (!quitting && now >= next_ping) {
        Send(member_.Ping());
        next_ping = now + ping_interval_;
      }
      const absl::Time wake = quitting ? quit_deadline : next_ping;
      pollfd fds[2] = {{socket_.fd(), POLLIN, 0}, {STDIN_FILENO, POLLIN, 0}};
      const int timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(wake - absl::Now())) + 1;
      const int ready = poll(fds, quitting || stdin_done_ ? 1 : 2, std::max(timeout_ms, 0));
      if (ready < 0 && errno != EINTR) Fail(absl::StrCat("poll: ", strerror(errno)));
      if (ready <= 0) continue;
      if (fds[0].revents & (POLLIN | POLLERR)) {
        if (ReceiveAll(&heard)) return 0;
      }
      if (!quitting && !stdin_done_ && (fds[1].revents & (POLLIN | POLLHUP))) {
        std::string line;
        if (!std::getline(std::cin, line)) {
          stdin_done_ = true;
          line = "/quit";  // end of input leaves the room
        }
        ChatMember::Command command = member_.OnTyped(line);
        if (command.show.has_value()) std::cout << *command.show << std::endl;
        if (command.send.has_value()) Send(*command.send);
        if (command.quit) {
          quitting = true;
          quit_deadline = absl::Now() + absl::Seconds(2);
        }
      }
    }
  }

 private:
  // The two-step join, resending with backoff while nothing comes back
  // (datagrams get lost; the server may not be up yet). False when refused
  // or out of time.
  bool Join() {
    const absl::Time deadline = absl::Now() + join_timeout_;
    absl::Time resend = absl::Now();
    absl::Duration backoff = absl::Milliseconds(500);
    while (!member_.joined()) {
      const absl::Time now = absl::Now();
      if (now >= deadline) {
        std::cerr << "chat: no answer from the server at " << server_name_ << " within "
                  << absl::FormatDuration(join_timeout_) << std::endl;
        return false;
      }
      if (now >= resend) {
        Send(member_.JoinRequest());
        resend = now + backoff;
        backoff = std::min(2 * backoff, absl::Seconds(8));
      }
      pollfd fd = {socket_.fd(), POLLIN, 0};
      const int timeout_ms =
          static_cast<int>(absl::ToInt64Milliseconds(std::min(resend, deadline) - now)) + 1;
      if (poll(&fd, 1, timeout_ms) <= 0) continue;
      absl::Time heard;
      ReceiveAll(&heard);
      if (refused_) return false;
    }
    LOG(INFO) << "joined the room at " << server_name_ << " as " << member_.nick();
    return true;
  }

  // Handles every datagram waiting; true when our LEAVE was confirmed.
  bool ReceiveAll(absl::Time* heard) {
    char buffer[2048];
    for (;;) {
      const ssize_t n = recv(socket_.fd(), buffer, sizeof buffer, MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return false;
        // ECONNREFUSED: an ICMP "port unreachable" for an earlier send; the
        // server is not (yet) there. Keep trying until the timeouts say no.
        VLOG(1) << "receive: " << strerror(errno);
        return false;
      }
      *heard = absl::Now();
      const absl::string_view datagram(buffer, static_cast<size_t>(n));
      LOG(INFO) << "received " << Describe(datagram);
      ChatMember::Event event = member_.OnDatagram(datagram);
      for (const std::string& line : event.show) std::cout << line << std::endl;
      for (const std::string& datagram : event.send) Send(datagram);
      if (event.refused) refused_ = true;
      if (event.left) {
        LOG(INFO) << "left the room";
        return true;
      }
    }
  }

  void Send(absl::string_view datagram) {
    if (send(socket_.fd(), datagram.data(), datagram.size(), 0) < 0) {
      LOG(WARNING) << "sending " << Describe(datagram) << " failed: " << strerror(errno);
      return;
    }
    LOG(INFO) << "sent " << Describe(datagram);
  }

  // A datagram for the log: its verb and size, with our key and cookie
  // (secrets) left out.
  std::string Describe(absl::string_view datagram) const {
    const absl::string_view verb = datagram.substr(0, datagram.find(' '));
    return absl::StrCat(verb, " (", datagram.size(), " bytes)");
  }

  Socket socket_;
  const std::string server_name_;
  ChatMember member_;
  const absl::Duration ping_interval_;
  const absl::Duration join_timeout_;
  bool stdin_done_ = false;
  bool refused_ = false;
};

int Main(int argc, char** argv) {
  gflags::SetUsageMessage("Switchboard chat client: chat --nick=NAME [--host=H --port=P --bind=A]");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  // Events go to the console unless --log_dir asks for files.
  if (gflags::GetCommandLineFlagInfoOrDie("log_dir").is_default) FLAGS_logtostderr = true;
  google::InitGoogleLogging(argv[0]);

  std::string host = FLAGS_host;
  absl::StatusOr<uint16_t> port = ParsePort(absl::StrCat(FLAGS_port));
  if (!port.ok()) Fail(absl::StrCat("--port: ", port.status().message()));
  std::string nick = FLAGS_nick;
  // At a terminal, ask for what the flags left out.
  if (isatty(STDIN_FILENO)) {
    if (gflags::GetCommandLineFlagInfoOrDie("host").is_default) {
      absl::StatusOr<std::string> answer = AskHost(std::cin, std::cout, host);
      if (!answer.ok()) Fail(answer.status().message());
      host = *answer;
    }
    if (gflags::GetCommandLineFlagInfoOrDie("port").is_default) {
      absl::StatusOr<uint16_t> answer = AskPort(std::cin, std::cout, *port);
      if (!answer.ok()) Fail(answer.status().message());
      port = *answer;
    }
    while (nick.empty()) {
      std::cout << "nick: " << std::flush;
      if (!std::getline(std::cin, nick)) Fail("no nick given");
    }
  }
  if (nick.empty()) Fail("--nick is required");
  absl::StatusOr<std::vector<InetAddress>> servers = InetAddress::Resolve(host, *port, SOCK_DGRAM);
  if (!servers.ok() || servers->empty()) {
    Fail(absl::StrCat("cannot resolve --host=", host));
  }
  const InetAddress server = servers->front();
  absl::StatusOr<Socket> socket = Socket::Create(server.family(), SOCK_DGRAM);
  if (!socket.ok()) Fail(socket.status().message());
  if (!FLAGS_bind.empty()) {
    absl::StatusOr<InetAddress> local = InetAddress::Parse(FLAGS_bind, 0);
    if (!local.ok()) Fail(absl::StrCat("--bind=", FLAGS_bind, " is not an address"));
    if (absl::Status s = socket->Bind(*local); !s.ok()) Fail(s.message());
  }
  // Connected: only the server's datagrams come in, and an ICMP error for
  // a server that is not there is reported instead of ignored.
  if (connect(socket->fd(), server.sockaddr_ptr(), server.length()) < 0) {
    Fail(absl::StrCat("connect to ", server.ToString(), ": ", strerror(errno)));
  }
  ChatSession session(
      *std::move(socket), server.ToString(), ChatMember(nick),
      DurationFlag("chat", "ping_interval", FLAGS_ping_interval, DurationRange::kPositive),
      DurationFlag("chat", "join_timeout", FLAGS_join_timeout, DurationRange::kPositive));
  return session.Run();
}

}  // namespace
}  // namespace switchboard

int main(int argc, char** argv) { return switchboard::Main(argc, argv); }
