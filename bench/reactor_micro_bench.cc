// Copyright Switchboard authors.
//
// Micro-benchmarks of the reactor's hot parts, each on its own: Buffer
// append and consume, each codec's decode of whole and split frames, a
// round trip through the thread pool, timer add/cancel, and the load
// generator's latency histogram (record, merge).
//
//   ./bazelw run -c opt //bench:reactor_micro_bench

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "clients/latency_histogram.h"
#include "reactor/buffer.h"
#include "reactor/codec.h"
#include "reactor/thread_pool.h"
#include "reactor/timer_queue.h"

namespace switchboard {
namespace {

// One 1 KB message in and out of a buffer, as a connection does per echo.
void BM_BufferAppendConsume(benchmark::State& state) {
  Buffer buffer;
  const std::string chunk(static_cast<size_t>(state.range(0)), 'b');
  for (auto _ : state) {
    buffer.Append(chunk);
    benchmark::DoNotOptimize(buffer.peek());
    buffer.Consume(buffer.readable_bytes());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_BufferAppendConsume)->Arg(64)->Arg(1024)->Arg(16 * 1024);

// `stream` holds 16 framed 1 KB messages; decoding takes them all, either
// from the whole stream or fed in pieces of `piece` bytes (as reads split
// them), resuming after each partial frame.
void DecodeAll(Codec& codec, const std::string& stream, size_t piece, benchmark::State& state) {
  int64_t messages = 0;
  for (auto _ : state) {
    size_t available = 0;
    size_t start = 0;
    while (start < stream.size()) {
      available = std::min(stream.size(), available + piece);
      Frame frame;
      while (start < available &&
             codec.Decode(absl::string_view(stream).substr(start, available - start), false,
                          &frame) == DecodeStatus::kMessage) {
        benchmark::DoNotOptimize(frame.message.data());
        start += frame.consumed;
        ++messages;
      }
    }
  }
  state.SetItemsProcessed(messages);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(stream.size()));
}

void BM_Decode(benchmark::State& state) {
  const auto framing = static_cast<Framing>(state.range(0));
  const size_t piece = static_cast<size_t>(state.range(1));
  std::unique_ptr<Codec> codec = MakeCodec(framing);
  Buffer framed;
  const std::string message(framing == Framing::kLine ? 1023 : 1024, 'm');
  for (int i = 0; i < 16; ++i) codec->Encode(message, &framed);
  const std::string stream(framed.view());
  state.SetLabel(absl::StrCat(FramingName(framing), piece >= stream.size() ? " whole" : " split"));
  DecodeAll(*codec, stream, piece, state);
}
BENCHMARK(BM_Decode)
    ->ArgNames({"framing", "piece"})
    ->Args({static_cast<int>(Framing::kRaw), 1 << 20})
    ->Args({static_cast<int>(Framing::kRaw), 700})
    ->Args({static_cast<int>(Framing::kLine), 1 << 20})
    ->Args({static_cast<int>(Framing::kLine), 700})
    ->Args({static_cast<int>(Framing::kLength), 1 << 20})
    ->Args({static_cast<int>(Framing::kLength), 700});

// Submit a task and wait until it has run: what handing one message to the
// pool and getting the reply back costs, without the sockets.
void BM_ThreadPoolRoundTrip(benchmark::State& state) {
  ThreadPool pool(1, 1024);
  for (auto _ : state) {
    absl::Notification done;
    pool.Submit([&done] { done.Notify(); });
    done.WaitForNotification();
  }
  pool.Stop(absl::Seconds(1));
}
BENCHMARK(BM_ThreadPoolRoundTrip)->UseRealTime();

// A connection's idle timer: added on connect, cancelled on close, among
// `range(0)` others.
void BM_TimerAddCancel(benchmark::State& state) {
  TimerQueue timers;
  const absl::Time base = absl::UnixEpoch() + absl::Hours(1);
  for (int64_t i = 0; i < state.range(0); ++i) {
    timers.Add(base + absl::Seconds(i), absl::ZeroDuration(), [] {});
  }
  int64_t n = 0;
  for (auto _ : state) {
    const TimerId id =
        timers.Add(base + absl::Milliseconds(++n % 100000), absl::ZeroDuration(), [] {});
    timers.Cancel(id);
  }
}
BENCHMARK(BM_TimerAddCancel)->Arg(0)->Arg(10000);

// Latencies as a load generator sees them, in nanoseconds: log-uniform from
// 1 us to 100 ms (so every bucket range a real run touches is hit), with a
// fixed seed so that every run records the same stream.
std::vector<int64_t> VariedLatencies(size_t n) {
  std::mt19937_64 random(20220623);
  std::uniform_real_distribution<double> exponent(3.0, 8.0);  // 10^3 .. 10^8 ns
  std::vector<int64_t> values(n);
  for (int64_t& value : values) value = static_cast<int64_t>(std::pow(10.0, exponent(random)));
  return values;
}

// One Record per message: what the load generator adds to every reply.
void BM_HistogramRecord(benchmark::State& state) {
  LatencyHistogram histogram;
  const std::vector<int64_t> values = VariedLatencies(4096);  // a power of two
  size_t i = 0;
  for (auto _ : state) {
    histogram.Record(values[i++ & (values.size() - 1)]);
  }
  benchmark::DoNotOptimize(histogram.Count());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistogramRecord);

// Merging one thread's histogram into the total, as the load generator does
// at the end of a run and for each progress line. same_layout:1 merges two
// histograms of the default range (counter by counter); same_layout:0 merges
// one of a range of one minute into one of an hour (each non-zero counter
// re-recorded at its value).
void BM_HistogramMerge(benchmark::State& state) {
  const bool same_layout = state.range(0) != 0;
  LatencyHistogram total;
  LatencyHistogram part(same_layout ? LatencyHistogram::kDefaultMaxValue
                                    : int64_t{60} * 1000 * 1000 * 1000);
  for (int64_t value : VariedLatencies(100000)) part.Record(value);
  for (auto _ : state) {
    total.Merge(part);
    benchmark::DoNotOptimize(total.Count());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistogramMerge)->ArgName("same_layout")->Arg(1)->Arg(0);

}  // namespace
}  // namespace switchboard
