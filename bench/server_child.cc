// Copyright Switchboard authors.

#include "bench/server_child.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace switchboard {
namespace {

constexpr char kWorkspace[] = "switchboard";

bool IsExecutable(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) &&
         access(path.c_str(), X_OK) == 0;
}

}  // namespace

std::string EnvOr(const char* name, absl::string_view fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::string(value) : std::string(fallback);
}

std::vector<std::string> RunfilesRoots(const char* argv0) {
  std::vector<std::string> roots;
  for (const char* env : {"RUNFILES_DIR", "TEST_SRCDIR"}) {
    const std::string dir = EnvOr(env, "");
    if (!dir.empty()) roots.push_back(absl::StrCat(dir, "/", kWorkspace));
  }
  char self[PATH_MAX] = {};
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) roots.push_back(absl::StrCat(absl::string_view(self, n), ".runfiles/", kWorkspace));
  if (argv0 != nullptr) roots.push_back(absl::StrCat(argv0, ".runfiles/", kWorkspace));
  roots.push_back(".");
  return roots;
}

absl::StatusOr<std::string> FindRunfile(const std::vector<std::string>& roots,
                                        absl::string_view path,
                                        absl::string_view how_to_run) {
  for (const std::string& root : roots) {
    std::string candidate = absl::StrCat(root, "/", path);
    if (IsExecutable(candidate)) return candidate;
  }
  return absl::NotFoundError(absl::StrCat(
      "cannot find ", path, " in the runfiles (looked in ", absl::StrJoin(roots, ", "), ")",
      how_to_run.empty() ? "" : "; build and run through Bazel: ", how_to_run));
}

