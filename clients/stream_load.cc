// Copyright Switchboard authors.

#include "clients/stream_load.h"

#include "clients/auth_dialogue.h"
#include "clients/echo_dialogue.h"
#include "clients/stream_connection.h"

namespace switchboard {

std::unique_ptr<LoadClient> NewEchoConnection(LoadThread* thread, uint32_t id,
                                              const EchoPattern& pattern) {
  return std::make_unique<StreamConnection>(thread, id,
                                            std::make_unique<EchoDialogue>(id, pattern));
}

std::unique_ptr<LoadClient> NewAuthConnection(LoadThread* thread, uint32_t id) {
  return std::make_unique<StreamConnection>(
      thread, id, std::make_unique<AuthDialogue>(id, thread->config(), thread->run_id()));
}

}  // namespace switchboard
