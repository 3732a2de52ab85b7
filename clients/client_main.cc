// Copyright Switchboard authors.
//
// The interactive client: connects to a Switchboard service, sends each
// line of standard input as a message in the service's framing, and prints
// what the server sends back. One poll loop watches both standard input and
// the socket, so replies (and a server that closes) show up at once. The
// session ends with "exit" (the server closes after answering) or with the
// end of input (the client half-closes and prints the rest).

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "clients/prompt.h"
#include "clients/token_file.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "process/flags.h"
#include "reactor/buffer.h"
#include "reactor/codec.h"
#include "reactor/inet_address.h"
#include "reactor/socket.h"

DEFINE_string(host, "127.0.0.1", "Server to connect to (name or address)");
DEFINE_int32(port, 0, "Server port (default: the service's, 7007 for echo)");
DEFINE_string(service, "echo", "Service to talk to: echo, identity or auth");
DEFINE_string(framing, "", "raw, line or length (default: the service's)");
DEFINE_string(bind, "", "Local address to connect from, e.g. 127.0.0.2");
DEFINE_string(token_file, "",
              "auth: where the session token is kept between runs (default: "
              "$XDG_STATE_HOME/switchboard/token-HOST-PORT, or under ~/.local/state)");
DEFINE_string(close_timeout, "10s",
              "After the end of input, how long to wait for the server to close");

namespace switchboard {
namespace {

struct ServiceDefaults {
  uint16_t port;
  Framing framing;
};

bool DefaultsFor(absl::string_view service, ServiceDefaults* out) {
  if (service == "echo")
    *out = {7007, Framing::kRaw};
  else if (service == "identity")
    *out = {7008, Framing::kLine};
  else if (service == "auth")
    *out = {7009, Framing::kLine};
  else
    return false;
  return true;
}

[[noreturn]] void Fail(absl::string_view message) {
  std::cerr << "client: " << message << std::endl;
  std::exit(1);
}

bool FlagIsDefault(const char* name) {
  return gflags::GetCommandLineFlagInfoOrDie(name).is_default;
}

// Talks to one server connection until either side ends the session.
//
// The socket is non-blocking and what is to be sent waits in to_server_, so
// the client keeps reading replies while a large message goes out: a client
// that blocked in send() would wait for a server that waits (past its
// high-water mark) for the client to read. Standard input is read only while
// less than kMaxUnsent bytes wait, which bounds the client's memory too.
class InteractiveSession {
 public:
  // `token_file` (auth only, else null): a saved token is offered with
  // RESUME after the greeting; tokens handed out are saved; LOGOUT and a
  // refused token remove it.
  InteractiveSession(Socket socket, Framing framing, absl::Duration close_timeout,
                     std::optional<TokenFile> token_file)
      : token_file_(std::move(token_file)),
        socket_(std::move(socket)),
        framing_(framing),
        codec_(MakeCodec(framing)),
        close_timeout_(close_timeout),
        // A length frame needs its size before its bytes, so a line is held
        // whole up to the frame limit.
        stream_above_(framing == Framing::kLength ? CodecLimits().max_frame : kStreamAbove) {}

  // Returns the process exit status.
  int Run() {
    if (absl::Status s = socket_.SetNonBlocking(true); !s.ok()) Fail(s.message());
    for (;;) {
      // With a saved token, input waits for the greeting (or a few
      // seconds), so that RESUME goes first.
      const bool held_for_greeting =
          token_file_.has_value() && !greeted_ && absl::Now() < greeting_deadline_;
      const bool want_stdin =
          reading_stdin_ && !held_for_greeting && to_server_.readable_bytes() < kMaxUnsent;
      pollfd fds[2] = {
          {socket_.fd(), static_cast<short>(POLLIN | (to_server_.empty() ? 0 : POLLOUT)), 0},
          {STDIN_FILENO, POLLIN, 0}};
      const nfds_t count = want_stdin ? 2 : 1;
      int timeout_ms = -1;
      if (!reading_stdin_) {
        const absl::Duration left = close_deadline_ - absl::Now();
        if (left <= absl::ZeroDuration()) {
          LOG(WARNING) << "the server did not close the connection within "
                       << absl::FormatDuration(close_timeout_) << "; giving up";
          return 1;
        }
        timeout_ms = static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
      } else if (held_for_greeting) {
        timeout_ms =
            static_cast<int>(absl::ToInt64Milliseconds(greeting_deadline_ - absl::Now())) + 1;
      }
      const int ready = poll(fds, count, timeout_ms);
      if (ready < 0) {
        if (errno == EINTR) continue;
        Fail(absl::StrCat("poll: ", std::strerror(errno)));
      }
      if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        if (!ReadFromServer()) return exit_status_;
      }
      if ((fds[0].revents & POLLOUT) != 0) WriteToServer();
      if (count == 2 && fds[1].revents != 0) ReadFromStdin();
    }
  }

