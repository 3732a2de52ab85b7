// Copyright Switchboard authors.
//
// proc_status.h: a server's memory and threads, read from /proc, and the
// wait until its RSS settles: what the idle-connections benchmark reports.

#ifndef SWITCHBOARD_BENCH_PROC_STATUS_H_
#define SWITCHBOARD_BENCH_PROC_STATUS_H_

#include <sys/types.h>

#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace switchboard::bench {

struct ProcStatus {
  int64_t rss_kib = 0;
  int64_t threads = 0;
};

// VmRSS and Threads from /proc/PID/status.
absl::StatusOr<ProcStatus> ReadProcStatus(pid_t pid);

// Settling of a process's RSS after a change.
inline constexpr absl::Duration kSettleInterval = absl::Milliseconds(50);
inline constexpr int kSettleReadings = 4;
inline constexpr int64_t kSettleToleranceKib = 32;
inline constexpr absl::Duration kSettleLimit = absl::Seconds(3);

struct Settled {
  ProcStatus status;
  absl::Duration waited;
  bool settled;
};

// Reads the process's status every kSettleInterval until kSettleReadings
// readings in a row lie within kSettleToleranceKib of each other, or
// kSettleLimit has passed; returns the last reading.
absl::StatusOr<Settled> WaitForSettledRss(pid_t pid);

}  // namespace switchboard::bench

#endif  // SWITCHBOARD_BENCH_PROC_STATUS_H_
