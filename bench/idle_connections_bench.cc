// Copyright Switchboard authors.
//
// idle_connections_bench: what idle connections cost the server, and whether
// a busy client among them still gets its replies. The claim measured:
//
//   5,000 idle connections cost the reactor server at most 4 KiB of memory
//   each (growth of its resident set / connections), and an echo client
//   among them still gets its replies.
//
// Each case starts //services:server (found in this program's runfiles) as
// a child process with
//   --services=echo --echo_port=0 --max_connections=20000 --idle_timeout=600s
//   --minloglevel=1 --model=<reactor|blocking>
// (--max_connections grows with --connections past 20000; --minloglevel=1
// keeps the per-connection log lines out of the measurement, as in
// echo_models_bench)
// and then, from this process:
//   1. warm-up: one connection sends 1 byte, reads it back and closes, and
//      then the echo client of step 5 runs once on its own (alone_p50_us,
//      alone_p99_us, alone_max_us: the same client without idle
//      connections, measured in the same run, to compare with); so what
//      the first connections cost once (code paths paged in, the I/O
//      thread's read area, malloc's first growth) is not counted as a
//      per-connection cost;
//   2. reads the server's VmRSS from /proc/<pid>/status once it has
//      settled: rss_before_kib;
//   3. opens the idle connections one after the other (plain TCP to
//      127.0.0.1), sends one byte on each and reads it back, so that every
//      one is accepted, registered and has been served once;
//   4. waits until the server's VmRSS settles (50 ms apart, 4 readings
//      within 32 KiB, at most 3 s) and reads it: rss_after_kib;
//      kib_per_connection = (after - before) / connections;
//   5. a fresh echo client (TCP_NODELAY) does --round_trips round trips of
//      1024 bytes among the idle connections, each reply checked byte for
//      byte: echo_p50_us, echo_p99_us, echo_max_us (write to last byte
//      back, an HDR histogram of nanoseconds);
//   6. checks that no idle connection was closed meanwhile, closes them all
//      and stops the server (SIGTERM; it must exit 0).
// --model=reactor is the design the claim is about; --model=blocking (a
// thread per connection) runs the same steps as the comparison: it pays for
// a thread and the touched part of its stack per connection.
//
// Each case is one pass (Iterations(1)); its manual time is the echo
// client's run. Counters: connections, rss_before_kib, rss_after_kib,
// kib_per_connection, server_threads (after step 3), settle_ms, open_ms
// (step 3), echo_round_trips, echo_p50_us, echo_p99_us, echo_max_us,
// alone_p50_us, alone_p99_us, alone_max_us, errors
// (always 0: a case with an error ends with SkipWithError and the program
// exits 1). The label says whether the reactor kept to the claim; the
// program does not fail when it does not (the figure is the point).
//
//   ./bazelw run -c opt //bench:idle_connections_bench               # 5000 connections
//   ./bazelw run -c opt //bench:idle_connections_bench -- --quick    # 500, for CI
//   ./bazelw run -c opt //bench:idle_connections_bench -- --connections=10000
//   ./bazelw run -c opt //bench:idle_connections_bench -- --benchmark_filter=reactor
// The environment can set the same: IDLE_CONNECTIONS=N,
// IDLE_CONNECTIONS_QUICK=1, IDLE_CONNECTIONS_ROUND_TRIPS=N,
// IDLE_CONNECTIONS_PIN=0 (flags win over the environment).
//
// Caveats: VmRSS is the server's user-space memory; what the kernel holds
// per socket (socket structures, buffers: a few KiB per connection on each
// side) is not in it and not counted. By default (--pin) this process runs
// on the first CPU it may use and the server on the others, as in
// echo_models_bench.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/blocking_echo_client.h"
#include "bench/case_outcome.h"
#include "bench/proc_status.h"
#include "bench/server_child.h"
#include "benchmark/benchmark.h"
#include "clients/latency_histogram.h"
#include "gflags/gflags.h"
#include "process/flags.h"
#include "process/open_file_limit.h"

