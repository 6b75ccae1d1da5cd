// The index of a disk store's directory, shared by every process using it: a
// file ("index") mapped into each of them, so that all of them count the
// same entries and bytes against the bounds and evict from the same set.
//
//   header (4096 bytes): "RCLDIDX1", format, capacity, entries, bytes, used
//     slots, the slot being changed, loaded, sweep position, boot id, block size
//   slots: capacity x { name high, name low, bytes | flags << 48,
//                       expires_at, accessed_at }   (5 x u64)
//
// Open addressing with linear probing; a removed entry leaves a tombstone
// (name high 0, low 1) until the index is copied into a new file. Every word
// is read and written atomically, so the lock-free readers (a hit records its
// access time) race with nothing; every change is made under the directory's
// lock (disk_directory). A change marks its slot first and clears the mark
// last: a process killed in between leaves the mark, and the next holder of
// the lock re-reads that one file and recounts the totals (disk_directory::
// repair). Removals unlink the file before the slot goes and writes fill
// the slot before the file takes its name, so an interrupted change can
// only leave a slot for a file that is not there, never the reverse.
//
// The files are the truth and the index a summary of them: the bytes read
// from it are checked (a slot's position and sizes are bounded) but never
// trusted to decide what a reader is served.
//
// Thread safety: lock-free members may be called from any thread and process
// at any time; the others only under the directory's lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "recall/detail/disk_file.hpp"
#include "recall/export.hpp"

namespace recall::detail {

class RECALL_EXPORT disk_index {
 public:
  static constexpr std::uint64_t min_capacity = 64;
  static constexpr std::uint64_t max_capacity = std::uint64_t{1} << 23;
  static constexpr std::size_t header_bytes = 4096;
  static constexpr std::size_t slot_words = 5;
  // The eviction sample: the least valuable of this many entries goes.
  static constexpr std::size_t sample_size = 16;

  struct entry {
    disk_file::name name;
    std::uint64_t bytes = 0;  // rounded up to whole blocks
    std::int64_t expires_at = 0;
    std::int64_t accessed_at = 0;
    bool pinned = false;  // never evicted (cache_data's markers)
  };
  struct boot_id {
    std::uint64_t high = 0, low = 0;
    friend bool operator==(const boot_id&, const boot_id&) = default;
  };

  // Slots for max_entries: twice as many, so probes stay short.
  static std::uint64_t capacity_for(std::size_t max_entries) noexcept;
  static std::uint64_t file_size(std::uint64_t capacity) noexcept;

  // Formats `fd` (a new, empty file) as an empty index and maps it.
  static std::shared_ptr<disk_index> create(int fd, std::uint64_t capacity,
                                            std::uint64_t block_size, boot_id boot, bool loaded,
                                            std::string& why);
  // Maps an existing index file; nullptr, with the reason, if it is not one.
  static std::shared_ptr<disk_index> open(int fd, std::string& why);

  ~disk_index();
  disk_index(const disk_index&) = delete;
  disk_index& operator=(const disk_index&) = delete;

  // Lock-free.
  std::uint64_t capacity() const noexcept { return capacity_; }
  std::uint64_t entries() const noexcept;
  std::uint64_t bytes() const noexcept;
  std::uint64_t used() const noexcept;  // live and tombstone slots
  bool loaded() const noexcept;
  std::uint64_t block_size() const noexcept;
  boot_id boot() const noexcept;
  bool contains(const disk_file::name& n) const noexcept;
  void touch(const disk_file::name& n, std::int64_t now) noexcept;

  // Under the directory's lock.
  std::optional<std::uint64_t> find(const disk_file::name& n) const noexcept;
  // The entry in `slot`, or nullopt for a free one.
  std::optional<entry> at(std::uint64_t slot) const noexcept;
  // Inserts or updates, and marks the slot as changing (begin_change): call
  // end_change() once the file is in place. The slot, or nullopt when full.
  std::optional<std::uint64_t> put(const entry& e) noexcept;
  void erase(std::uint64_t slot) noexcept;
  // Marks the slot about to change; a mark left behind is a change that a
  // dead process did not finish.
  void begin_change(std::uint64_t slot) noexcept;
  void end_change() noexcept;
  std::optional<std::uint64_t> unfinished_change() const noexcept;
  // Recomputes entries, bytes and used from the slots (after a dead
  // process's unfinished change), normalising half-written free slots.
  void recount() noexcept;
  void set_loaded() noexcept;
  // The least valuable entry of a sample taken from `start` on: an expired
  // one (expires_at <= now) if the sample has one, else the least recently
  // accessed. Never a pinned entry, nor `keep`.
  std::optional<std::uint64_t> victim(std::uint64_t start, std::int64_t now,
                                      const disk_file::name* keep) const noexcept;
  // The next `count` slots for the expiry sweep (shared by all processes).
  std::uint64_t next_sweep(std::uint64_t count) noexcept;
  // Copies every live entry into `to` (a new index, not yet shared).
  bool copy_to(disk_index& to) const noexcept;

 private:
  disk_index(char* base, std::uint64_t capacity) noexcept : base_(base), capacity_(capacity) {}
  std::uint64_t load(std::size_t word) const noexcept;
  void store(std::size_t word, std::uint64_t value) noexcept;
  std::uint64_t add(std::size_t word, std::int64_t delta) noexcept;
  static std::size_t slot_word(std::uint64_t slot, std::size_t field) noexcept;

  char* base_;
  std::uint64_t capacity_;
};

}  // namespace recall::detail
