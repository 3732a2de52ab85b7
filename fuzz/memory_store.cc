// Copyright Switchboard authors.

#include "fuzz/memory_store.h"

namespace switchboard::fuzz {
namespace {

template <typename Map>
std::optional<typename Map::mapped_type> Find(const Map& map, absl::string_view key) {
  const auto it = map.find(key);
  if (it == map.end()) return std::nullopt;
  return it->second;
}

absl::Status Unavailable() { return absl::UnavailableError("store failure (fuzz)"); }

}  // namespace

bool MemoryStore::Fail() { return fail_in_ > 0 && --fail_in_ == 0; }

absl::StatusOr<std::optional<std::string>> MemoryStore::FindName(absl::string_view address) {
  if (Fail()) return Unavailable();
  return Find(names_, address);
}

absl::Status MemoryStore::SetName(absl::string_view address, absl::string_view name) {
  if (Fail()) return Unavailable();
  names_[address] = std::string(name);
  return absl::OkStatus();
}

absl::StatusOr<bool> MemoryStore::ForgetName(absl::string_view address) {
  if (Fail()) return Unavailable();
  return names_.erase(address) > 0;
}

absl::Status MemoryStore::AddUser(absl::string_view user, absl::string_view password_hash) {
  if (Fail()) return Unavailable();
  if (!hashes_.try_emplace(user, password_hash).second) {
    return absl::AlreadyExistsError("user exists");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> MemoryStore::PasswordHash(absl::string_view user) {
  if (Fail()) return Unavailable();
  return Find(hashes_, user);
}

absl::Status MemoryStore::SetPasswordHash(absl::string_view user, absl::string_view password_hash) {
  if (Fail()) return Unavailable();
  const auto it = hashes_.find(user);
  if (it == hashes_.end()) return absl::NotFoundError("no such user");
  it->second = std::string(password_hash);
  return absl::OkStatus();
}

absl::StatusOr<std::optional<std::string>> MemoryStore::UserAt(absl::string_view address) {
  if (Fail()) return Unavailable();
  return Find(users_at_, address);
}

absl::Status MemoryStore::SetUserAt(absl::string_view address, absl::string_view user) {
  if (Fail()) return Unavailable();
  users_at_[address] = std::string(user);
  return absl::OkStatus();
}

absl::Status MemoryStore::AddSession(absl::string_view token_hash, const StoredSession& session) {
  if (Fail()) return Unavailable();
  sessions_[token_hash] = session;
  return absl::OkStatus();
}

absl::StatusOr<std::optional<StoredSession>> MemoryStore::FindSession(
    absl::string_view token_hash) {
  if (Fail()) return Unavailable();
  return Find(sessions_, token_hash);
}

absl::StatusOr<bool> MemoryStore::DeleteSession(absl::string_view token_hash) {
  if (Fail()) return Unavailable();
  return sessions_.erase(token_hash) > 0;
}

absl::StatusOr<int> MemoryStore::DeleteOtherSessions(absl::string_view user,
                                                     absl::string_view keep) {
  if (Fail()) return Unavailable();
  int ended = 0;
  absl::erase_if(sessions_, [&](const auto& entry) {
    const bool end = entry.second.user == user && entry.first != keep;
    ended += end;
    return end;
  });
  return ended;
}

absl::StatusOr<int> MemoryStore::DeleteExpiredSessions(absl::Time now) {
  if (Fail()) return Unavailable();
  int ended = 0;
  absl::erase_if(sessions_, [&](const auto& entry) {
    const bool end = entry.second.expires < now;
    ended += end;
    return end;
  });
  return ended;
}

}  // namespace switchboard::fuzz