 private:
  // Unsent bytes above which standard input waits.
  static constexpr size_t kMaxUnsent = 1 << 20;
  // A line longer than this is sent in pieces before its end is seen (raw
  // and line framing), so a huge line needs no huge buffer.
  static constexpr size_t kStreamAbove = 64 * 1024;
  // Bytes kept back from a piece: enough to see "exit\r" whole and to strip
  // a "\r" before the newline.
  static constexpr size_t kKeepBack = 8;

  // False once the server has closed.
  bool ReadFromServer() {
    int error = 0;
    const ssize_t n = from_server_.ReadFromFd(socket_.fd(), &error);
    if (n < 0) {
      if (error == EINTR || error == EAGAIN) return true;
      LOG(INFO) << "disconnected: " << std::strerror(error) << " (sent " << bytes_sent_
                << " bytes, received " << bytes_received_ << ")";
      exit_status_ = 1;
      return false;
    }
    if (n == 0) {
      PrintReplies(true);
      LOG(INFO) << "disconnected: the server closed the connection (sent " << bytes_sent_
                << " bytes, received " << bytes_received_ << ")";
      return false;
    }
    bytes_received_ += n;
    LOG(INFO) << "received " << n << " bytes";
    PrintReplies(false);
    return true;
  }

  void PrintReplies(bool end_of_stream) {
    if (framing_ == Framing::kRaw) {
      std::fwrite(from_server_.peek(), 1, from_server_.readable_bytes(), stdout);
      from_server_.Clear();
    } else {
      Frame frame;
      while (codec_->Decode(from_server_.view(), end_of_stream, &frame) == DecodeStatus::kMessage) {
        std::fwrite(frame.message.data(), 1, frame.message.size(), stdout);
        std::fputc('\n', stdout);
        if (token_file_.has_value()) KeepToken(frame.message);
        from_server_.Consume(frame.consumed);
        if (from_server_.empty()) break;
      }
    }
    std::fflush(stdout);
  }

  // Follows the auth dialogue for the token: offers the saved one after the
  // greeting, saves new ones, forgets refused or logged-out ones.
  void KeepToken(absl::string_view reply) {
    if (!greeted_) {
      greeted_ = true;
      if (std::optional<std::string> saved = token_file_->Load(); saved.has_value()) {
        LOG(INFO) << "resuming the session saved in " << token_file_->path();
        resuming_ = true;
        const size_t before = to_server_.readable_bytes();
        codec_->Encode(absl::StrCat("RESUME ", *saved), &to_server_);
        LOG(INFO) << "sent " << to_server_.readable_bytes() - before << " bytes";
        WriteToServer();
      }
      return;
    }
    if (std::optional<std::string> token = TokenInReply(reply); token.has_value()) {
      if (absl::Status s = token_file_->Save(*token); s.ok()) {
        LOG(INFO) << "session token saved in " << token_file_->path();
      } else {
        LOG(WARNING) << "could not save the session token: " << s.message();
      }
    } else if ((resuming_ && absl::StartsWith(reply, "401 ")) || reply == "200 logged out") {
      token_file_->Remove().IgnoreError();
      LOG(INFO) << "session token removed from " << token_file_->path();
    }
    resuming_ = false;
  }

  void WriteToServer() {
    while (!to_server_.empty()) {
      int error = 0;
      const ssize_t n = socket_.SendSome(to_server_.view(), &error);
      if (n < 0) {
        if (error == EAGAIN || error == EWOULDBLOCK) return;
        LOG(ERROR) << "send failed: " << std::strerror(error);
        to_server_.Clear();
        half_close_pending_ = false;
        StopReadingStdin();
        return;
      }
      bytes_sent_ += n;
      to_server_.Consume(n);
    }
    to_server_.ShrinkIfEmpty(kMaxUnsent);
    if (half_close_pending_) {
      half_close_pending_ = false;
      socket_.ShutdownWrite().IgnoreError();
    }
  }