absl::StatusOr<std::unique_ptr<ServerChild>> ServerChild::Start(
    const std::vector<std::string>& argv, const std::optional<cpu_set_t>& cpus) {
  std::unique_ptr<ServerChild> child(new ServerChild());
  std::string stderr_template = EnvOr("TMPDIR", "/tmp") + "/bench_server_stderr.XXXXXX";
  child->stderr_fd_ = mkostemp(stderr_template.data(), O_CLOEXEC);
  if (child->stderr_fd_ < 0) return absl::ErrnoToStatus(errno, "mkostemp");
  unlink(stderr_template.c_str());
  int out_pipe[2] = {-1, -1};
  if (pipe2(out_pipe, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2");
  const int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t pid = fork();
  if (pid < 0) {
    const int error = errno;
    close(out_pipe[0]);
    close(out_pipe[1]);
    if (null_fd >= 0) close(null_fd);
    return absl::ErrnoToStatus(error, "fork");
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec. dup2 clears
    // close-on-exec on the copies it makes.
    if (null_fd >= 0) dup2(null_fd, STDIN_FILENO);
    dup2(out_pipe[1], STDOUT_FILENO);
    dup2(child->stderr_fd_, STDERR_FILENO);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (cpus.has_value()) sched_setaffinity(0, sizeof(cpu_set_t), &*cpus);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out_pipe[1]);
  if (null_fd >= 0) close(null_fd);
  child->pid_ = pid;
  child->stdout_fd_ = out_pipe[0];
  // In messages: the path inside the workspace, not the runfiles tree's.
  absl::string_view name = argv[0];
  const size_t in_tree = name.rfind(".runfiles/");
  if (in_tree != absl::string_view::npos) {
    name.remove_prefix(in_tree + sizeof ".runfiles/" - 1);
    absl::ConsumePrefix(&name, absl::StrCat(kWorkspace, "/"));
  }

  // Read until the first line; its last ':' precedes the port.
  std::string out;
  const absl::Time deadline = absl::Now() + kStartTimeout;
  while (out.find('\n') == std::string::npos) {
    const int64_t left_ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (left_ms <= 0) {
      return absl::DeadlineExceededError(absl::StrCat(
          name, " did not announce its port within ", absl::FormatDuration(kStartTimeout),
          "; stderr: ", child->StderrExcerpt()));
    }
    pollfd ready{child->stdout_fd_, POLLIN, 0};
    const int polled = poll(&ready, 1, static_cast<int>(left_ms));
    if (polled < 0 && errno == EINTR) continue;
    if (polled <= 0) continue;
    char data[512];
    const ssize_t n = read(child->stdout_fd_, data, sizeof data);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // End of output before a line: the server exited (or is exiting).
      const std::optional<int> status = child->Wait(absl::Seconds(5));
      const std::string why =
          absl::StrCat(name, " exited with status ",
                       status.has_value() ? absl::StrCat(*status) : "unknown",
                       " before announcing its port; stderr: ", child->StderrExcerpt());
      if (status == kServerStartupErrorStatus) return absl::FailedPreconditionError(why);
      return absl::InternalError(why);
    }
    out.append(data, static_cast<size_t>(n));
  }
  // "listening echo tcp 127.0.0.1:7007"
  const absl::string_view line = absl::string_view(out).substr(0, out.find('\n'));
  const std::vector<absl::string_view> words = absl::StrSplit(line, ' ');
  int port = 0;
  if (words.size() != 4 || words[0] != "listening" || words[1] != "echo" ||
      !absl::SimpleAtoi(words[3].substr(words[3].rfind(':') + 1), &port) || port <= 0 ||
      port > 65535) {
    return absl::InternalError(
        absl::StrCat(name, " announced '", line, "', not 'listening echo tcp HOST:PORT'"));
  }
  child->port_ = static_cast<uint16_t>(port);
  return child;
}

ServerChild::~ServerChild() {
  if (pid_ > 0 && !status_.has_value()) {
    kill(pid_, SIGKILL);
    Wait(kStopTimeout);
  }
  if (stdout_fd_ >= 0) close(stdout_fd_);
  if (stderr_fd_ >= 0) close(stderr_fd_);
}

absl::Status ServerChild::Stop() {
  if (!status_.has_value()) kill(pid_, SIGTERM);
  const std::optional<int> status = Wait(kStopTimeout);
  if (!status.has_value()) {
    kill(pid_, SIGKILL);
    Wait(kStopTimeout);
    return absl::DeadlineExceededError(
        absl::StrCat("the server did not exit within ", absl::FormatDuration(kStopTimeout),
                     " of SIGTERM (killed); stderr: ", StderrExcerpt()));
  }
  if (*status != 0) {
    return absl::InternalError(absl::StrCat("the server exited with status ", *status,
                                            " after SIGTERM; stderr: ", StderrExcerpt()));
  }
  return absl::OkStatus();
}

bool ServerChild::Running() { return !Wait(absl::ZeroDuration()).has_value(); }

std::optional<int> ServerChild::Wait(absl::Duration timeout) {
  if (status_.has_value()) return status_;
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

std::string ServerChild::StderrExcerpt(size_t limit) const {
  std::string text(limit, '\0');
  const ssize_t n = pread(stderr_fd_, text.data(), limit, 0);
  text.resize(n > 0 ? static_cast<size_t>(n) : 0);
  if (text.empty()) return "(empty)";
  std::replace(text.begin(), text.end(), '\n', ' ');
  return std::string(absl::StripTrailingAsciiWhitespace(text));
}

std::string PinSelfToFirstCpu(std::optional<cpu_set_t>* server_cpus,
                              absl::string_view self_name) {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0 || CPU_COUNT(&allowed) < 2) {
    return "not pinned: fewer than 2 CPUs allowed";
  }
  cpu_set_t self;
  cpu_set_t server;
  CPU_ZERO(&self);
  CPU_ZERO(&server);
  int self_cpu = -1;
  std::vector<int> others;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &allowed)) continue;
    if (self_cpu < 0) {
      self_cpu = cpu;
      CPU_SET(cpu, &self);
    } else {
      others.push_back(cpu);
      CPU_SET(cpu, &server);
    }
  }
  if (sched_setaffinity(0, sizeof self, &self) != 0) {
    return absl::StrCat("not pinned: sched_setaffinity: ", strerror(errno));
  }
  *server_cpus = server;
  return absl::StrCat(self_name, " on CPU ", self_cpu, ", server on CPU(s) ",
                      absl::StrJoin(others, ","));
}

uint64_t RaiseDescriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return 0;
  if (limit.rlim_cur != limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = raised.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  return static_cast<uint64_t>(limit.rlim_cur);
}

}  // namespace switchboard
