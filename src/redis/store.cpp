#include <fmt/format.h>

#include <chrono>
#include <string>
#include <vector>

#include "recall/redis_store.hpp"

namespace recall {
namespace {

// Removes the key only while it holds the caller's value: releasing a lease
// that lapsed and was taken by another replica must not free theirs.
const redis_script erase_if_equal_script(
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
    "return 0");

std::string milliseconds(duration ttl) {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(ttl).count();
  return fmt::format("{}", ms < 1 ? 1 : ms);
}

class redis_subscription_handle final : public l2_subscription {
 public:
  explicit redis_subscription_handle(redis_subscription s) : subscription_(std::move(s)) {}

 private:
  redis_subscription subscription_;
};

class redis_l2 final : public second_level {
 public:
  redis_l2(std::shared_ptr<redis_client> client, second_level_options options)
      : second_level(std::move(options)),
        client_(std::move(client)),
        prefix_(client_->prefix() + "c:"),
        channel_(prefix_ + "invalidations") {}

  std::string_view kind() const noexcept override { return "redis"; }

  l2_status get(std::span<const std::string> keys,
                std::vector<std::optional<std::string>>& values) override {
    std::vector<std::string> names;
    names.reserve(keys.size());
    std::vector<std::string_view> argv;
    argv.reserve(keys.size() + 1);
    argv.push_back("MGET");
    for (const std::string& k : keys) argv.push_back(names.emplace_back(prefix_ + k));
    return call("MGET", [&] {
      const redis_reply reply = client_->command(argv);
      if (!usable(reply, "MGET")) return l2_status::unavailable;
      values.clear();
      for (const redis_reply& e : reply.elements()) {
        if (e.kind() == redis_reply_kind::string) {
          values.emplace_back(std::string(e.str()));
        } else {
          values.emplace_back();  // nil, or a key of another type: not a record
        }
      }
      return l2_status::ok;
    });
  }

  l2_status set(std::string_view key, std::string_view value, duration ttl) override {
    const std::string name = prefix_ + std::string(key);
    return call("SET", [&] {
      const redis_reply reply =
          ttl == duration::max() ? client_->command({"SET", name, value})
                                 : client_->command({"SET", name, value, "PX", milliseconds(ttl)});
      return usable(reply, "SET") ? l2_status::ok : l2_status::unavailable;
    });
  }

  l2_status add(std::string_view key, std::string_view value, duration ttl, bool& added) override {
    const std::string name = prefix_ + std::string(key);
    return call("SET NX", [&] {
      const redis_reply reply =
          client_->command({"SET", name, value, "NX", "PX", milliseconds(ttl)});
      if (!usable(reply, "SET NX")) return l2_status::unavailable;
      added = !reply.is_nil();
      return l2_status::ok;
    });
  }

  l2_status erase(std::string_view key) override {
    const std::string name = prefix_ + std::string(key);
    return call("DEL", [&] {
      return usable(client_->command({"DEL", name}), "DEL") ? l2_status::ok
                                                            : l2_status::unavailable;
    });
  }

  l2_status erase_if_equal(std::string_view key, std::string_view expected) override {
    const std::string name = prefix_ + std::string(key);
    return call("EVALSHA", [&] {
      return usable(client_->eval(erase_if_equal_script, {name}, {expected}), "EVALSHA")
                 ? l2_status::ok
                 : l2_status::unavailable;
    });
  }

  l2_status publish(std::string_view message) override {
    return call("PUBLISH", [&] {
      client_->publish(channel_, message);
      return l2_status::ok;
    });
  }

  std::unique_ptr<l2_subscription> subscribe(std::function<void(std::string_view)> on_message,
                                             std::function<void()> on_gap) override {
    redis_subscription s = client_->subscribe(channel_, std::move(on_message), std::move(on_gap));
    // A cache must not fill its memory before it hears invalidations: wait
    // (bounded) for the server to confirm. If it cannot be reached now, the
    // client calls on_gap once the subscription is made.
    const redis_options& o = client_->options();
    s.wait_until_active(o.connect_timeout + o.command_timeout);
    return std::make_unique<redis_subscription_handle>(std::move(s));
  }

 private:
  // Runs one exchange; a call that got no reply is "unavailable", reported.
  template <class F>
  l2_status call(std::string_view command, F&& exchange) {
    try {
      return exchange();
    } catch (const std::exception& e) {
      report(fmt::format("recall: Redis second level ({}): {} failed: {}", client_->options().name,
                         command, e.what()));
      return l2_status::unavailable;
    }
  }

  // An error reply (OOM, NOPERM, READONLY, ...) is reported and makes the
  // operation unavailable: the cache carries on without the second level.
  bool usable(const redis_reply& reply, std::string_view command) {
    if (!reply.is_error()) return true;
    report(fmt::format("recall: Redis second level ({}): {} refused: {}", client_->options().name,
                       command, reply.str()));
    return false;
  }

  std::shared_ptr<redis_client> client_;
  std::string prefix_;
  std::string channel_;
};

}  // namespace

std::shared_ptr<second_level> redis_store(std::shared_ptr<redis_client> client,
                                          second_level_options options) {
  if (!client) {
    throw config_error("recall::redis_store needs a redis_client (got a null pointer)");
  }
  std::shared_ptr<second_level> store =
      std::make_shared<redis_l2>(std::move(client), std::move(options));
  register_second_level(store);
  return store;
}

}  // namespace recall
