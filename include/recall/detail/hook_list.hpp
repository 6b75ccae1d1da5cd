// A list of callbacks that may be added and removed while they run, from
// inside a callback included.
//
// The process-wide registry and the session-end listeners are such lists: a
// cache registers itself, clear_all() or a session's end calls every cache,
// and a cache's on_release, running inside that call, may create or destroy
// another cache. So calls happen outside the list's lock, and removing an
// entry waits only for calls of that entry running on other threads (never for
// a call on its own thread, which would wait for itself).
//
// Thread safety: every member function may be called concurrently.
#pragma once

#include <absl/container/btree_map.h>
#include <absl/container/inlined_vector.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

namespace recall::detail {

template <class Hook>
class hook_list {
 public:
  std::uint64_t add(Hook hook) {
    std::lock_guard lock(mu_);
    const std::uint64_t id = next_id_++;
    slots_.emplace(id, std::make_shared<slot>(std::move(hook)));
    return id;
  }

  // After remove() returns, the hook is not running on any other thread and
  // will not be called again.
  void remove(std::uint64_t id) {
    std::unique_lock lock(mu_);
    auto it = slots_.find(id);
    if (it == slots_.end()) return;
    std::shared_ptr<slot> s = std::move(it->second);
    slots_.erase(it);
    s->removed = true;
    const std::thread::id self = std::this_thread::get_id();
    idle_.wait(lock, [&] {
      return std::all_of(s->callers.begin(), s->callers.end(),
                         [&](std::thread::id t) { return t == self; });
    });
  }

  // Calls f(hook) for every hook present when it is reached.
  template <class F>
  void for_each(F&& f) {
    std::vector<std::shared_ptr<slot>> snapshot;
    {
      std::lock_guard lock(mu_);
      snapshot.reserve(slots_.size());
      for (const auto& [id, s] : slots_) snapshot.push_back(s);
    }
    const std::thread::id self = std::this_thread::get_id();
    for (const std::shared_ptr<slot>& s : snapshot) {
      {
        std::lock_guard lock(mu_);
        if (s->removed) continue;
        s->callers.push_back(self);
      }
      struct leave {
        hook_list& list;
        slot& s;
        std::thread::id self;
        ~leave() {
          {
            std::lock_guard lock(list.mu_);
            s.callers.erase(std::find(s.callers.begin(), s.callers.end(), self));
          }
          list.idle_.notify_all();
        }
      } guard{*this, *s, self};
      f(static_cast<const Hook&>(s->hook));
    }
  }

 private:
  struct slot {
    explicit slot(Hook h) : hook(std::move(h)) {}
    Hook hook;
    bool removed = false;                             // guarded by mu_
    absl::InlinedVector<std::thread::id, 2> callers;  // guarded by mu_: one per running call
  };

  std::mutex mu_;
  std::condition_variable idle_;
  std::uint64_t next_id_ = 1;
  absl::btree_map<std::uint64_t, std::shared_ptr<slot>> slots_;
};

}  // namespace recall::detail
