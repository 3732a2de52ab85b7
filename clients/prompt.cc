// Copyright Switchboard authors.

#include "clients/prompt.h"

#include <sys/socket.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "reactor/inet_address.h"

namespace switchboard {

absl::StatusOr<uint16_t> ParsePort(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  uint32_t port = 0;
  if (text.empty() || !absl::SimpleAtoi(text, &port) || text[0] == '+' || text[0] == '-') {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not a port number"));
  }
  if (port < 1 || port > 65535) {
    return absl::OutOfRangeError(absl::StrCat("port ", port, " is outside 1..65535"));
  }
  return static_cast<uint16_t>(port);
}

absl::Status CheckHost(absl::string_view host) {
  host = absl::StripAsciiWhitespace(host);
  if (host.empty()) return absl::InvalidArgumentError("the host is empty");
  return InetAddress::Resolve(host, 0, SOCK_STREAM).status();
}

absl::StatusOr<std::string> Ask(std::istream& in, std::ostream& out, absl::string_view question,
                                absl::string_view default_answer,
                                absl::Status (*check)(absl::string_view)) {
  for (;;) {
    out << question << " [" << default_answer << "]: " << std::flush;
    std::string line;
    if (!std::getline(in, line)) return absl::NotFoundError("no answer (end of input)");
    std::string answer(absl::StripAsciiWhitespace(line));
    if (answer.empty()) answer = std::string(default_answer);
    absl::Status ok = check(answer);
    if (ok.ok()) return answer;
    out << "  " << ok.message() << "; please try again." << std::endl;
  }
}

absl::StatusOr<std::string> AskHost(std::istream& in, std::ostream& out,
                                    absl::string_view default_host) {
  return Ask(in, out, "Host", default_host, &CheckHost);
}

absl::StatusOr<uint16_t> AskPort(std::istream& in, std::ostream& out, uint16_t default_port) {
  absl::StatusOr<std::string> answer =
      Ask(in, out, "Port", absl::StrCat(default_port),
          [](absl::string_view text) { return ParsePort(text).status(); });
  if (!answer.ok()) return answer.status();
  return ParsePort(*answer);
}

}  // namespace switchboard
