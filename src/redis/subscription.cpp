#include <utility>

#include "recall/redis.hpp"
#include "subscriber.hpp"

namespace recall {

redis_subscription::redis_subscription(redis_subscription&& other) noexcept
    : owner_(std::move(other.owner_)),
      id_(std::exchange(other.id_, 0)),
      channel_(std::move(other.channel_)) {}

redis_subscription& redis_subscription::operator=(redis_subscription&& other) noexcept {
  if (this != &other) {
    reset();
    owner_ = std::move(other.owner_);
    id_ = std::exchange(other.id_, 0);
    channel_ = std::move(other.channel_);
  }
  return *this;
}

redis_subscription::~redis_subscription() { reset(); }

void redis_subscription::reset() noexcept {
  if (id_ == 0) return;
  if (auto owner = owner_.lock()) owner->remove(id_);
  id_ = 0;
  owner_.reset();
}

bool redis_subscription::active() const {
  const auto owner = owner_.lock();
  return owner && id_ != 0 && owner->active(id_);
}

bool redis_subscription::wait_until_active(duration timeout) const {
  const auto owner = owner_.lock();
  return owner && id_ != 0 && owner->wait_until_active(id_, timeout);
}

}  // namespace recall
