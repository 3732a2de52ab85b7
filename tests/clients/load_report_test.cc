// Copyright Switchboard authors.
//
// clients/load_report: the exact text and JSON that //:load prints for
// hand-built results (scripts and people read both), JSON escaping, the
// latency units, the progress line and the benchmarks' one-line errors.

#include "clients/load_report.h"

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "clients/load_generator.h"
#include "gtest/gtest.h"
#include "reactor/codec.h"
#include "reactor/inet_address.h"

namespace switchboard {
namespace {

// Ten latencies below 2048 ns, which the histogram holds exactly: p50 is
// 500, p90 1500, p99 and above 2000; the mean 1050.
void RecordLatencies(LatencyHistogram* h) {
  h->RecordMultiple(500, 5);
  h->RecordMultiple(1500, 4);
  h->Record(2000);
}

// A 10-second run of `scenario` against 127.0.0.1:`port`; the tests fill
// in the rest.
LoadResults ResultsOf(LoadScenario scenario, uint16_t port, int connections, size_t size) {
  LoadResults r;
  r.config.scenario = scenario;
  r.config.target = *InetAddress::Parse("127.0.0.1", port);
  r.config.connections = connections;
  r.config.message_size = size;
  r.measured = absl::Seconds(10);
  return r;
}

// An echo run that completed, with a mismatch (twice) and a closed
// connection whose description needs escaping in JSON.
LoadResults EchoResults() {
  LoadResults r = ResultsOf(LoadScenario::kEcho, 7007, 10, 1024);
  r.config.framing = Framing::kRaw;
  r.config.threads = 2;
  r.messages = 20000;
  r.bytes = 20480000;
  RecordLatencies(&r.latency);
  r.errors.Add(LoadErrorKind::kMismatch, "connection 3, message 7: byte 0 came back as 'x'");
  r.errors.Add(LoadErrorKind::kMismatch, "not kept: only the first is");
  r.errors.Add(LoadErrorKind::kClosed, "said \"bye\" \\ then\n\tleft\r\x01");
  r.connections_opened = 10;
  r.connections_open_at_end = 9;
  r.outstanding_at_end = 1;
  r.completed = true;
  return r;
}

// A chat run cut short, rejected twice for its rate, with the server's CPU.
LoadResults ChatResults() {
  LoadResults r = ResultsOf(LoadScenario::kChat, 7010, 4, 64);
  r.config.rate = 100;
  r.config.run_id = "123-abc";
  r.config.server_pid = 4242;
  r.messages = 1000;
  r.deliveries = 2990;
  r.expected_deliveries = 3000;
  r.errors.AddRejection("ERR 429 slow down", "member 2: ERR 429 slow down");
  r.errors.AddRejection("ERR 429 slow down", "");
  r.connections_opened = 4;
  r.connections_open_at_end = 4;
  r.server_cpu = absl::Milliseconds(500);
  r.interrupted = true;
  r.stopped_because = "interrupted";
  return r;
}

TEST(LoadReportTest, EchoTextSummary) {
  EXPECT_EQ(TextSummary(EchoResults()),
            "load: echo at 127.0.0.1:7007: 10 connection(s), 1024-byte messages (raw), "
            "closed loop, ping-pong, 2 thread(s)\n"
            "window:     10.00 s of 10s, after 1s of warm-up\n"
            "messages:   20000, 2000.0 msg/s, 2.05 MB/s\n"
            "latency:    p50 500 ns  p90 1.50 µs  p99 2.00 µs  p99.9 2.00 µs  max 2.00 µs  "
            "(mean 1.05 µs, min 500 ns)\n"
            "errors:     3 (mismatch 2, closed 1)\n"
            "  first mismatch: connection 3, message 7: byte 0 came back as 'x'\n"
            "  first closed: said \"bye\" \\ then\n\tleft\r\x01\n"
            "connections: 10 of 10 opened, 9 open at the end\n"
            "at the close: 1 message(s) in flight (not counted)\n");
}

TEST(LoadReportTest, EchoJsonSummaryEscapesStrings) {
  EXPECT_EQ(JsonSummary(EchoResults()),
            "{\"scenario\":\"echo\",\"unit\":\"messages\",\"target\":\"127.0.0.1:7007\","
            "\"framing\":\"raw\",\"run_id\":null,\"connections\":10,\"size\":1024,\"depth\":1,"
            "\"rate\":0,\"open_loop\":false,\"threads\":2,\"warmup_s\":1,\"duration_s\":10,"
            "\"measured_s\":10,\"completed\":true,\"interrupted\":false,"
            "\"stopped_because\":null,\"messages\":20000,\"bytes\":20480000,"
            "\"messages_per_second\":2000,\"megabytes_per_second\":2.048,"
            "\"latency_ns\":{\"min\":500,\"mean\":1050,\"p50\":500,\"p90\":1500,\"p99\":2000,"
            "\"p99_9\":2000,\"max\":2000},"
            "\"errors\":{\"total\":3,\"connect\":0,\"mismatch\":2,\"reset\":0,\"closed\":1,"
            "\"timeout\":0,\"rejected\":0},"
            "\"first_errors\":{\"mismatch\":\"connection 3, message 7: byte 0 came back as "
            "'x'\",\"closed\":\"said \\\"bye\\\" \\\\ then\\n\\tleft\\r\\u0001\"},"
            "\"rejected_by_code\":{},\"connections_opened\":10,\"connections_open_at_end\":9,"
            "\"outstanding_at_end\":1,\"behind_at_end\":0,\"server_pid\":null,"
            "\"server_cpu_s\":null,\"server_cpu_us_per_message\":null}");
}

TEST(LoadReportTest, ChatTextSummary) {
  EXPECT_EQ(TextSummary(ChatResults()),
            "load: chat at 127.0.0.1:7010 (UDP): 4 member(s) (load<n>-123-abc), 100 msg/s in "
            "all (25.00/s each), 64-byte texts, 1 thread(s); every member counts the "
            "broadcasts it receives\n"
            "window:     10.00 s of 10s, after 1s of warm-up (partial)\n"
            "sent:       1000, 100.0 msg/s\n"
            "delivered:  2990 of 3000 expected, 299.0/s; lost 10 (0.33%)\n"
            "latency:    p50 0 ns  p90 0 ns  p99 0 ns  p99.9 0 ns  max 0 ns  (mean 0 ns, "
            "min 0 ns), from each message's due time to each receipt\n"
            "errors:     2 (rejected 2)\n"
            "  rejected: ERR 429 2\n"
            "  first rejected: member 2: ERR 429 slow down\n"
            "members:    4 of 4 joined, 4 in the room at the end\n"
            "server CPU: 500.00 µs/message (0.50 s over the window, pid 4242)\n"
            "stopped:    interrupted\n");
}

TEST(LoadReportTest, ChatJsonSummary) {
  EXPECT_EQ(JsonSummary(ChatResults()),
            "{\"scenario\":\"chat\",\"unit\":\"messages\",\"target\":\"127.0.0.1:7010\","
            "\"framing\":null,\"run_id\":\"123-abc\",\"connections\":4,\"size\":64,"
            "\"depth\":1,\"rate\":100,\"open_loop\":true,\"threads\":1,\"warmup_s\":1,"
            "\"duration_s\":10,\"measured_s\":10,\"completed\":false,\"interrupted\":true,"
            "\"stopped_because\":\"interrupted\",\"messages\":1000,\"bytes\":0,"
            "\"messages_per_second\":100,\"megabytes_per_second\":0,\"members\":4,"
            "\"deliveries\":2990,\"deliveries_per_second\":299,\"expected_deliveries\":3000,"
            "\"lost\":10,\"loss_ratio\":0.00333333,"
            "\"latency_ns\":{\"min\":0,\"mean\":0,\"p50\":0,\"p90\":0,\"p99\":0,\"p99_9\":0,"
            "\"max\":0},"
            "\"errors\":{\"total\":2,\"connect\":0,\"mismatch\":0,\"reset\":0,\"closed\":0,"
            "\"timeout\":0,\"rejected\":2},"
            "\"first_errors\":{\"rejected\":\"member 2: ERR 429 slow down\"},"
            "\"rejected_by_code\":{\"ERR 429\":2},\"connections_opened\":4,"
            "\"connections_open_at_end\":4,\"outstanding_at_end\":0,\"behind_at_end\":0,"
            "\"server_pid\":4242,\"server_cpu_s\":0.5,\"server_cpu_us_per_message\":500}");
}

TEST(LoadReportTest, JsonValues) {
  EXPECT_EQ(JsonString(""), "\"\"");
  EXPECT_EQ(JsonString("a\"b\\c\nd\re\tf\x1fg"), "\"a\\\"b\\\\c\\nd\\re\\tf\\u001fg\"");
  EXPECT_EQ(JsonString("µs"), "\"µs\"");  // UTF-8 passes through
  EXPECT_EQ(JsonNumber(0.5), "0.5");
  EXPECT_EQ(JsonNumber(1234567), "1.23457e+06");
  EXPECT_EQ(JsonNumber(1.0 / 0.0), "null");
}

TEST(LoadReportTest, LatencyUnits) {
  EXPECT_EQ(FormatLatency(850), "850 ns");
  EXPECT_EQ(FormatLatency(1234), "1.23 µs");
  EXPECT_EQ(FormatLatency(123456), "123 µs");
  EXPECT_EQ(FormatLatency(1234567), "1.23 ms");
  EXPECT_EQ(FormatLatency(2500000000), "2.50 s");
}

TEST(LoadReportTest, ProgressLines) {
  LoadProgress p;
  p.elapsed = absl::Milliseconds(2500);
  p.warming_up = true;
  p.messages_per_second = 1234;
  p.megabytes_per_second = 1.5;
  p.phase_messages = 10;
  p.p99_ns = 1500;
  p.errors = 1;
  p.open_connections = 3;
  // The p99 column is 9 bytes wide, and 'µ' takes two of them.
  EXPECT_EQ(FormatProgress(LoadScenario::kEcho, p),
            "   2.5s warm-up       1234 msg/s      1.50 MB/s  p99 1.50 µs  errors 1  open 3");
  p.warming_up = false;
  p.phase_messages = 0;
  EXPECT_EQ(FormatProgress(LoadScenario::kAuth, p),
            "   2.5s             1234.0 logins/s  p99 -         errors 1  open 3");
}

TEST(LoadReportTest, ErrorsInOneLine) {
  EXPECT_EQ(DescribeLoadErrors(LoadErrors()), "");
  EXPECT_EQ(DescribeLoadErrors(EchoResults().errors),
            "2 mismatch (first: connection 3, message 7: byte 0 came back as 'x'), "
            "1 closed (first: said \"bye\" \\ then\n\tleft\r\x01)");
  LoadErrors undescribed;
  undescribed.Add(LoadErrorKind::kTimeout, "");
  EXPECT_EQ(DescribeLoadErrors(undescribed), "1 timeout");
}

}  // namespace
}  // namespace switchboard
