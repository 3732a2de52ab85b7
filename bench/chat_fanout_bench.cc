// Copyright Switchboard authors.
//
// Where should the UDP chat broadcaster fan out a broadcast: on the I/O
// (loop) thread itself, or on the worker pool? One broadcast is one datagram
// of the given size to every member, each member a plain UDP socket on
// 127.0.0.1. Per broadcast:
//
//   BM_FanoutInline     the loop thread: UdpSocket::SendToEach + Flush
//                       (sendmmsg, 64 a call), as ChatService does it.
//   BM_FanoutPool       handed to a ThreadPool of 1 worker, which sends with
//                       its own sendmmsg loop on the same fd (UdpSocket is
//                       loop-thread-only) and reports back with RunInLoop;
//                       the loop thread waits for that.
//   BM_FanoutPoolSplit  the same across 2 workers, half the members each.
//
// The time is the broadcast's latency, hand-off and completion included.
// Counters: broadcasts/s, datagrams/s; io_busy_us and io_cpu_us, the loop
// thread's own part of a broadcast, wall-clock and CPU time (the whole send
// inline, only the hand-off for the pool: that is what the pool saves the
// loop; the wall time includes the loop thread being preempted by the
// worker it woke, the CPU column adds the wake-up that reports completion);
// lost, the fraction of datagrams the receivers did not get (it should be 0:
// the receivers are drained, outside the timed region, every kDrainEvery
// broadcasts).
//
//   ./bazelw run -c opt //bench:chat_fanout_bench
//
// Over loopback the sender's sendmmsg also does the receivers' side of the
// delivery (softirq on the same CPU), which a real NIC would not; both ways
// of sending pay it alike.

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "benchmark/benchmark.h"
#include "process/open_file_limit.h"
#include "reactor/event_loop.h"
#include "reactor/inet_address.h"
#include "reactor/poller.h"
#include "reactor/thread_pool.h"
#include "reactor/udp_socket.h"

namespace switchboard {
namespace {

// Broadcasts between two drains of the receivers. 16 datagrams of 1000
// bytes take ~40 KB of a receiver's default 208 KB buffer.
constexpr int kDrainEvery = 16;
// Datagrams per sendmmsg/recvmmsg call, as UdpSocket's largest batch.
constexpr int kBatch = 64;
constexpr int kSendBuffer = 4 << 20;

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// CPU time of the calling thread, in seconds.
double ThreadCpuSeconds() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

// The members: N bound, non-blocking UDP sockets that nobody reads but Drain.
class Receivers {
 public:
  Receivers() = default;
  Receivers(const Receivers&) = delete;
  Receivers& operator=(const Receivers&) = delete;
  ~Receivers() {
    for (int fd : fds_) close(fd);
  }

  // Opens `count`; an error message, or "" on success.
  std::string Open(int count) {
    // A shortfall is not fatal here: the socket() it leaves short says so.
    RaiseOpenFileLimit(static_cast<uint64_t>(count) + 64).IgnoreError();
    for (int i = 0; i < count; ++i) {
      const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) return absl::StrCat("socket: ", strerror(errno));
      fds_.push_back(fd);
      sockaddr_in address{};
      address.sin_family = AF_INET;
      address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      address.sin_port = 0;
      if (bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        return absl::StrCat("bind: ", strerror(errno));
      }
      socklen_t length = sizeof address;
      if (getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        return absl::StrCat("getsockname: ", strerror(errno));
      }
      addresses_.push_back(
          InetAddress::FromSockaddr(reinterpret_cast<const sockaddr*>(&address), length));
    }
    return "";
  }

  const std::vector<InetAddress>& addresses() const { return addresses_; }

  // Reads what waits on every receiver until `expected` datagrams in all have
  // arrived since the start, or `patience` passes. Returns the total so far.
  uint64_t Drain(uint64_t expected, absl::Duration patience) {
    const absl::Time deadline = absl::Now() + patience;
    for (;;) {
      for (int fd : fds_) received_ += DrainOne(fd);
      if (received_ >= expected || absl::Now() >= deadline) return received_;
      sched_yield();
    }
  }

 private:
  uint64_t DrainOne(int fd) {
    mmsghdr messages[kBatch];
    iovec vectors[kBatch];
    uint64_t total = 0;
    for (;;) {
      for (int i = 0; i < kBatch; ++i) {
        vectors[i].iov_base = slots_.data() + kSlot * static_cast<size_t>(i);
        vectors[i].iov_len = kSlot;
        std::memset(&messages[i], 0, sizeof messages[i]);
        messages[i].msg_hdr.msg_iov = &vectors[i];
        messages[i].msg_hdr.msg_iovlen = 1;
      }
      const int n = recvmmsg(fd, messages, kBatch, MSG_DONTWAIT, nullptr);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return total;
      total += static_cast<uint64_t>(n);
      if (n < kBatch) return total;
    }
  }

