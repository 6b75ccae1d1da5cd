// The directory behind a disk store: its files, its lock, its shared index,
// its temporary files and the background scan that rebuilds the index.
//
//   <dir>/recall-disk-store   marker: this directory is a disk store (format 1)
//   <dir>/index               the index shared by every process (disk_index)
//   <dir>/e/<32 hex>          one file per entry (disk_file)
//   <dir>/tmp/                files being written, renamed into e/ when whole
//
// Every change to e/ and to the index is made under the directory's lock:
// flock() on the directory (other processes) and a mutex (this process's
// threads: they share one open file, which flock does not tell apart).
// Readers take no lock: a name always points to a whole file, the old one or
// the new one. A writer holds a flock on its temporary file until it is
// renamed, so a temporary file nobody holds belongs to a dead writer and is
// removed (when a store opens, and every 1024 writes).
//
// Thread safety: every member function may be called from any thread;
// `locked` is used by the thread that made it.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "recall/clock.hpp"
#include "recall/detail/disk_file.hpp"
#include "recall/detail/disk_index.hpp"
#include "recall/detail/posix_file.hpp"
#include "recall/disk_store.hpp"
#include "recall/export.hpp"

namespace recall::detail {

// cache_data's clear and tag markers (l2_tier.hpp: "{name:version}:cleared",
// "tag:<tag>"): never evicted, since losing one would bring back results
// computed before a clear() or an invalidate_tag(). One per cache and tag.
RECALL_EXPORT bool disk_pinned(std::string_view key) noexcept;

class RECALL_EXPORT disk_directory {
 public:
  struct limits {
    std::uint64_t max_entries;
    std::uint64_t max_bytes;  // UINT64_MAX: none
  };
  enum class cause { evicted, expired, corrupt, erased };
  struct counters {
    std::atomic<std::uint64_t> evicted{0}, expired{0}, corrupt{0}, erased{0}, temp_reclaimed{0},
        index_repairs{0}, index_rebuilds{0}, io_errors{0};
  };
  using reporter = std::function<void(std::string_view)>;

  // Opens or creates the directory; throws config_error.
  disk_directory(const std::filesystem::path& path, limits bounds, disk_sync sync,
                 std::shared_ptr<const clock> clock, reporter report);
  ~disk_directory();
  disk_directory(const disk_directory&) = delete;
  disk_directory& operator=(const disk_directory&) = delete;

  const std::string& path() const noexcept { return path_; }
  // The directory's device and inode: which store this is, within the host.
  std::pair<dev_t, ino_t> identity() const noexcept { return identity_; }
  const limits& bounds() const noexcept { return bounds_; }
  const counters& stats() const noexcept { return counters_; }
  bool indexing() const noexcept { return loading_.load(std::memory_order_acquire); }
  // Calendar time, in nanoseconds since 1970.
  std::int64_t now() const noexcept;
  // The index as last mapped; lock-free readers use it.
  std::shared_ptr<disk_index> index() const;
  // What a file of `size` bytes takes on disk.
  std::uint64_t rounded(std::uint64_t size) const;

  // --- Reading (no lock) ---
  enum class found { value, absent, expired, corrupt, too_large, error };
  struct read_result {
    found what = found::absent;
    std::string value;  // found::value, found::expired
    ino_t inode = 0;    // of the file read (found::expired, found::corrupt)
    std::string why;    // found::corrupt, found::error
  };
  read_result read(const disk_file::name& n, std::string_view key, std::int64_t now,
                   std::uint64_t size_limit) const;

  // --- Writing ---
  // A complete file under a temporary name in tmp/, locked until renamed.
  struct temp {
    unique_fd fd;
    std::string name;
  };
  // Writes `data` to a new temporary file, flushed if `durable` and the sync
  // policy asks for it. 0 or an errno value.
  int write_temp(std::span<iovec> data, bool durable, temp& out);
  void discard(temp& t) noexcept;
  // fsync(e/) if the sync policy asks for it.
  void sync_entries() noexcept;

