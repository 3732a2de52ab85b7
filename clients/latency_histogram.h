// Copyright Switchboard authors.
//
// latency_histogram.h: `LatencyHistogram`, an HDR-style histogram of
// non-negative integer values (latencies in nanoseconds, for the load
// generator), after Gil Tene's HdrHistogram.
//
// Layout: values are grouped into log-linear buckets. Bucket 0 counts the
// values 0 .. 2047 one by one; bucket k (k >= 1) covers [1024 << k,
// 2048 << k) in 1024 steps of 2^k each. So every value is held with a
// relative error below 2^-10 (0.098%): three significant decimal digits.
// With the default maximum of one hour in nanoseconds that is 33 x 1024
// counters (264 KiB), allocated once by the constructor; Record never
// allocates and is O(1) (a count-leading-zeros and an add).
//
// Each thread keeps its own histogram and the owner merges them; the class
// itself is not thread-safe.

#ifndef SWITCHBOARD_CLIENTS_LATENCY_HISTOGRAM_H_
#define SWITCHBOARD_CLIENTS_LATENCY_HISTOGRAM_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/numeric/int128.h"

namespace switchboard {

class LatencyHistogram {
 public:
  // One hour, in nanoseconds.
  static constexpr int64_t kDefaultMaxValue = int64_t{3600} * 1000 * 1000 * 1000;

  // A histogram of values 0 .. `max_value` (at least 2048). Larger values
  // are recorded as `max_value` and counted by clamped_count().
  explicit LatencyHistogram(int64_t max_value = kDefaultMaxValue);

  // Adds one value. Negative values count as 0.
  void Record(int64_t value) { RecordMultiple(value, 1); }
  // Adds `count` occurrences of `value`.
  void RecordMultiple(int64_t value, uint64_t count);
  // Adds everything `other` holds, as if each of its values had been
  // recorded here. With the same max_value the result is exactly that.
  void Merge(const LatencyHistogram& other);
  // Forgets every value; keeps the memory.
  void Reset();

  // How many values were recorded.
  uint64_t Count() const { return total_; }
  // The smallest and the largest value recorded, exactly (after clamping);
  // 0 when empty.
  int64_t Min() const { return total_ == 0 ? 0 : min_; }
  int64_t Max() const { return total_ == 0 ? 0 : max_; }
  // The exact mean of the values recorded (after clamping); 0 when empty.
  double Mean() const;
  // How many values were above max_value() and recorded as it.
  uint64_t clamped_count() const { return clamped_; }
  int64_t max_value() const { return max_value_; }

  // The value below or at which `percentile` percent (0 to 100) of the
  // recorded values fall, to three significant digits: the highest value
  // equivalent to the one at that rank, but never outside [Min(), Max()],
  // so that 0 gives the minimum and 100 the maximum exactly. 0 when empty.
  int64_t ValueAtPercentile(double percentile) const;

  // The range of values that share `value`'s counter.
  int64_t LowestEquivalentValue(int64_t value) const;
  int64_t HighestEquivalentValue(int64_t value) const;

 private:
  // Bucket 0 holds values 0..2047 at unit resolution; each counter of
  // bucket k >= 1 holds 2^k values.
  static constexpr int kSubBucketHalfCountMagnitude = 10;
  static constexpr int64_t kSubBucketHalfCount = int64_t{1} << kSubBucketHalfCountMagnitude;
  static constexpr int64_t kSubBucketMask = 2 * kSubBucketHalfCount - 1;

  size_t CountsIndex(int64_t value) const;
  int64_t ValueFromIndex(size_t index) const;

  int64_t max_value_;
  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
  uint64_t clamped_ = 0;
  int64_t min_ = 0;
  int64_t max_ = 0;
  absl::int128 sum_ = 0;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_CLIENTS_LATENCY_HISTOGRAM_H_
