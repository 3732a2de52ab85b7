// Copyright Switchboard authors.
//
// prompt.h: asking a person at a terminal for what the flags did not say,
// showing the default and asking again until the answer is usable.

#ifndef SWITCHBOARD_CLIENTS_PROMPT_H_
#define SWITCHBOARD_CLIENTS_PROMPT_H_

#include <cstdint>
#include <istream>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace switchboard {

// Parses a TCP or UDP port: digits only, 1 to 65535.
absl::StatusOr<uint16_t> ParsePort(absl::string_view text);

// Checks that `host` is an address or a name that resolves.
absl::Status CheckHost(absl::string_view host);

// Asks "<question> [<default>]: " on `out` and reads a line from `in`; an
// empty answer takes the default. Re-asks while `check` rejects the answer,
// printing why. NotFound when `in` ends first.
absl::StatusOr<std::string> Ask(std::istream& in, std::ostream& out, absl::string_view question,
                                absl::string_view default_answer,
                                absl::Status (*check)(absl::string_view));

// Ask() for a host (CheckHost) and for a port (ParsePort).
absl::StatusOr<std::string> AskHost(std::istream& in, std::ostream& out,
                                    absl::string_view default_host);
absl::StatusOr<uint16_t> AskPort(std::istream& in, std::ostream& out, uint16_t default_port);

}  // namespace switchboard

#endif  // SWITCHBOARD_CLIENTS_PROMPT_H_
