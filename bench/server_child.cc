// Copyright Switchboard authors.

#include "bench/server_child.h"

#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
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

namespace switchboard {
namespace {

constexpr char kWorkspace[] = "switchboard";

bool IsExecutable(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) && access(path.c_str(), X_OK) == 0;
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
                                        absl::string_view path, absl::string_view how_to_run) {
  for (const std::string& root : roots) {
    std::string candidate = absl::StrCat(root, "/", path);
    if (IsExecutable(candidate)) return candidate;
  }
  return absl::NotFoundError(
      absl::StrCat("cannot find ", path, " in the runfiles (looked in ", absl::StrJoin(roots, ", "),
                   ")", how_to_run.empty() ? "" : "; build and run through Bazel: ", how_to_run));
}

absl::StatusOr<std::unique_ptr<ServerChild>> ServerChild::Start(
    const std::vector<std::string>& argv, const std::optional<cpu_set_t>& cpus) {
  ChildProcess::Options options;
  options.null_stdin = true;
  options.cpus = cpus;
  absl::StatusOr<ChildProcess> process = ChildProcess::Start(argv, options);
  if (!process.ok()) return process.status();
  std::unique_ptr<ServerChild> child(new ServerChild(*std::move(process)));
  // In messages: the path inside the workspace, not the runfiles tree's.
  absl::string_view name = argv[0];
  const size_t in_tree = name.rfind(".runfiles/");
  if (in_tree != absl::string_view::npos) {
    name.remove_prefix(in_tree + sizeof ".runfiles/" - 1);
    absl::ConsumePrefix(&name, absl::StrCat(kWorkspace, "/"));
  }

  const absl::StatusOr<std::string> line = child->process_.ReadLine(kStartTimeout);
  if (absl::IsDeadlineExceeded(line.status())) {
    return absl::DeadlineExceededError(absl::StrCat(name, " did not announce its port within ",
                                                    absl::FormatDuration(kStartTimeout),
                                                    "; stderr: ", child->StderrExcerpt()));
  }
  if (!line.ok()) {
    // End of output before a line: the server exited (or is exiting).
    const std::optional<int> status = child->process_.Wait(absl::Seconds(5));
    const std::string why = absl::StrCat(
        name, " exited with status ", status.has_value() ? absl::StrCat(*status) : "unknown",
        " before announcing its port; stderr: ", child->StderrExcerpt());
    if (status == kServerStartupErrorStatus) return absl::FailedPreconditionError(why);
    return absl::InternalError(why);
  }
  // "listening echo tcp 127.0.0.1:7007"; its last ':' precedes the port.
  const std::vector<absl::string_view> words = absl::StrSplit(*line, ' ');
  int port = 0;
  if (words.size() != 4 || words[0] != "listening" || words[1] != "echo" ||
      !absl::SimpleAtoi(words[3].substr(words[3].rfind(':') + 1), &port) || port <= 0 ||
      port > 65535) {
    return absl::InternalError(
        absl::StrCat(name, " announced '", *line, "', not 'listening echo tcp HOST:PORT'"));
  }
  child->port_ = static_cast<uint16_t>(port);
  return child;
}

absl::Status ServerChild::Stop() {
  process_.Signal(SIGTERM);
  const std::optional<int> status = process_.Wait(kStopTimeout);
  if (!status.has_value()) {
    process_.Signal(SIGKILL);
    process_.Wait(kStopTimeout);
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

std::string ServerChild::StderrExcerpt(size_t limit) const {
  std::string text = process_.Stderr().substr(0, limit);
  if (text.empty()) return "(empty)";
  std::replace(text.begin(), text.end(), '\n', ' ');
  return std::string(absl::StripTrailingAsciiWhitespace(text));
}

std::string PinSelfToFirstCpu(std::optional<cpu_set_t>* server_cpus, absl::string_view self_name) {
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

}  // namespace switchboard
