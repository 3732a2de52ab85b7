// Copyright Switchboard authors.
//
// Micro-benchmarks of the reactor's hot parts, each on its own: Buffer
// append and consume, each codec's decode of whole and split frames, a
// round trip through the thread pool, and timer add/cancel.
//
//   ./bazelw run -c opt //bench:reactor_micro_bench

#include <memory>
#include <string>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
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
    const TimerId id = timers.Add(base + absl::Milliseconds(++n % 100000), absl::ZeroDuration(), [] {});
    timers.Cancel(id);
  }
}
BENCHMARK(BM_TimerAddCancel)->Arg(0)->Arg(10000);

}  // namespace
}  // namespace switchboard
