// Copyright Switchboard authors.
//
// case_outcome.h: how a benchmark case that drives a server ends when it
// cannot give figures, and the program's exit status from that: a case
// skipped on purpose (its message starts with "skipped:") is not a failure;
// any other error is, and makes the run exit 1 so that CI notices.

#ifndef SWITCHBOARD_BENCH_CASE_OUTCOME_H_
#define SWITCHBOARD_BENCH_CASE_OUTCOME_H_

#include <string>

#include "benchmark/benchmark.h"

namespace switchboard {

// Ends `state`'s case with `message` (counted as a failure unless it
// starts with "skipped:").
void EndCase(benchmark::State& state, const std::string& message);

// Runs the selected benchmarks; returns the exit status: 1 when a case
// failed (and says so on stderr, naming `program`), else 0.
int RunBenchmarksForExitStatus(const char* program);

}  // namespace switchboard

#endif  // SWITCHBOARD_BENCH_CASE_OUTCOME_H_
