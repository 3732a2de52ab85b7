// Copyright Switchboard authors.

#include "clients/token_file.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace switchboard {
namespace {

constexpr size_t kMaxTokenFile = 256;

// mkdir -p, each new folder 0700.
absl::Status MakeFolders(absl::string_view path) {
  std::string partial;
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i < path.size() && path[i] != '/') continue;
    partial = std::string(path.substr(0, i));
    if (mkdir(partial.c_str(), 0700) < 0 && errno != EEXIST) {
      return absl::ErrnoToStatus(errno, absl::StrCat("create ", partial));
    }
  }
  return absl::OkStatus();
}

bool IsTokenChar(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

}  // namespace

std::string TokenFile::DefaultPath(absl::string_view host, int port) {
  std::string folder;
  if (const char* state = std::getenv("XDG_STATE_HOME"); state != nullptr && *state == '/') {
    folder = state;
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    folder = absl::StrCat(home, "/.local/state");
  } else {
    folder = ".";
  }
  std::string safe_host(host);
  for (char& c : safe_host) {
    if (c == '/' || c == ':') c = '_';
  }
  return absl::StrCat(folder, "/switchboard/token-", safe_host, "-", port);
}

std::optional<std::string> TokenFile::Load() const {
  const int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char data[kMaxTokenFile];
  const ssize_t n = read(fd, data, sizeof(data));
  close(fd);
  if (n <= 0) return std::nullopt;
  absl::string_view token(data, static_cast<size_t>(n));
  token = absl::StripTrailingAsciiWhitespace(token);
  if (token.empty()) return std::nullopt;
  for (char c : token) {
    if (!IsTokenChar(c)) return std::nullopt;
  }
  return std::string(token);
}

absl::Status TokenFile::Save(absl::string_view token) const {
  const size_t slash = path_.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    if (absl::Status s = MakeFolders(absl::string_view(path_).substr(0, slash)); !s.ok()) {
      return s;
    }
  }
  const std::string temporary = absl::StrCat(path_, ".tmp");
  const int fd = open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("create ", temporary));
  fchmod(fd, 0600);  // whatever the umask
  const std::string line = absl::StrCat(token, "\n");
  const bool written = write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  const int write_error = errno;
  close(fd);
  if (!written) {
    unlink(temporary.c_str());
    return absl::ErrnoToStatus(write_error, absl::StrCat("write ", temporary));
  }
  if (rename(temporary.c_str(), path_.c_str()) < 0) {
    const int error = errno;
    unlink(temporary.c_str());
    return absl::ErrnoToStatus(error, absl::StrCat("rename to ", path_));
  }
  return absl::OkStatus();
}

absl::Status TokenFile::Remove() const {
  if (unlink(path_.c_str()) < 0 && errno != ENOENT) {
    return absl::ErrnoToStatus(errno, absl::StrCat("remove ", path_));
  }
  return absl::OkStatus();
}

std::optional<std::string> TokenInReply(absl::string_view reply) {
  if (!absl::StartsWith(reply, "201 registered ") && !absl::StartsWith(reply, "200 welcome ")) {
    return std::nullopt;
  }
  constexpr absl::string_view kMarker = "; session ";
  const size_t at = reply.rfind(kMarker);
  if (at == absl::string_view::npos) return std::nullopt;
  const absl::string_view token = reply.substr(at + kMarker.size());
  if (token.empty()) return std::nullopt;
  for (char c : token) {
    if (!IsTokenChar(c)) return std::nullopt;
  }
  return std::string(token);
}

}  // namespace switchboard