DEFINE_int32(connections, 0,
             "Idle connections to open (default 5000, 500 with --quick, or "
             "$IDLE_CONNECTIONS)");
DEFINE_int32(round_trips, 0,
             "Round trips of 1024 bytes the echo client makes among them (default 1000, "
             "or $IDLE_CONNECTIONS_ROUND_TRIPS)");
DEFINE_bool(quick, false,
            "500 idle connections instead of 5000, for CI (also "
            "$IDLE_CONNECTIONS_QUICK=1)");
DEFINE_bool(pin, true,
            "Pin this process to the first CPU it may use and the server to the others "
            "(also $IDLE_CONNECTIONS_PIN=0 to turn it off)");

namespace switchboard {
namespace {

using bench::Connect;
using bench::EchoClient;
using bench::Fd;
using bench::kMessageSize;
using bench::kSettleLimit;
using bench::RoundTrip;
using bench::Settled;
using bench::StillIdle;
using bench::WaitForSettledRss;

constexpr absl::string_view kProgram = "idle_connections_bench";
constexpr int kDefaultConnections = 5000;
constexpr int kQuickConnections = 500;
constexpr int kDefaultRoundTrips = 1000;
// The claim, for the reactor.
constexpr double kClaimKibPerConnection = 4.0;
// The flags' value, unless more connections are asked for.
constexpr int kMaxConnections = 20000;
// Descriptors this process keeps for itself besides the connections.
constexpr int kSpareDescriptors = 32;

struct Settings {
  int connections = kDefaultConnections;
  int round_trips = kDefaultRoundTrips;
  std::optional<cpu_set_t> server_cpus;
};

struct Model {
  std::string name;  // the --model value
  bool claim_applies;
};

// ----------------------------------------------------------------------------
// The case.

void RunCase(benchmark::State& state, const Model& model, const std::string& binary,
             const Settings& settings) {
  for (auto _ : state) {
    const int connections = settings.connections;
    std::vector<std::string> argv = {
        binary,
        "--services=echo",
        "--echo_port=0",
        absl::StrCat("--max_connections=", std::max(kMaxConnections, connections + 16)),
        "--idle_timeout=600s",
        "--minloglevel=1",
        absl::StrCat("--model=", model.name),
    };
    absl::StatusOr<std::unique_ptr<ServerChild>> started =
        ServerChild::Start(argv, settings.server_cpus);
    if (!started.ok()) {
      EndCase(state, absl::StrCat(model.name, " did not start: ", started.status().message()));
      break;
    }
    ServerChild& server = **started;
    // On an early end: close the connections before the server is killed.
    std::vector<Fd> idle;
    auto fail = [&](absl::string_view what) {
      idle.clear();
      EndCase(state,
              absl::StrCat(what, server.Running() ? ""
                                                  : absl::StrCat("; the server exited; stderr: ",
                                                                 server.StderrExcerpt())));
    };

    // 1. Warm-up, and the echo client's figures without idle connections.
    LatencyHistogram alone;
    {
      absl::StatusOr<Fd> warm = Connect(server.port(), true);
      std::string reply;
      absl::Status warmed = warm.ok() ? RoundTrip(warm->get(), "w", &reply) : warm.status();
      if (!warmed.ok()) {
        fail(absl::StrCat("warm-up connection: ", warmed.message()));
        break;
      }
    }
    absl::Duration alone_time;
    if (absl::Status echoed = EchoClient(server.port(), settings.round_trips, &alone, &alone_time);
        !echoed.ok()) {
      fail(absl::StrCat("echo client alone: ", echoed.message()));
      break;
    }
    // 2. Before.
    absl::StatusOr<Settled> before = WaitForSettledRss(server.pid());
    if (!before.ok()) {
      fail(std::string(before.status().message()));
      break;
    }

    // 3. The idle connections, each served once.
    idle.reserve(static_cast<size_t>(connections));
    const absl::Time open_start = absl::Now();
    std::string reply;
    absl::Status opened = absl::OkStatus();
    for (int i = 0; i < connections && opened.ok(); ++i) {
      absl::StatusOr<Fd> fd = Connect(server.port(), false);
      if (!fd.ok()) {
        opened = fd.status();
      } else {
        opened = RoundTrip(fd->get(), "i", &reply);
        idle.push_back(*std::move(fd));
      }
      if (!opened.ok()) {
        opened = absl::Status(opened.code(), absl::StrCat("idle connection ", i + 1, " of ",
                                                          connections, ": ", opened.message()));
      }
    }
    const absl::Duration open_time = absl::Now() - open_start;
    if (!opened.ok()) {
      fail(std::string(opened.message()));
      break;
    }

    // 4. After.
    absl::StatusOr<Settled> after = WaitForSettledRss(server.pid());
    if (!after.ok()) {
      fail(std::string(after.status().message()));
      break;
    }

    // 5. The echo client among them.
    LatencyHistogram latency;
    absl::Duration echo_time;
    if (absl::Status echoed = EchoClient(server.port(), settings.round_trips, &latency, &echo_time);
        !echoed.ok()) {
      fail(absl::StrCat("echo client among the idle connections: ", echoed.message()));
      break;
    }

    // 6. None dropped; then close them and stop the server.
    int dropped = 0;
    for (const Fd& fd : idle) dropped += StillIdle(fd.get()) ? 0 : 1;
    idle.clear();
    const absl::Status stopped = server.Stop();
    if (dropped != 0) {
      EndCase(state, absl::StrCat(dropped, " of ", connections,
                                  " idle connections were closed or got data while idle"));
      break;
    }
    if (!stopped.ok()) {
      EndCase(state, std::string(stopped.message()));
      break;
    }

    state.SetIterationTime(std::max(absl::ToDoubleSeconds(echo_time), 1e-9));
    const int64_t growth_kib = after->status.rss_kib - before->status.rss_kib;
    const double per_connection = static_cast<double>(growth_kib) / connections;
    state.counters["connections"] = connections;
    state.counters["rss_before_kib"] = static_cast<double>(before->status.rss_kib);
    state.counters["rss_after_kib"] = static_cast<double>(after->status.rss_kib);
    state.counters["kib_per_connection"] = per_connection;
    state.counters["server_threads"] = static_cast<double>(after->status.threads);
    state.counters["settle_ms"] = absl::ToDoubleMilliseconds(after->waited);
    state.counters["open_ms"] = absl::ToDoubleMilliseconds(open_time);
    state.counters["echo_round_trips"] = static_cast<double>(latency.Count());
    state.counters["echo_p50_us"] = static_cast<double>(latency.ValueAtPercentile(50)) / 1e3;
    state.counters["echo_p99_us"] = static_cast<double>(latency.ValueAtPercentile(99)) / 1e3;
    state.counters["echo_max_us"] = static_cast<double>(latency.Max()) / 1e3;
    state.counters["alone_p50_us"] = static_cast<double>(alone.ValueAtPercentile(50)) / 1e3;
    state.counters["alone_p99_us"] = static_cast<double>(alone.ValueAtPercentile(99)) / 1e3;
    state.counters["alone_max_us"] = static_cast<double>(alone.Max()) / 1e3;
    state.counters["errors"] = 0;
    std::string label =
        model.claim_applies
            ? absl::StrFormat("%s the %.0f KiB/connection claim",
                              per_connection <= kClaimKibPerConnection ? "within" : "OVER",
                              kClaimKibPerConnection)
            : "comparison: a thread per connection";
    if (!before->settled || !after->settled) {
      absl::StrAppend(&label, "; RSS had not settled after ", absl::FormatDuration(kSettleLimit));
    }
    state.SetLabel(label);
  }
}

// ----------------------------------------------------------------------------
// Settings and registration.

int IntSetting(const char* flag_name, int flag_value, const char* env_name, int fallback) {
  if (flag_value != 0) {
    if (flag_value < 0) BadFlag(kProgram, absl::StrCat("--", flag_name, " must be positive"));
    return flag_value;
  }
  const std::string text = EnvOr(env_name, "");
  if (text.empty()) return fallback;
  int value = 0;
  if (!absl::SimpleAtoi(text, &value) || value <= 0) {
    BadFlag(kProgram, absl::StrCat("$", env_name, "=", text, " is not a positive number"));
  }
  return value;
}

int Main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  gflags::SetUsageMessage(
      "idle_connections_bench [--quick] [--connections=5000] [--round_trips=1000] "
      "[--pin=false] [--benchmark_...]");
  gflags::ParseCommandLineFlags(&argc, &argv, true);
  if (argc > 1) {
    BadFlag(kProgram, absl::StrCat("unexpected argument '", argv[1],
                                   "' (flags: --quick, --connections, --round_trips, --pin, "
                                   "and Google Benchmark's --benchmark_*)"));
  }
  const std::string quick_env = EnvOr("IDLE_CONNECTIONS_QUICK", "");
  const bool quick = FLAGS_quick || (!quick_env.empty() && quick_env != "0");
  Settings settings;
  settings.connections = IntSetting("connections", FLAGS_connections, "IDLE_CONNECTIONS",
                                    quick ? kQuickConnections : kDefaultConnections);
  settings.round_trips = IntSetting("round_trips", FLAGS_round_trips,
                                    "IDLE_CONNECTIONS_ROUND_TRIPS", kDefaultRoundTrips);

