// A log callback that is called at most once per interval. Messages in
// between are counted, and the next message that gets through says how many
// were suppressed, so a flapping dependency cannot flood the host's log.
//
// Thread safety: report() may be called concurrently. The sink may be called
// from any thread, never under a lock of ours, and (for a non-zero interval)
// never twice within one interval.
//
//   rate_limited_log log(options.on_error, 10s, clock);
//   log.report("connection lost");  // "... (3 similar messages suppressed)" later
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "recall/clock.hpp"

namespace recall::detail {

class rate_limited_log {
 public:
  using sink = std::function<void(std::string_view message)>;

  rate_limited_log(sink out, duration interval, std::shared_ptr<const clock> time)
      : out_(std::move(out)), interval_(interval), clock_(std::move(time)) {}

  void report(std::string_view message) {
    if (!out_) return;
    std::uint64_t suppressed = 0;
    {
      std::lock_guard lock(mu_);
      const auto now = clock_->now();
      if (reported_any_ && now - last_ < interval_) {
        ++suppressed_;
        return;
      }
      reported_any_ = true;
      last_ = now;
      suppressed = suppressed_;
      suppressed_ = 0;
    }
    if (suppressed == 0) {
      out_(message);
      return;
    }
    std::string line(message);
    line += " (" + std::to_string(suppressed) + " more message" + (suppressed == 1 ? "" : "s") +
            " suppressed since the last one)";
    out_(line);
  }

 private:
  const sink out_;
  const duration interval_;
  const std::shared_ptr<const clock> clock_;
  std::mutex mu_;
  bool reported_any_ = false;
  time_point last_{};
  std::uint64_t suppressed_ = 0;
};

}  // namespace recall::detail
