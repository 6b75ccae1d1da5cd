// Lets background tasks outlive the object that queued them without touching
// it after it is gone: the owner closes the lifetime in its destructor, which
// waits for running tasks; tasks that start later see it closed and return.
//
// Thread safety: all members may be called concurrently.
#pragma once

#include <absl/synchronization/mutex.h>

namespace recall::detail {

class task_lifetime {
 public:
  // True if the owner is alive; the caller must then call leave().
  bool enter() {
    absl::MutexLock lock(&mu_);
    if (closed_) return false;
    ++running_;
    return true;
  }
  void leave() {
    absl::MutexLock lock(&mu_);
    --running_;
  }
  void close_and_wait() {
    absl::MutexLock lock(&mu_);
    closed_ = true;
    mu_.Await(absl::Condition(
        +[](int* running) { return *running == 0; }, &running_));
  }

 private:
  absl::Mutex mu_;
  bool closed_ = false;
  int running_ = 0;
};

}  // namespace recall::detail
