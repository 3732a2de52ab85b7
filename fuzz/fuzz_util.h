// Copyright Switchboard authors.
//
// fuzz_util.h: what the fuzz targets share: a reader that takes choices and
// pieces from the fuzzer's bytes, a check that aborts (so the fuzzer and the
// corpus tests see a crash), and quiet logging.

#ifndef SWITCHBOARD_FUZZ_FUZZ_UTIL_H_
#define SWITCHBOARD_FUZZ_FUZZ_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/string_view.h"

namespace switchboard::fuzz {

// Aborts with a message when `condition` is false.
#define FUZZ_CHECK(condition)                                                                 \
  do {                                                                                        \
    if (!(condition)) {                                                                       \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                           \
    }                                                                                         \
  } while (false)

// Reads the fuzzer's input front to back; past the end, every read gives 0
// or empty, so any input is a valid program.
class Input {
 public:
  Input(const uint8_t* data, size_t size) : rest_(reinterpret_cast<const char*>(data), size) {}

  bool empty() const { return rest_.empty(); }
  size_t size() const { return rest_.size(); }

  uint8_t Byte() {
    if (rest_.empty()) return 0;
    const uint8_t b = static_cast<uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return b;
  }
  // The next `n` bytes, or fewer at the end.
  absl::string_view Bytes(size_t n) {
    const absl::string_view out = rest_.substr(0, n);
    rest_.remove_prefix(out.size());
    return out;
  }
  // Up to the next '\n' (not included) or the end.
  absl::string_view Line() {
    const size_t at = rest_.find('\n');
    const absl::string_view out = rest_.substr(0, at);
    rest_.remove_prefix(at == absl::string_view::npos ? rest_.size() : at + 1);
    return out;
  }
  absl::string_view Rest() { return Bytes(rest_.size()); }

 private:
  absl::string_view rest_;
};

// glog off below FATAL, libsodium initialised. Idempotent.
void Init();

}  // namespace switchboard::fuzz

#endif  // SWITCHBOARD_FUZZ_FUZZ_UTIL_H_
