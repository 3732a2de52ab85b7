// Copyright Switchboard authors.

#include "bench/proc_status.h"

#include <algorithm>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace switchboard::bench {

absl::StatusOr<ProcStatus> ReadProcStatus(pid_t pid) {
  const std::string path = absl::StrCat("/proc/", pid, "/status");
  std::ifstream file(path);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  ProcStatus status;
  bool have_rss = false;
  std::string line;
  while (std::getline(file, line)) {
    absl::string_view rest = line;
    // "VmRSS:	    5120 kB", "Threads:	3"
    if (absl::ConsumePrefix(&rest, "VmRSS:")) {
      rest = absl::StripAsciiWhitespace(rest);
      absl::ConsumeSuffix(&rest, " kB");
      have_rss = absl::SimpleAtoi(rest, &status.rss_kib);
    } else if (absl::ConsumePrefix(&rest, "Threads:")) {
      absl::SimpleAtoi(absl::StripAsciiWhitespace(rest), &status.threads);
    }
  }
  if (!have_rss) return absl::InternalError(absl::StrCat("no VmRSS in ", path));
  return status;
}

absl::StatusOr<Settled> WaitForSettledRss(pid_t pid) {
  const absl::Time start = absl::Now();
  std::vector<int64_t> recent;
  for (;;) {
    absl::StatusOr<ProcStatus> status = ReadProcStatus(pid);
    if (!status.ok()) return status.status();
    recent.push_back(status->rss_kib);
    if (recent.size() > kSettleReadings) recent.erase(recent.begin());
    const absl::Duration waited = absl::Now() - start;
    if (recent.size() == kSettleReadings) {
      const auto [low, high] = std::minmax_element(recent.begin(), recent.end());
      if (*high - *low <= kSettleToleranceKib) return Settled{*status, waited, true};
    }
    if (waited >= kSettleLimit) return Settled{*status, waited, false};
    absl::SleepFor(kSettleInterval);
  }
}

}  // namespace switchboard::bench