  void ReadFromStdin() {
    int error = 0;
    const ssize_t n = stdin_.ReadFromFd(STDIN_FILENO, &error);
    if (n < 0 && (error == EINTR || error == EAGAIN)) return;
    if (n < 0) LOG(ERROR) << "reading standard input: " << std::strerror(error);
    const bool end = n <= 0;
    TakeLines(end);
    if (end && reading_stdin_) {
      LOG(INFO) << "end of input: half-closing, waiting for the rest of the replies";
      half_close_pending_ = true;
      StopReadingStdin();
    }
    WriteToServer();
  }

  // Turns the complete lines read so far into messages. Each byte of input
  // is looked at once: scanned_ remembers where the search for '\n' stopped.
  void TakeLines(bool end_of_input) {
    while (reading_stdin_) {
      const absl::string_view pending = stdin_.view();
      const size_t newline = pending.find('\n', scanned_);
      if (newline != absl::string_view::npos) {
        const bool go_on = QueueLine(pending.substr(0, newline), /*complete=*/true);
        stdin_.Consume(newline + 1);
        scanned_ = 0;
        if (!go_on) return;
        continue;
      }
      scanned_ = pending.size();
      if (end_of_input) {
        if (!pending.empty() || mid_line_) QueueLine(pending, /*complete=*/true);
        stdin_.Clear();
        scanned_ = 0;
      } else if (pending.size() > stream_above_) {
        QueuePiece(pending.substr(0, pending.size() - kKeepBack));
        stdin_.Consume(pending.size() - kKeepBack);
        scanned_ = stdin_.readable_bytes();
      }
      return;
    }
  }

  // Part of a line whose end has not come yet.
  void QueuePiece(absl::string_view piece) {
    mid_line_ = true;
    if (framing_ == Framing::kLength) {
      if (!skipping_line_) {
        LOG(ERROR) << "line longer than " << stream_above_
                   << " bytes, the largest length frame: not sent";
        skipping_line_ = true;
      }
      return;
    }
    to_server_.Append(piece);
  }

  // The last part of a line (or all of it). False when the line ended the
  // session ("exit").
  bool QueueLine(absl::string_view line, bool complete) {
    const bool whole = !mid_line_;
    const bool skipped = skipping_line_;
    mid_line_ = false;
    skipping_line_ = false;
    if (skipped) return true;
    absl::string_view text = line;
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    const size_t before = to_server_.readable_bytes();
    if (framing_ == Framing::kRaw) {
      to_server_.Append(line);
      if (complete) to_server_.Append("\n");
    } else {
      codec_->Encode(text, &to_server_);
    }
    LOG(INFO) << "sent " << to_server_.readable_bytes() - before << " bytes";
    if (whole && text == "exit") {
      LOG(INFO) << "sent exit: waiting for the server to close";
      StopReadingStdin();
      return false;
    }
    return true;
  }

  void StopReadingStdin() {
    reading_stdin_ = false;
    close_deadline_ = absl::Now() + close_timeout_;
  }

