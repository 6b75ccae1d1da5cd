// Lets background tasks outlive the object that queued them without touching
// it after it is gone: the owner closes the lifetime in its destructor, which
// waits for running tasks; tasks that start later see it closed and return.
//
// Thread safety: all members may be called concurrently.
#pragma once

#include <condition_variable>
#include <mutex>

namespace recall::detail {

class task_lifetime {
 public:
  // True if the owner is alive; the caller must then call leave().
  bool enter() {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    ++running_;
    return true;
  }
  void leave() {
    {
      std::lock_guard lock(mu_);
      --running_;
    }
    idle_.notify_all();
  }
  void close_and_wait() {
    std::unique_lock lock(mu_);
    closed_ = true;
    idle_.wait(lock, [this] { return running_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable idle_;
  bool closed_ = false;
  int running_ = 0;
};

}  // namespace recall::detail
