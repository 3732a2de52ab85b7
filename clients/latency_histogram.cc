// Copyright Switchboard authors.

#include "clients/latency_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace switchboard {
namespace {

// 64 minus the bits of a bucket-0 value (2048 = 2^11 values).
constexpr int kLeadingZeroBase = 64 - 11;

// The bucket of `value`: 0 below 2048, else how many times it must be
// halved to fall below 2048.
int BucketIndex(int64_t value) {
  return kLeadingZeroBase - std::countl_zero(static_cast<uint64_t>(value) | 2047u);
}

}  // namespace

LatencyHistogram::LatencyHistogram(int64_t max_value)
    : max_value_(std::max<int64_t>(max_value, kSubBucketMask)),
      counts_(static_cast<size_t>(BucketIndex(max_value_) + 2) << kSubBucketHalfCountMagnitude) {}

size_t LatencyHistogram::CountsIndex(int64_t value) const {
  const int bucket = BucketIndex(value);
  const int64_t sub_bucket = value >> bucket;  // in [1024, 2048) for bucket >= 1
  return static_cast<size_t>(((bucket + 1) << kSubBucketHalfCountMagnitude) +
                             (sub_bucket - kSubBucketHalfCount));
}

int64_t LatencyHistogram::ValueFromIndex(size_t index) const {
  int bucket = static_cast<int>(index >> kSubBucketHalfCountMagnitude) - 1;
  int64_t sub_bucket =
      static_cast<int64_t>(index & (kSubBucketHalfCount - 1)) + kSubBucketHalfCount;
  if (bucket < 0) {  // the lower half of bucket 0: values 0..1023
    sub_bucket -= kSubBucketHalfCount;
    bucket = 0;
  }
  return sub_bucket << bucket;
}

int64_t LatencyHistogram::LowestEquivalentValue(int64_t value) const {
  value = std::clamp<int64_t>(value, 0, max_value_);
  const int bucket = BucketIndex(value);
  return (value >> bucket) << bucket;
}

int64_t LatencyHistogram::HighestEquivalentValue(int64_t value) const {
  value = std::clamp<int64_t>(value, 0, max_value_);
  return LowestEquivalentValue(value) + (int64_t{1} << BucketIndex(value)) - 1;
}

void LatencyHistogram::RecordMultiple(int64_t value, uint64_t count) {
  if (count == 0) return;
  if (value < 0) value = 0;
  if (value > max_value_) {
    value = max_value_;
    clamped_ += count;
  }
  counts_[CountsIndex(value)] += count;
  if (total_ == 0 || value < min_) min_ = value;
  if (total_ == 0 || value > max_) max_ = value;
  total_ += count;
  sum_ += absl::int128(value) * count;
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  if (other.total_ == 0) return;
  if (other.max_value_ == max_value_) {
    for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
    if (total_ == 0 || other.min_ < min_) min_ = other.min_;
    if (total_ == 0 || other.max_ > max_) max_ = other.max_;
    total_ += other.total_;
    clamped_ += other.clamped_;
    sum_ += other.sum_;
    return;
  }
  // A different layout: re-record each counter at its value (what
  // HdrHistogram does too), then put the exact extremes back.
  const bool was_empty = total_ == 0;
  const int64_t old_min = min_;
  const int64_t old_max = max_;
  const uint64_t old_clamped = clamped_;
  for (size_t i = 0; i < other.counts_.size(); ++i) {
    if (other.counts_[i] != 0) RecordMultiple(other.ValueFromIndex(i), other.counts_[i]);
  }
  const int64_t other_min = std::min(other.min_, max_value_);
  const int64_t other_max = std::min(other.max_, max_value_);
  min_ = was_empty ? other_min : std::min(old_min, other_min);
  max_ = was_empty ? other_max : std::max(old_max, other_max);
  clamped_ = std::max(clamped_, old_clamped + other.clamped_);
}

void LatencyHistogram::Reset() {
  std::fill(counts_.begin(), counts_.end(), 0);
  total_ = 0;
  clamped_ = 0;
  min_ = 0;
  max_ = 0;
  sum_ = 0;
}

double LatencyHistogram::Mean() const {
  if (total_ == 0) return 0;
  return static_cast<double>(sum_) / static_cast<double>(total_);
}

int64_t LatencyHistogram::ValueAtPercentile(double percentile) const {
  if (total_ == 0) return 0;
  percentile = std::clamp(percentile, 0.0, 100.0);
  if (percentile == 0) return min_;
  // The rank of the value asked for, counted from 1 (HdrHistogram's rule).
  uint64_t rank =
      static_cast<uint64_t>(std::llround(percentile / 100.0 * static_cast<double>(total_)));
  rank = std::clamp<uint64_t>(rank, 1, total_);
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      return std::clamp(HighestEquivalentValue(ValueFromIndex(i)), min_, max_);
    }
  }
  return max_;
}

}  // namespace switchboard
