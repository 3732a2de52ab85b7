// Copyright Switchboard authors.
//
// The Switchboard server: parses the flags, starts every enabled service,
// announces one "listening ..." line per listener on stdout, and runs until
// SIGINT or SIGTERM, then shuts down gracefully and exits 0. Start-up errors
// print one line to stderr and exit 2.

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "gflags/gflags.h"
#include "glog/logging.h"
#include "process/flags.h"
#include "reactor/event_loop.h"
#include "services/server.h"
#include "services/service_table.h"

DEFINE_string(host, "127.0.0.1",
              "Address to listen on: 127.0.0.1 for this machine only, 0.0.0.0 "
              "for every IPv4 interface, :: for IPv6 and IPv4 (dual-stack)");
DEFINE_string(services, "echo,identity,auth,chat",
              "Services to run, comma-separated, announced in this order: "
              "echo, identity, auth, chat");
DEFINE_int32(echo_port, 7007, "TCP port of the echo service (0: any free port)");
DEFINE_int32(identity_port, 7008, "TCP port of the identity service (0: any free port)");
DEFINE_int32(auth_port, 7009, "TCP port of the auth service (0: any free port)");
DEFINE_int32(chat_port, 7010, "UDP port of the chat service (0: any free port)");
DEFINE_int32(port_search, 0, "If a port is busy, try up to this many next ports");
DEFINE_bool(reuse_port, false,
            "SO_REUSEPORT on every listener, so that several server processes on one "
            "host share the ports (the kernel spreads TCP connections; a UDP chat "
            "member keeps reaching the same process)");
DEFINE_int32(io_threads, 1, "I/O threads, each running an event loop");
DEFINE_int32(workers, 4, "Worker threads for services that may block");
DEFINE_string(model, "reactor",
              "Server design for the TCP services: reactor (event loops and a worker "
              "pool), blocking (a thread per connection) or iterative (one connection "
              "at a time per service); chat runs on the main loop under every model");
DEFINE_string(dispatch, "auto",
              "auto: cheap services run on the I/O thread, the others on the "
              "worker pool; pool: every service on the worker pool (reactor model only)");
DEFINE_string(poller, "", "epoll, poll or kqueue (default: the best this platform has)");
DEFINE_string(data_dir, "./switchboard-data", "Where the SQLite store lives (--store=sqlite)");
DEFINE_string(store, "sqlite",
              "Where identity and auth keep their data: sqlite (in --data_dir, one server) or "
              "postgresql://USER@HOST:PORT/DB (shared by several servers; the password comes "
              "from PGPASSWORD or ~/.pgpass)");
DEFINE_string(idle_timeout, "300s",
              "Close a connection that sent nothing, or did not read its replies, this long");
DEFINE_string(request_timeout, "30s",
              "A line or frame must be complete this long after its first byte, else "
              "'408 request timeout' and the session ends (0: no deadline)");
DEFINE_int32(max_connections, 10000, "Connections past this many are accepted and closed at once");
DEFINE_int32(max_registrations_per_address, 100,
             "REGISTERs from one client address per 15 minutes; more get 429 (0: no limit)");
DEFINE_int32(max_connections_per_address, 0,
             "Connections from one client address past this many are accepted and closed at "
             "once (0: no cap; loopback benchmarks come from one address)");
DEFINE_string(shutdown_grace, "2s", "On SIGINT/SIGTERM, how long replies under way may take");
DEFINE_string(echo_framing, "raw", "Framing of the echo service: raw, line or length");
DEFINE_string(identity_framing, "line", "Framing of the identity service: line or length");
DEFINE_string(auth_framing, "line", "Framing of the auth service: line or length");
DEFINE_int32(echo_chunk, 1024,
             "Raw echo hands on the stream in portions of at most this many bytes");
DEFINE_string(pwhash_cost, "interactive",
              "Password hashing cost: interactive, moderate, sensitive, or min (tests only)");
DEFINE_string(session_ttl, "24h", "How long an auth session lasts");
DEFINE_string(chat_timeout, "60s", "Chat members silent this long are dropped");
DEFINE_int32(chat_max_members, 1000, "Chat members at most; more get 'ERR 503 room full'");
DEFINE_int32(chat_max_members_per_address, 64,
             "Chat members from one IPv4 address or IPv6 /64 at most; more get 'ERR 503 too many "
             "members from your address' (0: no cap)");
DEFINE_string(chat_backplane, "",
              "Share the chat room with every server naming the same Redis: "
              "redis://HOST:PORT or unix:///PATH (empty: the room lives in this process)");
DEFINE_double(chat_rate, 20,
              "Chat commands per second per member (a burst of half a second's worth, "
              "up to 10, is allowed); more get 'ERR 429 slow down'");

// gflags exits with status 1 on a bad flag; the contract says 2. The hook
// that decides is exported by libgflags but not declared in its header.
namespace google {
extern void (*gflags_exitfunc)(int);
}  // namespace google

