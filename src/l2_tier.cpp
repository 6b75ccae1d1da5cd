#include "recall/detail/l2_tier.hpp"

#include <absl/container/btree_map.h>
#include <absl/container/btree_set.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <random>

#include "recall/detail/xxhash.hpp"
#include "recall/error.hpp"

namespace recall::detail {

std::vector<std::shared_ptr<second_level>> live_second_levels();  // src/second_level.cpp

namespace {

// What may appear in a key part and in a message field: no braces (they
// delimit the hash tag), no spaces (they separate message fields).
void check_key_part(std::string_view what, std::string_view part, std::string_view cache) {
  const bool fine = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == ':' || c == '/';
  });
  if (!fine) {
    throw config_error(fmt::format(
        "recall: cache_data '{}' has a second level, so its {} ('{}') is part of keys and "
        "messages other processes read: use letters, digits and _ - . : / only",
        cache, what, part));
  }
}

std::string random_id() {
  std::random_device device;
  const std::uint64_t id = (std::uint64_t{device()} << 32) ^ device();
  return fmt::format("{:016x}", id);
}

// Messages from invalidate_tag() carry this process's id: its own caches
// were cleared before the message was sent.
const std::string& process_origin() {
  static const std::string id = random_id();
  return id;
}

// A marker's new value: any change of it is an invalidation.
std::string new_token() { return random_id() + random_id(); }

std::optional<key> parse_key(std::string_view hex) {
  if (hex.size() != 32) return std::nullopt;
  key k;
  const auto high = std::from_chars(hex.data(), hex.data() + 16, k.high, 16);
  const auto low = std::from_chars(hex.data() + 16, hex.data() + 32, k.low, 16);
  if (high.ec != std::errc() || high.ptr != hex.data() + 16 || low.ec != std::errc() ||
      low.ptr != hex.data() + 32) {
    return std::nullopt;
  }
  return k;
}

// The markers' values (entries 2... of a read), hashed: absent and present
// markers are told apart, and so are their order and boundaries.
std::uint64_t generation_of(const std::vector<std::optional<std::string>>& values) {
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  for (std::size_t i = 2; i < values.size(); ++i) {
    const std::uint64_t size = values[i] ? values[i]->size() : UINT64_MAX;
    XXH3_64bits_update(&state, &size, sizeof(size));
    if (values[i]) XXH3_64bits_update(&state, values[i]->data(), values[i]->size());
  }
  return XXH3_64bits_digest(&state);
}

std::vector<std::string_view> fields(std::string_view message) {
  std::vector<std::string_view> out;
  while (!message.empty() && out.size() < 5) {
    const auto space = message.find(' ');
    out.push_back(message.substr(0, space));
    if (space == std::string_view::npos) break;
    message.remove_prefix(space + 1);
  }
  return out;
}

// Tag announcements a store could not take, sent again when it answers.
struct unsent_tags {
  std::mutex mu;
  absl::btree_map<const second_level*, absl::btree_set<std::string>> by_store;
};
unsent_tags& unsent() {
  static auto* u = new unsent_tags;  // never destroyed: stores may be statics
  return *u;
}

bool send_tag(second_level& store, std::string_view tag) {
  if (store.set(fmt::format("tag:{}", tag), new_token(), duration::max()) != l2_status::ok) {
    return false;
  }
  return store.publish(fmt::format("{} tag {}", process_origin(), tag)) == l2_status::ok;
}

void resend_tags(second_level& store) {
  absl::btree_set<std::string> tags;
  {
    auto& u = unsent();
    std::lock_guard lock(u.mu);
    auto it = u.by_store.find(&store);
    if (it == u.by_store.end()) return;
    tags = std::move(it->second);
    u.by_store.erase(it);
  }
  for (const std::string& tag : tags) {
    if (!send_tag(store, tag)) {
      auto& u = unsent();
      std::lock_guard lock(u.mu);
      u.by_store[&store].insert(tag);
    }
  }
}

}  // namespace

l2_tier::l2_tier(std::shared_ptr<second_level> store, std::string_view name,
                 std::string_view version, std::vector<std::string> tags, listener& owner)
    : store_(std::move(store)),
      namespace_(fmt::format("{}:{}", name, version.empty() ? "0" : version)),
      prefix_(fmt::format("{{{}}}:", namespace_)),
      tags_(std::move(tags)),
      owner_(owner),
      origin_(random_id()) {
  register_second_level(store_);
  check_key_part("name", name, name);
  if (!version.empty()) check_key_part("version", version, name);
  for (const std::string& tag : tags_) check_key_part("tag", tag, name);
  marker_keys_.push_back(prefix_ + "cleared");
  for (const std::string& tag : tags_) marker_keys_.push_back("tag:" + tag);
  if (!store_->options().signing_key.empty()) signer_.emplace(store_->options().signing_key);
  subscription_ = store_->subscribe([this](std::string_view m) { on_message(m); },
                                    [this] { owner_.drop_all(); });
}

