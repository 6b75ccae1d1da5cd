// The library's own executor for refresh-ahead: two threads and a bounded
// queue, started on first use and never torn down (caches may be statics that
// outlive main). A full queue refuses work instead of growing.
//
// Thread safety: submit() may be called concurrently.
#pragma once

#include <cstddef>
#include <functional>

#include "recall/export.hpp"

namespace recall::detail {

inline constexpr std::size_t refresh_pool_threads = 2;
inline constexpr std::size_t refresh_pool_capacity = 1024;

// False when the queue is full; the task is then not run.
RECALL_EXPORT bool submit_refresh(std::function<void()> task);

}  // namespace recall::detail
