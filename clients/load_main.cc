// Copyright Switchboard authors.
//
// The load generator (//:load): drives the echo service (or, with
// --scenario, the auth or the chat service) with many connections through
// LoadGenerator, prints a progress line each second and a summary (or, with
// --json, one JSON object) at the end.
//
// Exit status: 0 when the whole window ran without an error; 1 when there
// were errors or the load could not run to its end (nothing listening, the
// server closing); 2 for bad flags; 130 when interrupted (SIGINT/SIGTERM end
// the window early and the figures so far are printed).

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "clients/load_generator.h"
#include "clients/load_report.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "process/flags.h"
#include "process/open_file_limit.h"
#include "reactor/codec.h"
#include "reactor/inet_address.h"
#include "reactor/poller.h"

DEFINE_string(target, "127.0.0.1:7007",
              "The service to load, as host:port ([addr]:port for IPv6). The default is the "
              "echo service; point it at the auth service (7009) for --scenario=auth and at "
              "the chat service's UDP port (7010) for --scenario=chat. Several, "
              "comma-separated (servers of one service): connections take them in turn");
DEFINE_string(scenario, "echo",
              "What to load. echo: messages echoed, every byte checked. auth: each "
              "connection registers a user of its own (load<n>-<run id>) once, then logs in "
              "as it over and over, one LOGIN at a time (or on --rate's schedule); the unit "
              "is the login, each one an Argon2id verification on the server. chat: "
              "--connections UDP members join the room and send MSG at --rate messages/s in "
              "all (default 100); each counts the broadcasts it receives: deliveries/s, "
              "loss, and latency from each message's due time to each receipt. The server "
              "allows --chat_rate (default 20) commands/s per member: keep "
              "rate / connections below it");
DEFINE_int32(connections, 10, "Connections to open (chat: members to join)");
DEFINE_int32(size, 1024,
             "Bytes per message (at most 4096 with --framing=line, 1 MiB with length). "
             "chat: bytes of text, 32 to 1100, default 64; auth: unused");
DEFINE_string(duration, "10s", "How long to measure, after ramp-up and warm-up (90s, 5m, ...)");
DEFINE_string(warmup, "1s", "How long to run before measuring; its figures are discarded");
DEFINE_int32(depth, 1,
             "Messages in flight per connection: 1 is ping-pong. With --rate, the most "
             "that may be in flight; a message due beyond that waits for a reply. Not for "
             "chat");
DEFINE_double(rate, 0,
              "Open loop: messages per second over all connections, sent on a fixed "
              "schedule, latency measured from the scheduled send time, so that a stalled "
              "server is charged for every message it delayed (wrk2's correction for "
              "coordinated omission). 0: closed loop. chat: always open loop, 0 means 100");
DEFINE_double(connect_rate, 0,
              "Connections opened per second during ramp-up (0: all at once); the "
              "warm-up starts once all are due");
DEFINE_string(framing, "raw",
              "The service's framing (the server's --echo_framing or --auth_framing): raw, "
              "line or length; auth takes line (its default) or length");
DEFINE_bool(json, false,
            "Print the summary as one JSON object on stdout (progress lines go to stderr)");
DEFINE_int32(server_pid, 0,
             "The server's process id: report its CPU time (user + system, from "
             "/proc/<pid>/stat) per message over the measurement window");
DEFINE_int32(threads, 1, "Event-loop threads the connections are spread over");
DEFINE_string(timeout, "2s",
              "A connect, or a connection owed replies that receives nothing, for this long "
              "counts as a timeout error (and the connection is closed). chat: the longest a "
              "join may take (its datagrams resent meanwhile), and the longest a member may "
              "hear nothing after sending");
DEFINE_string(poller, "", "epoll, poll or kqueue (default: the best this platform has)");

// gflags exits with status 1 on a bad flag; ours is 2. The hook is exported
// by libgflags but not declared in its header.
namespace google {
extern void (*gflags_exitfunc)(int);
}  // namespace google