l2_tier::~l2_tier() { subscription_.reset(); }

std::string l2_tier::key_of(char kind, const key& k) const {
  return fmt::format("{}{}:{}", prefix_, kind, k.to_hex());
}

bool l2_tier::ok(l2_status status, std::string_view what) {
  if (status == l2_status::ok) return true;
  unavailable_.fetch_add(1, std::memory_order_relaxed);
  store_->report(
      fmt::format("recall: cache_data '{}': the {} second level is unreachable ({}); "
                  "serving from memory and the function until it answers",
                  namespace_, store_->kind(), what));
  return false;
}

l2_tier::lookup l2_tier::read(const key& k) {
  std::vector<std::string> keys;
  keys.reserve(2 + marker_keys_.size());
  keys.push_back(key_of('e', k));
  keys.push_back(key_of('l', k));
  keys.insert(keys.end(), marker_keys_.begin(), marker_keys_.end());
  std::vector<std::optional<std::string>> values;
  if (!ok(store_->get(keys, values), "read") || values.size() != keys.size()) {
    lookup unavailable;
    unavailable.available = false;
    return unavailable;
  }
  flush_pending();
  lookup out;
  out.leased = values[1].has_value() && *values[1] != origin_;
  out.generation = generation_of(values);
  if (!values[0]) return out;
  std::string why;
  std::optional<l2_record> record =
      decode_l2_record(keys[0], *values[0], signer_ ? &*signer_ : nullptr, why);
  if (!record) {
    count_rejected(why);
    return out;
  }
  if (record->generation != out.generation) return out;  // computed before a clear() or tag
  out.record = std::move(record);
  return out;
}

l2_tier::lease l2_tier::acquire(const key& k) {
  bool added = false;
  if (!ok(store_->add(key_of('l', k), origin_, store_->options().lease_ttl, added), "lease")) {
    return lease::unavailable;
  }
  return added ? lease::acquired : lease::held_elsewhere;
}

void l2_tier::release(const key& k) {
  ok(store_->erase_if_equal(key_of('l', k), origin_), "lease release");
}

void l2_tier::wait_for_results(duration at_most) {
  std::unique_lock lock(results_mu_);
  const std::uint64_t seen = results_seen_;
  results_.wait_for(lock, at_most, [&] { return results_seen_ != seen; });
}

void l2_tier::store(const key& k, const l2_record& record, duration ttl) {
  const std::string entry = key_of('e', k);
  if (!ok(store_->set(entry, encode_l2_record(entry, record, signer_ ? &*signer_ : nullptr), ttl),
          "write")) {
    return;
  }
  writes_.fetch_add(1, std::memory_order_relaxed);
  flush_pending();
  // Other replicas drop their copy (it is older) and lease waiters wake up.
  store_->publish(fmt::format(
      "{} set {} {} {}", origin_, namespace_, k.to_hex(),
      std::chrono::duration_cast<std::chrono::nanoseconds>(record.computed_at.time_since_epoch())
          .count()));
}

