// Copyright Switchboard authors.
//
// token_file.h: `TokenFile` keeps the auth service's session token between
// runs of the client (the cookie), in a file only its owner can read, so
// that a user logs in once and later runs resume the session.

#ifndef SWITCHBOARD_CLIENTS_TOKEN_FILE_H_
#define SWITCHBOARD_CLIENTS_TOKEN_FILE_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace switchboard {

class TokenFile {
 public:
  // $XDG_STATE_HOME/switchboard/token-<host>-<port>, or under
  // ~/.local/state when XDG_STATE_HOME is not set; one token per server.
  static std::string DefaultPath(absl::string_view host, int port);

  explicit TokenFile(std::string path) : path_(std::move(path)) {}

  const std::string& path() const { return path_; }
  // The saved token, or nullopt when there is none (or it is unreadable).
  std::optional<std::string> Load() const;
  // Writes atomically (a temporary file renamed over the old one), mode
  // 0600, creating the folder (0700) when missing.
  absl::Status Save(absl::string_view token) const;
  // Forgets the token; a missing file is fine.
  absl::Status Remove() const;

 private:
  std::string path_;
};

// The token in an auth reply that hands one out ("201 registered <user>;
// session <token>", "200 welcome <user>; session <token>"), if any.
std::optional<std::string> TokenInReply(absl::string_view reply);

}  // namespace switchboard

#endif  // SWITCHBOARD_CLIENTS_TOKEN_FILE_H_
