// Copyright Switchboard authors.
//
// flags_fuzzer: the parsers of the server's command line: durations
// (process/flags), hosts (InetAddress::Parse), the services list with
// framings, the model and the engines' addresses, all through
// ValidateConfig as server_main assembles them.
//
// Input: lines. [range] then: duration, host, port, services (comma
// separated), framings ("service=framing,..."), model, chat backplane,
// store.

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "fuzz/fuzz_util.h"
#include "process/flags.h"
#include "reactor/codec.h"
#include "reactor/inet_address.h"
#include "services/server.h"

namespace switchboard {
namespace {

// DurationFlag ends the process on a bad value, as a bad flag must; so only
// values it takes are passed, and the checks before it are the same.
void FuzzDuration(absl::string_view value, DurationRange range) {
  absl::Duration parsed;
  if (!absl::ParseDuration(value, &parsed)) return;
  if (range == DurationRange::kPositive && parsed <= absl::ZeroDuration()) return;
  if (range == DurationRange::kNonNegative && parsed < absl::ZeroDuration()) return;
  FUZZ_CHECK(DurationFlag("fuzz", "d", value, range) == parsed);
  // What the server prints is what it would read back.
  absl::Duration again;
  FUZZ_CHECK(absl::ParseDuration(absl::FormatDuration(parsed), &again) && again == parsed);
}

void FuzzHost(absl::string_view host, uint16_t port) {
  absl::StatusOr<InetAddress> address = InetAddress::Parse(host, port);
  if (!address.ok()) return;
  FUZZ_CHECK(address->port() == port);
  const std::string ip = address->IpString();
  absl::StatusOr<InetAddress> again = InetAddress::Parse(ip, port);
  FUZZ_CHECK(again.ok() && again->IpString() == ip);
  FUZZ_CHECK(!address->ToString().empty());
  FUZZ_CHECK(address->Unmapped().IpString() == address->Unmapped().Unmapped().IpString());
}

void FuzzConfig(fuzz::Input& in) {
  ServerConfig config;
  config.host = std::string(in.Line());
  config.services.clear();
  for (absl::string_view name : absl::StrSplit(in.Line(), ',')) config.services.emplace_back(name);
  for (absl::string_view pair : absl::StrSplit(in.Line(), ',', absl::SkipEmpty())) {
    const std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(pair, '=');
    absl::StatusOr<Framing> framing = ParseFraming(kv.second);
    if (framing.ok()) config.framings[kv.first] = *framing;
  }
  absl::StatusOr<ServerModel> model = ParseServerModel(in.Line());
  if (model.ok()) {
    config.model = *model;
    FUZZ_CHECK(ParseServerModel(ServerModelName(*model)).value() == *model);
  }
  config.chat_backplane = std::string(in.Line());
  config.store = std::string(in.Line());
  if (config.store.empty()) config.store = "sqlite";
  if (!ValidateConfig(config).ok()) return;
  absl::flat_hash_set<std::string> seen;
  for (const std::string& name : config.services) FUZZ_CHECK(seen.insert(name).second);
  FUZZ_CHECK(InetAddress::Parse(config.host, 0).ok());
}

}  // namespace
}  // namespace switchboard

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace switchboard;
  fuzz::Init();
  fuzz::Input in(data, size);
  const auto range = static_cast<DurationRange>(in.Byte() % 3);
  FuzzDuration(in.Line(), range);
  const absl::string_view host = in.Line();
  uint32_t port = 0;
  if (!absl::SimpleAtoi(in.Line(), &port) || port > 65535) port = 7007;
  FuzzHost(host, static_cast<uint16_t>(port));
  FuzzConfig(in);
  return 0;
}