bool l2_tier::send(const pending& p) {
  const bool stored = p.whole_cache ? store_->set(marker_keys_.front(), new_token(),
                                                  duration::max()) == l2_status::ok
                                    : store_->erase(key_of('e', p.k)) == l2_status::ok;
  if (!stored) return false;
  const std::string message = p.whole_cache
                                  ? fmt::format("{} clear {}", origin_, namespace_)
                                  : fmt::format("{} del {} {}", origin_, namespace_, p.k.to_hex());
  if (store_->publish(message) != l2_status::ok) return false;
  invalidations_sent_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void l2_tier::invalidate(const key& k) {
  if (send({false, k})) {
    flush_pending();
  } else {
    remember({false, k});
  }
}

void l2_tier::clear() {
  if (send({true, key{}})) {
    flush_pending();
  } else {
    remember({true, key{}});
  }
}

void l2_tier::remember(pending p) {
  unavailable_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(pending_mu_);
  if (p.whole_cache || pending_overflowed_) {
    // A clear covers every invalidation before it.
    pending_.clear();
    pending_overflowed_ = true;
  } else if (pending_.size() >= store_->options().max_pending_invalidations) {
    invalidations_lost_.fetch_add(1, std::memory_order_relaxed);
    pending_.clear();
    pending_overflowed_ = true;
    store_->report(fmt::format(
        "recall: cache_data '{}': more than {} invalidations could not be sent; the cache will "
        "be cleared on every replica when the {} second level answers again",
        namespace_, store_->options().max_pending_invalidations, store_->kind()));
  } else {
    pending_.push_back(p);
  }
  has_pending_.store(true, std::memory_order_release);
}

void l2_tier::flush_pending() {
  resend_tags(*store_);
  if (!has_pending_.load(std::memory_order_acquire)) return;
  std::deque<pending> todo;
  bool whole_cache;
  {
    std::lock_guard lock(pending_mu_);
    todo.swap(pending_);
    whole_cache = std::exchange(pending_overflowed_, false);
    has_pending_.store(false, std::memory_order_release);
  }
  if (whole_cache) {
    if (!send({true, key{}})) remember({true, key{}});
    return;
  }
  for (const pending& p : todo) {
    if (!send(p)) remember(p);
  }
}

void l2_tier::on_message(std::string_view message) {
  const std::vector<std::string_view> f = fields(message);
  if (f.size() < 3) return;
  const std::string_view origin = f[0], op = f[1], subject = f[2];
  if (op == "tag") {
    if (origin == process_origin() || !carries(subject)) return;
    invalidations_received_.fetch_add(1, std::memory_order_relaxed);
    owner_.drop_all();
    return;
  }
  if (subject != namespace_) return;
  if (op == "set") {
    {
      std::lock_guard lock(results_mu_);
      ++results_seen_;
    }
    results_.notify_all();
  }
  if (origin == origin_) return;
  if (op == "clear") {
    invalidations_received_.fetch_add(1, std::memory_order_relaxed);
    owner_.drop_all();
  } else if (op == "del" && f.size() >= 4) {
    if (const std::optional<key> k = parse_key(f[3])) {
      invalidations_received_.fetch_add(1, std::memory_order_relaxed);
      owner_.drop(*k);
    }
  } else if (op == "set" && f.size() >= 5) {
    std::int64_t ns = 0;
    const std::string_view at = f[4];
    const auto parsed = std::from_chars(at.data(), at.data() + at.size(), ns);
    const std::optional<key> k = parse_key(f[3]);
    if (k && parsed.ec == std::errc() && parsed.ptr == at.data() + at.size()) {
      owner_.replaced(*k, wall_time_point(std::chrono::duration_cast<wall_time_point::duration>(
                              std::chrono::nanoseconds(ns))));
    }
  }
}

void l2_tier::count_rejected(std::string_view why) {
  rejected_.fetch_add(1, std::memory_order_relaxed);
  store_->report(
      fmt::format("recall: cache_data '{}': a record in the {} second level was "
                  "refused and treated as missing: {}",
                  namespace_, store_->kind(), why));
}

bool l2_tier::carries(std::string_view tag) const {
  return std::find(tags_.begin(), tags_.end(), tag) != tags_.end();
}

void l2_tier::add_stats(cache_stats& s) const {
  s.l2_hits = hits_.load(std::memory_order_relaxed);
  s.l2_misses = misses_.load(std::memory_order_relaxed);
  s.l2_unavailable = unavailable_.load(std::memory_order_relaxed);
  s.l2_rejected = rejected_.load(std::memory_order_relaxed);
  s.l2_writes = writes_.load(std::memory_order_relaxed);
  s.lease_waits = lease_waits_.load(std::memory_order_relaxed);
  s.lease_timeouts = lease_timeouts_.load(std::memory_order_relaxed);
  s.invalidations_sent = invalidations_sent_.load(std::memory_order_relaxed);
  s.invalidations_received = invalidations_received_.load(std::memory_order_relaxed);
  s.invalidations_lost = invalidations_lost_.load(std::memory_order_relaxed);
}

std::size_t l2_tier::announce_tag(std::string_view tag) {
  std::size_t unreachable = 0;
  for (const std::shared_ptr<second_level>& store : live_second_levels()) {
    if (send_tag(*store, tag)) continue;
    ++unreachable;
    store->report(
        fmt::format("recall: invalidate_tag('{}'): the {} second level is unreachable; "
                    "the invalidation is sent when it answers again",
                    tag, store->kind()));
    auto& u = unsent();
    std::lock_guard lock(u.mu);
    u.by_store[store.get()].insert(std::string(tag));
  }
  return unreachable;
}

}  // namespace recall::detail
