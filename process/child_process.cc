// Copyright Switchboard authors.

#include "process/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

extern char** environ;

namespace switchboard {
namespace {

// The folder for the stderr file: Bazel gives each test its own, which it
// removes afterwards.
std::string TempDir() {
  for (const char* name : {"TEST_TMPDIR", "TMPDIR"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && *value != '\0') return value;
  }
  return "/tmp";
}

// This process's environment with `overrides` ("NAME=value") replacing or
// adding entries. Built before fork: the child may only make
// async-signal-safe calls.
std::vector<std::string> ChildEnvironment(const std::vector<std::string>& overrides) {
  std::vector<std::string> entries;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const absl::string_view text = *entry;
    bool replaced = false;
    for (const std::string& override : overrides) {
      const absl::string_view name = absl::string_view(override).substr(0, override.find('='));
      replaced |= absl::StartsWith(text, absl::StrCat(name, "="));
    }
    if (!replaced) entries.emplace_back(text);
  }
  entries.insert(entries.end(), overrides.begin(), overrides.end());
  return entries;
}

std::vector<char*> NullTerminated(const std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (const std::string& text : strings) pointers.push_back(const_cast<char*>(text.c_str()));
  pointers.push_back(nullptr);
  return pointers;
}

}  // namespace

absl::StatusOr<ChildProcess> ChildProcess::Start(const std::vector<std::string>& argv,
                                                 const Options& options) {
  if (argv.empty()) return absl::InvalidArgumentError("no program to start");
  ChildProcess child;
  std::string stderr_template = TempDir() + "/child_stderr.XXXXXX";
  child.stderr_fd_ = mkostemp(stderr_template.data(), O_CLOEXEC);
  if (child.stderr_fd_ < 0) return absl::ErrnoToStatus(errno, "mkostemp");
  unlink(stderr_template.c_str());
  int in_pipe[2] = {-1, -1};
  int out_pipe[2] = {-1, -1};
  int terminal_fd = -1;
  int terminal_peer = -1;
  // Every descriptor made here is close-on-exec (dup2 clears the flag on the
  // copies the child keeps), so children started from other threads never
  // inherit another child's terminal or pipes. The stderr file is closed by
  // `child`'s destructor.
  auto close_all = [&] {
    for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], terminal_fd, terminal_peer}) {
      if (fd >= 0) close(fd);
    }
  };
  if (options.terminal) {
    if (openpty(&terminal_fd, &terminal_peer, nullptr, nullptr, nullptr) < 0) {
      const int error = errno;
      close_all();
      return absl::ErrnoToStatus(error, "openpty");
    }
    fcntl(terminal_fd, F_SETFD, FD_CLOEXEC);
    fcntl(terminal_peer, F_SETFD, FD_CLOEXEC);
  } else {
    if (options.null_stdin) {
      in_pipe[0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    } else if (pipe2(in_pipe, O_CLOEXEC) != 0) {
      in_pipe[0] = in_pipe[1] = -1;
    }
    if (in_pipe[0] < 0 || pipe2(out_pipe, O_CLOEXEC) < 0) {
      const int error = errno;
      close_all();
      return absl::ErrnoToStatus(error, "stdin or stdout for the child");
    }
  }
  const std::vector<char*> args = NullTerminated(argv);
  const std::vector<std::string> environment = ChildEnvironment(options.env);
  const std::vector<char*> envp = NullTerminated(environment);

  const pid_t pid = fork();
  if (pid < 0) {
    const int error = errno;
    close_all();
    return absl::ErrnoToStatus(error, "fork");
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls from here to exec.
    if (options.terminal) {
      setsid();
      ioctl(terminal_peer, TIOCSCTTY, 0);
      dup2(terminal_peer, STDIN_FILENO);
      dup2(terminal_peer, STDOUT_FILENO);
    } else {
      dup2(in_pipe[0], STDIN_FILENO);
      dup2(out_pipe[1], STDOUT_FILENO);
    }
    dup2(child.stderr_fd_, STDERR_FILENO);
    if (options.max_open_files > 0) {
      rlimit limit{static_cast<rlim_t>(options.max_open_files),
                   static_cast<rlim_t>(options.max_open_files)};
      setrlimit(RLIMIT_NOFILE, &limit);
    }
    // The parent may block signals for its own threads; the child must
    // start with none blocked, or SIGTERM would not stop it.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (options.cpus.has_value()) sched_setaffinity(0, sizeof(cpu_set_t), &*options.cpus);
    execve(args[0], args.data(), envp.data());
    _exit(127);
  }
  child.pid_ = pid;
  if (options.terminal) {
    close(terminal_peer);
    child.stdin_fd_ = terminal_fd;
    child.stdout_fd_ = fcntl(terminal_fd, F_DUPFD_CLOEXEC, 0);
  } else {
    close(in_pipe[0]);
    close(out_pipe[1]);
    child.stdin_fd_ = in_pipe[1];  // -1 with null_stdin
    child.stdout_fd_ = out_pipe[0];
  }
  return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      stdin_fd_(std::exchange(other.stdin_fd_, -1)),
      stdout_fd_(std::exchange(other.stdout_fd_, -1)),
      stderr_fd_(std::exchange(other.stderr_fd_, -1)),
      pending_(std::move(other.pending_)),
      stdout_closed_(other.stdout_closed_),
      status_(other.status_) {}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !status_.has_value()) {
    kill(pid_, SIGKILL);
    Wait(absl::Seconds(10));
  }
  for (int fd : {stdin_fd_, stdout_fd_, stderr_fd_}) {
    if (fd >= 0) close(fd);
  }
}

