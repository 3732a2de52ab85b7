// Copyright Switchboard authors.

#include "tests/testing/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace switchboard::testing {
namespace {

std::string EnvOr(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

}  // namespace

std::string RunfilePath(absl::string_view path) {
  return absl::StrCat(EnvOr("TEST_SRCDIR", "."), "/",
                      EnvOr("TEST_WORKSPACE", "switchboard"), "/", path);
}

std::string TempPath(absl::string_view stem) {
  static std::atomic<int> counter{0};
  return absl::StrCat(EnvOr("TEST_TMPDIR", "/tmp"), "/", stem, "-", getpid(), "-",
                      counter.fetch_add(1));
}

absl::StatusOr<ChildProcess> ChildProcess::Start(const std::vector<std::string>& argv,
                                                 const Options& options) {
  ChildProcess child;
  child.stderr_path_ = TempPath("stderr");
  const int err_fd = open(child.stderr_path_.c_str(),
                          O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (err_fd < 0) return absl::ErrnoToStatus(errno, "open stderr file");
  int in_pipe[2] = {-1, -1};
  int out_pipe[2] = {-1, -1};
  int terminal_fd = -1;
  int terminal_peer = -1;
  // Every descriptor made here is close-on-exec (dup2 clears the flag on the
  // copies the child keeps), so children started from other test threads
  // never inherit another child's terminal or pipes.
  auto close_all = [&] {
    for (int fd : {err_fd, in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1],
                   terminal_fd, terminal_peer}) {
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
  } else if (pipe2(in_pipe, O_CLOEXEC) < 0 || pipe2(out_pipe, O_CLOEXEC) < 0) {
    const int error = errno;
    close_all();
    return absl::ErrnoToStatus(error, "pipe2");
  }
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);

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
    dup2(err_fd, STDERR_FILENO);
    if (options.max_open_files > 0) {
      rlimit limit{static_cast<rlim_t>(options.max_open_files),
                   static_cast<rlim_t>(options.max_open_files)};
      setrlimit(RLIMIT_NOFILE, &limit);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(err_fd);
  child.pid_ = pid;
  if (options.terminal) {
    close(terminal_peer);
    child.stdin_fd_ = terminal_fd;
    child.stdout_fd_ = fcntl(terminal_fd, F_DUPFD_CLOEXEC, 0);
  } else {
    close(in_pipe[0]);
    close(out_pipe[1]);
    child.stdin_fd_ = in_pipe[1];
    child.stdout_fd_ = out_pipe[0];
  }
  return child;
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(other.pid_),
      stdin_fd_(other.stdin_fd_),
      stdout_fd_(other.stdout_fd_),
      stderr_path_(std::move(other.stderr_path_)),
      pending_(std::move(other.pending_)),
      stdout_closed_(other.stdout_closed_),
      status_(other.status_) {
  other.pid_ = -1;
  other.stdin_fd_ = other.stdout_fd_ = -1;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !status_.has_value()) {
    kill(pid_, SIGKILL);
    Wait(absl::Seconds(10));
  }
  if (stdin_fd_ >= 0) close(stdin_fd_);
  if (stdout_fd_ >= 0) close(stdout_fd_);
}

absl::Status ChildProcess::WriteStdin(absl::string_view data) {
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
  std::string out;
  out.swap(pending_);
  return out;
}

std::string ChildProcess::ReadAll(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!stdout_closed_) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    Fill(left);
  }
  std::string out;
  out.swap(pending_);
  return out;
}

std::string ChildProcess::Stderr() const {
  std::ifstream in(stderr_path_);
  std::stringstream all;
  all << in.rdbuf();
  return all.str();
}

void ChildProcess::Signal(int signal_number) {
  if (pid_ > 0 && !status_.has_value()) kill(pid_, signal_number);
}

std::optional<int> ChildProcess::Wait(absl::Duration timeout) {
  if (status_.has_value()) return status_;
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return status_;
    }
    if (absl::Now() >= deadline) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

absl::StatusOr<ServerProcess> ServerProcess::Start(const std::vector<std::string>& services,
                                                   const std::vector<std::string>& flags,
                                                   const ChildProcess::Options& options) {
  std::vector<std::string> argv = {RunfilePath("services/server"),
                                   absl::StrCat("--services=", absl::StrJoin(services, ","))};
  for (const std::string& service : services) {
    const std::string port_flag = absl::StrCat("--", service, "_port=");
    bool given = false;
    for (const std::string& flag : flags) given |= absl::StartsWith(flag, port_flag);
    if (!given) argv.push_back(port_flag + "0");
  }
  // Defaults for tests; a flag in `flags` comes later and wins.
  argv.push_back(absl::StrCat("--data_dir=", TempPath("data")));
  argv.push_back("--pwhash_cost=min");
  argv.insert(argv.end(), flags.begin(), flags.end());
  absl::StatusOr<ChildProcess> child = ChildProcess::Start(argv, options);
  if (!child.ok()) return child.status();
  ServerProcess server(*std::move(child));
  while (server.ports_.size() < services.size()) {
    absl::StatusOr<std::string> line = server.process_.ReadLine(absl::Seconds(30));
    if (!line.ok()) {
      return absl::InternalError(absl::StrCat("server did not announce its ports: ",
                                              line.status().message(), "; stderr:\n",
                                              server.process_.Stderr()));
    }
    server.lines_.push_back(*line);
    // "listening echo tcp 127.0.0.1:7007"
    std::vector<std::string> words = absl::StrSplit(*line, ' ');
    int port = 0;
    if (words.size() == 4 && words[0] == "listening" &&
        absl::SimpleAtoi(words[3].substr(words[3].rfind(':') + 1), &port)) {
      server.ports_[words[1]] = port;
    }
  }
  return server;
}

std::optional<int> ServerProcess::Stop(absl::Duration timeout) {
  process_.Signal(SIGTERM);
  return process_.Wait(timeout);
}

}  // namespace switchboard::testing
