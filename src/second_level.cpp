#include "recall/second_level.hpp"

#include <fmt/format.h>

#include "recall/detail/hook_list.hpp"
#include "recall/detail/l2_tier.hpp"

namespace recall {
namespace detail {

hook_list<second_level*>& second_levels() {
  static auto* list = new hook_list<second_level*>;  // never destroyed: stores may be statics
  return *list;
}

}  // namespace detail

second_level::second_level(second_level_options options)
    : options_(std::move(options)), registration_(0) {
  if (!options_.clock) options_.clock = default_clock();
  registration_ = detail::second_levels().add(this);
}

second_level::~second_level() { detail::second_levels().remove(registration_); }

void second_level::report(std::string_view message) noexcept {
  if (!options_.on_error) return;
  std::uint64_t left_out = 0;
  {
    std::lock_guard lock(report_mu_);
    const time_point now = options_.clock->now();
    if (last_report_ && now - *last_report_ < options_.log_interval) {
      ++unreported_;
      return;
    }
    last_report_ = now;
    left_out = std::exchange(unreported_, 0);
  }
  try {
    if (left_out == 0) {
      options_.on_error(message);
    } else {
      options_.on_error(
          fmt::format("{} ({} more {} messages since the last one)", message, left_out, kind()));
    }
  } catch (...) {
    // A logger that throws must not turn a cache call into a failure.
  }
}

}  // namespace recall
