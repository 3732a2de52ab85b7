// Copyright Switchboard authors.

#include "process/open_file_limit.h"

#include <sys/resource.h>

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace switchboard {

absl::Status RaiseOpenFileLimit(uint64_t needed) {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return absl::OkStatus();
  const rlim_t wanted = static_cast<rlim_t>(needed);
  if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= wanted) return absl::OkStatus();
  const rlim_t old = limit.rlim_cur;
  rlimit raised = limit;
  raised.rlim_cur = limit.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, limit.rlim_max);
  // What the limit is now: the raised one, or the old one if that failed.
  if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  if (limit.rlim_cur >= wanted) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat("needs ", needed,
                                                   " descriptors but the limit is ", limit.rlim_cur,
                                                   " (was ", old, "; raise it with ulimit -n)"));
}

uint64_t RaiseOpenFileLimitToHardLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  // Asking for the hard limit itself: it never fails for lack of room.
  RaiseOpenFileLimit(static_cast<uint64_t>(limit.rlim_max)).IgnoreError();
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  return static_cast<uint64_t>(limit.rlim_cur);
}

}  // namespace switchboard
