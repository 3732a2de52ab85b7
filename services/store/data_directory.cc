// Copyright Switchboard authors.

#include "services/store/data_directory.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "glog/logging.h"

namespace switchboard {
namespace {

constexpr absl::string_view kLockFileName = "LOCK";

}  // namespace

absl::Status DataDirectoryError(absl::string_view what, int error) {
  return absl::FailedPreconditionError(absl::StrCat(what, ": ", strerror(error)));
}

absl::Status MakeDirectories(const std::string& dir) {
  std::string prefix = dir[0] == '/' ? "/" : "";
  for (absl::string_view part : absl::StrSplit(dir, '/', absl::SkipEmpty())) {
    if (!prefix.empty() && prefix.back() != '/') prefix += '/';
    prefix.append(part.data(), part.size());
    if (part == "." || part == "..") continue;
    if (mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
      return DataDirectoryError(absl::StrCat("--data_dir=", dir, ": cannot create ", prefix),
                                errno);
    }
  }
  struct stat info;
  if (stat(dir.c_str(), &info) != 0) {
    return DataDirectoryError(absl::StrCat("--data_dir=", dir), errno);
  }
  if (!S_ISDIR(info.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat("--data_dir=", dir, " is not a directory"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> LockDirectory(const std::string& dir) {
  const std::string path = absl::StrCat(dir, "/", kLockFileName);
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return DataDirectoryError(absl::StrCat("cannot open ", path), errno);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    char pid[32] = {};
    const ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
    close(fd);
    if (error != EWOULDBLOCK) return DataDirectoryError(absl::StrCat("cannot lock ", path), error);
    const absl::string_view holder =
        absl::StripAsciiWhitespace(absl::string_view(pid, n > 0 ? n : 0));
    return absl::FailedPreconditionError(
        absl::StrCat("--data_dir=", dir, " is in use by another Switchboard server",
                     holder.empty() ? "" : absl::StrCat(" (pid ", holder, ")")));
  }
  const std::string pid = absl::StrCat(getpid(), "\n");
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    LOG(WARNING) << "could not write the pid into " << path << ": " << strerror(errno);
  }
  return fd;
}

}  // namespace switchboard
