// Copyright Switchboard authors.
//
// What a LOGIN costs at each --pwhash_cost: one crypto_pwhash_str_verify,
// on one worker and on two at once (the machines here have two cores). The
// items-per-second column is the login rate the worker pool can sustain
// (the store's part is small beside it: one indexed read, one insert).
//
//   ./bazelw run -c opt //bench:password_hash_bench

#include <string>

#include "benchmark/benchmark.h"
#include "services/auth/password_hasher.h"

namespace switchboard {
namespace {

constexpr char kPassword[] = "correct-horse-battery";

void BM_Verify(benchmark::State& state) {
  if (!PasswordHasher::InitSodium().ok()) {
    state.SkipWithError("libsodium failed to initialise");
    return;
  }
  const auto cost = static_cast<PwhashCost>(state.range(0));
  static PasswordHasher* hashers[4] = {};
  static std::string hashes[4];
  if (state.thread_index() == 0 && hashers[state.range(0)] == nullptr) {
    hashers[state.range(0)] = new PasswordHasher(cost);
    hashes[state.range(0)] = *hashers[state.range(0)]->Hash(kPassword);
  }
  // Google Benchmark starts the timed loop on all threads together, after
  // thread 0 has done the set-up above.
  for (auto _ : state) {
    const bool ok = hashers[state.range(0)]->Verify(hashes[state.range(0)], kPassword);
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetLabel(std::string(PwhashCostName(cost)));
}

BENCHMARK(BM_Verify)
    ->ArgName("cost")
    ->DenseRange(static_cast<int>(PwhashCost::kMin), static_cast<int>(PwhashCost::kSensitive))
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime()
    ->MinTime(2.0);

}  // namespace
}  // namespace switchboard
