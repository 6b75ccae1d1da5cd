// recall/disk_store.hpp: a second level (L2) in a directory on local disk, so
// that cached results survive a restart or a deploy.
//
// `recall::disk_store(dir, options)` returns a store for cache_data's `l2`
// option. It keeps each value in a file of its own (written to a temporary
// file, then renamed: a reader or a crash sees the old value or the new one,
// never part of one), honours TTLs (an expired file is never served and is
// removed), and holds the directory within a byte and an entry bound by
// evicting the least valuable files: expired ones first, then the least
// recently used. Processes of one host may share a directory; each file is
// checked (checksum, key, length) before it is served, and a file that fails
// is removed and counted. Invalidations reach the caches of this process at
// once; other processes see them in their reads of the directory at once and
// in their memory when it expires (docs/cache_data.md, "On disk").
//
// POSIX only (Linux, macOS, the BSDs): elsewhere disk_store() throws
// recall::config_error. Local file systems only (not NFS).
//
// Thread safety: a store may be used from any number of threads, and its
// directory by any number of processes of the same user. After fork(), the
// child opens a store of its own (the parent's refuses to work in the child:
// file locks do not survive a fork).
//
//   auto l2 = recall::disk_store("/var/cache/my_service/recall",
//                                {.max_bytes = std::size_t{4} << 30});
//   auto f = recall::cache_data(load, {.name = "load_sales", .ttl = 1h, .l2 = l2});
//   std::optional<recall::disk_store_stats> s = recall::disk_stats(*l2);
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>

#include "recall/export.hpp"
#include "recall/second_level.hpp"

namespace recall {

// When a write reaches the disk itself (not only the operating system's
// cache). A process killed at any point never leaves a torn file whatever
// this says; it matters for a power loss or a kernel crash.
enum class disk_sync {
  // Never wait for the disk. After a power loss the last writes may be lost,
  // or left as files that fail their checksum (counted and removed): a cache
  // recomputes them. The default: a cache need not pay a disk flush on every
  // miss.
  none,
  // Flush each file before it takes its name: after a power loss a key holds
  // its old value or its new one.
  data,
  // ... and flush the directory after each rename or removal, so a write or
  // an invalidation has reached the disk when the call returns.
  data_and_directory,
};

struct disk_store_options {
  // The directory's budget, counted in the file system's blocks (what the
  // files take on disk): every file is rounded up to a whole block.
  // SIZE_MAX: no byte bound.
  std::size_t max_bytes = std::size_t{1} << 30;
  // At most this many files (1 to 4,194,304); the index shared by the
  // processes has 2 slots of 40 bytes per entry.
  std::size_t max_entries = 100'000;
  disk_sync sync = disk_sync::none;
  // Signing key, leases, clock, error callback (recall/second_level.hpp).
  second_level_options second_level{};
};

// What one store has done since it was opened (reads ... index_rebuilds), and
// what its directory holds now, counted over every process using it
// (entries, bytes).
struct disk_store_stats {
  std::uint64_t reads = 0;           // keys looked up
  std::uint64_t hits = 0;            // ... found whole and within their TTL
  std::uint64_t misses = 0;          // ... absent, expired or refused
  std::uint64_t writes = 0;          // files written (set, and add that stored)
  std::uint64_t add_conflicts = 0;   // add() that found a live value
  std::uint64_t rejected = 0;        // values larger than max_bytes: not stored
  std::uint64_t io_errors = 0;       // operations that failed (disk full, EIO, ...)
  std::uint64_t evicted = 0;         // files removed to keep the bounds
  std::uint64_t expired = 0;         // expired files removed (on read, write or sweep)
  std::uint64_t corrupt = 0;         // truncated, torn, corrupt or foreign files removed
  std::uint64_t erased = 0;          // files removed by erase / erase_if_equal
  std::uint64_t temp_reclaimed = 0;  // temporary files of dead writers removed
  std::uint64_t index_repairs = 0;   // index entries fixed after a process died mid-update
  std::uint64_t index_rebuilds = 0;  // index rebuilt from the files (missing, reboot, ...)
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;
  std::uint64_t max_entries = 0;
  std::uint64_t max_bytes = 0;
  // The index is being rebuilt by a background scan: files it has not reached
  // yet are served, but not counted in entries and bytes.
  bool indexing = false;
};

// Opens (creating it 0700 if missing) the store in `dir`. Throws
// recall::config_error, naming the path and the fix, for a directory that is
// a symbolic link, is writable by other users, belongs to another user, is
// not empty without being a disk store, or cannot be created; and for bounds
// out of range.
RECALL_EXPORT std::shared_ptr<second_level> disk_store(const std::filesystem::path& dir,
                                                       disk_store_options options = {});

// The counters of a store made by disk_store(); nullopt for any other store.
RECALL_EXPORT std::optional<disk_store_stats> disk_stats(const second_level& store);

}  // namespace recall
