#include "recall/second_level.hpp"

#include <algorithm>
#include <mutex>
#include <vector>

#include "recall/detail/l2_tier.hpp"

namespace recall {
namespace detail {
namespace {

// Weak, and registered only once constructed: an announcement never reaches
// a store that is being built or destroyed.
struct known_stores {
  std::mutex mu;
  std::vector<std::weak_ptr<second_level>> stores;
};

known_stores& known() {
  static auto* k = new known_stores;  // never destroyed: stores may be statics
  return *k;
}

}  // namespace

std::vector<std::shared_ptr<second_level>> live_second_levels() {
  auto& k = known();
  std::lock_guard lock(k.mu);
  std::vector<std::shared_ptr<second_level>> out;
  for (const auto& w : k.stores) {
    if (auto s = w.lock()) out.push_back(std::move(s));
  }
  return out;
}

}  // namespace detail

void register_second_level(const std::shared_ptr<second_level>& store) {
  if (!store) return;
  auto& k = detail::known();
  std::lock_guard lock(k.mu);
  std::erase_if(k.stores, [](const std::weak_ptr<second_level>& w) { return w.expired(); });
  const bool known = std::any_of(k.stores.begin(), k.stores.end(), [&](const auto& w) {
    return !w.owner_before(store) && !store.owner_before(w);
  });
  if (!known) k.stores.push_back(store);
}

second_level::second_level(second_level_options options)
    : options_(std::move(options)),
      log_(options_.on_error, options_.log_interval,
           options_.clock ? options_.clock : default_clock()) {}

second_level::~second_level() = default;

void second_level::report(std::string_view message) noexcept {
  try {
    log_.report(message);
  } catch (...) {
    // A logger that throws must not turn a cache call into a failure.
  }
}

}  // namespace recall
