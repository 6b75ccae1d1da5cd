// recall::disk_store: the second_level interface over a disk_directory.
#include "recall/disk_store.hpp"

#include <fmt/format.h>
#include <pthread.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <map>
#include <mutex>
#include <tuple>

#include "recall/detail/disk_directory.hpp"
#include "recall/detail/hook_list.hpp"
#include "recall/error.hpp"
#include "recall/registry.hpp"

namespace recall {
namespace {

using detail::disk_directory;
namespace disk_file = detail::disk_file;

constexpr std::size_t max_entries_limit = std::size_t{1} << 22;

// Messages reach the subscribers of every store over the same directory in
// this process; a directory has no channel to other processes.
struct channel {
  detail::hook_list<std::function<void(std::string_view)>> subscribers;
};

std::shared_ptr<channel> channel_for(std::pair<dev_t, ino_t> directory) {
  static auto* mu = new std::mutex;  // never destroyed: stores may be statics
  static auto* channels = new std::map<std::tuple<pid_t, dev_t, ino_t>, std::weak_ptr<channel>>;
  std::lock_guard lock(*mu);
  std::erase_if(*channels, [](const auto& c) { return c.second.expired(); });
  // The process id is part of the key: a child of fork() gets channels of its own.
  std::weak_ptr<channel>& slot = (*channels)[{::getpid(), directory.first, directory.second}];
  std::shared_ptr<channel> c = slot.lock();
  if (!c) slot = c = std::make_shared<channel>();
  return c;
}

// How many fork()s this process descends from: a store records it when it
// opens, and a child sees a larger number than its parent's stores recorded.
// (getpid() would cost a system call on every operation.)
std::atomic<std::uint64_t> forks{0};

std::uint64_t fork_generation() {
  static std::once_flag registered;
  std::call_once(registered, [] {
    ::pthread_atfork(nullptr, nullptr, [] { forks.fetch_add(1, std::memory_order_relaxed); });
  });
  return forks.load(std::memory_order_relaxed);
}

class disk_subscription final : public l2_subscription {
 public:
  disk_subscription(std::shared_ptr<channel> c, std::uint64_t id)
      : channel_(std::move(c)), id_(id) {}
  ~disk_subscription() override { channel_->subscribers.remove(id_); }

 private:
  std::shared_ptr<channel> channel_;
  std::uint64_t id_;
};

std::int64_t expiry(std::int64_t now, duration ttl) {
  if (ttl == duration::max()) return disk_file::never;
  return ttl.count() > disk_file::never - now ? disk_file::never : now + ttl.count();
}

class disk_level final : public second_level {
 public:
  disk_level(const std::filesystem::path& dir, const disk_store_options& o)
      : second_level(o.second_level),
        dir_(dir,
             {o.max_entries, o.max_bytes == SIZE_MAX ? UINT64_MAX : std::uint64_t{o.max_bytes}},
             o.sync, options().clock, [this](std::string_view m) { report(m); }),
        channel_(channel_for(dir_.identity())),
        generation_(fork_generation()) {
    registration_.emplace(dir_.path(), "disk_store",
                          detail::registry_hooks{.metrics = [this] { return metrics(); },
                                                 .clear = nullptr});  // not a cache: kept
  }

  ~disk_level() override { registration_.reset(); }

  std::string_view kind() const noexcept override { return "disk"; }

  l2_status get(std::span<const std::string> keys,
                std::vector<std::optional<std::string>>& values) override {
    if (forked()) return l2_status::unavailable;
    values.assign(keys.size(), std::nullopt);
    const std::int64_t t = dir_.now();
    const std::shared_ptr<detail::disk_index> index = dir_.index();
    struct removal {
      disk_file::name name;
      ino_t inode;
      disk_directory::cause cause;
      std::string why;
    };
    std::vector<removal> removals;
    std::vector<disk_file::name> vanished;
    bool failed = false;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const disk_file::name n = disk_file::name_of(keys[i]);
      reads_.fetch_add(1, std::memory_order_relaxed);
      disk_directory::read_result r = dir_.read(n, keys[i], t, dir_.bounds().max_bytes);
      if (r.what == disk_directory::found::value) {
        hits_.fetch_add(1, std::memory_order_relaxed);
        index->touch(n, t);
        values[i] = std::move(r.value);
        continue;
      }
      misses_.fetch_add(1, std::memory_order_relaxed);
      switch (r.what) {
        case disk_directory::found::absent:
          if (index->contains(n)) vanished.push_back(n);
          break;
        case disk_directory::found::expired:
          removals.push_back({n, r.inode, disk_directory::cause::expired, {}});
          break;
        case disk_directory::found::corrupt:
          removals.push_back({n, r.inode, disk_directory::cause::corrupt, std::move(r.why)});
          break;
        case disk_directory::found::error:
          failed = true;
          read_failed(r.why);
          break;
        default:
          break;  // too large for this store's bound: another store's entry
      }
    }
    if (!removals.empty() || !vanished.empty()) {
      disk_directory::locked l(dir_);
      if (!l.error()) {
        for (const removal& r : removals) {
          if (dir_.remove_file(l, r.name, r.cause, r.inode) &&
              r.cause == disk_directory::cause::corrupt) {
            l.report(
                fmt::format("recall: disk store '{}': removed the entry {} ({}); counted in "
                            "disk_stats().corrupt",
                            dir_.path(), r.name.hex().c_str(), r.why));
          }
        }
        for (const disk_file::name& n : vanished) dir_.forget(l, n);
      }
    }
    return failed ? l2_status::unavailable : l2_status::ok;
  }

