// Live heap bytes, counted by the harness's replacement operator new/delete
// while metering is on. Used to report what a cache structure really holds
// (nodes, tables, queues), not what it claims to hold. Metering is off during
// timed multi-threaded phases so the shared counter does not distort them.
#pragma once

#include <cstddef>

namespace recall_bench {

void set_heap_metering(bool on) noexcept;
// Bytes allocated and not yet freed while metering was on. Meaningful as a
// difference between two readings taken in one metered, single-threaded span.
std::ptrdiff_t live_heap_bytes() noexcept;

}  // namespace recall_bench
