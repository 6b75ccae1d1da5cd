// The Redis client's publish/subscribe side: one connection and one thread
// for every subscription of a client. The thread waits in poll() on the
// connection and on a wake-up pipe, so it stops promptly and a quiet channel
// never looks like a failure; it pings after subscriber_ping_interval of
// silence, reconnects with backoff, resubscribes, and then runs on_reconnect.
//
// Thread safety: add/remove/active/wait_until_active/counters may be called
// from any thread, including from a callback on the subscriber thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include "connection.hpp"
#include "recall/detail/rate_limited_log.hpp"

namespace recall::detail {

class redis_subscriber {
 public:
  redis_subscriber(std::shared_ptr<const connection_settings> settings,
                   std::shared_ptr<rate_limited_log> log);
  ~redis_subscriber();
  redis_subscriber(const redis_subscriber&) = delete;
  redis_subscriber& operator=(const redis_subscriber&) = delete;

  void start();
  // Stops and joins the thread; later add() calls are kept but never served.
  void stop();

  std::uint64_t add(std::string channel, std::function<void(std::string_view)> on_message,
                    std::function<void()> on_reconnect);
  // After it returns, none of the subscription's callbacks runs again
  // (unless called from that callback itself).
  void remove(std::uint64_t id);
  bool active(std::uint64_t id) const;
  bool wait_until_active(std::uint64_t id, duration timeout) const;

  std::uint64_t messages_received() const noexcept {
    return messages_received_.load(std::memory_order_relaxed);
  }
  std::uint64_t reconnects() const noexcept { return reconnects_.load(std::memory_order_relaxed); }
  std::uint64_t callback_failures() const noexcept {
    return callback_failures_.load(std::memory_order_relaxed);
  }
  std::uint64_t subscriptions() const;

 private:
  struct entry {
    std::string channel;
    std::function<void(std::string_view)> on_message;
    std::function<void()> on_reconnect;
    std::uint64_t registered_in_generation;  // connections made before it was added
    bool active = false;
    bool removed = false;
  };
  enum class sent { subscribe, unsubscribe, ping };

  void run();
  bool connect();
  void on_connection_lost(std::string_view why);
  void sync_channels();
  void ping_if_quiet();
  void wait_for_traffic();
  void send_and_handle(std::string_view command_name);
  void handle_buffered();
  void handle(const redis_reply& reply);
  void activate(const std::string& channel);
  void deliver(std::string_view channel, std::string_view message);
  void invoke(const std::shared_ptr<entry>& e, bool reconnect, std::string_view message);
  void wait_for_wake(duration timeout);
  void wake() noexcept;

  const std::shared_ptr<const connection_settings> settings_;
  const std::shared_ptr<rate_limited_log> log_;
  int wake_pipe_[2] = {-1, -1};
  std::thread thread_;
  std::atomic<bool> stopping_{false};

  mutable std::mutex mu_;
  mutable std::condition_variable changed_;  // activation, removal, end of a callback
  std::map<std::uint64_t, std::shared_ptr<entry>> entries_;
  std::uint64_t next_id_ = 1;
  std::uint64_t generation_ = 0;  // connections made so far
  const entry* running_ = nullptr;
  std::thread::id thread_id_;

  // Owned by the subscriber thread.
  std::unique_ptr<redis_connection> connection_;
  std::set<std::string> on_server_;  // channels subscribed (or refused) on this connection
  std::deque<std::pair<sent, std::string>> awaiting_;
  real_clock::time_point last_traffic_{};

  std::atomic<std::uint64_t> messages_received_{0};
  std::atomic<std::uint64_t> reconnects_{0};
  std::atomic<std::uint64_t> callback_failures_{0};
};

}  // namespace recall::detail
