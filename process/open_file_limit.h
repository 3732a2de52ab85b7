// Copyright Switchboard authors.
//
// open_file_limit.h: RaiseOpenFileLimit, for programs that open many
// sockets (the load generator, the benchmarks): the soft RLIMIT_NOFILE is
// often 1024 while the hard one allows far more.

#ifndef SWITCHBOARD_PROCESS_OPEN_FILE_LIMIT_H_
#define SWITCHBOARD_PROCESS_OPEN_FILE_LIMIT_H_

#include <cstdint>

#include "absl/status/status.h"

namespace switchboard {

// Raises this process's soft limit on open descriptors (RLIMIT_NOFILE) to
// `needed` when it is lower, as far as the hard limit allows; never lowers
// it. OK when the limit is now at least `needed` (or cannot be read: then
// the sockets that fail will say so); else an error that says what limit it
// got: "needs 1064 descriptors but the limit is 1024 (was 256; raise it
// with ulimit -n)".
absl::Status RaiseOpenFileLimit(uint64_t needed);

// Raises the soft limit as far as the hard one (children inherit it), for a
// program that cannot know how many it will need. Returns the soft limit in
// force afterwards; 0 when it cannot be read.
uint64_t RaiseOpenFileLimitToHardLimit();

}  // namespace switchboard

#endif  // SWITCHBOARD_PROCESS_OPEN_FILE_LIMIT_H_