  const std::optional<TokenFile> token_file_;
  bool greeted_ = false;  // the server's first reply has come
  const absl::Time greeting_deadline_ = absl::Now() + absl::Seconds(3);
  bool resuming_ = false;  // a saved token was offered; its answer is next
  Socket socket_;
  const Framing framing_;
  std::unique_ptr<Codec> codec_;
  const absl::Duration close_timeout_;
  const size_t stream_above_;
  Buffer from_server_;
  Buffer stdin_;
  Buffer to_server_;
  size_t scanned_ = 0;          // stdin_ bytes known to hold no '\n'
  bool mid_line_ = false;       // part of the current line was sent already
  bool skipping_line_ = false;  // the current line is being dropped
  bool reading_stdin_ = true;
  bool half_close_pending_ = false;  // shut down writing once to_server_ drains
  absl::Time close_deadline_;
  uint64_t bytes_sent_ = 0;
  uint64_t bytes_received_ = 0;
  int exit_status_ = 0;
};

// At a terminal, asks for the host and the port where the flags left them
// out (showing `*host` and `*port` as the defaults).
void AskForWhatFlagsLeftOut(std::string* host, uint16_t* port) {
  if (!isatty(STDIN_FILENO)) return;
  if (FlagIsDefault("host")) {
    absl::StatusOr<std::string> answer = AskHost(std::cin, std::cout, *host);
    if (!answer.ok()) Fail(answer.status().message());
    *host = *answer;
  }
  if (FlagIsDefault("port")) {
    absl::StatusOr<uint16_t> answer = AskPort(std::cin, std::cout, *port);
    if (!answer.ok()) Fail(answer.status().message());
    *port = *answer;
  }
}

int Main(int argc, char** argv) {
  gflags::SetUsageMessage(
      "Switchboard interactive client: sends each line of input, prints the replies.\n"
      "  client [--service=echo] [--host=127.0.0.1] [--port=7007] [--bind=127.0.0.2]");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  // Events go to the console unless --log_dir asks for files. (glog's own
  // default for log_dir comes from $TEST_TMPDIR or $GOOGLE_LOG_DIR, which
  // must not silently redirect the events.)
  if (gflags::GetCommandLineFlagInfoOrDie("log_dir").is_default) {
    FLAGS_logtostderr = true;
  }
  google::InitGoogleLogging(argv[0]);

  ServiceDefaults defaults;
  if (!DefaultsFor(FLAGS_service, &defaults)) {
    Fail(absl::StrCat("unknown --service=", FLAGS_service, " (echo, identity or auth)"));
  }
  Framing framing = defaults.framing;
  if (!FLAGS_framing.empty()) {
    absl::StatusOr<Framing> parsed = ParseFraming(FLAGS_framing);
    if (!parsed.ok()) Fail(parsed.status().message());
    framing = *parsed;
  }
  const absl::Duration close_timeout = DurationFlag("client", "close_timeout", FLAGS_close_timeout);

  std::string host = FLAGS_host;
  uint16_t port = defaults.port;
  if (!FlagIsDefault("port")) {
    absl::StatusOr<uint16_t> parsed = ParsePort(absl::StrCat(FLAGS_port));
    if (!parsed.ok()) Fail(absl::StrCat("--port: ", parsed.status().message()));
    port = *parsed;
  }
  AskForWhatFlagsLeftOut(&host, &port);

  absl::StatusOr<std::vector<InetAddress>> addresses =
      InetAddress::Resolve(host, port, SOCK_STREAM);
  if (!addresses.ok()) Fail(addresses.status().message());
  std::optional<InetAddress> local;
  if (!FLAGS_bind.empty()) {
    absl::StatusOr<InetAddress> parsed = InetAddress::Parse(FLAGS_bind, 0);
    if (!parsed.ok()) Fail(absl::StrCat("--bind: ", parsed.status().message()));
    local = *parsed;
  }
  absl::Status last_error;
  for (const InetAddress& address : *addresses) {
    if (local.has_value() && local->family() != address.family()) continue;
    absl::StatusOr<Socket> socket = Socket::Connect(address, local.has_value() ? &*local : nullptr);
    if (!socket.ok()) {
      last_error = socket.status();
      continue;
    }
    const std::string from = socket->LocalAddress().ok() ? socket->LocalAddress()->ToString() : "?";
    LOG(INFO) << "connected to " << FLAGS_service << " at " << address.ToString() << " from "
              << from << " (" << FramingName(framing) << " framing)";
    std::optional<TokenFile> token_file;
    if (FLAGS_service == "auth") {
      token_file.emplace(FLAGS_token_file.empty() ? TokenFile::DefaultPath(host, port)
                                                  : FLAGS_token_file);
    }
    InteractiveSession session(*std::move(socket), framing, close_timeout, std::move(token_file));
    return session.Run();
  }
  if (last_error.ok()) {
    last_error = absl::InvalidArgumentError("--bind and the host are of different IP versions");
  }
  Fail(absl::StrCat("cannot connect to ", host, " port ", port, ": ", last_error.message()));
}

}  // namespace
}  // namespace switchboard

int main(int argc, char** argv) { return switchboard::Main(argc, argv); }