  // The connections need as many descriptors here and in the server (which
  // inherits the limit).
  const uint64_t descriptors = RaiseOpenFileLimitToHardLimit();
  if (descriptors < static_cast<uint64_t>(settings.connections) + kSpareDescriptors) {
    std::cerr << "idle_connections_bench: " << settings.connections
              << " connections need more open files than the limit of " << descriptors
              << " (ulimit -n); raise it or ask for fewer (--connections)" << std::endl;
    return 2;
  }
  const bool pin = gflags::GetCommandLineFlagInfoOrDie("pin").is_default
                       ? EnvOr("IDLE_CONNECTIONS_PIN", "") != "0"
                       : FLAGS_pin;
  const std::string cpus =
      pin ? PinSelfToFirstCpu(&settings.server_cpus, "this process (the clients)")
          : "not pinned (--pin=false): this process and the server share every CPU";
  signal(SIGPIPE, SIG_IGN);

  absl::StatusOr<std::string> binary =
      FindRunfile(RunfilesRoots(argv[0]), "services/server",
                  "./bazelw run -c opt //bench:idle_connections_bench");
  if (!binary.ok()) {
    std::cerr << "idle_connections_bench: " << binary.status().message() << std::endl;
    return 1;
  }
  for (const Model& model : {Model{"reactor", true}, Model{"blocking", false}}) {
    const std::string name =
        absl::StrCat("idle/", model.name, "/connections:", settings.connections);
    benchmark::RegisterBenchmark(name.c_str(),
                                 [model, path = *binary, settings](benchmark::State& state) {
                                   RunCase(state, model, path, settings);
                                 })
        ->Iterations(1)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }

#ifdef NDEBUG
  const char* build = "optimized (NDEBUG)";
#else
  const char* build = "not optimized: use -c opt for figures worth comparing";
#endif
  benchmark::AddCustomContext("idle_build", build);
  benchmark::AddCustomContext("idle_connections", absl::StrCat(settings.connections));
  benchmark::AddCustomContext("idle_echo_round_trips",
                              absl::StrCat(settings.round_trips, " x ", kMessageSize, " bytes"));
  benchmark::AddCustomContext("idle_descriptor_limit", absl::StrCat(descriptors));
  benchmark::AddCustomContext("idle_cpus", cpus);
  return RunBenchmarksForExitStatus("idle_connections_bench");
}

}  // namespace
}  // namespace switchboard

int main(int argc, char** argv) { return switchboard::Main(argc, argv); }
