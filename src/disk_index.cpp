#include "recall/detail/disk_index.hpp"

#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <cstring>

#include "recall/detail/posix_file.hpp"

namespace recall::detail {
namespace {

static_assert(std::atomic_ref<std::uint64_t>::is_always_lock_free,
              "the disk store's index is shared between processes through lock-free atomics");

constexpr std::uint64_t magic = 0x3158'4449'444c'4352;  // "RCLDIDX1" in little-endian order
constexpr std::uint64_t format = 1;

// Header words.
enum : std::size_t {
  w_magic,
  w_format,
  w_capacity,
  w_entries,
  w_bytes,
  w_used,
  w_change,  // slot + 1 while a change is under way
  w_loaded,
  w_sweep,
  w_boot_high,
  w_boot_low,
  w_block_size,
};
// Slot fields.
enum : std::size_t { f_high, f_low, f_meta, f_expires, f_accessed };

constexpr std::uint64_t bytes_mask = (std::uint64_t{1} << 56) - 1;
constexpr std::uint64_t pinned_bit = std::uint64_t{1} << 56;
constexpr std::uint64_t tombstone_low = 1;

bool valid_block_size(std::uint64_t b) {
  return b >= 512 && b <= (1u << 20) && std::has_single_bit(b);
}

}  // namespace

std::uint64_t disk_index::capacity_for(std::size_t max_entries) noexcept {
  const std::uint64_t wanted = std::uint64_t{max_entries} * 2;
  return std::max(min_capacity, std::min(max_capacity, std::bit_ceil(wanted)));
}

std::uint64_t disk_index::file_size(std::uint64_t capacity) noexcept {
  return header_bytes + capacity * slot_words * sizeof(std::uint64_t);
}

std::size_t disk_index::slot_word(std::uint64_t slot, std::size_t field) noexcept {
  return header_bytes / sizeof(std::uint64_t) + static_cast<std::size_t>(slot) * slot_words + field;
}

std::uint64_t disk_index::load(std::size_t word) const noexcept {
  auto* p = reinterpret_cast<std::uint64_t*>(base_) + word;
  return std::atomic_ref<std::uint64_t>(*p).load(std::memory_order_acquire);
}

void disk_index::store(std::size_t word, std::uint64_t value) noexcept {
  auto* p = reinterpret_cast<std::uint64_t*>(base_) + word;
  std::atomic_ref<std::uint64_t>(*p).store(value, std::memory_order_release);
}

std::uint64_t disk_index::add(std::size_t word, std::int64_t delta) noexcept {
  auto* p = reinterpret_cast<std::uint64_t*>(base_) + word;
  return std::atomic_ref<std::uint64_t>(*p).fetch_add(static_cast<std::uint64_t>(delta),
                                                      std::memory_order_acq_rel);
}

std::shared_ptr<disk_index> disk_index::create(int fd, std::uint64_t capacity,
                                               std::uint64_t block_size, boot_id boot, bool loaded,
                                               std::string& why) {
  const std::uint64_t size = file_size(capacity);
  while (::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    if (errno != EINTR) {
      why = fmt::format("cannot size the index to {} bytes: {}", size, errno_text(errno));
      return nullptr;
    }
  }
  void* base = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    why = fmt::format("cannot map the index: {}", errno_text(errno));
    return nullptr;
  }
  std::shared_ptr<disk_index> index(new disk_index(static_cast<char*>(base), capacity));
  index->store(w_format, format);
  index->store(w_capacity, capacity);
  index->store(w_loaded, loaded ? 1 : 0);
  index->store(w_boot_high, boot.high);
  index->store(w_boot_low, boot.low);
  index->store(w_block_size, block_size);
  index->store(w_magic, magic);
  return index;
}

