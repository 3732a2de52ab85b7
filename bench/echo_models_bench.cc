// Copyright Switchboard authors.
//
// echo_models_bench: the server designs of `--model` side by side under the
// same echo load. Each case starts one server as a child process, runs one
// LoadGenerator load against it (1024-byte messages, closed loop), reads
// the server's CPU time from /proc over the measurement window, and stops
// the server (SIGTERM, then waits for it). The designs:
//
//   reference     bench:reference_echo_main, the minimal epoll echo loop
//                 (ReferenceEchoServer): the floor of what any design costs.
//                 It runs first at each load; every other design is
//                 divided by it at the same load, measured in the same
//                 process run seconds later.
//   reactor_auto  //services:server --model=reactor --dispatch=auto: echo
//                 runs on the I/O thread.
//   reactor_pool  --model=reactor --dispatch=pool: every message is handed
//                 to the worker pool and the reply handed back.
//   blocking      --model=blocking: a thread per connection.
//   iterative     --model=iterative: one connection at a time, so only the
//                 one-connection load is run; the others are skipped.
// Every server runs `--services=echo --echo_port=0 --io_threads=1
// --minloglevel=1` plus its model flags; both binaries are data
// dependencies, found in this program's runfiles.
//
// The loads: 1, 10, 100 and 1000 connections in ping-pong (one message in
// flight each), and 10 connections with 16 messages in flight each. The load
// generator runs one event-loop thread in this process.
//
// Each case is exactly one load (Iterations(1), manual time = the measured
// window). Counters:
//   msgs_per_s, bytes_per_s   echoed messages and payload bytes per second
//   p50_us, p99_us, p999_us   latency percentiles, write to reply
//   server_cpu_us_per_msg     user + system CPU of the whole server process
//                             over the window, per message
//   server_cpu_util           CPUs' worth the server used over the window
//   load_cpu_util             CPUs' worth this process (the load generator)
//                             used over its whole run; with both pinned to a
//                             CPU each, the side near 1 is the bottleneck
//   ref_msgs_ratio            msgs/s over the reference's at the same load
//   ref_cpu_ratio             CPU per message over the reference's
//   errors, connections, depth
// errors is always 0: a case with load errors, or whose server does not
// start or stop cleanly, ends with SkipWithError instead, and the program
// then exits 1. A design whose server exits with status 2 at start-up (a
// model this build does not have yet) is skipped with a message saying so;
// skip messages start with "skipped:" and do not change the exit status.
//
// The JSON context names what was run, in order, for bench/report.py:
// echo_models_designs ("name=label;...", the label being the server flags)
// and echo_models_loads ("CONNECTIONSxDEPTH,...").
//
// By default (--pin) the load generator runs on the first CPU this program
// may use and the server on the others, so that they never compete for a
// CPU and every case places them alike.
//
//   ./bazelw run -c opt //bench:echo_models
//   ./bazelw run -c opt //bench:echo_models -- --quick          # CI: ~0.2 s each
//   ./bazelw run -c opt //bench:echo_models -- --duration=5s --warmup=1s
//   ./bazelw run -c opt //bench:echo_models -- --benchmark_format=json
//   ./bazelw run -c opt //bench:echo_models -- --pin=false   # share every CPU
// The environment can set the same: ECHO_MODELS_DURATION, ECHO_MODELS_WARMUP,
// ECHO_MODELS_QUICK=1, ECHO_MODELS_PIN=0 (flags win over the environment).
//
// Caveat: the load generator and the server run on the same machine; on a
// small one the load generator is often the bottleneck, so messages/s is
// that of the pair, which is why CPU per message and each side's CPU use are
// reported beside it.

#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/case_outcome.h"
#include "bench/server_child.h"
#include "benchmark/benchmark.h"
#include "clients/latency_histogram.h"
#include "clients/load_generator.h"
#include "clients/load_report.h"
#include "gflags/gflags.h"
#include "process/flags.h"
#include "process/open_file_limit.h"
#include "reactor/codec.h"
#include "reactor/inet_address.h"

DEFINE_string(duration, "",
              "Measurement window of each load (Abseil duration; default 2s, 200ms "
              "with --quick, or $ECHO_MODELS_DURATION)");
DEFINE_string(warmup, "",
              "Warm-up before each window, figures discarded (default 500ms, 100ms "
              "with --quick, or $ECHO_MODELS_WARMUP)");
DEFINE_bool(pin, true,
            "Pin the load generator to the first CPU this program may use and the "
            "server to the others (with at least 2 CPUs), so that the two never "
            "compete for a CPU and each case places them alike (also "
            "$ECHO_MODELS_PIN=0 to turn it off)");