  // The directory's lock. On acquisition it maps a new index if another
  // process replaced it, and repairs a change a dead process left unfinished.
  class locked {
   public:
    explicit locked(disk_directory& dir);
    ~locked();
    locked(const locked&) = delete;
    locked& operator=(const locked&) = delete;
    // 0, or the errno value that kept the lock from being taken.
    int error() const noexcept { return error_; }
    disk_index& index() noexcept { return *dir_.index_; }
    // Messages are passed on once the lock is released.
    void report(std::string message) { messages_.push_back(std::move(message)); }

   private:
    disk_directory& dir_;
    std::unique_lock<std::mutex> mu_;
    int error_ = 0;
    std::vector<std::string> messages_;
  };

  // Under the lock:
  // Evicts until `added_entries` more entries and `new_bytes` in place of
  // `old_bytes` fit the bounds; false if they cannot (all that is left is
  // pinned, or `keep`).
  bool make_room(locked& l, std::uint64_t added_entries, std::uint64_t old_bytes,
                 std::uint64_t new_bytes, const disk_file::name* keep);
  // Gives `t` the name `n`: 0, or an errno value (ENOENT: the temporary file
  // was taken for a dead writer's; write it again). The index's slot for `n`
  // must have been put just before (it is marked as changing until this ends).
  int publish(locked& l, temp& t, const disk_file::name& n);
  // Removes the file of `slot` and the slot.
  bool remove_slot(locked& l, std::uint64_t slot, cause why);
  // Removes the file named `n` (only if it is still `inode`, when given), and
  // its slot. False if there was nothing to remove.
  bool remove_file(locked& l, const disk_file::name& n, cause why,
                   std::optional<ino_t> inode = std::nullopt);
  // Drops the slot of `n` if its file is gone (deleted behind our back).
  void forget(locked& l, const disk_file::name& n);
  // After a write: reclaims a few expired entries (and now and then dead
  // writers' temporary files), and copies the index into a new file when
  // removals have left too many tombstones.
  void maintain(locked& l);

 private:
  void open_tree(const std::filesystem::path& path);
  // Marks the directory as a disk store, or checks that it is one (format 1).
  void claim_root();
  // Maps the index (a new one if it is missing, foreign or from before a
  // reboot), grows it to this store's max_entries, repairs an unfinished
  // change, starts a scan if the index needs one. 0 or an errno value.
  int ensure_index(locked& l);
  std::shared_ptr<disk_index> adopt_existing(locked& l, std::string& why);
  int replace_index(locked& l, const disk_index* copy_from, bool loaded);
  void set_index(std::shared_ptr<disk_index> index, ino_t inode, dev_t device);
  void repair(locked& l, std::uint64_t slot);
  // Makes `slot` say what its file holds (or frees it).
  void resync(locked& l, std::uint64_t slot);
  void start_loader();  // under mu_
  bool entries_empty() const;
  void reclaim_temps();
  void load();
  bool load_batch(std::vector<std::string>& names);
  void count(cause why) noexcept;
  std::uint64_t random() noexcept;

  std::string path_;
  limits bounds_;
  disk_sync sync_;
  std::shared_ptr<const clock> clock_;
  reporter report_;
  counters counters_;

  unique_fd root_, entries_, temps_;
  std::pair<dev_t, ino_t> identity_{};
  std::atomic<std::uint64_t> block_size_{4096};
  disk_index::boot_id boot_;

  std::mutex mu_;                      // this process's half of the directory's lock
  std::shared_ptr<disk_index> index_;  // guarded by mu_ (writes) and index_mu_
  ino_t index_inode_ = 0;              // guarded by mu_
  dev_t index_device_ = 0;             // guarded by mu_
  mutable std::mutex index_mu_;        // lets readers copy index_ without mu_

  std::atomic<std::uint64_t> temp_serial_{0};
  std::atomic<std::uint64_t> writes_{0};
  std::atomic<std::uint64_t> random_state_;

  std::atomic<bool> loading_{false};
  std::atomic<bool> stop_{false};
  bool may_load_ = false;  // guarded by mu_: set once construction is done
  std::thread loader_;     // last: started once everything above is set
};

}  // namespace recall::detail
