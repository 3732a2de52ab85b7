// Copyright Switchboard authors.
//
// stream_load.h: the TCP scenarios of LoadGenerator (part of
// //clients:load_generator, not for other users):
//   EchoPattern        the bytes of every echo message of a run, and their check.
//   NewEchoConnection  a connection that sends echo messages and checks
//                      every byte that comes back.
//   NewAuthConnection  a connection that registers a user of its own once,
//                      then logs in as it over and over.
// Both are one StreamConnection (stream_connection.h): connect, send,
// schedule, time, drain; what they say is a StreamDialogue
// (stream_dialogue.h): an EchoDialogue (echo_dialogue.h, with the bytes of
// echo_pattern.h) or an AuthDialogue (auth_dialogue.h).

#ifndef SWITCHBOARD_CLIENTS_STREAM_LOAD_H_
#define SWITCHBOARD_CLIENTS_STREAM_LOAD_H_

#include <cstdint>
#include <memory>

#include "clients/echo_pattern.h"
#include "clients/load_thread.h"

namespace switchboard {

// Connection `id` of `thread`, loading the echo service with `pattern`.
std::unique_ptr<LoadClient> NewEchoConnection(LoadThread* thread, uint32_t id,
                                              const EchoPattern& pattern);

// Connection `id` of `thread`, loading the auth service as user
// `load<id>-<run id>`.
std::unique_ptr<LoadClient> NewAuthConnection(LoadThread* thread, uint32_t id);

}  // namespace switchboard

#endif  // SWITCHBOARD_CLIENTS_STREAM_LOAD_H_
