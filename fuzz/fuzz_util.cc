// Copyright Switchboard authors.

#include "fuzz/fuzz_util.h"

#include <sodium.h>

#include "glog/logging.h"

namespace switchboard::fuzz {

void Init() {
  static const bool done = [] {
    FLAGS_minloglevel = google::GLOG_FATAL;
    FLAGS_logtostderr = true;
    if (sodium_init() < 0) std::abort();
    return true;
  }();
  (void)done;
}

}  // namespace switchboard::fuzz
