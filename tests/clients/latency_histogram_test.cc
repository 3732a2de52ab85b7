// Copyright Switchboard authors.
//
// Tests of LatencyHistogram: percentiles of known samples within the stated
// precision (three significant digits), the edges (empty, one value, the
// maximum, values above it), merging, and the layout's equivalence ranges.

#include "clients/latency_histogram.h"

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace switchboard {
namespace {

// Three significant digits: every value is held within 1/1024 of itself.
constexpr double kRelativePrecision = 1.0 / 1024;

void ExpectNear(int64_t actual, double expected, absl::string_view what = "") {
  EXPECT_LE(std::fabs(static_cast<double>(actual) - expected), expected * kRelativePrecision + 1)
      << what << ": got " << actual << ", expected about " << expected;
}

TEST(LatencyHistogramTest, EmptyHistogramReportsZeros) {
  LatencyHistogram h;
  EXPECT_EQ(h.Count(), 0u);
  EXPECT_EQ(h.Min(), 0);
  EXPECT_EQ(h.Max(), 0);
  EXPECT_EQ(h.Mean(), 0);
  EXPECT_EQ(h.ValueAtPercentile(50), 0);
  EXPECT_EQ(h.ValueAtPercentile(100), 0);
  EXPECT_EQ(h.clamped_count(), 0u);
}

TEST(LatencyHistogramTest, SingleValueIsEveryPercentile) {
  LatencyHistogram h;
  h.Record(123456789);
  EXPECT_EQ(h.Count(), 1u);
  EXPECT_EQ(h.Min(), 123456789);
  EXPECT_EQ(h.Max(), 123456789);
  EXPECT_EQ(h.Mean(), 123456789.0);
  for (double p : {0.0, 1.0, 50.0, 99.0, 99.9, 100.0}) {
    EXPECT_EQ(h.ValueAtPercentile(p), 123456789) << "p" << p;
  }
}

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  LatencyHistogram h;
  for (int64_t v = 0; v < 2048; ++v) h.Record(v);
  EXPECT_EQ(h.ValueAtPercentile(50), 1023);  // rank 1024 of 0..2047
  EXPECT_EQ(h.ValueAtPercentile(100), 2047);
  EXPECT_EQ(h.ValueAtPercentile(0), 0);
  EXPECT_EQ(h.Min(), 0);
  EXPECT_EQ(h.Mean(), 1023.5);
}

TEST(LatencyHistogramTest, UniformMillionWithinPrecision) {
  LatencyHistogram h;
  for (int64_t v = 1; v <= 1000000; ++v) h.Record(v);
  EXPECT_EQ(h.Count(), 1000000u);
  EXPECT_EQ(h.Min(), 1);
  EXPECT_EQ(h.Max(), 1000000);
  EXPECT_DOUBLE_EQ(h.Mean(), 500000.5);
  ExpectNear(h.ValueAtPercentile(50), 500000, "p50");
  ExpectNear(h.ValueAtPercentile(90), 900000, "p90");
  ExpectNear(h.ValueAtPercentile(99), 990000, "p99");
  ExpectNear(h.ValueAtPercentile(99.9), 999000, "p99.9");
  EXPECT_EQ(h.ValueAtPercentile(100), 1000000);
  // Within 0.1%, the precision the class promises.
  EXPECT_NEAR(h.ValueAtPercentile(50), 500000, 500);
  // A percentile is never below the true value (the highest equivalent is
  // reported), so a tail is never understated.
  EXPECT_GE(h.ValueAtPercentile(99), 990000);
}

TEST(LatencyHistogramTest, PercentilesOfSkewedSamples) {
  // 990 fast values and 10 slow ones: p99 is fast, p99.9 and max are slow.
  LatencyHistogram h;
  for (int i = 0; i < 990; ++i) h.Record(50000);     // 50 us
  for (int i = 0; i < 10; ++i) h.Record(300000000);  // 300 ms
  ExpectNear(h.ValueAtPercentile(50), 50000, "p50");
  ExpectNear(h.ValueAtPercentile(99), 50000, "p99");
  ExpectNear(h.ValueAtPercentile(99.1), 300000000, "p99.1");
  ExpectNear(h.ValueAtPercentile(99.9), 300000000, "p99.9");
  EXPECT_EQ(h.Max(), 300000000);
}

TEST(LatencyHistogramTest, MaximumValueIsTrackedExactly) {
  LatencyHistogram h;
  h.Record(LatencyHistogram::kDefaultMaxValue);
  h.Record(1);
  EXPECT_EQ(h.Max(), LatencyHistogram::kDefaultMaxValue);
  EXPECT_EQ(h.ValueAtPercentile(100), LatencyHistogram::kDefaultMaxValue);
  EXPECT_EQ(h.clamped_count(), 0u);
}

TEST(LatencyHistogramTest, ValuesAboveTheMaximumAreClampedAndCounted) {
  LatencyHistogram h(1000000);
  h.Record(5);
  h.Record(2000000);
  h.Record(INT64_MAX);
  EXPECT_EQ(h.Count(), 3u);
  EXPECT_EQ(h.clamped_count(), 2u);
  EXPECT_EQ(h.Max(), 1000000);
  EXPECT_EQ(h.ValueAtPercentile(100), 1000000);
  ExpectNear(h.ValueAtPercentile(60), 1000000, "p60");
}

TEST(LatencyHistogramTest, NegativeValuesCountAsZero) {
  LatencyHistogram h;
  h.Record(-5);
  EXPECT_EQ(h.Count(), 1u);
  EXPECT_EQ(h.Min(), 0);
  EXPECT_EQ(h.Max(), 0);
}

TEST(LatencyHistogramTest, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 random(42);
  std::lognormal_distribution<double> latency(12.0, 1.5);  // around 160 us
  LatencyHistogram all;
  std::vector<LatencyHistogram> parts(4);
  for (int i = 0; i < 100000; ++i) {
    const int64_t v = static_cast<int64_t>(latency(random));
    all.Record(v);
    parts[i % parts.size()].Record(v);
  }
  LatencyHistogram merged;
  for (const LatencyHistogram& part : parts) merged.Merge(part);
  EXPECT_EQ(merged.Count(), all.Count());
  EXPECT_EQ(merged.Min(), all.Min());
  EXPECT_EQ(merged.Max(), all.Max());
  EXPECT_DOUBLE_EQ(merged.Mean(), all.Mean());
  for (double p : {0.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    EXPECT_EQ(merged.ValueAtPercentile(p), all.ValueAtPercentile(p)) << "p" << p;
  }
}

TEST(LatencyHistogramTest, MergeIntoEmptyAndOfEmpty) {
  LatencyHistogram a;
  LatencyHistogram empty;
  a.Record(700);
  a.Merge(empty);
  EXPECT_EQ(a.Count(), 1u);
  EXPECT_EQ(a.Min(), 700);
  empty.Merge(a);
  EXPECT_EQ(empty.Count(), 1u);
  EXPECT_EQ(empty.Min(), 700);
  EXPECT_EQ(empty.Max(), 700);
}

TEST(LatencyHistogramTest, MergeAcrossDifferentMaximaKeepsPrecision) {
  LatencyHistogram small(1000000);
  LatencyHistogram large;
  for (int64_t v = 1000; v <= 100000; v += 7) small.Record(v);
  small.Record(5000000);  // clamped in `small`
  large.Merge(small);
  EXPECT_EQ(large.Count(), small.Count());
  EXPECT_EQ(large.Min(), small.Min());
  EXPECT_EQ(large.Max(), small.Max());
  EXPECT_EQ(large.clamped_count(), 1u);
  ExpectNear(large.ValueAtPercentile(50), small.ValueAtPercentile(50), "p50");
}

TEST(LatencyHistogramTest, ResetForgetsEverything) {
  LatencyHistogram h;
  for (int v = 1; v < 10000; ++v) h.Record(v * 1000);
  h.Reset();
  EXPECT_EQ(h.Count(), 0u);
  EXPECT_EQ(h.Max(), 0);
  EXPECT_EQ(h.ValueAtPercentile(99), 0);
  h.Record(42);
  EXPECT_EQ(h.ValueAtPercentile(50), 42);
  EXPECT_EQ(h.Min(), 42);
}

TEST(LatencyHistogramTest, EquivalenceRangesAreWithinThreeDigits) {
  LatencyHistogram h;
  for (int64_t v : {int64_t{0}, int64_t{1}, int64_t{2047}, int64_t{2048}, int64_t{123456},
                    int64_t{999999999}, int64_t{3599999999999}}) {
    const int64_t low = h.LowestEquivalentValue(v);
    const int64_t high = h.HighestEquivalentValue(v);
    EXPECT_LE(low, v);
    EXPECT_GE(high, v);
    EXPECT_LE(static_cast<double>(high - low), std::max(0.0, v * kRelativePrecision)) << v;
  }
  EXPECT_EQ(h.LowestEquivalentValue(2047), 2047);
  EXPECT_EQ(h.HighestEquivalentValue(2048), 2049);
}

TEST(LatencyHistogramTest, RecordMultipleCountsEachOccurrence) {
  LatencyHistogram h;
  h.RecordMultiple(1000, 99);
  h.RecordMultiple(1000000, 1);
  EXPECT_EQ(h.Count(), 100u);
  EXPECT_EQ(h.ValueAtPercentile(99), 1000);
  EXPECT_EQ(h.ValueAtPercentile(100), 1000000);
  EXPECT_DOUBLE_EQ(h.Mean(), (99 * 1000 + 1000000) / 100.0);
}

}  // namespace
}  // namespace switchboard
