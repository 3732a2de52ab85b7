// Copyright Switchboard authors.
//
// Helpers shared by the tests that run the real client binary against the
// real server: running a child with all of its input and collecting all of
// its output, waiting for log lines, reading a pseudo-terminal piece by piece.

#ifndef SWITCHBOARD_TESTS_CLIENTS_CLIENT_TEST_UTIL_H_
#define SWITCHBOARD_TESTS_CLIENTS_CLIENT_TEST_UTIL_H_

#include <algorithm>
#include <csignal>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/testing/child_process.h"

namespace switchboard::testing {

// Generous: these bound waits for things that normally take milliseconds.
inline constexpr absl::Duration kTimeout = absl::Seconds(10);

inline std::string ClientPath() { return RunfilePath("clients/client"); }

// Writing to a child that has exited must fail with EPIPE, not kill the test.
inline void IgnoreSigpipe() { std::signal(SIGPIPE, SIG_IGN); }

struct RunResult {
  std::string out;            // all of stdout
  std::string err;            // all of stderr
  std::optional<int> status;  // nullopt: still running after the timeout
};

// Runs `argv` with `input` on stdin (written from another thread, so that a
// child printing while it reads cannot deadlock with us), then end of input;
// collects stdout until it closes; all within `timeout`.
inline RunResult RunWithInput(const std::vector<std::string>& argv, std::string input,
                              absl::Duration timeout = kTimeout) {
  IgnoreSigpipe();
  RunResult result;
  absl::StatusOr<ChildProcess> child = ChildProcess::Start(argv);
  if (!child.ok()) {
    result.err = std::string(child.status().message());
    return result;
  }
  std::thread writer([&child, &input] {
    child->WriteStdin(input).IgnoreError();
    child->CloseStdin();
  });
  const absl::Time deadline = absl::Now() + timeout;
  result.out = child->ReadAll(timeout);
  // Stdout closes when the child exits: it has little left to do.
  result.status = child->Wait(std::max(deadline - absl::Now(), absl::Milliseconds(500)));
  if (!result.status.has_value()) child->Signal(SIGKILL);  // unblocks the writer
  writer.join();
  result.err = child->Stderr();
  return result;
}

// Waits (polling, bounded) until `get()` contains `text`.
inline bool Eventually(const std::function<std::string()>& get, absl::string_view text,
                       absl::Duration timeout = kTimeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    if (absl::StrContains(get(), text)) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
}

// Reads a child's output (a terminal, typically) piece by piece, keeping all
// of it, so that one can wait for the next occurrence of a text even when it
// arrives split over several reads.
class OutputReader {
 public:
  explicit OutputReader(ChildProcess* child) : child_(child) {}

  // Waits for `text` after the previous match; true when it came.
  bool WaitFor(absl::string_view text, absl::Duration timeout = kTimeout) {
    const absl::Time deadline = absl::Now() + timeout;
    for (;;) {
      const size_t at = all_.find(text.data(), from_, text.size());
      if (at != std::string::npos) {
        from_ = at + text.size();
        return true;
      }
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return false;
      // Short slices: ChildProcess::ReadUntil only looks at what it reads
      // itself, so a text split across two calls would not be noticed.
      const std::string more = child_->ReadUntil(text, std::min(left, absl::Milliseconds(50)));
      all_ += more;
      if (more.empty() && child_->Wait(absl::ZeroDuration()).has_value()) {
        // The child is gone: take what is left, then look a last time.
        all_ += child_->ReadAll(absl::Milliseconds(200));
        const size_t last = all_.find(text.data(), from_, text.size());
        if (last == std::string::npos) return false;
        from_ = last + text.size();
        return true;
      }
    }
  }

  // Everything read so far.
  const std::string& all() const { return all_; }
  // What came after the last match.
  std::string rest() const { return all_.substr(from_); }

 private:
  ChildProcess* child_;
  std::string all_;
  size_t from_ = 0;
};

}  // namespace switchboard::testing

#endif  // SWITCHBOARD_TESTS_CLIENTS_CLIENT_TEST_UTIL_H_