  static constexpr size_t kSlot = 2048;
  std::vector<int> fds_;
  std::vector<InetAddress> addresses_;
  std::vector<char> slots_ = std::vector<char>(kSlot * kBatch);
  uint64_t received_ = 0;
};

// What a pool variant has to do instead of UdpSocket::Flush: its own
// sendmmsg loop on the socket's fd. Waits (poll) when the kernel's buffer is
// full, skips a datagram the kernel refuses. Returns the datagrams sent.
size_t SendEach(int fd, absl::Span<const InetAddress> to, absl::string_view data) {
  mmsghdr messages[kBatch];
  iovec vector;
  vector.iov_base = const_cast<char*>(data.data());
  vector.iov_len = data.size();
  size_t next = 0;
  size_t sent = 0;
  while (next < to.size()) {
    const int count = static_cast<int>(std::min<size_t>(to.size() - next, kBatch));
    for (int i = 0; i < count; ++i) {
      const InetAddress& address = to[next + static_cast<size_t>(i)];
      std::memset(&messages[i], 0, sizeof messages[i]);
      // sendmmsg only reads the address.
      messages[i].msg_hdr.msg_name = const_cast<sockaddr*>(address.sockaddr_ptr());
      messages[i].msg_hdr.msg_namelen = address.length();
      messages[i].msg_hdr.msg_iov = &vector;
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    const int n = sendmmsg(fd, messages, static_cast<unsigned>(count), 0);
    if (n > 0) {
      next += static_cast<size_t>(n);
      sent += static_cast<size_t>(n);
      continue;
    }
    const int error = n < 0 ? errno : EAGAIN;
    if (error == EINTR) continue;
    if (error == EAGAIN || error == EWOULDBLOCK || error == ENOBUFS) {
      pollfd p{fd, POLLOUT, 0};
      poll(&p, 1, 10);
      continue;
    }
    ++next;  // refused: dropped
  }
  return sent;
}

// Everything one benchmark run needs, made on the benchmark thread, which
// becomes the loop thread.
struct Setup {
  Receivers receivers;
  std::unique_ptr<EventLoop> loop;
  std::unique_ptr<UdpSocket> socket;
  std::string payload;

  // An error message, or "".
  std::string Init(benchmark::State& state) {
    const int members = static_cast<int>(state.range(0));
    payload.assign(static_cast<size_t>(state.range(1)), 'x');
    if (std::string error = receivers.Open(members); !error.empty()) return error;
    absl::StatusOr<std::unique_ptr<EventLoop>> made = EventLoop::Create(DefaultPollerKind());
    if (!made.ok()) return made.status().ToString();
    loop = *std::move(made);
    absl::StatusOr<InetAddress> any = InetAddress::Parse("127.0.0.1", 0);
    if (!any.ok()) return any.status().ToString();
    UdpSocketOptions options;
    options.batch = kBatch;
    absl::StatusOr<std::unique_ptr<UdpSocket>> bound = UdpSocket::Bind(loop.get(), *any, options);
    if (!bound.ok()) return bound.status().ToString();
    socket = *std::move(bound);
    // Loopback hands each datagram on at once, but leave no room for doubt.
    setsockopt(socket->fd(), SOL_SOCKET, SO_SNDBUF, &kSendBuffer, sizeof kSendBuffer);
    return "";
  }

  // Outside the timed region: empties the receivers' buffers.
  void Drain(benchmark::State& state, uint64_t expected) {
    state.PauseTiming();
    receivers.Drain(expected, absl::Milliseconds(50));
    state.ResumeTiming();
  }

  void Report(benchmark::State& state, uint64_t expected, double io_busy_seconds,
              double io_cpu_seconds) {
    const uint64_t received = receivers.Drain(expected, absl::Milliseconds(500));
    const double members = static_cast<double>(state.range(0));
    const double iterations = static_cast<double>(state.iterations());
    state.counters["broadcasts/s"] = benchmark::Counter(iterations, benchmark::Counter::kIsRate);
    state.counters["datagrams/s"] =
        benchmark::Counter(iterations * members, benchmark::Counter::kIsRate);
    state.counters["io_busy_us"] =
        benchmark::Counter(io_busy_seconds * 1e6, benchmark::Counter::kAvgIterations);
    state.counters["io_cpu_us"] =
        benchmark::Counter(io_cpu_seconds * 1e6, benchmark::Counter::kAvgIterations);
    state.counters["lost"] = benchmark::Counter(
        expected == 0 ? 0.0
                      : static_cast<double>(expected - std::min(expected, received)) /
                            static_cast<double>(expected));
    state.SetLabel(absl::StrCat(state.range(0), " members x ", state.range(1), " B"));
  }
};

void BM_FanoutInline(benchmark::State& state) {
  Setup setup;
  if (std::string error = setup.Init(state); !error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  const absl::Span<const InetAddress> members = setup.receivers.addresses();
  const absl::string_view payload = setup.payload;
  uint64_t expected = 0;
  uint64_t stalls = 0;
  Clock::duration busy{};
  double cpu = 0;
  int until_drain = kDrainEvery;
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    const double start_cpu = ThreadCpuSeconds();
    setup.socket->SendToEach(members, payload);
    setup.socket->Flush();
    // The kernel's buffer was full: the rest goes on writability, as in the
    // product. Not expected over loopback; counted.
    while (setup.socket->queued() > 0) {
      ++stalls;
      setup.loop->RunOnce(absl::Milliseconds(10));
    }
    cpu += ThreadCpuSeconds() - start_cpu;
    busy += Clock::now() - start;
    expected += members.size();
    if (--until_drain == 0) {
      until_drain = kDrainEvery;
      setup.Drain(state, expected);
    }
  }
  setup.Report(state, expected, Seconds(busy), cpu);
  state.counters["stalls"] = static_cast<double>(stalls);
  state.counters["dropped"] = static_cast<double>(setup.socket->dropped());
}

// BM_FanoutPool (workers = 1) and BM_FanoutPoolSplit (workers = 2).
void Pool(benchmark::State& state, int workers) {
  Setup setup;
  if (std::string error = setup.Init(state); !error.empty()) {
    state.SkipWithError(error.c_str());
    return;
  }
  ThreadPool pool(workers, 1024);
  EventLoop* const loop = setup.loop.get();
  const int fd = setup.socket->fd();
  const std::vector<InetAddress>* const members = &setup.receivers.addresses();
  const size_t count = members->size();
  uint64_t expected = 0;
  Clock::duration busy{};
  double cpu = 0;
  int until_drain = kDrainEvery;
  for (auto _ : state) {
    const Clock::time_point start = Clock::now();
    const double start_cpu = ThreadCpuSeconds();
    // What the loop thread does per broadcast: one copy of the payload,
    // shared by the tasks, and one task per worker.
    auto payload = std::make_shared<const std::string>(setup.payload);
    int done = 0;  // loop thread only: set by the completions run there
    for (int w = 0; w < workers; ++w) {
      const size_t begin = count * static_cast<size_t>(w) / static_cast<size_t>(workers);
      const size_t end = count * static_cast<size_t>(w + 1) / static_cast<size_t>(workers);
      pool.Submit([fd, payload, members, begin, end, loop, &done] {
        SendEach(fd, absl::MakeConstSpan(*members).subspan(begin, end - begin), *payload);
        loop->RunInLoop([&done] { ++done; });
      });
    }
    cpu += ThreadCpuSeconds() - start_cpu;
    busy += Clock::now() - start;
    while (done < workers) loop->RunOnce(absl::InfiniteDuration());
    expected += count;
    if (--until_drain == 0) {
      until_drain = kDrainEvery;
      setup.Drain(state, expected);
    }
  }
  pool.Stop(absl::InfiniteDuration());
  setup.Report(state, expected, Seconds(busy), cpu);
}

void BM_FanoutPool(benchmark::State& state) { Pool(state, 1); }
void BM_FanoutPoolSplit(benchmark::State& state) { Pool(state, 2); }

void Arguments(benchmark::internal::Benchmark* b) {
  b->ArgNames({"members", "bytes"});
  for (int members : {100, 1000}) {
    for (int bytes : {100, 1000}) b->Args({members, bytes});
  }
  b->UseRealTime()->MinTime(0.5)->Unit(benchmark::kMicrosecond);
}

BENCHMARK(BM_FanoutInline)->Apply(Arguments);
BENCHMARK(BM_FanoutPool)->Apply(Arguments);
BENCHMARK(BM_FanoutPoolSplit)->Apply(Arguments);

}  // namespace
}  // namespace switchboard
