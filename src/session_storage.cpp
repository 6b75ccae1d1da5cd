// What the session storages share: the errors they raise in the same words,
// and session_stats from their counters.
#include "recall/detail/session_storage.hpp"

#include <fmt/format.h>

#include "recall/detail/session_counters.hpp"
#include "recall/session.hpp"

namespace recall::detail {

void throw_wrong_kind(std::string_view key, const char* wanted) {
  throw session_error(session_errc::wrong_kind,
                      fmt::format("recall: session key '{}' holds another kind of value than "
                                  "{} (a value, a list and a map cannot share a key); use "
                                  "another key or erase it first",
                                  key, wanted));
}

void throw_ended(std::string_view what) {
  throw session_error(session_errc::ended,
                      fmt::format("recall: {} a session that has ended (logged out, expired or "
                                  "evicted, possibly by another request); nothing was stored. "
                                  "Open the session again to start a new one",
                                  what));
}

session_stats session_counters::counted(const session_options& options) const {
  session_stats s;
  s.created = created_.load(std::memory_order_relaxed);
  s.rotated = rotated_.load(std::memory_order_relaxed);
  s.ended = ended_.load(std::memory_order_relaxed);
  s.ended_user_limit = ended_user_limit_.load(std::memory_order_relaxed);
  s.expired_idle = expired_idle_.load(std::memory_order_relaxed);
  s.expired_absolute = expired_absolute_.load(std::memory_order_relaxed);
  s.evicted = evicted_.load(std::memory_order_relaxed);
  s.quota_exceeded = quota_exceeded_.load(std::memory_order_relaxed);
  s.storage_unavailable = unavailable_.load(std::memory_order_relaxed);
  s.storage_rejected = rejected_storage_.load(std::memory_order_relaxed);
  const auto rejected = [&](rejected_id_reason r) {
    return rejected_[static_cast<std::size_t>(r)].load(std::memory_order_relaxed);
  };
  s.rejected_empty = rejected(rejected_id_reason::empty);
  s.rejected_malformed = rejected(rejected_id_reason::malformed);
  s.rejected_unknown = rejected(rejected_id_reason::unknown);
  s.rejected_expired = rejected(rejected_id_reason::expired);
  s.rejected_identity_mismatch = rejected(rejected_id_reason::identity_mismatch);
  s.max_sessions = options.max_sessions;
  s.max_total_bytes = options.max_total_bytes;
  return s;
}

}  // namespace recall::detail
