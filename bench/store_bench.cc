// Copyright Switchboard authors.
//
// store_bench: what one store call costs on each engine, on this machine:
// SqliteStore on a file in a temporary folder (WAL, synchronous=FULL) and
// PostgresStore on a real PostgreSQL 15 server that the benchmark starts
// with pg_virtualenv (fsync on, as in production), over TCP on loopback.
//   FindName      an identity lookup (what every identity and auth greeting
//                 costs), from 1 and 2 threads;
//   SetName       a durable upsert (a reply waits for its commit);
//   LoginWrites   what a login writes besides verifying the password:
//                 AddSession, SetUserAt, and (PostgreSQL) clearing the
//                 shared failed-login counts.
// Items/s are store calls/s; compare engines within one run.
//
//   ./bazelw run -c opt //bench:store_bench

#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "glog/logging.h"
#include "services/store/postgres_store.h"
#include "services/store/sqlite_store.h"
#include "tests/testing/postgres_cluster.h"

namespace switchboard {
namespace {

constexpr int kAddresses = 1000;

std::string Address(int i) { return absl::StrCat("10.0.", i / 256, ".", i % 256); }

// The stores, made on first use and kept for the whole run.
Store* SqliteEngine() {
  static Store* const store = [] {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string dir = absl::StrCat(base != nullptr ? base : "/tmp", "/store_bench.XXXXXX");
    CHECK(mkdtemp(dir.data()) != nullptr) << "mkdtemp " << dir;
    absl::StatusOr<std::unique_ptr<SqliteStore>> opened = SqliteStore::Open(dir + "/data");
    CHECK(opened.ok()) << opened.status();
    return opened->release();
  }();
  return store;
}

Store* PostgresEngine() {
  static testing::PostgresCluster* const cluster = [] {
    absl::StatusOr<std::unique_ptr<testing::PostgresCluster>> started =
        testing::PostgresCluster::Start(/*fsync=*/true);
    CHECK(started.ok()) << started.status();
    return started->release();
  }();
  static Store* const store = [] {
    absl::StatusOr<std::unique_ptr<PostgresStore>> opened = PostgresStore::Open(cluster->Uri(), 4);
    CHECK(opened.ok()) << opened.status();
    return opened->release();
  }();
  return store;
}

Store* Engine(const benchmark::State& state) {
  return state.range(0) == 0 ? SqliteEngine() : PostgresEngine();
}

void Label(benchmark::State& state) {
  state.SetLabel(state.range(0) == 0 ? "sqlite" : "postgresql");
}

void BM_FindName(benchmark::State& state) {
  Store* store = Engine(state);
  if (state.thread_index() == 0) {
    for (int i = 0; i < kAddresses; ++i) CHECK(store->SetName(Address(i), "Name").ok());
  }
  int i = state.thread_index() * 7;
  for (auto _ : state) {
    absl::StatusOr<std::optional<std::string>> name = store->FindName(Address(i++ % kAddresses));
    if (!name.ok()) state.SkipWithError(std::string(name.status().message()).c_str());
    benchmark::DoNotOptimize(name);
  }
  state.SetItemsProcessed(state.iterations());
  Label(state);
}
BENCHMARK(BM_FindName)->Arg(0)->Arg(1)->Threads(1)->Threads(2)->UseRealTime();

void BM_SetName(benchmark::State& state) {
  Store* store = Engine(state);
  int i = state.thread_index() * 500;
  for (auto _ : state) {
    absl::Status s = store->SetName(Address(i++ % kAddresses), absl::StrCat("Name ", i));
    if (!s.ok()) state.SkipWithError(std::string(s.message()).c_str());
  }
  state.SetItemsProcessed(state.iterations());
  Label(state);
}
BENCHMARK(BM_SetName)->Arg(0)->Arg(1)->Threads(1)->Threads(2)->UseRealTime();

void BM_LoginWrites(benchmark::State& state) {
  Store* store = Engine(state);
  static std::atomic<int> next{0};
  const absl::Time now = absl::Now();
  for (auto _ : state) {
    const int n = next.fetch_add(1);
    std::string token_hash(32, '\0');
    for (int b = 0; b < 4; ++b) token_hash[b] = static_cast<char>(n >> (8 * b));
    absl::Status s = store->AddSession(token_hash, {"user", now, now + absl::Hours(24)});
    if (s.ok()) s = store->SetUserAt(Address(n % kAddresses), "user");
    if (s.ok() && store->shared_failure_log() != nullptr) {
      s = store->shared_failure_log()->ClearFailures("user", Address(n % kAddresses));
    }
    if (!s.ok()) state.SkipWithError(std::string(s.message()).c_str());
  }
  state.SetItemsProcessed(state.iterations());
  Label(state);
}
BENCHMARK(BM_LoginWrites)->Arg(0)->Arg(1)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace switchboard
