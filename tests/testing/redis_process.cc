// Copyright Switchboard authors.

#include "tests/testing/redis_process.h"

#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/testing/child_process.h"

namespace switchboard::testing {
namespace {

// redis-server on $PATH (Debian: /usr/bin/redis-server).
std::string FindRedisServer() {
  const char* path = std::getenv("PATH");
  for (absl::string_view dir :
       absl::StrSplit(path != nullptr && *path != '\0' ? path : "/usr/bin:/bin", ':')) {
    std::string candidate = absl::StrCat(dir, "/redis-server");
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "/usr/bin/redis-server";
}

// A port of 127.0.0.1 that was free a moment ago.
absl::StatusOr<int> FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    close(fd);
    return absl::InternalError(absl::StrCat("bind: ", std::strerror(errno)));
  }
  close(fd);
  return ntohs(address.sin_port);
}

bool Pings(const std::string& socket_path) {
  const timeval tv = {0, 200'000};
  redisContext* context = redisConnectUnixWithTimeout(socket_path.c_str(), tv);
  if (context == nullptr) return false;
  bool ok = false;
  if (context->err == 0) {
    auto* reply = static_cast<redisReply*>(redisCommand(context, "PING"));
    ok = reply != nullptr && reply->type == REDIS_REPLY_STATUS;
    if (reply != nullptr) freeReplyObject(reply);
  }
  redisFree(context);
  return ok;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisProcess>> RedisProcess::Start(const Options& options) {
  // Short: a Unix socket path has at most 107 bytes.
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string pattern = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/redis-XXXXXX");
  if (pattern.size() > 80) pattern = "/tmp/sb-redis-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", pattern, ": ", std::strerror(errno)));
  }
  const std::string dir = pattern;
  int port = 0;
  if (options.tcp) {
    absl::StatusOr<int> free_port = FreePort();
    if (!free_port.ok()) return free_port.status();
    port = *free_port;
  }
  std::unique_ptr<RedisProcess> redis(new RedisProcess(dir, port));
  if (absl::Status s = redis->Launch(); !s.ok()) return s;
  return redis;
}

RedisProcess::~RedisProcess() {
  Kill();
  // Its folder may be outside the test's own (a socket path must be short).
  for (const char* file : {"/redis.sock", "/redis.log"}) unlink((dir_ + file).c_str());
  rmdir(dir_.c_str());
}

std::string RedisProcess::tcp_url() const { return absl::StrCat("redis://127.0.0.1:", port_); }

absl::Status RedisProcess::Launch() {
  unlink(socket_path_.c_str());
  const std::string binary = FindRedisServer();
  const std::vector<std::string> argv = {binary,
                                         "--port",
                                         absl::StrCat(port_),
                                         "--bind",
                                         "127.0.0.1",
                                         "--unixsocket",
                                         socket_path_,
                                         "--unixsocketperm",
                                         "700",
                                         "--save",
                                         "",
                                         "--appendonly",
                                         "no",
                                         "--dir",
                                         dir_,
                                         "--logfile",
                                         dir_ + "/redis.log"};
  ChildProcess::Options options;
  options.null_stdin = true;
  absl::StatusOr<ChildProcess> child = ChildProcess::Start(argv, options);
  if (!child.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot start ", binary, " (install redis-server): ", child.status().message()));
  }
  process_.emplace(*std::move(child));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (Pings(socket_path_)) return absl::OkStatus();
    if (!process_->Running()) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  const std::string why = absl::StrCat("redis-server (", binary, ") did not answer on ",
                                       socket_path_, "; its stderr:\n", process_->Stderr(),
                                       "\nits log:\n", ReadFile(dir_ + "/redis.log"));
  Kill();
  return absl::FailedPreconditionError(why);
}

void RedisProcess::Kill() {
  if (!process_.has_value()) return;
  process_->Signal(SIGKILL);
  process_->Wait(absl::Seconds(10));
  process_.reset();
}

absl::Status RedisProcess::Restart() {
  Kill();
  return Launch();
}

}  // namespace switchboard::testing
