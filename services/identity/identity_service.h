// Copyright Switchboard authors.
//
// identity_service.h: `IdentityService` knows clients by IP address. A known
// address is greeted by name; a stranger is asked for one, which is stored
// (the reply goes out after the commit). Then NAME renames, FORGET forgets,
// exit ends. Every call may touch the store, so it runs on the worker pool.

#ifndef SWITCHBOARD_SERVICES_IDENTITY_IDENTITY_SERVICE_H_
#define SWITCHBOARD_SERVICES_IDENTITY_IDENTITY_SERVICE_H_

#include <memory>

#include "services/service.h"
#include "services/store/store.h"

namespace switchboard {

class IdentityService final : public Service {
 public:
  // `store` must outlive the service and its sessions.
  explicit IdentityService(Store* store) : store_(store) {}

  // Service
  absl::string_view name() const override { return "identity"; }
  bool cheap() const override { return false; }
  std::unique_ptr<Session> NewSession(const SessionInfo& info) override;

 private:
  Store* const store_;
};

}  // namespace switchboard

#endif  // SWITCHBOARD_SERVICES_IDENTITY_IDENTITY_SERVICE_H_