DEFINE_bool(quick, false,
            "Short windows for CI: 200ms + 100ms of warm-up per case (also "
            "$ECHO_MODELS_QUICK=1)");

namespace switchboard {
namespace {

constexpr absl::string_view kProgram = "echo_models_bench";
constexpr size_t kMessageSize = 1024;

struct Design {
  std::string name;
  std::string label;               // in the report's tables: the server flags
  std::string binary;              // runfiles path
  std::vector<std::string> flags;  // after the binary
  bool one_connection_only = false;
};

struct Load {
  int connections;
  int depth;
};

// What a case measured; the reference's are kept for the ratios.
struct Figures {
  double messages_per_second = 0;
  std::optional<double> cpu_us_per_message;
};

struct Settings {
  absl::Duration duration;
  absl::Duration warmup;
  // The server's CPUs when pinned (the load generator has the rest).
  std::optional<cpu_set_t> server_cpus;
};

// ----------------------------------------------------------------------------
// The cases.

// The reference's figures per load, from the same process run.
std::map<std::pair<int, int>, Figures>& ReferenceFigures() {
  static auto* figures = new std::map<std::pair<int, int>, Figures>();
  return *figures;
}

// User + system CPU time of this process (the load generator's threads), in
// seconds.
double SelfCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
}

void RunCase(benchmark::State& state, const Design& design, const std::string& binary,
             const Load& load, const Settings& settings) {
  for (auto _ : state) {
    if (design.one_connection_only && load.connections != 1) {
      EndCase(state,
              "skipped: the iterative model serves one client at a time, so only the "
              "one-connection load is run");
      break;
    }
    std::vector<std::string> argv = {binary};
    argv.insert(argv.end(), design.flags.begin(), design.flags.end());
    absl::StatusOr<std::unique_ptr<ServerChild>> server =
        ServerChild::Start(argv, settings.server_cpus);
    if (!server.ok()) {
      const std::string what =
          absl::IsFailedPrecondition(server.status())
              ? absl::StrCat("skipped: ", design.name,
                             " cannot start (a start-up error: is this model in the build "
                             "yet?): ")
              : absl::StrCat(design.name, " did not start: ");
      EndCase(state, absl::StrCat(what, server.status().message()));
      break;
    }

    LoadConfig config;
    config.target = *InetAddress::Parse("127.0.0.1", (*server)->port());
    config.connections = load.connections;
    config.depth = load.depth;
    config.message_size = kMessageSize;
    config.framing = Framing::kRaw;
    config.duration = settings.duration;
    config.warmup = settings.warmup;
    config.threads = 1;
    config.server_pid = (*server)->pid();
    // A thread-per-connection server still accepting the last of 1000
    // connections while it serves the first keeps some waiting in its
    // backlog for over a second: for a comparison that is latency (it shows
    // in p99.9), not an error.
    config.timeout = absl::Seconds(10);
    LoadGenerator generator(config);
    const double load_cpu_start = SelfCpuSeconds();
    const absl::Time load_start = absl::Now();
    absl::StatusOr<LoadResults> results = generator.Run({});
    const double load_wall = absl::ToDoubleSeconds(absl::Now() - load_start);
    const double load_cpu = SelfCpuSeconds() - load_cpu_start;
    const absl::Status stopped = (*server)->Stop();

    if (!results.ok()) {
      EndCase(state, absl::StrCat("load did not run: ", results.status().message()));
      break;
    }
    const LoadResults& r = *results;
    const double measured_s = absl::ToDoubleSeconds(r.measured);
    state.SetIterationTime(measured_s > 0 ? measured_s : 1e-9);
    if (!r.completed) {
      EndCase(state,
              absl::StrCat("the load stopped early: ", r.stopped_because,
                           r.errors.total() ? "; errors: " : "", DescribeLoadErrors(r.errors)));
      break;
    }
    if (r.errors.total() != 0) {
      EndCase(state,
              absl::StrCat(r.errors.total(), " load error(s): ", DescribeLoadErrors(r.errors)));
      break;
    }
    if (!stopped.ok()) {
      EndCase(state, std::string(stopped.message()));
      break;
    }

    Figures figures;
    figures.messages_per_second = r.messages_per_second();
    figures.cpu_us_per_message = r.server_cpu_us_per_message();
    state.counters["connections"] = load.connections;
    state.counters["depth"] = load.depth;
    state.counters["msgs_per_s"] = figures.messages_per_second;
    state.counters["bytes_per_s"] =
        measured_s > 0 ? static_cast<double>(r.bytes) / measured_s : 0.0;
    state.counters["p50_us"] = static_cast<double>(r.latency.ValueAtPercentile(50)) / 1e3;
    state.counters["p99_us"] = static_cast<double>(r.latency.ValueAtPercentile(99)) / 1e3;
    state.counters["p999_us"] = static_cast<double>(r.latency.ValueAtPercentile(99.9)) / 1e3;
    state.counters["errors"] = static_cast<double>(r.errors.total());
    // Which side was the bottleneck: CPUs' worth each used (1 = one CPU
    // busy all the time); the load generator's over its whole run.
    state.counters["load_cpu_util"] = load_wall > 0 ? load_cpu / load_wall : 0.0;
    if (figures.cpu_us_per_message.has_value()) {
      state.counters["server_cpu_us_per_msg"] = *figures.cpu_us_per_message;
      state.counters["server_cpu_util"] =
          measured_s > 0 ? absl::ToDoubleSeconds(*r.server_cpu) / measured_s : 0.0;
    } else {
      state.SetLabel(absl::StrCat("no server CPU: ", r.server_cpu_error));
    }

    const std::pair<int, int> key{load.connections, load.depth};
    if (design.name == "reference") ReferenceFigures()[key] = figures;
    const auto reference = ReferenceFigures().find(key);
    if (reference != ReferenceFigures().end()) {
      const Figures& ref = reference->second;
      if (ref.messages_per_second > 0) {
        state.counters["ref_msgs_ratio"] = figures.messages_per_second / ref.messages_per_second;
      }
      if (ref.cpu_us_per_message.has_value() && figures.cpu_us_per_message.has_value() &&
          *ref.cpu_us_per_message > 0) {
        state.counters["ref_cpu_ratio"] = *figures.cpu_us_per_message / *ref.cpu_us_per_message;
      }
    }
  }
}

// ----------------------------------------------------------------------------
// Settings and registration.

absl::Duration DurationSetting(const char* flag_name, const std::string& flag_value,
                               const char* env_name, absl::Duration fallback) {
  std::string text = flag_value;
  std::string source = absl::StrCat("--", flag_name);
  if (text.empty()) {
    text = EnvOr(env_name, "");
    source = absl::StrCat("$", env_name);
  }
  if (text.empty()) return fallback;
  absl::Duration value;
  if (!absl::ParseDuration(text, &value) || value < absl::ZeroDuration()) {
    BadFlag(kProgram, absl::StrCat(source, "=", text, " is not a duration (examples: 2s, 500ms)"));
  }
  return value;
}

Settings SettingsFromFlags() {
  const std::string quick_env = EnvOr("ECHO_MODELS_QUICK", "");
  const bool quick = FLAGS_quick || (!quick_env.empty() && quick_env != "0");
  Settings settings;
  settings.duration = DurationSetting("duration", FLAGS_duration, "ECHO_MODELS_DURATION",
                                      quick ? absl::Milliseconds(200) : absl::Seconds(2));
  settings.warmup = DurationSetting("warmup", FLAGS_warmup, "ECHO_MODELS_WARMUP",
                                    quick ? absl::Milliseconds(100) : absl::Milliseconds(500));
  if (settings.duration <= absl::ZeroDuration()) {
    BadFlag(kProgram, "the window must be longer than 0");
  }
  return settings;
}

// With --pin and at least two CPUs allowed: this process (and the load
// generator's threads, which inherit it) on the first, the server on the
// others. Returns a description for the benchmark context.
std::string PinCpus(Settings& settings) {
  const std::string pin_env = EnvOr("ECHO_MODELS_PIN", "");
  const bool pin =
      gflags::GetCommandLineFlagInfoOrDie("pin").is_default ? pin_env != "0" : FLAGS_pin;
  if (!pin) return "not pinned (--pin=false): load generator and server share every CPU";
  return PinSelfToFirstCpu(&settings.server_cpus);
}

std::vector<Design> Designs() {
  const std::vector<std::string> common = {"--services=echo", "--echo_port=0", "--io_threads=1",
                                           "--minloglevel=1"};
  auto server = [&common](std::string name, std::string label, std::vector<std::string> model_flags,
                          bool one_connection_only) {
    Design design{std::move(name), std::move(label), "services/server", common,
                  one_connection_only};
    design.flags.insert(design.flags.end(), model_flags.begin(), model_flags.end());
    return design;
  };
  return {
      Design{"reference", "reference loop", "bench/reference_echo_main", {}, false},
      server("reactor_auto", "reactor, dispatch=auto", {"--model=reactor", "--dispatch=auto"},
             false),
      server("reactor_pool", "reactor, dispatch=pool", {"--model=reactor", "--dispatch=pool"},
             false),
      server("blocking", "blocking", {"--model=blocking"}, false),
      server("iterative", "iterative", {"--model=iterative"}, true),
  };
}

// Puts "echo_models_designs" ("name=label;...") and "echo_models_loads"
// ("CONNECTIONSxDEPTH,...") into the JSON context, both in the order run.
// InvalidArgument for a design that the format cannot carry.
absl::Status AddDescriptionToContext(const std::vector<std::pair<Design, std::string>>& designs,
                                     const std::vector<Load>& loads) {
  std::vector<std::string> named;
  for (const auto& [design, path] : designs) {
    // ';' separates the designs and the first '=' ends the name.
    if (absl::StrContains(design.label, ';') || absl::StrContains(design.name, '=')) {
      return absl::InvalidArgumentError(
          absl::StrCat("design '", design.name, "': no '=' in a name, no ';' in a label"));
    }
    named.push_back(absl::StrCat(design.name, "=", design.label));
  }
  std::vector<std::string> shapes;
  for (const Load& load : loads) shapes.push_back(absl::StrCat(load.connections, "x", load.depth));
  benchmark::AddCustomContext("echo_models_designs", absl::StrJoin(named, ";"));
  benchmark::AddCustomContext("echo_models_loads", absl::StrJoin(shapes, ","));
  return absl::OkStatus();
}

int Main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  gflags::SetUsageMessage(
      "echo_models_bench [--quick] [--duration=2s] [--warmup=500ms] [--benchmark_...]");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (argc > 1) {
    BadFlag(kProgram, absl::StrCat("unexpected argument '", argv[1],
                                   "' (flags: --quick, --duration, --warmup, and Google "
                                   "Benchmark's --benchmark_*)"));
  }
  Settings settings = SettingsFromFlags();
  const std::string cpus = PinCpus(settings);
  // 1000 connections need 1000 descriptors here and as many in the server
  // (which inherits the limit).
  RaiseOpenFileLimitToHardLimit();
  signal(SIGPIPE, SIG_IGN);