  l2_status set(std::string_view key, std::string_view value, duration ttl) override {
    if (forked()) return l2_status::unavailable;
    if (ttl <= duration::zero()) return erase(key);
    bool stored = false;
    const std::int64_t t = dir_.now();
    return write(key, value, expiry(t, ttl), t, false, stored);
  }

  l2_status add(std::string_view key, std::string_view value, duration ttl, bool& added) override {
    if (forked()) return l2_status::unavailable;
    added = false;
    if (ttl <= duration::zero()) {
      added = true;  // what it would hold expires at once: there is nothing to hold
      return l2_status::ok;
    }
    const std::int64_t t = dir_.now();
    return write(key, value, expiry(t, ttl), t, true, added);
  }

  l2_status erase(std::string_view key) override {
    if (forked()) return l2_status::unavailable;
    {
      disk_directory::locked l(dir_);
      if (l.error()) return lock_failed(l.error());
      dir_.remove_file(l, disk_file::name_of(key), disk_directory::cause::erased);
    }
    dir_.sync_entries();
    return l2_status::ok;
  }

  l2_status erase_if_equal(std::string_view key, std::string_view expected) override {
    if (forked()) return l2_status::unavailable;
    const disk_file::name n = disk_file::name_of(key);
    {
      disk_directory::locked l(dir_);
      if (l.error()) return lock_failed(l.error());
      // Every replacement happens under this lock: what is read here stays
      // until it is removed.
      const std::uint64_t size =
          disk_file::header_size + key.size() + expected.size() + disk_file::trailer_size;
      const disk_directory::read_result r = dir_.read(n, key, dir_.now(), size);
      const bool equal =
          (r.what == disk_directory::found::value || r.what == disk_directory::found::expired) &&
          r.value == expected;
      if (equal) dir_.remove_file(l, n, disk_directory::cause::erased, r.inode);
    }
    return l2_status::ok;  // a lease's release, like the lease, is not flushed
  }

  l2_status publish(std::string_view message) override {
    if (forked()) return l2_status::unavailable;
    channel_->subscribers.for_each([&](const std::function<void(std::string_view)>& deliver) {
      try {
        deliver(message);
      } catch (...) {
        // One subscriber's failure is not the publisher's.
      }
    });
    return l2_status::ok;
  }

  std::unique_ptr<l2_subscription> subscribe(std::function<void(std::string_view)> on_message,
                                             std::function<void()>) override {
    // on_gap never fires: delivery within a process loses nothing.
    const std::uint64_t id = channel_->subscribers.add(std::move(on_message));
    return std::make_unique<disk_subscription>(channel_, id);
  }

  disk_store_stats stats() const {
    const disk_directory::counters& c = dir_.stats();
    const std::shared_ptr<detail::disk_index> index = dir_.index();
    disk_store_stats s;
    s.reads = reads_.load(std::memory_order_relaxed);
    s.hits = hits_.load(std::memory_order_relaxed);
    s.misses = misses_.load(std::memory_order_relaxed);
    s.writes = writes_.load(std::memory_order_relaxed);
    s.add_conflicts = add_conflicts_.load(std::memory_order_relaxed);
    s.rejected = rejected_.load(std::memory_order_relaxed);
    s.io_errors =
        io_errors_.load(std::memory_order_relaxed) + c.io_errors.load(std::memory_order_relaxed);
    s.evicted = c.evicted.load(std::memory_order_relaxed);
    s.expired = c.expired.load(std::memory_order_relaxed);
    s.corrupt = c.corrupt.load(std::memory_order_relaxed);
    s.erased = c.erased.load(std::memory_order_relaxed);
    s.temp_reclaimed = c.temp_reclaimed.load(std::memory_order_relaxed);
    s.index_repairs = c.index_repairs.load(std::memory_order_relaxed);
    s.index_rebuilds = c.index_rebuilds.load(std::memory_order_relaxed);
    s.entries = index->entries();
    s.bytes = index->bytes();
    s.max_entries = dir_.bounds().max_entries;
    s.max_bytes = dir_.bounds().max_bytes;
    s.indexing = dir_.indexing();
    return s;
  }

