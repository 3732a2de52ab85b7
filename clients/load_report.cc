// Copyright Switchboard authors.

#include "clients/load_report.h"

#include <cmath>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "clients/latency_histogram.h"
#include "reactor/codec.h"

namespace switchboard {

std::string FormatLatency(int64_t ns) {
  if (ns < 1000) return absl::StrCat(ns, " ns");
  if (ns < 10 * 1000) return absl::StrFormat("%.2f µs", ns / 1e3);
  if (ns < 1000 * 1000) return absl::StrFormat("%.0f µs", ns / 1e3);
  if (ns < 1000 * 1000 * 1000) return absl::StrFormat("%.2f ms", ns / 1e6);
  return absl::StrFormat("%.2f s", ns / 1e9);
}

std::string FormatProgress(LoadScenario scenario, const LoadProgress& p) {
  const char* phase = p.warming_up ? "warm-up" : "       ";
  const std::string p99 = p.phase_messages == 0 ? std::string("-") : FormatLatency(p.p99_ns);
  const auto errors = static_cast<unsigned long long>(p.errors);
  switch (scenario) {
    case LoadScenario::kEcho:
      break;
    case LoadScenario::kAuth:
      return absl::StrFormat("%6.1fs %s %10.1f logins/s  p99 %-9s errors %llu  open %d",
                             absl::ToDoubleSeconds(p.elapsed), phase, p.messages_per_second, p99,
                             errors, p.open_connections);
    case LoadScenario::kChat:
      return absl::StrFormat(
          "%6.1fs %s %8.0f msg/s sent %10.0f delivered/s  p99 %-9s errors %llu  members %d",
          absl::ToDoubleSeconds(p.elapsed), phase, p.messages_per_second, p.deliveries_per_second,
          p99, errors, p.open_connections);
  }
  return absl::StrFormat("%6.1fs %s %10.0f msg/s %9.2f MB/s  p99 %-9s errors %llu  open %d",
                         absl::ToDoubleSeconds(p.elapsed), phase, p.messages_per_second,
                         p.megabytes_per_second, p99, errors, p.open_connections);
}

std::string DescribeLoad(const LoadConfig& c) {
  switch (c.scenario) {
    case LoadScenario::kEcho:
      break;
    case LoadScenario::kAuth: {
      std::string mode =
          c.rate > 0 ? absl::StrFormat(
                           "open loop at %.1f logins/s, at most %d in flight per "
                           "connection",
                           c.rate, c.depth)
                     : (c.depth == 1 ? std::string("closed loop, one login at a time")
                                     : absl::StrCat("closed loop, ", c.depth, " logins in flight"));
      return absl::StrCat("auth at ", c.TargetsText(), ": ", c.connections, " connection(s) (",
                          FramingName(c.framing),
                          " framing), each REGISTER once then LOGIN over and over as its own "
                          "user (load<n>-",
                          c.run_id, "); ", mode, ", ", c.threads,
                          " thread(s); the unit is the login");
    }
    case LoadScenario::kChat:
      return absl::StrFormat(
          "chat at %s (UDP): %d member(s) (load<n>-%s), %.0f msg/s in all (%.2f/s each), "
          "%d-byte texts, %d thread(s); every member counts the broadcasts it receives",
          c.TargetsText(), c.connections, c.run_id, c.rate, c.rate / c.connections,
          static_cast<int>(c.message_size), c.threads);
  }
  std::string mode = c.rate > 0 ? absl::StrFormat(
                                      "open loop at %.0f msg/s, at most %d in flight "
                                      "per connection",
                                      c.rate, c.depth)
                                : (c.depth == 1 ? std::string("closed loop, ping-pong")
                                                : absl::StrCat("closed loop, depth ", c.depth));
  return absl::StrCat("echo at ", c.TargetsText(), ": ", c.connections, " connection(s), ",
                      c.message_size, "-byte messages (", FramingName(c.framing), "), ", mode, ", ",
                      c.threads, " thread(s)");
}

absl::string_view LoadUnit(LoadScenario scenario) {
  return scenario == LoadScenario::kAuth ? "logins" : "messages";
}

namespace {

// The lines of the text summary, each appended to `out`.

// "messages:", "logins:" or "sent:" and "delivered:".
void AppendThroughput(const LoadResults& r, std::string* out) {
  switch (r.config.scenario) {
    case LoadScenario::kEcho:
      absl::StrAppend(out, absl::StrFormat("messages:   %llu, %.1f msg/s, %.2f MB/s\n",
                                           static_cast<unsigned long long>(r.messages),
                                           r.messages_per_second(), r.megabytes_per_second()));
      break;
    case LoadScenario::kAuth:
      absl::StrAppend(out, absl::StrFormat("logins:     %llu, %.1f logins/s\n",
                                           static_cast<unsigned long long>(r.messages),
                                           r.messages_per_second()));
      break;
    case LoadScenario::kChat:
      absl::StrAppend(out, absl::StrFormat("sent:       %llu, %.1f msg/s\n",
                                           static_cast<unsigned long long>(r.messages),
                                           r.messages_per_second()));
      absl::StrAppend(
          out, absl::StrFormat("delivered:  %llu of %llu expected, %.1f/s; lost %llu (%.2f%%)\n",
                               static_cast<unsigned long long>(r.deliveries),
                               static_cast<unsigned long long>(r.expected_deliveries),
                               r.deliveries_per_second(), static_cast<unsigned long long>(r.lost()),
                               100 * r.loss_ratio()));
      break;
  }
}

void AppendLatency(const LoadResults& r, std::string* out) {
  const LoadScenario scenario = r.config.scenario;
  const LatencyHistogram& h = r.latency;
  const bool timed = scenario == LoadScenario::kChat ? r.deliveries != 0 : r.messages != 0;
  absl::StrAppend(out, "latency:    ",
                  !timed ? std::string("none measured")
                         : absl::StrCat("p50 ", FormatLatency(h.ValueAtPercentile(50)), "  p90 ",
                                        FormatLatency(h.ValueAtPercentile(90)), "  p99 ",
                                        FormatLatency(h.ValueAtPercentile(99)), "  p99.9 ",
                                        FormatLatency(h.ValueAtPercentile(99.9)), "  max ",
                                        FormatLatency(h.Max()), "  (mean ",
                                        FormatLatency(static_cast<int64_t>(std::llround(h.Mean()))),
                                        ", min ", FormatLatency(h.Min()), ")"),
                  scenario == LoadScenario::kChat && timed
                      ? ", from each message's due time to each receipt"
                      : (r.config.rate > 0 && timed ? ", from the scheduled send times" : ""),
                  "\n");
}

// "errors:", then the rejections by code and the first error of each kind.
void AppendErrors(const LoadErrors& errors, std::string* out) {
  std::vector<std::string> kinds;
  for (LoadErrorKind kind : kAllLoadErrorKinds) {
    if (errors.count(kind) != 0) {
      kinds.push_back(absl::StrCat(LoadErrorKindName(kind), " ", errors.count(kind)));
    }
  }
  absl::StrAppend(out, "errors:     ", errors.total(),
                  kinds.empty() ? "" : absl::StrCat(" (", absl::StrJoin(kinds, ", "), ")"), "\n");
  if (!errors.rejected_by_code().empty()) {
    std::vector<std::string> codes;
    for (const auto& [code, count] : errors.rejected_by_code()) {
      codes.push_back(absl::StrCat(code, " ", count));
    }
    absl::StrAppend(out, "  rejected: ", absl::StrJoin(codes, ", "), "\n");
  }
  for (LoadErrorKind kind : kAllLoadErrorKinds) {
    if (errors.count(kind) != 0 && !errors.first(kind).empty()) {
      absl::StrAppend(out, "  first ", LoadErrorKindName(kind), ": ", errors.first(kind), "\n");
    }
  }
}

// "members:" or "connections:", and what was under way at the close.
void AppendConnections(const LoadResults& r, std::string* out) {
  if (r.config.scenario == LoadScenario::kChat) {
    absl::StrAppend(out, "members:    ", r.connections_opened, " of ", r.config.connections,
                    " joined, ", r.connections_open_at_end, " in the room at the end\n");
    return;
  }
  absl::StrAppend(out, "connections: ", r.connections_opened, " of ", r.config.connections,
                  " opened, ", r.connections_open_at_end, " open at the end\n");
  if (r.outstanding_at_end != 0 || r.behind_at_end != 0) {
    absl::StrAppend(out, "at the close: ", r.outstanding_at_end,
                    " message(s) in flight (not counted)");
    if (r.config.rate > 0) {
      absl::StrAppend(out, ", ", r.behind_at_end, " due but not yet sent");
    }
    absl::StrAppend(out, "\n");
  }
}

void AppendServerCpu(const LoadResults& r, std::string* out) {
  if (r.config.server_pid <= 0) return;
  if (std::optional<double> us = r.server_cpu_us_per_message(); us.has_value()) {
    absl::StrAppend(
        out, absl::StrFormat("server CPU: %.2f µs/%s (%.2f s over the "
                             "window, pid %d)\n",
                             *us, r.config.scenario == LoadScenario::kAuth ? "login" : "message",
                             absl::ToDoubleSeconds(*r.server_cpu), r.config.server_pid));
  } else {
    absl::StrAppend(out, "server CPU: unavailable (",
                    r.server_cpu_error.empty() ? "no message measured" : r.server_cpu_error, ")\n");
  }
}

}  // namespace

std::string TextSummary(const LoadResults& r) {
  std::string out;
  absl::StrAppend(&out, "load: ", DescribeLoad(r.config), "\n");
  absl::StrAppend(
      &out,
      absl::StrFormat("window:     %.2f s of %s, after %s of warm-up%s\n",
                      absl::ToDoubleSeconds(r.measured), absl::FormatDuration(r.config.duration),
                      absl::FormatDuration(r.config.warmup), r.completed ? "" : " (partial)"));
  AppendThroughput(r, &out);
  AppendLatency(r, &out);
  AppendErrors(r.errors, &out);
  AppendConnections(r, &out);
  AppendServerCpu(r, &out);
  if (!r.completed) absl::StrAppend(&out, "stopped:    ", r.stopped_because, "\n");
  return out;
}

std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", static_cast<unsigned char>(c));
        } else {
          out += c;
        }
    }
  }
  out += "\"";
  return out;
}