absl::Status ChildProcess::WriteStdin(absl::string_view data) {
  if (stdin_fd_ < 0) return absl::FailedPreconditionError("the child's stdin is closed");
  while (!data.empty()) {
    const ssize_t n = write(stdin_fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, "write to child");
    }
    data.remove_prefix(n);
  }
  return absl::OkStatus();
}

void ChildProcess::CloseStdin() {
  if (stdin_fd_ >= 0) close(stdin_fd_);
  stdin_fd_ = -1;
}

bool ChildProcess::Fill(absl::Duration timeout) {
  if (stdout_closed_) return false;
  pollfd fd{stdout_fd_, POLLIN, 0};
  const int ms = static_cast<int>(absl::ToInt64Milliseconds(timeout));
  if (poll(&fd, 1, ms < 0 ? 0 : ms) <= 0) return false;
  char data[4096];
  const ssize_t n = read(stdout_fd_, data, sizeof(data));
  if (n < 0 && errno == EINTR) return false;
  if (n <= 0) {
    // EIO is how a pseudo-terminal reports that the child side closed.
    stdout_closed_ = true;
    return false;
  }
  pending_.append(data, n);
  return true;
}

absl::StatusOr<std::string> ChildProcess::ReadLine(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    const size_t newline = pending_.find('\n');
    if (newline != std::string::npos) {
      std::string line = pending_.substr(0, newline);
      pending_.erase(0, newline + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      return line;
    }
    if (stdout_closed_) return absl::OutOfRangeError("end of output");
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(absl::StrCat("no line; have '", pending_, "'"));
    }
    Fill(left);
  }
}

std::string ChildProcess::ReadUntil(absl::string_view text, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!absl::StrContains(pending_, text) && !stdout_closed_) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    Fill(left);
  }
  return std::exchange(pending_, std::string());
}

std::string ChildProcess::ReadAll(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!stdout_closed_) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    Fill(left);
  }
  return std::exchange(pending_, std::string());
}

std::string ChildProcess::Stderr() const {
  std::string text;
  char data[4096];
  // pread: the child's writes move the shared file offset, not ours.
  for (off_t offset = 0;;) {
    const ssize_t n = pread(stderr_fd_, data, sizeof(data), offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(data, n);
    offset += n;
  }
  return text;
}

void ChildProcess::Signal(int signal_number) {
  if (pid_ > 0 && !status_.has_value()) kill(pid_, signal_number);
}

std::optional<int> ChildProcess::Wait(absl::Duration timeout) {
  if (status_.has_value() || pid_ <= 0) return status_;
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return status_;
    }
    if (done < 0 && errno != EINTR) return std::nullopt;
    if (absl::Now() >= deadline) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(2));
  }
}

}  // namespace switchboard