 private:
  // A store opened before fork() shares its lock with the parent's: refuse.
  bool forked() noexcept {
    if (forks.load(std::memory_order_relaxed) == generation_) return false;
    report(
        fmt::format("recall: disk store '{}' was opened before fork(); a child process must "
                    "open its own disk_store",
                    dir_.path()));
    return true;
  }

  l2_status lock_failed(int err) {
    io_errors_.fetch_add(1, std::memory_order_relaxed);
    report(fmt::format("recall: disk store '{}': cannot lock the directory: {}", dir_.path(),
                       detail::errno_text(err)));
    return l2_status::unavailable;
  }

  // Writes key's file; with only_if_absent, only if it holds no live value.
  l2_status write(std::string_view key, std::string_view value, std::int64_t expires_at,
                  std::int64_t t, bool only_if_absent, bool& stored) {
    stored = false;
    const std::uint64_t need =
        dir_.rounded(disk_file::header_size + key.size() + value.size() + disk_file::trailer_size);
    if (key.size() > disk_file::max_key_size || need > dir_.bounds().max_bytes) {
      return reject(key, need, !only_if_absent);
    }
    const std::string header = disk_file::encode_header(key, value.size(), expires_at, t);
    const std::string trailer = disk_file::encode_trailer(header, key, value);
    const entry e{key, disk_file::name_of(key), need, expires_at, t, only_if_absent};
    for (int attempt = 0;; ++attempt) {
      iovec parts[4] = {{const_cast<char*>(header.data()), header.size()},
                        {const_cast<char*>(key.data()), key.size()},
                        {const_cast<char*>(value.data()), value.size()},
                        {const_cast<char*>(trailer.data()), trailer.size()}};
      // A lease (add) need not outlive the machine: it is never flushed.
      disk_directory::temp file;
      if (const int err = dir_.write_temp(parts, !only_if_absent, file)) return write_failed(err);
      int err = 0;
      commit_result done;
      {
        disk_directory::locked l(dir_);
        done = l.error() ? commit_result::failed : commit(l, e, file, err);
        if (l.error()) err = l.error();
      }
      dir_.discard(file);  // what was not renamed into place
      switch (done) {
        case commit_result::stored:
          if (!only_if_absent) dir_.sync_entries();
          writes_.fetch_add(1, std::memory_order_relaxed);
          stored = true;
          return l2_status::ok;
        case commit_result::conflict:
          add_conflicts_.fetch_add(1, std::memory_order_relaxed);
          return l2_status::ok;
        case commit_result::no_room:
          rejected_.fetch_add(1, std::memory_order_relaxed);
          report(
              fmt::format("recall: disk store '{}': no room for a {}-byte entry: all it "
                          "holds is cache_data's markers, which are never evicted",
                          dir_.path(), need));
          return l2_status::ok;
        case commit_result::failed:
          // ENOENT: the temporary file was taken for a dead writer's; once more.
          if (err == ENOENT && attempt == 0) continue;
          return write_failed(err);
      }
    }
  }

  struct entry {
    std::string_view key;
    disk_file::name name;
    std::uint64_t bytes;
    std::int64_t expires_at;
    std::int64_t written_at;
    bool only_if_absent;
  };
  enum class commit_result { stored, conflict, no_room, failed };

  // Under the lock: makes room for `e` and renames `file` into place.
  commit_result commit(disk_directory::locked& l, const entry& e, disk_directory::temp& file,
                       int& err) {
    if (e.only_if_absent) {
      // Every write to a name happens under this lock: what is read here
      // stays until this write replaces it (when expired or corrupt).
      disk_directory::read_result r =
          dir_.read(e.name, e.key, e.written_at, dir_.bounds().max_bytes);
      if (r.what == disk_directory::found::error) {
        err = EIO;
        return commit_result::failed;
      }
      if (r.what == disk_directory::found::value || r.what == disk_directory::found::too_large) {
        return commit_result::conflict;
      }
    }
    const std::optional<std::uint64_t> slot = l.index().find(e.name);
    const std::uint64_t old = slot ? l.index().at(*slot)->bytes : 0;
    if (!dir_.make_room(l, slot ? 0 : 1, old, e.bytes, &e.name) ||
        !l.index().put({e.name, e.bytes, e.expires_at, e.written_at, detail::disk_pinned(e.key)})) {
      // No older value may outlive a newer write.
      if (slot && !e.only_if_absent) dir_.remove_slot(l, *slot, disk_directory::cause::evicted);
      return commit_result::no_room;
    }
    if ((err = dir_.publish(l, file, e.name)) != 0) return commit_result::failed;
    dir_.maintain(l);
    return commit_result::stored;
  }