std::string JsonNumber(double value) {
  if (!std::isfinite(value)) return "null";
  return absl::StrFormat("%.6g", value);
}

std::string JsonSummary(const LoadResults& r) {
  const LoadConfig& c = r.config;
  const LatencyHistogram& h = r.latency;
  std::vector<std::string> fields;
  auto add = [&fields](absl::string_view key, const std::string& value) {
    fields.push_back(absl::StrCat(JsonString(key), ":", value));
  };
  add("scenario", JsonString(LoadScenarioName(c.scenario)));
  add("unit", JsonString(LoadUnit(c.scenario)));
  add("target", JsonString(c.TargetsText()));
  add("framing", c.scenario == LoadScenario::kChat ? "null" : JsonString(FramingName(c.framing)));
  add("run_id", c.scenario == LoadScenario::kEcho ? "null" : JsonString(c.run_id));
  add("connections", absl::StrCat(c.connections));
  add("size", absl::StrCat(c.message_size));
  add("depth", absl::StrCat(c.depth));
  add("rate", JsonNumber(c.rate));
  add("open_loop", c.rate > 0 ? "true" : "false");
  add("threads", absl::StrCat(c.threads));
  add("warmup_s", JsonNumber(absl::ToDoubleSeconds(c.warmup)));
  add("duration_s", JsonNumber(absl::ToDoubleSeconds(c.duration)));
  add("measured_s", JsonNumber(absl::ToDoubleSeconds(r.measured)));
  add("completed", r.completed ? "true" : "false");
  add("interrupted", r.interrupted ? "true" : "false");
  add("stopped_because", r.completed ? "null" : JsonString(r.stopped_because));
  add("messages", absl::StrCat(r.messages));
  add("bytes", absl::StrCat(r.bytes));
  add("messages_per_second", JsonNumber(r.messages_per_second()));
  add("megabytes_per_second", JsonNumber(r.megabytes_per_second()));
  if (c.scenario == LoadScenario::kChat) {
    add("members", absl::StrCat(c.connections));
    add("deliveries", absl::StrCat(r.deliveries));
    add("deliveries_per_second", JsonNumber(r.deliveries_per_second()));
    add("expected_deliveries", absl::StrCat(r.expected_deliveries));
    add("lost", absl::StrCat(r.lost()));
    add("loss_ratio", JsonNumber(r.loss_ratio()));
  }
  add("latency_ns",
      absl::StrCat("{\"min\":", h.Min(), ",\"mean\":", JsonNumber(h.Mean()),
                   ",\"p50\":", h.ValueAtPercentile(50), ",\"p90\":", h.ValueAtPercentile(90),
                   ",\"p99\":", h.ValueAtPercentile(99), ",\"p99_9\":", h.ValueAtPercentile(99.9),
                   ",\"max\":", h.Max(), "}"));
  std::vector<std::string> errors = {absl::StrCat("\"total\":", r.errors.total())};
  std::vector<std::string> firsts;
  for (LoadErrorKind kind : kAllLoadErrorKinds) {
    const absl::string_view name = LoadErrorKindName(kind);
    errors.push_back(absl::StrCat(JsonString(name), ":", r.errors.count(kind)));
    if (r.errors.count(kind) != 0) {
      firsts.push_back(absl::StrCat(JsonString(name), ":", JsonString(r.errors.first(kind))));
    }
  }
  add("errors", absl::StrCat("{", absl::StrJoin(errors, ","), "}"));
  add("first_errors", absl::StrCat("{", absl::StrJoin(firsts, ","), "}"));
  std::vector<std::string> rejections;
  for (const auto& [code, count] : r.errors.rejected_by_code()) {
    rejections.push_back(absl::StrCat(JsonString(code), ":", count));
  }
  add("rejected_by_code", absl::StrCat("{", absl::StrJoin(rejections, ","), "}"));
  add("connections_opened", absl::StrCat(r.connections_opened));
  add("connections_open_at_end", absl::StrCat(r.connections_open_at_end));
  add("outstanding_at_end", absl::StrCat(r.outstanding_at_end));
  add("behind_at_end", absl::StrCat(r.behind_at_end));
  std::optional<double> cpu = r.server_cpu_us_per_message();
  add("server_pid", c.server_pid > 0 ? absl::StrCat(c.server_pid) : "null");
  add("server_cpu_s",
      r.server_cpu.has_value() ? JsonNumber(absl::ToDoubleSeconds(*r.server_cpu)) : "null");
  add("server_cpu_us_per_message", cpu.has_value() ? JsonNumber(*cpu) : "null");
  return absl::StrCat("{", absl::StrJoin(fields, ","), "}");
}
std::string DescribeLoadErrors(const LoadErrors& errors) {
  std::vector<std::string> parts;
  for (LoadErrorKind kind : kAllLoadErrorKinds) {
    const uint64_t count = errors.count(kind);
    if (count == 0) continue;
    const std::string& first = errors.first(kind);
    parts.push_back(absl::StrCat(count, " ", LoadErrorKindName(kind),
                                 first.empty() ? "" : " (first: ", first,
                                 first.empty() ? "" : ")"));
  }
  return absl::StrJoin(parts, ", ");
}

}  // namespace switchboard
