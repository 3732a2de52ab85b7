// Copyright Switchboard authors.

#include "bench/case_outcome.h"

#include <atomic>
#include <iostream>

#include "absl/strings/match.h"

namespace switchboard {
namespace {

std::atomic<int> g_failed_cases{0};

}  // namespace

void EndCase(benchmark::State& state, const std::string& message) {
  if (!absl::StartsWith(message, "skipped:")) ++g_failed_cases;
  state.SkipWithError(message.c_str());
}

int RunBenchmarksForExitStatus(const char* program) {
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  const int failed = g_failed_cases.load();
  if (failed == 0) return 0;
  std::cerr << program << ": " << failed
            << " case(s) failed (ERROR OCCURRED above, or error_message in JSON)" << std::endl;
  return 1;
}

}  // namespace switchboard