  // A value the bounds cannot hold is not stored; the older one it replaces
  // goes, so that no older value outlives a newer write.
  l2_status reject(std::string_view key, std::uint64_t need, bool remove_old) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    report(
        fmt::format("recall: disk store '{}': an entry of {} bytes (key of {}) exceeds "
                    "max_bytes ({}) or the key limit; not stored, counted in rejected",
                    dir_.path(), need, key.size(), dir_.bounds().max_bytes));
    if (!remove_old) return l2_status::ok;
    return erase(key);
  }

  l2_status read_failed(const std::string& why) {
    io_errors_.fetch_add(1, std::memory_order_relaxed);
    report(fmt::format("recall: disk store '{}': cannot read an entry: {}", dir_.path(), why));
    return l2_status::unavailable;
  }

  l2_status write_failed(int err) {
    io_errors_.fetch_add(1, std::memory_order_relaxed);
    report(fmt::format("recall: disk store '{}': cannot write an entry: {}", dir_.path(),
                       detail::errno_text(err)));
    return l2_status::unavailable;
  }

  std::vector<metric> metrics() const {
    const disk_store_stats s = stats();
    constexpr auto counter = metric_type::counter;
    constexpr auto gauge = metric_type::gauge;
    return {
        {"reads", s.reads, counter, "Keys looked up."},
        {"hits", s.hits, counter, "Lookups that found a whole value within its TTL."},
        {"misses", s.misses, counter, "Lookups that found nothing, an expired or a bad file."},
        {"writes", s.writes, counter, "Files written."},
        {"add_conflicts", s.add_conflicts, counter, "Adds that found a live value."},
        {"rejected", s.rejected, counter, "Values larger than max_bytes, not stored."},
        {"io_errors", s.io_errors, counter, "Operations that failed (disk full, EIO, ...)."},
        {"evicted", s.evicted, counter, "Files removed to keep the bounds."},
        {"expired", s.expired, counter, "Expired files removed."},
        {"corrupt", s.corrupt, counter, "Truncated, torn, corrupt or foreign files removed."},
        {"erased", s.erased, counter, "Files removed by erase."},
        {"temp_reclaimed", s.temp_reclaimed, counter, "Temporary files of dead writers removed."},
        {"index_repairs", s.index_repairs, counter,
         "Index entries fixed after a process died mid-update."},
        {"index_rebuilds", s.index_rebuilds, counter, "Index rebuilds from the files."},
        {"entries", s.entries, gauge, "Files in the directory (every process)."},
        {"bytes", s.bytes, gauge, "Bytes the files take on disk (every process)."},
        {"max_entries", s.max_entries, gauge, "The max_entries bound."},
        {"max_bytes", s.max_bytes, gauge, "The max_bytes bound."},
        {"indexing", std::uint64_t{s.indexing}, gauge,
         "1 while a background scan rebuilds the index."}};
  }

  disk_directory dir_;
  std::shared_ptr<channel> channel_;
  const std::uint64_t generation_;  // fork_generation() when opened
  std::atomic<std::uint64_t> reads_{0}, hits_{0}, misses_{0}, writes_{0}, add_conflicts_{0},
      rejected_{0}, io_errors_{0};
  std::optional<detail::registration> registration_;  // last: its hook reads the rest
};

}  // namespace

std::shared_ptr<second_level> disk_store(const std::filesystem::path& dir,
                                         disk_store_options options) {
  if (options.max_entries == 0 || options.max_entries > max_entries_limit) {
    throw config_error(fmt::format(
        "recall: disk_store('{}') needs 1 <= max_entries <= {} (it has {}); the index shared "
        "by the processes holds two 40-byte slots per entry",
        dir.string(), max_entries_limit, options.max_entries));
  }
  if (options.max_bytes == 0) {
    throw config_error(
        fmt::format("recall: disk_store('{}') needs max_bytes > 0 (SIZE_MAX for "
                    "no byte bound)",
                    dir.string()));
  }
  auto store = std::make_shared<disk_level>(dir, options);
  register_second_level(store);
  return store;
}

std::optional<disk_store_stats> disk_stats(const second_level& store) {
  if (const auto* disk = dynamic_cast<const disk_level*>(&store)) return disk->stats();
  return std::nullopt;
}

}  // namespace recall
