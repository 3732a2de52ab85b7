// Copyright Switchboard authors.

#include "services/identity/identity_service.h"

#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "glog/logging.h"
#include "services/common/text.h"

namespace switchboard {
namespace {

constexpr absl::string_view kQuestion = "300 Hello, stranger. What is your name?";
constexpr absl::string_view kStoreFailed = "451 the server could not do that now; try again later";

class IdentitySession final : public Session {
 public:
  IdentitySession(Store* store, const SessionInfo& info)
      : store_(store), id_(info.connection_id), address_(info.peer.IpString()) {}

  void OnStart(Replies& out) override {
    absl::StatusOr<std::optional<std::string>> name = store_->FindName(address_);
    if (!name.ok()) {
      LOG(ERROR) << "identity: connection " << id_ << ": looking up " << address_ << ": "
                 << name.status();
      out.Reply(kStoreFailed);
      out.EndSession();
      return;
    }
    if (name->has_value()) {
      name_ = **name;
      out.Reply(absl::StrCat("200 Hello, ", name_, "!"));
    } else {
      out.Reply(kQuestion);
    }
  }

  void OnMessage(absl::string_view message, Replies& out) override {
    if (!IsValidUtf8(message)) {
      out.Reply("400 message is not valid UTF-8");
      if (!known()) out.Reply(kQuestion);
      return;
    }
    if (known()) {
      HandleCommand(message, out);
    } else {
      HandleAnswer(message, out);
    }
  }

 private:
  bool known() const { return !name_.empty(); }

  // A stranger's message: the name asked for, or exit.
  void HandleAnswer(absl::string_view message, Replies& out) {
    if (message == "exit") {
      out.Reply("221 Bye, stranger.");
      out.EndSession();
      return;
    }
    if (absl::Status valid = ValidateName(message); !valid.ok()) {
      out.Reply(absl::StrCat("400 ", valid.message()));
      out.Reply(kQuestion);
      return;
    }
    if (!SaveName(message, out)) return;
    LOG(INFO) << "identity: connection " << id_ << ": " << address_ << " is now known as " << name_;
    out.Reply(absl::StrCat("201 Nice to meet you, ", name_, "!"));
  }

  void HandleCommand(absl::string_view message, Replies& out) {
    if (message == "exit") {
      out.Reply(absl::StrCat("221 Bye, ", name_, "."));
      out.EndSession();
    } else if (message == "FORGET") {
      absl::StatusOr<bool> forgot = store_->ForgetName(address_);
      if (!forgot.ok()) {
        LOG(ERROR) << "identity: connection " << id_ << ": forgetting " << address_ << ": "
                   << forgot.status();
        out.Reply(kStoreFailed);
        return;
      }
      LOG(INFO) << "identity: connection " << id_ << ": forgot " << address_ << " (" << name_
                << ")";
      out.Reply(absl::StrCat("200 Forgot ", name_, "."));
      name_.clear();  // a stranger again: the next message is taken as a name
    } else if (message == "NAME" || absl::StartsWith(message, "NAME ")) {
      if (message.size() <= 5) {
        out.Reply("400 usage: NAME <new name>");
        return;
      }
      const absl::string_view new_name = message.substr(5);
      if (absl::Status valid = ValidateName(new_name); !valid.ok()) {
        out.Reply(absl::StrCat("400 ", valid.message()));
        return;
      }
      const std::string old_name = name_;
      if (!SaveName(new_name, out)) return;
      LOG(INFO) << "identity: connection " << id_ << ": " << address_ << " renamed from "
                << old_name << " to " << name_;
      out.Reply(absl::StrCat("200 Renamed to ", name_, "."));
    } else {
      out.Reply("500 unknown command");
    }
  }

  // Stores `name` for this address; false (with the reply sent) on failure.
  bool SaveName(absl::string_view name, Replies& out) {
    if (absl::Status s = store_->SetName(address_, name); !s.ok()) {
      LOG(ERROR) << "identity: connection " << id_ << ": storing the name of " << address_ << ": "
                 << s;
      out.Reply(kStoreFailed);
      return false;
    }
    name_ = std::string(name);
    return true;
  }

  Store* const store_;
  const uint64_t id_;
  const std::string address_;
  std::string name_;  // empty while the client is a stranger
};

}  // namespace

std::unique_ptr<Session> IdentityService::NewSession(const SessionInfo& info) {
  return std::make_unique<IdentitySession>(store_, info);
}

}  // namespace switchboard
