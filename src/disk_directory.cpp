#include "recall/detail/disk_directory.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <exception>
#include <random>

#include "recall/detail/xxhash.hpp"
#include "recall/error.hpp"

namespace recall::detail {
namespace {

constexpr char marker_name[] = "recall-disk-store";
constexpr std::string_view marker_text = "recall disk store, format 1\n";
constexpr char index_name[] = "index";
constexpr std::size_t load_batch_size = 128;
constexpr std::uint64_t sweep_per_write = 16;
constexpr std::uint64_t reclaim_every = 1024;  // writes

std::uint64_t saturating_add(std::uint64_t a, std::uint64_t b) {
  return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

// Identifies this boot of the machine, so that an index written before a
// crash of the machine (whose files may not have reached the disk) is
// rebuilt. Zero where the system does not say.
disk_index::boot_id read_boot_id() {
#if defined(__linux__)
  unique_fd fd(open_at(AT_FDCWD, "/proc/sys/kernel/random/boot_id", O_RDONLY));
  char text[36];
  if (fd && read_at(fd.get(), text, sizeof(text), 0) == 0) {
    const XXH128_hash_t h = XXH3_128bits(text, sizeof(text));
    return {h.high64, h.low64};
  }
#endif
  return {};
}

[[noreturn]] void refuse(const std::string& message) { throw config_error("recall: " + message); }

void check_private(int fd, const std::string& shown) {
  struct stat st;
  if (::fstat(fd, &st) != 0) refuse(fmt::format("cannot stat '{}': {}", shown, errno_text(errno)));
  if (st.st_uid != ::geteuid()) {
    refuse(fmt::format(
        "disk store directory '{}' belongs to user {}, not to this process's user {}: another "
        "user could replace what it serves. Give a directory of this user's own (or chown it).",
        shown, st.st_uid, ::geteuid()));
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    refuse(fmt::format(
        "disk store directory '{}' is writable by {} (mode {:04o}): they could plant or remove "
        "cached results. Run: chmod 700 '{}'",
        shown, (st.st_mode & S_IWOTH) ? "every user" : "its group", st.st_mode & 07777, shown));
  }
}

unique_fd open_directory(int at, const char* name, const std::string& shown) {
  unique_fd fd(open_at(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
  if (!fd && errno == ENOENT) {
    if (::mkdirat(at, name, 0700) != 0 && errno != EEXIST) {
      if (errno == ENOENT) {
        refuse(
            fmt::format("cannot create the disk store directory '{}': its parent does not "
                        "exist. Create the parent first.",
                        shown));
      }
      refuse(
          fmt::format("cannot create the disk store directory '{}': {}", shown, errno_text(errno)));
    }
    ::fchmodat(at, name, 0700, 0);  // exactly 0700, whatever the umask took away
    fd.reset(open_at(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW));
  }
  if (!fd) {
    struct stat st;
    const int err = errno;
    if (err == ELOOP ||
        (::fstatat(at, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))) {
      refuse(
          fmt::format("disk store directory '{}' is a symbolic link: recall opens it without "
                      "following links, so that nobody can redirect it. Give the real path.",
                      shown));
    }
    if (err == ENOTDIR) refuse(fmt::format("'{}' is not a directory", shown));
    refuse(fmt::format("cannot open the disk store directory '{}': {}", shown, errno_text(err)));
  }
  check_private(fd.get(), shown);
  return fd;
}

// Names in a directory, "." and ".." left out; calls f(name) until it returns false.
template <class F>
void for_each_name(int dir_fd, F&& f) {
  const int fd = ::dup(dir_fd);
  if (fd < 0) return;
  DIR* d = ::fdopendir(fd);
  if (!d) {
    ::close(fd);
    return;
  }
  ::rewinddir(d);
  while (const dirent* e = ::readdir(d)) {
    const std::string_view name(e->d_name);
    if (name == "." || name == "..") continue;
    if (!f(name)) break;
  }
  ::closedir(d);
}

// The first bytes of a file: enough for its header and key.
std::string read_prefix(int fd, std::uint64_t file_size) {
  std::string out(
      std::min<std::uint64_t>(file_size, disk_file::header_size + disk_file::max_key_size), '\0');
  if (read_at(fd, out.data(), out.size(), 0) != 0) out.clear();
  return out;
}

}  // namespace

bool disk_pinned(std::string_view key) noexcept {
  return key.starts_with("tag:") || key.ends_with("}:cleared");
}

disk_directory::disk_directory(const std::filesystem::path& path, limits bounds, disk_sync sync,
                               std::shared_ptr<const clock> clock, reporter report)
    : path_(path.string()),
      bounds_(bounds),
      sync_(sync),
      clock_(std::move(clock)),
      report_(std::move(report)),
      boot_(read_boot_id()),
      random_state_(std::random_device{}()) {
  open_tree(path);
  reclaim_temps();
  locked l(*this);  // maps the index again if it changed meanwhile, and may start the scan
  may_load_ = true;
  if (!l.error()) start_loader();
}

disk_directory::~disk_directory() {
  stop_.store(true, std::memory_order_release);
  if (loader_.joinable()) loader_.join();
}

void disk_directory::open_tree(const std::filesystem::path& path) {
  if (path.empty()) refuse("disk_store() needs a directory; the path given is empty");
  root_ = open_directory(AT_FDCWD, path.c_str(), path_);
  locked l(*this);  // no other process sets the directory up at the same time
  if (l.error()) {
    refuse(
        fmt::format("cannot lock the disk store directory '{}': {}", path_, errno_text(l.error())));
  }
  claim_root();
  entries_ = open_directory(root_.get(), "e", path_ + "/e");
  temps_ = open_directory(root_.get(), "tmp", path_ + "/tmp");
  struct stat root_st, entries_st, temps_st;
  if (::fstat(root_.get(), &root_st) != 0 || ::fstat(entries_.get(), &entries_st) != 0 ||
      ::fstat(temps_.get(), &temps_st) != 0 || entries_st.st_dev != root_st.st_dev ||
      temps_st.st_dev != root_st.st_dev) {
    refuse(
        fmt::format("'{}/e' and '{}/tmp' must be on the directory's own file system (a file "
                    "is renamed from one to the other)",
                    path_, path_));
  }
  identity_ = {root_st.st_dev, root_st.st_ino};
  struct statvfs vfs;
  if (::fstatvfs(entries_.get(), &vfs) == 0) {
    const std::uint64_t block = vfs.f_frsize ? vfs.f_frsize : vfs.f_bsize;
    if (block >= 512 && block <= (1u << 20) && std::has_single_bit(block)) {
      block_size_.store(block, std::memory_order_relaxed);
    }
  }
  if (const int err = ensure_index(l)) {
    refuse(
        fmt::format("cannot create the index of the disk store '{}': {}", path_, errno_text(err)));
  }
}

void disk_directory::claim_root() {
  const auto write_marker = [&] {
    unique_fd marker(
        open_at(root_.get(), marker_name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600));
    if (!marker || ::fchmod(marker.get(), 0600) != 0 ||
        ::write(marker.get(), marker_text.data(), marker_text.size()) !=
            static_cast<ssize_t>(marker_text.size())) {
      refuse(fmt::format("cannot write '{}/{}': {}", path_, marker_name, errno_text(errno)));
    }
  };
  unique_fd marker(open_at(root_.get(), marker_name, O_RDONLY | O_NOFOLLOW));
  if (!marker) {
    bool empty = true;
    for_each_name(root_.get(), [&](std::string_view) { return empty = false; });
    if (!empty) {
      refuse(
          fmt::format("'{}' is not empty and is not a disk store (no {} file): recall removes "
                      "files it does not recognise, so it takes only a new or empty directory",
                      path_, marker_name));
    }
    write_marker();
    return;
  }
  char text[64];
  const ssize_t got = std::max<ssize_t>(0, ::pread(marker.get(), text, sizeof(text), 0));
  const std::string_view found(text, static_cast<std::size_t>(got));
  if (found.empty()) {
    write_marker();  // a process died creating it, or the machine crashed since
  } else if (found != marker_text) {
    refuse(
        fmt::format("'{}' holds a disk store of another format (its file {} says \"{}\"); "
                    "give this version a directory of its own",
                    path_, marker_name, found.substr(0, 40)));
  }
}

std::int64_t disk_directory::now() const noexcept {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(clock_->wall_now().time_since_epoch())
      .count();
}

std::shared_ptr<disk_index> disk_directory::index() const {
  std::lock_guard lock(index_mu_);
  return index_;
}

std::uint64_t disk_directory::rounded(std::uint64_t size) const {
  const std::uint64_t block = block_size_.load(std::memory_order_relaxed);
  return (size + block - 1) / block * block;
}

std::uint64_t disk_directory::random() noexcept {
  std::uint64_t x = random_state_.fetch_add(0x9e3779b97f4a7c15ULL, std::memory_order_relaxed);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

void disk_directory::count(cause why) noexcept {
  switch (why) {
    case cause::evicted:
      counters_.evicted.fetch_add(1, std::memory_order_relaxed);
      break;
    case cause::expired:
      counters_.expired.fetch_add(1, std::memory_order_relaxed);
      break;
    case cause::corrupt:
      counters_.corrupt.fetch_add(1, std::memory_order_relaxed);
      break;
    case cause::erased:
      counters_.erased.fetch_add(1, std::memory_order_relaxed);
      break;
  }
}

// --- The lock ---

disk_directory::locked::locked(disk_directory& dir) : dir_(dir), mu_(dir.mu_) {
  error_ = lock_file(dir_.root_.get(), LOCK_EX);
  if (error_ == 0 && dir_.entries_) {
    if ((error_ = dir_.ensure_index(*this)) != 0) lock_file(dir_.root_.get(), LOCK_UN);
  }
}

disk_directory::locked::~locked() {
  if (error_ == 0) lock_file(dir_.root_.get(), LOCK_UN);
  mu_.unlock();
  for (const std::string& m : messages_) dir_.report_(m);
}

// --- The index ---

int disk_directory::ensure_index(locked& l) {
  struct stat st;
  const bool exists = ::fstatat(root_.get(), index_name, &st, AT_SYMLINK_NOFOLLOW) == 0;
  if (!exists && errno != ENOENT) return errno;
  if (!exists || !index_ || st.st_ino != index_inode_ || st.st_dev != index_device_) {
    std::string why = "it is missing";
    if (!exists || !adopt_existing(l, why)) {
      const bool empty = entries_empty();
      if (const int err = replace_index(l, nullptr, empty)) return err;
      if (!empty) {
        counters_.index_rebuilds.fetch_add(1, std::memory_order_relaxed);
        l.report(
            fmt::format("recall: disk store '{}': rebuilding its index in the background "
                        "({}); until it is done the bounds count only what it has reached",
                        path_, why));
      }
    }
  }
  if (index_->capacity() < disk_index::capacity_for(bounds_.max_entries)) {
    if (const int err = replace_index(l, index_.get(), index_->loaded())) return err;
  }
  if (const std::optional<std::uint64_t> slot = index_->unfinished_change()) repair(l, *slot);
  start_loader();
  return 0;
}

void disk_directory::start_loader() {
  if (!may_load_ || index_->loaded() || loading_.load(std::memory_order_acquire)) return;
  if (loader_.joinable()) loader_.join();  // a scan that ended (it found the lock unusable)
  loading_.store(true, std::memory_order_release);
  loader_ = std::thread([this] { load(); });
}

std::shared_ptr<disk_index> disk_directory::adopt_existing(locked&, std::string& why) {
  unique_fd fd(open_at(root_.get(), index_name, O_RDWR | O_NOFOLLOW));
  struct stat st;
  if (!fd || ::fstat(fd.get(), &st) != 0) {
    why = fmt::format("it cannot be opened: {}", errno_text(errno));
    return nullptr;
  }
  std::shared_ptr<disk_index> index = disk_index::open(fd.get(), why);
  if (!index) return nullptr;
  if (boot_ != disk_index::boot_id{} && index->boot() != boot_) {
    why = "the machine restarted since it was written";
    return nullptr;
  }
  block_size_.store(index->block_size(), std::memory_order_relaxed);
  set_index(index, st.st_ino, st.st_dev);
  return index;
}

int disk_directory::replace_index(locked&, const disk_index* copy_from, bool loaded) {
  const std::string name =
      fmt::format("index-{}-{}", ::getpid(), temp_serial_.fetch_add(1, std::memory_order_relaxed));
  unique_fd fd(open_at(temps_.get(), name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW, 0600));
  if (!fd) return errno;
  // Exactly 0600 (the next process opens it for writing, whatever the umask).
  ::fchmod(fd.get(), 0600);
  if (const int err = lock_file(fd.get(), LOCK_EX)) {
    ::unlinkat(temps_.get(), name.c_str(), 0);
    return err;
  }
  std::uint64_t capacity = disk_index::capacity_for(bounds_.max_entries);
  if (copy_from) {
    capacity =
        std::max({capacity, copy_from->capacity(), disk_index::capacity_for(copy_from->entries())});
  }
  std::string why;
  std::shared_ptr<disk_index> index = disk_index::create(
      fd.get(), capacity, block_size_.load(std::memory_order_relaxed), boot_, loaded, why);
  int err = 0;
  struct stat st;
  if (!index || (copy_from && !copy_from->copy_to(*index))) {
    err = ENOSPC;
  } else if (::renameat(temps_.get(), name.c_str(), root_.get(), index_name) != 0 ||
             ::fstat(fd.get(), &st) != 0) {
    err = errno;
  }
  if (err) {
    ::unlinkat(temps_.get(), name.c_str(), 0);
    return err;
  }
  set_index(std::move(index), st.st_ino, st.st_dev);
  return 0;
}

void disk_directory::set_index(std::shared_ptr<disk_index> index, ino_t inode, dev_t device) {
  index_inode_ = inode;
  index_device_ = device;
  std::lock_guard lock(index_mu_);
  index_ = std::move(index);
}

void disk_directory::repair(locked& l, std::uint64_t slot) {
  counters_.index_repairs.fetch_add(1, std::memory_order_relaxed);
  resync(l, slot);
  index_->recount();
  index_->end_change();
}

void disk_directory::resync(locked& l, std::uint64_t slot) {
  const std::optional<disk_index::entry> e = index_->at(slot);
  if (!e) return;  // a free slot: recount() tidies it
  const auto name = e->name.hex();
  unique_fd fd(open_at(entries_.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK));
  struct stat st;
  if (!fd || ::fstat(fd.get(), &st) != 0) {
    if (errno != ENOENT) ::unlinkat(entries_.get(), name.c_str(), 0);
    index_->erase(slot);
    return;
  }
  std::string why;
  const std::string prefix = read_prefix(fd.get(), st.st_size);
  const std::optional<disk_file::header> h = disk_file::parse_header(prefix, st.st_size, why);
  if (!S_ISREG(st.st_mode) || !h) {
    ::unlinkat(entries_.get(), name.c_str(), 0);
    index_->erase(slot);
    count(cause::corrupt);
    l.report(fmt::format("recall: disk store '{}': removed the corrupt entry {} ({})", path_,
                         name.c_str(), why));
    return;
  }
  const std::string_view key = std::string_view(prefix).substr(disk_file::header_size, h->key_size);
  index_->put({e->name, rounded(st.st_size), h->expires_at, e->accessed_at, disk_pinned(key)});
}

void disk_directory::maintain(locked& l) {
  // Writers that died since this store opened left their temporary files.
  if (writes_.fetch_add(1, std::memory_order_relaxed) % reclaim_every == reclaim_every - 1) {
    reclaim_temps();
  }
  disk_index& index = l.index();
  const std::int64_t t = now();
  const std::uint64_t first = index.next_sweep(sweep_per_write);
  for (std::uint64_t i = 0; i < sweep_per_write; ++i) {
    const std::uint64_t slot = (first + i) & (index.capacity() - 1);
    if (const auto e = index.at(slot); e && e->expires_at <= t)
      remove_slot(l, slot, cause::expired);
  }
  if (index.used() > index.capacity() / 4 * 3) {
    if (const int err = replace_index(l, &index, index.loaded())) {
      counters_.io_errors.fetch_add(1, std::memory_order_relaxed);
      l.report(fmt::format("recall: disk store '{}': cannot compact its index: {}", path_,
                           errno_text(err)));
    }
  }
}

bool disk_directory::make_room(locked& l, std::uint64_t added_entries, std::uint64_t old_bytes,
                               std::uint64_t new_bytes, const disk_file::name* keep) {
  disk_index& index = l.index();
  const std::int64_t t = now();
  for (;;) {
    const bool over_entries = index.entries() + added_entries > bounds_.max_entries;
    const bool over_bytes =
        bounds_.max_bytes != UINT64_MAX &&
        index.bytes() + new_bytes > saturating_add(bounds_.max_bytes, old_bytes);
    if (!over_entries && !over_bytes) return true;
    const std::optional<std::uint64_t> victim = index.victim(random(), t, keep);
    if (!victim) return false;
    const bool expired = index.at(*victim)->expires_at <= t;
    if (!remove_slot(l, *victim, expired ? cause::expired : cause::evicted)) return false;
  }
}

bool disk_directory::remove_slot(locked& l, std::uint64_t slot, cause why) {
  const std::optional<disk_index::entry> e = l.index().at(slot);
  if (!e) return false;
  const auto name = e->name.hex();
  l.index().begin_change(slot);
  if (::unlinkat(entries_.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
    const int err = errno;
    l.index().end_change();
    counters_.io_errors.fetch_add(1, std::memory_order_relaxed);
    l.report(fmt::format("recall: disk store '{}': cannot remove {}: {}", path_, name.c_str(),
                         errno_text(err)));
    return false;
  }
  l.index().erase(slot);
  l.index().end_change();
  count(why);
  return true;
}

bool disk_directory::remove_file(locked& l, const disk_file::name& n, cause why,
                                 std::optional<ino_t> inode) {
  const auto name = n.hex();
  struct stat st;
  if (::fstatat(entries_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    forget(l, n);
    return false;
  }
  if (inode && st.st_ino != *inode) return false;  // replaced since it was read
  const std::optional<std::uint64_t> slot = l.index().find(n);
  if (slot) return remove_slot(l, *slot, why);
  if (::unlinkat(entries_.get(), name.c_str(), 0) != 0) return false;
  count(why);
  return true;
}

void disk_directory::forget(locked& l, const disk_file::name& n) {
  const std::optional<std::uint64_t> slot = l.index().find(n);
  if (!slot) return;
  struct stat st;
  if (::fstatat(entries_.get(), n.hex().c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) return;
  l.index().begin_change(*slot);
  l.index().erase(*slot);
  l.index().end_change();
}

int disk_directory::publish(locked& l, temp& t, const disk_file::name& n) {
  if (::renameat(temps_.get(), t.name.c_str(), entries_.get(), n.hex().c_str()) == 0) {
    l.index().end_change();
    t.fd.reset();  // releases the temporary file's lock
    return 0;
  }
  const int err = errno;
  // The slot was filled for a file that did not take its name: read back the truth.
  if (const std::optional<std::uint64_t> slot = l.index().find(n)) resync(l, *slot);
  l.index().end_change();
  return err;
}

// --- Reading ---

disk_directory::read_result disk_directory::read(const disk_file::name& n, std::string_view key,
                                                 std::int64_t t, std::uint64_t size_limit) const {
  read_result out;
  const auto name = n.hex();
  unique_fd fd(open_at(entries_.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK));
  struct stat st;
  if (!fd) {
    if (errno == ENOENT) return out;
    const int err = errno;
    if (::fstatat(entries_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISLNK(st.st_mode)) {
      out.what = found::corrupt;
      out.inode = st.st_ino;
      out.why = "a symbolic link, not an entry";
      return out;
    }
    out.what = found::error;
    out.why = errno_text(err);
    return out;
  }
  if (::fstat(fd.get(), &st) != 0) {
    out.what = found::error;
    out.why = errno_text(errno);
    return out;
  }
  out.inode = st.st_ino;
  if (!S_ISREG(st.st_mode)) {
    out.what = found::corrupt;
    out.why = "not a regular file";
    return out;
  }
  if (static_cast<std::uint64_t>(st.st_size) > size_limit) {
    out.what = found::too_large;
    return out;
  }
  try {
    out.value.resize(static_cast<std::size_t>(st.st_size));
  } catch (const std::exception&) {  // larger than memory allows (max_bytes = SIZE_MAX)
    out.what = found::too_large;
    return out;
  }
  if (const int err = read_at(fd.get(), out.value.data(), out.value.size(), 0)) {
    out.what = err == EIO ? found::corrupt : found::error;
    out.why = err == EIO ? "shorter than its size" : errno_text(err);
    out.value.clear();
    return out;
  }
  const std::optional<disk_file::header> h = disk_file::decode(key, out.value, out.why);
  if (!h) {
    out.what = found::corrupt;
    out.value.clear();
    return out;
  }
  out.what = h->expires_at <= t ? found::expired : found::value;
  return out;
}

// --- Writing ---

int disk_directory::write_temp(std::span<iovec> data, bool durable, temp& out) {
  out.name = fmt::format("{}-{}-{:016x}", ::getpid(),
                         temp_serial_.fetch_add(1, std::memory_order_relaxed), random());
  out.fd.reset(
      open_at(temps_.get(), out.name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600));
  if (!out.fd) return errno;
  int err = lock_file(out.fd.get(), LOCK_EX);
  if (!err) err = write_all(out.fd.get(), data);
  if (!err && durable && sync_ != disk_sync::none) {
#if defined(__linux__)
    if (::fdatasync(out.fd.get()) != 0) err = errno;
#else
    if (::fsync(out.fd.get()) != 0) err = errno;
#endif
  }
  if (err) discard(out);
  return err;
}

void disk_directory::discard(temp& t) noexcept {
  if (!t.fd) return;
  ::unlinkat(temps_.get(), t.name.c_str(), 0);
  t.fd.reset();
}

void disk_directory::sync_entries() noexcept {
  if (sync_ == disk_sync::data_and_directory) ::fsync(entries_.get());
}

void disk_directory::reclaim_temps() {
  std::vector<std::string> names;
  for_each_name(temps_.get(), [&](std::string_view name) {
    names.emplace_back(name);
    return true;
  });
  for (const std::string& name : names) {
    unique_fd fd(open_at(temps_.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK));
    // A writer holds its file's lock until the file has its name: a file
    // nobody holds is a dead writer's.
    if (fd && lock_file(fd.get(), LOCK_EX | LOCK_NB) != 0) continue;
    if (::unlinkat(temps_.get(), name.c_str(), 0) == 0) {
      counters_.temp_reclaimed.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

// --- The background scan ---

bool disk_directory::entries_empty() const {
  bool empty = true;
  for_each_name(entries_.get(), [&](std::string_view) { return empty = false; });
  return empty;
}

void disk_directory::load() {
  std::vector<std::string> names;
  bool going = true;
  for_each_name(entries_.get(), [&](std::string_view name) {
    if (stop_.load(std::memory_order_acquire)) return going = false;
    names.emplace_back(name);
    if (names.size() >= load_batch_size) {
      going = load_batch(names);
      names.clear();
    }
    return going;
  });
  if (going && load_batch(names)) {
    locked l(*this);
    if (!l.error()) {
      l.index().set_loaded();
      make_room(l, 0, 0, 0, nullptr);
    }
  }
  loading_.store(false, std::memory_order_release);
}

bool disk_directory::load_batch(std::vector<std::string>& names) {
  if (stop_.load(std::memory_order_acquire)) return false;
  struct candidate {
    std::string file;
    std::optional<disk_file::name> name;
    ino_t inode = 0;
    std::uint64_t size = 0;
    std::optional<disk_file::header> header;
    bool pinned = false;
    std::string why;
  };
  std::vector<candidate> found;
  const std::shared_ptr<disk_index> snapshot = index();
  for (std::string& file : names) {
    const std::optional<disk_file::name> parsed = disk_file::name::parse(file);
    candidate c;
    c.file = std::move(file);
    c.name = parsed;
    if (c.name && snapshot->contains(*c.name)) continue;
    unique_fd fd(open_at(entries_.get(), c.file.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK));
    struct stat st;
    if (fd ? ::fstat(fd.get(), &st) != 0
           : ::fstatat(entries_.get(), c.file.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      continue;  // gone already
    }
    c.inode = st.st_ino;
    c.size = static_cast<std::uint64_t>(st.st_size);
    if (!c.name) {
      c.why = "not the name of an entry";
    } else if (!fd || !S_ISREG(st.st_mode)) {
      c.why = "not a regular file";
    } else {
      const std::string prefix = read_prefix(fd.get(), c.size);
      c.header = disk_file::parse_header(prefix, c.size, c.why);
      if (c.header) {
        c.pinned = disk_pinned(
            std::string_view(prefix).substr(disk_file::header_size, c.header->key_size));
      }
    }
    found.push_back(std::move(c));
  }
  locked l(*this);
  if (l.error() || l.index().loaded()) return false;  // another process finished the scan
  const std::int64_t t = now();
  for (const candidate& c : found) {
    struct stat st;
    if (::fstatat(entries_.get(), c.file.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        st.st_ino != c.inode || (c.name && l.index().find(*c.name))) {
      continue;  // removed or rewritten (and indexed) since
    }
    if (!c.header || c.header->expires_at <= t) {
      if (::unlinkat(entries_.get(), c.file.c_str(), 0) == 0) {
        count(c.header ? cause::expired : cause::corrupt);
        if (!c.header) {
          l.report(fmt::format("recall: disk store '{}': removed '{}' from its entries ({})", path_,
                               c.file, c.why));
        }
      }
      continue;
    }
    if (!l.index().put(
            {*c.name, rounded(c.size), c.header->expires_at, c.header->written_at, c.pinned})) {
      continue;
    }
    l.index().end_change();
    make_room(l, 0, 0, 0, nullptr);
  }
  return true;
}

}  // namespace recall::detail
