// Copyright Switchboard authors.

#include "reactor/errno_status.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/types/optional.h"

namespace switchboard {
namespace {

constexpr char kErrnoPayload[] = "switchboard/errno";

}  // namespace

absl::Status ErrnoStatus(int error, absl::string_view what) {
  absl::Status status = absl::ErrnoToStatus(error, what);
  status.SetPayload(kErrnoPayload, absl::Cord(absl::StrCat(error)));
  return status;
}

int ErrnoOf(const absl::Status& status) {
  const absl::optional<absl::Cord> payload = status.GetPayload(kErrnoPayload);
  int error = 0;
  if (!payload.has_value() || !absl::SimpleAtoi(std::string(*payload), &error)) return 0;
  return error;
}

}  // namespace switchboard
