#include "recall/detail/refresh_pool.hpp"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace recall::detail {
namespace {

class refresh_pool {
 public:
  refresh_pool() {
    for (std::size_t i = 0; i < refresh_pool_threads; ++i) std::thread([this] { work(); }).detach();
  }

  bool submit(std::function<void()> task) {
    {
      std::lock_guard lock(mu_);
      if (queue_.size() >= refresh_pool_capacity) return false;
      queue_.push_back(std::move(task));
    }
    has_work_.notify_one();
    return true;
  }

 private:
  void work() {
    for (;;) {
      std::function<void()> task;
      {
        std::unique_lock lock(mu_);
        has_work_.wait(lock, [this] { return !queue_.empty(); });
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }
  std::mutex mu_;
  std::condition_variable has_work_;
  std::deque<std::function<void()>> queue_;
};

}  // namespace

bool submit_refresh(std::function<void()> task) {
  static auto* pool = new refresh_pool;  // never destroyed, see the header
  return pool->submit(std::move(task));
}

}  // namespace recall::detail
