// Copyright Switchboard authors.
//
// errno_status.h: a failed system call as an absl::Status that keeps its
// errno, so that callers classify failures by number
// (`ErrnoOf(status) == EADDRINUSE`), never by matching the message text.

#ifndef SWITCHBOARD_REACTOR_ERRNO_STATUS_H_
#define SWITCHBOARD_REACTOR_ERRNO_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace switchboard {

// The status absl::ErrnoToStatus gives (code from errno, message "what:
// strerror"), with `error` attached as a payload.
absl::Status ErrnoStatus(int error, absl::string_view what);

// The errno an ErrnoStatus carries; 0 for OK or any other status.
int ErrnoOf(const absl::Status& status);

}  // namespace switchboard

#endif  // SWITCHBOARD_REACTOR_ERRNO_STATUS_H_
