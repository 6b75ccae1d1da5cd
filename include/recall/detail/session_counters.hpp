// What every session storage counts for session_stats, and the stats made
// from the counts: each storage derives from session_counters and adds only
// what it alone knows (live sessions, bytes, pinned_over_bound).
//
// Thread safety: the counters are atomics, counted with relaxed order (each
// is exact, a snapshot of several is not); counted() may run concurrently.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "recall/export.hpp"

namespace recall {
struct session_options;
struct session_stats;
}  // namespace recall

namespace recall::detail {

class RECALL_EXPORT session_counters {
 protected:
  // Every counter below and the bounds of `options`; the rest is left 0.
  session_stats counted(const session_options& options) const;

  // Mutable: const paths count too (an error thrown, a script's reply read).
  mutable std::atomic<std::uint64_t> created_{0}, rotated_{0}, ended_{0}, ended_user_limit_{0},
      expired_idle_{0}, expired_absolute_{0}, evicted_{0}, quota_exceeded_{0}, unavailable_{0},
      rejected_storage_{0};
  mutable std::array<std::atomic<std::uint64_t>, 5> rejected_{};  // by rejected_id_reason
};

}  // namespace recall::detail