  const std::vector<std::string> roots = RunfilesRoots(argv[0]);
  const std::vector<Load> loads = {{1, 1}, {10, 1}, {100, 1}, {1000, 1}, {10, 16}};
  std::vector<std::pair<Design, std::string>> designs;
  for (const Design& design : Designs()) {
    absl::StatusOr<std::string> binary =
        FindRunfile(roots, design.binary, "./bazelw run -c opt //bench:echo_models");
    if (!binary.ok()) {
      std::cerr << "echo_models_bench: " << binary.status().message() << std::endl;
      return 1;
    }
    designs.emplace_back(design, *binary);
  }
  // Load by load, every design in turn (the reference first): the designs
  // compared at a load are measured seconds apart, not a minute, which on a
  // shared machine whose speed drifts keeps the ratios steadier.
  for (const Load& load : loads) {
    for (const auto& [design, path] : designs) {
      const std::string name = absl::StrCat("echo/", design.name, "/connections:", load.connections,
                                            "/depth:", load.depth);
      benchmark::RegisterBenchmark(
          name.c_str(),
          [design = design, path = path, load, settings](benchmark::State& state) {
            RunCase(state, design, path, load, settings);
          })
          ->Iterations(1)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    }
  }

#ifdef NDEBUG
  const char* build = "optimized (NDEBUG)";
#else
  const char* build = "not optimized: use -c opt for figures worth comparing";
  std::cerr << "echo_models_bench: this build is not optimized (no -c opt); the "
               "figures are not representative"
            << std::endl;
#endif
  benchmark::AddCustomContext("echo_models_build", build);
  benchmark::AddCustomContext("echo_models_window", absl::FormatDuration(settings.duration));
  benchmark::AddCustomContext("echo_models_warmup", absl::FormatDuration(settings.warmup));
  benchmark::AddCustomContext("echo_models_message_bytes", absl::StrCat(kMessageSize));
  benchmark::AddCustomContext("echo_models_cpus", cpus);
  // What this run is made of, for bench/report.py (report_lib.py reads these
  // two keys): a design or load added here reaches the report without a
  // second list there to keep in step.
  if (const absl::Status described = AddDescriptionToContext(designs, loads); !described.ok()) {
    std::cerr << "echo_models_bench: " << described.message() << std::endl;
    return 1;
  }
  return RunBenchmarksForExitStatus("echo_models_bench");
}

}  // namespace
}  // namespace switchboard

int main(int argc, char** argv) { return switchboard::Main(argc, argv); }
