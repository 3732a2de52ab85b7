// Copyright Switchboard authors.

#include "process/flags.h"

#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"

namespace switchboard {

void BadFlag(absl::string_view program, absl::string_view message) {
  std::cerr << program << ": " << message << std::endl;
  std::exit(kUsageError);
}

absl::Duration DurationFlag(absl::string_view program, absl::string_view name,
                            absl::string_view value, DurationRange range) {
  absl::Duration d;
  if (!absl::ParseDuration(value, &d)) {
    BadFlag(program, absl::StrCat("--", name, ": '", value,
                                  "' is not a duration (examples: 500ms, 10s, 5m)"));
  }
  if (range == DurationRange::kPositive && d <= absl::ZeroDuration()) {
    BadFlag(program, absl::StrCat("--", name, ": must be positive (got ", value, ")"));
  }
  if (range == DurationRange::kNonNegative && d < absl::ZeroDuration()) {
    BadFlag(program, absl::StrCat("--", name, ": must not be negative (got ", value, ")"));
  }
  return d;
}

}  // namespace switchboard