namespace switchboard {
namespace {

constexpr absl::string_view kProgram = "load";
constexpr int kLoadFailed = 1;
constexpr int kInterrupted = 130;

// chat without --size or --rate: short texts, 100 messages/s in all.
constexpr size_t kDefaultChatText = 64;
constexpr double kDefaultChatRate = 100;
// The server's default --chat_rate: commands per second per member.
constexpr double kServerChatRate = 20;

// "host:port" or "[v6]:port".
void ParseTarget(absl::string_view target, std::string* host, uint16_t* port) {
  absl::string_view host_part;
  absl::string_view port_part;
  if (absl::StartsWith(target, "[")) {
    const size_t close = target.find("]:");
    if (close == absl::string_view::npos) {
      BadFlag(kProgram, absl::StrCat("--target=", target, ": expected [address]:port"));
    }
    host_part = target.substr(1, close - 1);
    port_part = target.substr(close + 2);
  } else {
    const size_t colon = target.rfind(':');
    if (colon == absl::string_view::npos) {
      BadFlag(kProgram, absl::StrCat("--target=", target, ": expected host:port"));
    }
    host_part = target.substr(0, colon);
    port_part = target.substr(colon + 1);
  }
  int value = 0;
  if (host_part.empty() || !absl::SimpleAtoi(port_part, &value) || value < 1 || value > 65535) {
    BadFlag(kProgram,
            absl::StrCat("--target=", target, ": expected host:port with a port in 1..65535"));
  }
  *host = std::string(host_part);
  *port = static_cast<uint16_t>(value);
}

// Many connections need many descriptors (and a few more for the rest of
// the process): raise the soft limit as far as the hard one allows.
void EnsureDescriptors(int connections) {
  const absl::Status raised = RaiseOpenFileLimit(static_cast<uint64_t>(connections) + 64);
  if (!raised.ok()) {
    BadFlag(kProgram, absl::StrCat("--connections=", connections, " ", raised.message()));
  }
}

bool FlagIsDefault(const char* name) {
  return gflags::GetCommandLineFlagInfoOrDie(name).is_default;
}

// The flags that are counts and rates, each on its own.
void CheckNumberFlags() {
  if (FLAGS_connections < 1) BadFlag(kProgram, "--connections must be at least 1");
  if (FLAGS_threads < 1) BadFlag(kProgram, "--threads must be at least 1");
  if (FLAGS_depth < 1) BadFlag(kProgram, "--depth must be at least 1");
  if (FLAGS_size < 1) BadFlag(kProgram, "--size must be at least 1");
  if (!(FLAGS_rate >= 0) || std::isinf(FLAGS_rate)) {
    BadFlag(kProgram, "--rate must be 0 or more");
  }
  if (!(FLAGS_connect_rate >= 0) || std::isinf(FLAGS_connect_rate)) {
    BadFlag(kProgram, "--connect_rate must be 0 or more");
  }
  if (FLAGS_server_pid < 0) BadFlag(kProgram, "--server_pid must be a process id");
}

// --poller, when given: a poller this platform has.
PollerKind PollerFromFlag() {
  absl::StatusOr<PollerKind> poller = ParsePollerKind(FLAGS_poller);
  if (!poller.ok()) BadFlag(kProgram, absl::StrCat("--poller: ", poller.status().message()));
  if (!PollerAvailable(*poller)) {
    BadFlag(kProgram, absl::StrCat("--poller=", FLAGS_poller, ": not on this platform"));
  }
  return *poller;
}

LoadConfig ConfigFromFlags() {
  absl::StatusOr<LoadScenario> scenario = ParseLoadScenario(FLAGS_scenario);
  if (!scenario.ok()) {
    BadFlag(kProgram, absl::StrCat("--scenario: ", scenario.status().message()));
  }
  LoadConfig config;
  config.scenario = *scenario;
  const std::vector<std::string> targets = absl::StrSplit(FLAGS_target, ',');
  std::string host;
  uint16_t port = 0;
  for (const std::string& target : targets) ParseTarget(target, &host, &port);
  ParseTarget(targets.front(), &host, &port);
  CheckNumberFlags();
  absl::StatusOr<Framing> framing = ParseFraming(FLAGS_framing);
  if (!framing.ok()) {
    BadFlag(kProgram, absl::StrCat("--framing: ", framing.status().message()));
  }
  config.connections = FLAGS_connections;
  config.message_size = static_cast<size_t>(FLAGS_size);
  config.rate = FLAGS_rate;
  switch (config.scenario) {
    case LoadScenario::kEcho:
      break;
    case LoadScenario::kAuth:
      // The auth service speaks lines unless told otherwise.
      if (FlagIsDefault("framing")) framing = Framing::kLine;
      if (*framing == Framing::kRaw) {
        BadFlag(kProgram, "--framing=raw: the auth service takes line or length framing");
      }
      break;
    case LoadScenario::kChat:
      if (FlagIsDefault("size")) config.message_size = kDefaultChatText;
      if (config.rate == 0) config.rate = kDefaultChatRate;
      break;
  }
  config.duration = DurationFlag(kProgram, "duration", FLAGS_duration, DurationRange::kPositive);
  config.warmup = DurationFlag(kProgram, "warmup", FLAGS_warmup, DurationRange::kNonNegative);
  config.timeout = DurationFlag(kProgram, "timeout", FLAGS_timeout, DurationRange::kPositive);
  config.depth = FLAGS_depth;
  config.connect_rate = FLAGS_connect_rate;
  config.framing = *framing;
  config.threads = FLAGS_threads;
  config.server_pid = FLAGS_server_pid;
  if (!FLAGS_poller.empty()) config.poller = PollerFromFlag();
  if (config.server_pid > 0) {
    if (absl::StatusOr<absl::Duration> cpu = ProcessCpuTime(config.server_pid); !cpu.ok()) {
      BadFlag(kProgram,
              absl::StrCat("--server_pid=", config.server_pid, ": ", cpu.status().message()));
    }
  }
  // Everything but the address, which needs the resolver.
  config.target = InetAddress();
  config.target.set_port(port);
  if (absl::Status s = ValidateLoadConfig(config); !s.ok()) {
    BadFlag(kProgram, absl::StrCat("bad flags: ", s.message()));
  }
  for (size_t i = 0; i < targets.size(); ++i) {
    ParseTarget(targets[i], &host, &port);
    absl::StatusOr<std::vector<InetAddress>> addresses = InetAddress::Resolve(
        host, port, config.scenario == LoadScenario::kChat ? SOCK_DGRAM : SOCK_STREAM);
    if (!addresses.ok() || addresses->empty()) {
      std::cerr << "load: cannot resolve " << host << ": "
                << (addresses.ok() ? "no address" : addresses.status().message()) << std::endl;
      std::exit(kLoadFailed);
    }
    if (i == 0) {
      config.target = addresses->front();
    } else {
      config.more_targets.push_back(addresses->front());
    }
  }
  if (config.scenario != LoadScenario::kEcho) config.run_id = NewLoadRunId();
  return config;
}

// Prints the progress lines: rewritten in place at a terminal, one per
// report otherwise.
class ProgressPrinter {
 public:
  ProgressPrinter(FILE* out, LoadScenario scenario)
      : out_(out), scenario_(scenario), terminal_(isatty(fileno(out)) == 1) {}

