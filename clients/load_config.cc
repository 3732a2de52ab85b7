// Copyright Switchboard authors.
//
// load_config.cc: what a load run is asked (LoadConfig and its checks, the
// run id) and what it measures (LoadErrors, LoadResults, a process's CPU
// time), apart from the generator that runs it (load_generator.cc).

#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "clients/load_generator.h"

namespace switchboard {
namespace {

// The largest message a line may carry (terminator excluded) and the
// largest length frame: the codecs' limits, which the server enforces.
constexpr size_t kMaxLine = CodecLimits().max_line;
constexpr size_t kMaxFrame = CodecLimits().max_frame;
// Raw framing has no limit of its own; this one keeps a typo from asking
// for gigabytes per connection.
constexpr size_t kMaxRawMessage = 64 << 20;

// User names are [A-Za-z0-9_.-]{1,32} and nicks at most 32 characters:
// "load" and a connection number leave 16 for the run id.
constexpr size_t kMaxRunId = 16;
// The auth service's password rule.
constexpr size_t kMinPassword = 8;
constexpr size_t kMaxPassword = 256;

bool IsValidRunId(absl::string_view id) {
  if (id.empty() || id.size() > kMaxRunId) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

bool IsValidPassword(absl::string_view password) {
  if (password.size() < kMinPassword || password.size() > kMaxPassword) return false;
  return std::none_of(password.begin(), password.end(), [](char c) {
    const unsigned char u = static_cast<unsigned char>(c);
    return u <= 0x20 || u == 0x7f;
  });
}

}  // namespace

// ---------------------------------------------------------------- LoadScenario

absl::string_view LoadScenarioName(LoadScenario scenario) {
  switch (scenario) {
    case LoadScenario::kEcho:
      return "echo";
    case LoadScenario::kAuth:
      return "auth";
    case LoadScenario::kChat:
      return "chat";
  }
  return "?";
}

absl::StatusOr<LoadScenario> ParseLoadScenario(absl::string_view name) {
  for (LoadScenario scenario : {LoadScenario::kEcho, LoadScenario::kAuth, LoadScenario::kChat}) {
    if (name == LoadScenarioName(scenario)) return scenario;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown scenario '", name, "' (echo, auth or chat)"));
}

// ---------------------------------------------------------------- LoadErrors

absl::string_view LoadErrorKindName(LoadErrorKind kind) {
  switch (kind) {
    case LoadErrorKind::kConnect:
      return "connect";
    case LoadErrorKind::kMismatch:
      return "mismatch";
    case LoadErrorKind::kReset:
      return "reset";
    case LoadErrorKind::kClosed:
      return "closed";
    case LoadErrorKind::kTimeout:
      return "timeout";
    case LoadErrorKind::kRejected:
      return "rejected";
  }
  return "?";
}

uint64_t LoadErrors::total() const {
  uint64_t sum = 0;
  for (uint64_t n : counts_) sum += n;
  return sum;
}

void LoadErrors::Add(LoadErrorKind kind, absl::string_view description) {
  const size_t i = Index(kind);
  if (counts_[i]++ == 0) first_[i] = std::string(description);
}

void LoadErrors::AddRejection(absl::string_view reply, absl::string_view description) {
  Add(LoadErrorKind::kRejected, description);
  // "ERR 429 slow down" -> "ERR 429".
  const absl::string_view code = reply.substr(0, reply.find(' ', reply.find(' ') + 1));
  auto it = rejected_by_code_.find(code);
  if (it == rejected_by_code_.end()) {
    rejected_by_code_.emplace(std::string(code), 1);
  } else {
    ++it->second;
  }
}

void LoadErrors::Merge(const LoadErrors& other) {
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] == 0 && other.counts_[i] != 0) first_[i] = other.first_[i];
    counts_[i] += other.counts_[i];
  }
  for (const auto& [code, count] : other.rejected_by_code_) rejected_by_code_[code] += count;
}

// ---------------------------------------------------------------- LoadResults

double LoadResults::messages_per_second() const {
  const double seconds = absl::ToDoubleSeconds(measured);
  return seconds > 0 ? static_cast<double>(messages) / seconds : 0;
}

double LoadResults::megabytes_per_second() const {
  const double seconds = absl::ToDoubleSeconds(measured);
  return seconds > 0 ? static_cast<double>(bytes) / 1e6 / seconds : 0;
}

double LoadResults::deliveries_per_second() const {
  const double seconds = absl::ToDoubleSeconds(measured);
  return seconds > 0 ? static_cast<double>(deliveries) / seconds : 0;
}

double LoadResults::loss_ratio() const {
  return expected_deliveries == 0
             ? 0
             : static_cast<double>(lost()) / static_cast<double>(expected_deliveries);
}

