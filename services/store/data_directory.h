// Copyright Switchboard authors.
//
// data_directory.h: the --data_dir a store lives in: created when missing
// (mode 0700), and locked for one server process at a time, so that two
// servers never write one store.

#ifndef SWITCHBOARD_SERVICES_STORE_DATA_DIRECTORY_H_
#define SWITCHBOARD_SERVICES_STORE_DATA_DIRECTORY_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard {

// A failed call on the directory or a file in it: FailedPrecondition with
// "what: strerror(error)", since the operator must fix the machine.
absl::Status DataDirectoryError(absl::string_view what, int error);

// mkdir -p with mode 0700 for what it creates; an error when `dir` is not a
// directory.
absl::Status MakeDirectories(const std::string& dir);

// Takes the directory's lock for this process's lifetime (flock ends with
// the process, however it dies) and writes our pid into it. Returns the
// descriptor to keep open; names the holder's pid when another server has
// it.
absl::StatusOr<int> LockDirectory(const std::string& dir);

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_STORE_DATA_DIRECTORY_H_
