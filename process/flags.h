// Copyright Switchboard authors.
//
// flags.h: how the programs (server, client, chat, load) refuse a command
// line: one line on stderr, `<program>: <message>`, and exit status 2, so
// that a script or a test can tell a bad flag from a failed run (status 1).
//   BadFlag       says why and exits.
//   DurationFlag  a duration flag's value (absl::ParseDuration: "500ms",
//                 "90s", "5m", "24h"), or BadFlag naming the flag.

#ifndef SWITCHBOARD_PROCESS_FLAGS_H_
#define SWITCHBOARD_PROCESS_FLAGS_H_

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace switchboard {

// The exit status of a program given a command line it cannot use.
inline constexpr int kUsageError = 2;

// Prints `<program>: <message>` as one line on stderr and exits with
// kUsageError.
[[noreturn]] void BadFlag(absl::string_view program, absl::string_view message);

// Which durations a flag takes.
enum class DurationRange {
  kAny,
  kNonNegative,  // 0 or more
  kPositive,     // more than 0
};

// Parses `value`, given as --<name>, as a duration in `range`. Otherwise
// BadFlag: `<program>: --<name>: '<value>' is not a duration (examples:
// 500ms, 10s, 5m)`, or `... --<name>: must be positive (got 0s)`.
absl::Duration DurationFlag(absl::string_view program, absl::string_view name,
                            absl::string_view value, DurationRange range = DurationRange::kAny);

}  // namespace switchboard

#endif  // SWITCHBOARD_PROCESS_FLAGS_H_