std::optional<double> LoadResults::server_cpu_us_per_message() const {
  if (!server_cpu.has_value() || messages == 0) return std::nullopt;
  return absl::ToDoubleMicroseconds(*server_cpu) / static_cast<double>(messages);
}

absl::Status ValidateLoadConfig(const LoadConfig& config) {
  if (config.connections < 1) return absl::InvalidArgumentError("connections must be at least 1");
  if (config.threads < 1) return absl::InvalidArgumentError("threads must be at least 1");
  if (config.depth < 1) return absl::InvalidArgumentError("depth must be at least 1");
  if (config.message_size < 1) return absl::InvalidArgumentError("size must be at least 1");
  switch (config.scenario) {
    case LoadScenario::kEcho:
      switch (config.framing) {
        case Framing::kLine:
          if (config.message_size > kMaxLine) {
            return absl::InvalidArgumentError(absl::StrCat(
                "size ", config.message_size, ": a line holds at most ", kMaxLine, " bytes"));
          }
          break;
        case Framing::kLength:
          if (config.message_size > kMaxFrame) {
            return absl::InvalidArgumentError(absl::StrCat("size ", config.message_size,
                                                           ": a length frame holds at most ",
                                                           kMaxFrame, " bytes"));
          }
          break;
        case Framing::kRaw:
          if (config.message_size > kMaxRawMessage) {
            return absl::InvalidArgumentError(
                absl::StrCat("size ", config.message_size, ": at most ", kMaxRawMessage));
          }
          break;
      }
      break;
    case LoadScenario::kAuth:
      if (config.framing == Framing::kRaw) {
        return absl::InvalidArgumentError("the auth service takes line or length framing");
      }
      if (!IsValidPassword(config.password)) {
        return absl::InvalidArgumentError(
            "the password must be 8 to 256 bytes without whitespace or control characters");
      }
      break;
    case LoadScenario::kChat:
      if (!(config.rate > 0)) {
        return absl::InvalidArgumentError("chat needs a rate: messages per second in all");
      }
      if (config.message_size < kMinChatText || config.message_size > kMaxChatText) {
        return absl::InvalidArgumentError(absl::StrCat("size ", config.message_size,
                                                       ": a chat text here is ", kMinChatText,
                                                       " to ", kMaxChatText, " bytes"));
      }
      break;
  }
  if (!config.run_id.empty() && !IsValidRunId(config.run_id)) {
    return absl::InvalidArgumentError(
        absl::StrCat("run id '", config.run_id, "': 1 to ", kMaxRunId,
                     " characters of A-Z, a-z, 0-9, '_', '.' and '-'"));
  }
  if (config.duration <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("duration must be positive");
  }
  if (config.warmup < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("warmup must not be negative");
  }
  if (config.timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("timeout must be positive");
  }
  if (config.drain_timeout < absl::ZeroDuration()) {
    return absl::InvalidArgumentError("drain timeout must not be negative");
  }
  if (config.progress_interval <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError("progress interval must be positive");
  }
  if (!(config.rate >= 0)) return absl::InvalidArgumentError("rate must not be negative");
  if (!(config.connect_rate >= 0)) {
    return absl::InvalidArgumentError("connect rate must not be negative");
  }
  if (config.server_pid < 0) return absl::InvalidArgumentError("server pid must not be negative");
  if (config.target.port() == 0) return absl::InvalidArgumentError("the target has no port");
  return absl::OkStatus();
}

std::string LoadConfig::TargetsText() const {
  std::string text = target.ToString();
  for (const InetAddress& more : more_targets) absl::StrAppend(&text, ",", more.ToString());
  return text;
}

std::string NewLoadRunId() {
  // The pid and a random number: unique enough that no earlier run's users
  // or nicks are met (at most 7 + 1 + 8 characters).
  std::random_device random;
  return absl::StrFormat("%d-%08x", static_cast<int>(getpid()) % 10000000,
                         static_cast<uint32_t>(random()));
}

absl::StatusOr<absl::Duration> ProcessCpuTime(pid_t pid) {
  const std::string path = absl::StrCat("/proc/", pid, "/stat");
  std::ifstream in(path);
  if (!in.is_open()) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so
  // the fields are counted from the last ')'. utime and stime are the 14th
  // and 15th fields, the 12th and 13th after it.
  const std::string all = text.str();
  const size_t paren = all.rfind(')');
  if (paren == std::string::npos) return absl::DataLossError(absl::StrCat("cannot parse ", path));
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(all).substr(paren + 1), ' ', absl::SkipEmpty());
  uint64_t utime = 0;
  uint64_t stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return absl::DataLossError(absl::StrCat("cannot parse ", path));
  }
  const long ticks = sysconf(_SC_CLK_TCK);
  if (ticks <= 0) return absl::InternalError("sysconf(_SC_CLK_TCK) failed");
  return absl::Seconds(static_cast<double>(utime + stime) / static_cast<double>(ticks));
}

}  // namespace switchboard