std::shared_ptr<disk_index> disk_index::open(int fd, std::string& why) {
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    why = fmt::format("cannot stat the index: {}", errno_text(errno));
    return nullptr;
  }
  std::uint64_t head[w_block_size + 1];
  if (static_cast<std::uint64_t>(st.st_size) < header_bytes ||
      read_at(fd, reinterpret_cast<char*>(head), sizeof(head), 0) != 0) {
    why = "the index is shorter than its header";
    return nullptr;
  }
  const std::uint64_t capacity = head[w_capacity];
  if (head[w_magic] != magic || head[w_format] != format) {
    why = "the index was written by another version of recall";
    return nullptr;
  }
  if (capacity < min_capacity || capacity > max_capacity || !std::has_single_bit(capacity) ||
      static_cast<std::uint64_t>(st.st_size) != file_size(capacity) ||
      !valid_block_size(head[w_block_size])) {
    why = "the index header is corrupt";
    return nullptr;
  }
  void* base = ::mmap(nullptr, file_size(capacity), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (base == MAP_FAILED) {
    why = fmt::format("cannot map the index: {}", errno_text(errno));
    return nullptr;
  }
  std::shared_ptr<disk_index> index(new disk_index(static_cast<char*>(base), capacity));
  if (index->entries() > capacity || index->used() > capacity || index->load(w_change) > capacity) {
    index->store(w_change, 0);
    index->recount();
  }
  return index;
}

disk_index::~disk_index() { ::munmap(base_, file_size(capacity_)); }

std::uint64_t disk_index::entries() const noexcept { return load(w_entries); }
std::uint64_t disk_index::bytes() const noexcept { return load(w_bytes); }
std::uint64_t disk_index::used() const noexcept { return load(w_used); }
bool disk_index::loaded() const noexcept { return load(w_loaded) != 0; }
std::uint64_t disk_index::block_size() const noexcept { return load(w_block_size); }
disk_index::boot_id disk_index::boot() const noexcept {
  return {load(w_boot_high), load(w_boot_low)};
}
void disk_index::set_loaded() noexcept { store(w_loaded, 1); }

std::optional<std::uint64_t> disk_index::find(const disk_file::name& n) const noexcept {
  const std::uint64_t mask = capacity_ - 1;
  std::uint64_t slot = n.low & mask;
  for (std::uint64_t i = 0; i < capacity_; ++i, slot = (slot + 1) & mask) {
    const std::uint64_t high = load(slot_word(slot, f_high));
    const std::uint64_t low = load(slot_word(slot, f_low));
    if (high == 0 && low == 0) return std::nullopt;
    if (high == n.high && low == n.low) return slot;
  }
  return std::nullopt;
}

bool disk_index::contains(const disk_file::name& n) const noexcept { return find(n).has_value(); }

void disk_index::touch(const disk_file::name& n, std::int64_t now) noexcept {
  if (const auto slot = find(n))
    store(slot_word(*slot, f_accessed), static_cast<std::uint64_t>(now));
}

std::optional<disk_index::entry> disk_index::at(std::uint64_t slot) const noexcept {
  if (slot >= capacity_) return std::nullopt;
  const std::uint64_t high = load(slot_word(slot, f_high));
  if (high == 0) return std::nullopt;
  const std::uint64_t meta = load(slot_word(slot, f_meta));
  return entry{{high, load(slot_word(slot, f_low))},
               meta & bytes_mask,
               static_cast<std::int64_t>(load(slot_word(slot, f_expires))),
               static_cast<std::int64_t>(load(slot_word(slot, f_accessed))),
               (meta & pinned_bit) != 0};
}