  void Print(const LoadProgress& progress) {
    const std::string line = FormatProgress(scenario_, progress);
    if (terminal_) {
      const size_t pad = last_width_ > line.size() ? last_width_ - line.size() : 0;
      std::fprintf(out_, "\r%s%*s", line.c_str(), static_cast<int>(pad), "");
      last_width_ = line.size();
    } else {
      std::fprintf(out_, "%s\n", line.c_str());
    }
    std::fflush(out_);
  }

  // Ends an in-place line before anything else is printed.
  void Finish() {
    if (terminal_ && last_width_ != 0) {
      std::fputc('\n', out_);
      std::fflush(out_);
    }
  }

 private:
  FILE* const out_;
  const LoadScenario scenario_;
  const bool terminal_;
  size_t last_width_ = 0;
};

// Parses the command line (--help and the like exit here, status 0; a bad
// flag exits with status 2) and sets up logging.
void ParseFlags(int* argc, char*** argv) {
  static bool showing_help = false;
  google::gflags_exitfunc = [](int status) {
    std::exit(status == 0 || showing_help ? 0 : kUsageError);
  };
  gflags::SetUsageMessage(
      "Switchboard load generator: many connections to the echo service, every echoed\n"
      "byte checked, latency percentiles, errors; or the auth service (logins/s) or the\n"
      "chat service (deliveries/s and loss) with --scenario.\n"
      "  load [--target=127.0.0.1:7007] [--connections=10] [--size=1024] [--duration=10s]\n"
      "       [--depth=1 | --rate=N] [--framing=raw|line|length] [--json]\n"
      "  load --scenario=auth --target=127.0.0.1:7009 [--connections=4]\n"
      "       REGISTER once per connection, then LOGIN in a loop; a reply other than\n"
      "       '200 welcome ...' is an error. Summary: logins/s and login latency.\n"
      "  load --scenario=chat --target=127.0.0.1:7010 [--connections=10] [--rate=100]\n"
      "       UDP members JOIN, send MSG at --rate in all, and count the broadcasts they\n"
      "       receive. Summary: sent/s, deliveries/s, loss, latency from each message's\n"
      "       due time to each receipt. The server allows --chat_rate (20) per member.\n"
      "--target keeps the echo default for every scenario: point it at the service.");
  gflags::ParseCommandLineNonHelpFlags(argc, argv, true);
  showing_help = true;
  gflags::HandleCommandLineHelpFlags();  // exits after --help and the like
  showing_help = false;
  if (*argc > 1) BadFlag(kProgram, absl::StrCat("unexpected argument '", (*argv)[1], "'"));
  if (gflags::GetCommandLineFlagInfoOrDie("log_dir").is_default) FLAGS_logtostderr = true;
  google::InitGoogleLogging((*argv)[0]);
}

// Prints the summary of a run (or why it could not run) and returns the
// exit status.
int PrintResults(const absl::StatusOr<LoadResults>& results) {
  if (!results.ok()) {
    std::cerr << "load: " << results.status().message() << std::endl;
    return kLoadFailed;
  }
  if (FLAGS_json) {
    std::printf("%s\n", JsonSummary(*results).c_str());
  } else {
    std::string summary = TextSummary(*results);
    // The first line repeats the one printed at the start.
    summary.erase(0, summary.find('\n') + 1);
    std::fputs(summary.c_str(), stdout);
  }
  std::fflush(stdout);
  if (!results->completed && !results->interrupted) {
    std::cerr << "load: " << results->stopped_because << std::endl;
  }
  if (results->errors.total() != 0) {
    std::cerr << "load: " << results->errors.total() << " error(s)" << std::endl;
  }
  if (results->errors.total() != 0) return kLoadFailed;
  if (results->interrupted) return kInterrupted;
  return results->ok() ? 0 : kLoadFailed;
}

int Main(int argc, char** argv) {
  ParseFlags(&argc, &argv);
  const LoadConfig config = ConfigFromFlags();
  EnsureDescriptors(config.connections);
  if (config.scenario == LoadScenario::kChat &&
      config.rate / config.connections > kServerChatRate) {
    std::cerr << "load: note: each member sends " << config.rate / config.connections
              << " messages/s; a server with the default --chat_rate=" << kServerChatRate
              << " answers 'ERR 429 slow down' beyond that" << std::endl;
  }
  signal(SIGPIPE, SIG_IGN);

  // SIGINT and SIGTERM end the window early; a thread of our own waits for
  // them (blocked in every thread, so no system call is interrupted).
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  LoadGenerator generator(config);
  std::atomic<bool> done{false};
  std::atomic<bool> signalled{false};
  std::thread signal_watcher([&] {
    const timespec tick{0, 100 * 1000 * 1000};
    while (!done.load()) {
      if (sigtimedwait(&stop_signals, nullptr, &tick) > 0) {
        signalled.store(true);
        generator.Stop();
        return;
      }
    }
  });

  ProgressPrinter printer(FLAGS_json ? stderr : stdout, config.scenario);
  if (!FLAGS_json) {
    std::printf("load: %s\n", DescribeLoad(config).c_str());
    std::fflush(stdout);
  }
  absl::StatusOr<LoadResults> results =
      generator.Run([&printer](const LoadProgress& p) { printer.Print(p); });
  done.store(true);
  signal_watcher.join();
  printer.Finish();
  return PrintResults(results);
}

}  // namespace
}  // namespace switchboard

int main(int argc, char** argv) { return switchboard::Main(argc, argv); }
