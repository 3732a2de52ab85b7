// Copyright Switchboard authors.
//
// load_report.h: how a LoadGenerator load is told to people and programs:
// the progress line, the one-line description of a load, the text summary
// and the JSON summary that //:load prints, and the one-line account of a
// run's errors that the benchmarks give when a load fails. Pure functions
// of LoadConfig, LoadProgress, LoadResults and LoadErrors; nothing here
// prints.

#ifndef SWITCHBOARD_CLIENTS_LOAD_REPORT_H_
#define SWITCHBOARD_CLIENTS_LOAD_REPORT_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "clients/load_generator.h"

namespace switchboard {

// A latency in nanoseconds with a unit that keeps it short: "850 ns",
// "1.23 µs", "123 µs", "1.23 ms", "2.50 s".
std::string FormatLatency(int64_t ns);

// One progress line of a load of `scenario`: time, phase, rates, p99,
// errors and open connections (members, for chat).
std::string FormatProgress(LoadScenario scenario, const LoadProgress& progress);

// What a load of `config` does, in one line: scenario, target, connections,
// mode, threads.
std::string DescribeLoad(const LoadConfig& config);

// What messages_per_second counts: "logins" (auth) or "messages".
absl::string_view LoadUnit(LoadScenario scenario);

// The summary of a run as lines of text, each ending in '\n'; the first is
// "load: " and DescribeLoad(results.config).
std::string TextSummary(const LoadResults& results);

// The summary of a run as one JSON object (no newline).
std::string JsonSummary(const LoadResults& results);

// `text` as a JSON string, quotes included; control characters escaped.
std::string JsonString(absl::string_view text);
// `value` as a JSON number (6 significant digits), or null when it is not
// finite.
std::string JsonNumber(double value);

// The errors of a run in one line, kind by kind with the first of each:
// "2 mismatch (first: ...), 1 closed" ("" when there were none).
std::string DescribeLoadErrors(const LoadErrors& errors);

}  // namespace switchboard

#endif  // SWITCHBOARD_CLIENTS_LOAD_REPORT_H_