std::optional<std::uint64_t> disk_index::put(const entry& e) noexcept {
  const std::uint64_t mask = capacity_ - 1;
  const std::uint64_t meta = (e.bytes & bytes_mask) | (e.pinned ? pinned_bit : 0);
  std::optional<std::uint64_t> free_slot;
  bool free_was_empty = false;
  std::uint64_t slot = e.name.low & mask;
  for (std::uint64_t i = 0; i < capacity_; ++i, slot = (slot + 1) & mask) {
    const std::uint64_t high = load(slot_word(slot, f_high));
    const std::uint64_t low = load(slot_word(slot, f_low));
    if (high == e.name.high && low == e.name.low) {
      begin_change(slot);
      const std::uint64_t old = load(slot_word(slot, f_meta)) & bytes_mask;
      store(slot_word(slot, f_meta), meta);
      store(slot_word(slot, f_expires), static_cast<std::uint64_t>(e.expires_at));
      store(slot_word(slot, f_accessed), static_cast<std::uint64_t>(e.accessed_at));
      add(w_bytes,
          static_cast<std::int64_t>(e.bytes & bytes_mask) - static_cast<std::int64_t>(old));
      return slot;
    }
    if (high != 0) continue;
    if (!free_slot) {
      free_slot = slot;
      free_was_empty = low == 0;
    }
    if (low == 0) break;  // the end of the probe sequence: the name is not there
  }
  if (!free_slot) return std::nullopt;
  slot = *free_slot;
  begin_change(slot);
  store(slot_word(slot, f_meta), meta);
  store(slot_word(slot, f_expires), static_cast<std::uint64_t>(e.expires_at));
  store(slot_word(slot, f_accessed), static_cast<std::uint64_t>(e.accessed_at));
  store(slot_word(slot, f_low), e.name.low);
  store(slot_word(slot, f_high), e.name.high);  // last: the slot is live from here
  if (free_was_empty) add(w_used, 1);
  add(w_entries, 1);
  add(w_bytes, static_cast<std::int64_t>(e.bytes & bytes_mask));
  return slot;
}

void disk_index::erase(std::uint64_t slot) noexcept {
  if (slot >= capacity_ || load(slot_word(slot, f_high)) == 0) return;
  const std::uint64_t bytes = load(slot_word(slot, f_meta)) & bytes_mask;
  store(slot_word(slot, f_high), 0);  // first: the slot is free from here
  store(slot_word(slot, f_low), tombstone_low);
  add(w_entries, -1);
  add(w_bytes, -static_cast<std::int64_t>(bytes));
}

void disk_index::begin_change(std::uint64_t slot) noexcept { store(w_change, slot + 1); }
void disk_index::end_change() noexcept { store(w_change, 0); }

std::optional<std::uint64_t> disk_index::unfinished_change() const noexcept {
  const std::uint64_t mark = load(w_change);
  if (mark == 0) return std::nullopt;
  return mark - 1;
}

void disk_index::recount() noexcept {
  std::uint64_t entries = 0, bytes = 0, used = 0;
  for (std::uint64_t slot = 0; slot < capacity_; ++slot) {
    const std::uint64_t high = load(slot_word(slot, f_high));
    const std::uint64_t low = load(slot_word(slot, f_low));
    if (high != 0) {
      ++entries;
      ++used;
      bytes += load(slot_word(slot, f_meta)) & bytes_mask;
    } else if (low != 0) {
      // A tombstone, or a slot whose filling or removal was cut short: free.
      if (low != tombstone_low) store(slot_word(slot, f_low), tombstone_low);
      ++used;
    }
  }
  store(w_entries, entries);
  store(w_bytes, bytes);
  store(w_used, used);
}

std::optional<std::uint64_t> disk_index::victim(std::uint64_t start, std::int64_t now,
                                                const disk_file::name* keep) const noexcept {
  const std::uint64_t mask = capacity_ - 1;
  std::optional<std::uint64_t> best;
  std::uint64_t best_accessed = UINT64_MAX;
  std::size_t sampled = 0;
  std::uint64_t slot = start & mask;
  for (std::uint64_t i = 0; i < capacity_ && sampled < sample_size; ++i, slot = (slot + 1) & mask) {
    const std::optional<entry> e = at(slot);
    if (!e || e->pinned || (keep && e->name == *keep)) continue;
    ++sampled;
    if (e->expires_at <= now) return slot;
    const auto accessed = static_cast<std::uint64_t>(e->accessed_at);
    if (accessed < best_accessed) {
      best_accessed = accessed;
      best = slot;
    }
  }
  return best;
}

std::uint64_t disk_index::next_sweep(std::uint64_t count) noexcept {
  return add(w_sweep, static_cast<std::int64_t>(count)) & (capacity_ - 1);
}

bool disk_index::copy_to(disk_index& to) const noexcept {
  for (std::uint64_t slot = 0; slot < capacity_; ++slot) {
    if (const std::optional<entry> e = at(slot)) {
      if (!to.put(*e)) return false;
    }
  }
  to.end_change();
  if (loaded()) to.set_loaded();
  return true;
}

}  // namespace recall::detail
