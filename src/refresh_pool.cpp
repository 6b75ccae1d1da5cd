#include "recall/detail/refresh_pool.hpp"

#include <absl/synchronization/mutex.h>

#include <deque>
#include <thread>

namespace recall::detail {
namespace {

class refresh_pool {
 public:
  refresh_pool() {
    for (std::size_t i = 0; i < refresh_pool_threads; ++i) std::thread([this] { work(); }).detach();
  }

  bool submit(std::function<void()> task) {
    absl::MutexLock lock(&mu_);
    if (queue_.size() >= refresh_pool_capacity) return false;
    queue_.push_back(std::move(task));
    return true;
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> task;
      {
        absl::MutexLock lock(&mu_, absl::Condition(this, &refresh_pool::has_work));
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }
  bool has_work() const { return !queue_.empty(); }

  absl::Mutex mu_;
  std::deque<std::function<void()>> queue_;
};

}  // namespace

bool submit_refresh(std::function<void()> task) {
  static auto* pool = new refresh_pool;  // never destroyed, see the header
  return pool->submit(std::move(task));
}

}  // namespace recall::detail
