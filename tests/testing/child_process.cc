// Copyright Switchboard authors.

#include "tests/testing/child_process.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace switchboard::testing {
namespace {

std::string EnvOr(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

}  // namespace

std::string RunfilePath(absl::string_view path) {
  return absl::StrCat(EnvOr("TEST_SRCDIR", "."), "/", EnvOr("TEST_WORKSPACE", "switchboard"), "/",
                      path);
}

std::string TempPath(absl::string_view stem) {
  static std::atomic<int> counter{0};
  return absl::StrCat(EnvOr("TEST_TMPDIR", "/tmp"), "/", stem, "-", getpid(), "-",
                      counter.fetch_add(1));
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
      return absl::InternalError(
          absl::StrCat("server did not announce its ports: ", line.status().message(),
                       "; stderr:\n", server.process_.Stderr()));
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