namespace switchboard {
namespace {

constexpr char kProgram[] = "server";

// A start-up that cannot go on says one line and exits 2, as a bad flag
// does: what to fix is in the command line or the machine's state.
[[noreturn]] void FailStartup(absl::string_view message) { BadFlag(kProgram, message); }

absl::Duration DurationFlag(const char* name, const std::string& value) {
  return switchboard::DurationFlag(kProgram, name, value);
}

Framing FramingFlag(const char* name, const std::string& value) {
  absl::StatusOr<Framing> framing = ParseFraming(value);
  if (!framing.ok()) FailStartup(absl::StrCat("--", name, ": ", framing.status().message()));
  return *framing;
}

ServerConfig ConfigFromFlags() {
  ServerConfig config;
  config.host = FLAGS_host;
  config.services.clear();
  for (absl::string_view name : absl::StrSplit(FLAGS_services, ',')) {
    config.services.emplace_back(name);
  }
  // Each row of the service table has --<name>_port, and --<name>_framing
  // when it takes one; they are read by name, so the table is the one list.
  for (const ServiceSpec& spec : ServiceTable()) {
    const std::string port_flag = absl::StrCat(spec.name, "_port");
    std::string value;
    int port = 0;
    if (!gflags::GetCommandLineOption(port_flag.c_str(), &value) ||
        !absl::SimpleAtoi(value, &port)) {
      FailStartup(absl::StrCat("--", port_flag, " is not defined"));
    }
    config.ports[spec.name] = port;
    if (spec.framings.empty()) continue;
    const std::string framing_flag = absl::StrCat(spec.name, "_framing");
    if (!gflags::GetCommandLineOption(framing_flag.c_str(), &value)) {
      FailStartup(absl::StrCat("--", framing_flag, " is not defined"));
    }
    config.framings[spec.name] = FramingFlag(framing_flag.c_str(), value);
  }
  config.port_search = FLAGS_port_search;
  config.reuse_port = FLAGS_reuse_port;
  config.io_threads = FLAGS_io_threads;
  config.workers = FLAGS_workers;
  absl::StatusOr<ServerModel> model = ParseServerModel(FLAGS_model);
  if (!model.ok()) FailStartup(absl::StrCat("--model: ", model.status().message()));
  config.model = *model;
  absl::StatusOr<Dispatch> dispatch = ParseDispatch(FLAGS_dispatch);
  if (!dispatch.ok()) FailStartup(absl::StrCat("--dispatch: ", dispatch.status().message()));
  config.dispatch = *dispatch;
  if (!FLAGS_poller.empty()) {
    absl::StatusOr<PollerKind> poller = ParsePollerKind(FLAGS_poller);
    if (!poller.ok()) FailStartup(absl::StrCat("--poller: ", poller.status().message()));
    config.poller = *poller;
  }
  config.idle_timeout = DurationFlag("idle_timeout", FLAGS_idle_timeout);
  config.request_timeout = switchboard::DurationFlag(
      kProgram, "request_timeout", FLAGS_request_timeout, DurationRange::kNonNegative);
  config.shutdown_grace = DurationFlag("shutdown_grace", FLAGS_shutdown_grace);
  config.session_ttl = DurationFlag("session_ttl", FLAGS_session_ttl);
  config.chat_timeout = DurationFlag("chat_timeout", FLAGS_chat_timeout);
  if (FLAGS_chat_max_members < 1) FailStartup("--chat_max_members must be at least 1");
  config.chat_max_members = static_cast<size_t>(FLAGS_chat_max_members);
  if (FLAGS_chat_max_members_per_address < 0) {
    FailStartup("--chat_max_members_per_address must be 0 (no cap) or more");
  }
  config.chat_max_members_per_address = static_cast<size_t>(FLAGS_chat_max_members_per_address);
  config.chat_rate = FLAGS_chat_rate;
  config.chat_backplane = FLAGS_chat_backplane;
  config.max_connections = FLAGS_max_connections;
  config.max_connections_per_address = FLAGS_max_connections_per_address;
  config.max_registrations_per_address = FLAGS_max_registrations_per_address;
  if (FLAGS_echo_chunk < 1) FailStartup("--echo_chunk must be at least 1");
  config.echo_chunk = static_cast<size_t>(FLAGS_echo_chunk);
  absl::StatusOr<PwhashCost> cost = ParsePwhashCost(FLAGS_pwhash_cost);
  if (!cost.ok()) FailStartup(absl::StrCat("--pwhash_cost: ", cost.status().message()));
  config.pwhash_cost = *cost;
  config.store = FLAGS_store;
  config.data_dir = FLAGS_data_dir;
  // Under `bazel run` the process starts in the runfiles tree; a relative
  // --data_dir means the directory the command was typed in.
  if (const char* typed_in = std::getenv("BUILD_WORKING_DIRECTORY");
      typed_in != nullptr && !config.data_dir.empty() && config.data_dir[0] != '/') {
    config.data_dir = absl::StrCat(typed_in, "/", config.data_dir);
  }
  if (absl::Status s = ValidateConfig(config); !s.ok()) FailStartup(s.message());
  return config;
}

// Waits for SIGINT or SIGTERM on its own thread (the signals are blocked in
// every thread, so none is interrupted) and asks the main loop to stop.
void WatchSignals(const sigset_t& signals, EventLoop* main_loop) {
  std::thread([signals, main_loop] {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    // Logged by the main loop, which logs everything else of the chat:
    // glog reads the time zone through libc's tzset, whose internal lock
    // ThreadSanitizer cannot see, so two threads logging unordered are
    // reported as a race. Run() runs the tasks queued before Quit().
    main_loop->QueueInLoop([signal_number] {
      LOG(INFO) << "received " << (signal_number == SIGINT ? "SIGINT" : "SIGTERM")
                << ": shutting down";
    });
    main_loop->Quit();
  }).detach();
}

// What the log says before the listening lines: the design, and each
// listener with the busy ports it skipped.
void LogStartup(const ServerConfig& config, const EventLoop& main_loop, const Server& server) {
  switch (config.model) {
    case ServerModel::kReactor:
      LOG(INFO) << "Switchboard " << kVersion << " starting: model reactor, poller "
                << main_loop.poller_name() << ", " << config.io_threads << " I/O thread(s), "
                << config.workers << " worker(s), dispatch " << FLAGS_dispatch << ", services "
                << FLAGS_services;
      break;
    case ServerModel::kBlocking:
      LOG(INFO) << "Switchboard " << kVersion << " starting: model blocking, poller "
                << main_loop.poller_name()
                << " (main loop: chat and signals), a thread per connection (at most "
                << config.max_connections << ") with blocking reads and writes, services "
                << FLAGS_services;
      break;
    case ServerModel::kIterative:
      LOG(INFO) << "Switchboard " << kVersion << " starting: model iterative, poller "
                << main_loop.poller_name()
                << " (main loop: chat and signals), one thread per service serving one "
                   "connection at a time (the others wait in the backlog), services "
                << FLAGS_services;
      break;
  }
  if (config.store != "sqlite" && (absl::StrContains(FLAGS_services, "auth") ||
                                   absl::StrContains(FLAGS_services, "identity"))) {
    // The URI holds no password (refused at start-up).
    LOG(INFO) << "store: PostgreSQL at " << config.store;
  }
  if (config.pwhash_cost == PwhashCost::kMin && absl::StrContains(FLAGS_services, "auth")) {
    LOG(WARNING) << "--pwhash_cost=min: passwords are hashed at libsodium's minimum "
                    "cost, which is for tests only and easy to brute-force";
  }
  for (const Server::Listener& listener : server.listeners()) {
    for (uint16_t busy : listener.skipped_ports) {
      LOG(INFO) << listener.service << ": port " << busy
                << " is in use by another program; tried the next one (--port_search)";
    }
    LOG(INFO) << listener.service << ": listening on " << listener.address.ToString() << " ("
              << listener.transport << ")";
  }
}

int Main(int argc, char** argv) {
  google::gflags_exitfunc = [](int status) { std::exit(status == 0 ? 0 : kUsageError); };
  gflags::SetUsageMessage(
      "Switchboard server: echo, identity, auth and chat services.\n"
      "  server [--services=echo,...] [--host=127.0.0.1] [--echo_port=7007] ...");
  gflags::SetVersionString(kVersion);
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (argc > 1) FailStartup(absl::StrCat("unexpected argument '", argv[1], "'"));
  // Events go to the console unless --log_dir asks for files. (glog's own
  // default for log_dir comes from $TEST_TMPDIR or $GOOGLE_LOG_DIR, which
  // must not silently redirect the events.)
  if (gflags::GetCommandLineFlagInfoOrDie("log_dir").is_default) {
    FLAGS_logtostderr = true;
  }
  google::InitGoogleLogging(argv[0]);

  const ServerConfig config = ConfigFromFlags();

  // A peer that resets a connection we write to must not kill the process.
  signal(SIGPIPE, SIG_IGN);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);  // inherited by threads

  absl::StatusOr<std::unique_ptr<EventLoop>> main_loop = EventLoop::Create(config.poller);
  if (!main_loop.ok()) FailStartup(main_loop.status().message());

  absl::StatusOr<std::unique_ptr<Server>> server = Server::Create(config, main_loop->get());
  if (!server.ok()) FailStartup(server.status().message());

  LogStartup(config, **main_loop, **server);
  for (const Server::Listener& listener : (*server)->listeners()) {
    std::cout << Server::ListeningLine(listener) << "\n";
  }
  std::cout.flush();
  (*server)->Start();
  WatchSignals(stop_signals, main_loop->get());

  (*main_loop)->Run();

  (*server)->Shutdown();
  server->reset();
  LOG(INFO) << "server stopped";
  google::FlushLogFiles(google::GLOG_INFO);
  return 0;
}

}  // namespace
}  // namespace switchboard

int main(int argc, char** argv) { return switchboard::Main(argc, argv); }
