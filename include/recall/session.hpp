// recall/session.hpp: per-session state that is isolated, bounded and
// expiring, the C++ counterpart of Streamlit's st.session_state.
//
// A session_store holds sessions keyed by secure random ids (recall/
// session_id.hpp). open(cookie_value, identity) returns a request-scoped
// handle: an empty, malformed, unknown or expired id, or an id bound to
// another user, never resumes anything; it yields a fresh session with a
// fresh id (and the event is counted and reported to on_rejected_id). Values
// are stored serialized (recall/codec.hpp), so every byte is accounted:
// per-session quota, total bytes and session count are all bounded, and
// sessions expire after an idle and an absolute timeout. See docs/sessions.md.
//
// Thread safety: a session_store may be used from any number of threads. A
// session handle belongs to one request: use it from one thread at a time
// (and destroy it on the thread that opened it: it marks that thread for
// scope::session caches). Any number of handles, on any threads, may be open
// on the same session at once: each operation locks the session, updates to
// different keys are all kept, and for one key the last write wins.
//
//   recall::session_store sessions({.idle_timeout = 30min, .absolute_timeout = 8h,
//                                   .max_sessions = 10'000, .max_bytes_per_session = 256 << 10});
//   recall::session s = sessions.open(cookie_value, who);
//   if (s.id_changed()) res.add_header("Set-Cookie", cookie.set(s.id()));
//   s.set("region", std::string("EU"));
//   auto chat = s.list<message>("chat", 50);  // keeps the last 50
//   chat.push_back(msg);
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

#include "recall/clock.hpp"
#include "recall/codec.hpp"
#include "recall/detail/engine.hpp"
#include "recall/detail/session_scope.hpp"
#include "recall/detail/session_state.hpp"
#include "recall/error.hpp"
#include "recall/export.hpp"
#include "recall/identity.hpp"
#include "recall/key.hpp"
#include "recall/registry.hpp"

namespace recall {

enum class session_errc {
  ended = 1,              // the session was logged out, expired or evicted
  quota_exceeded,         // the write would exceed max_bytes_per_session
  wrong_kind,             // a value read as a list, a list as a map, ...
  scratch_full,           // more than max_scratch_entries scratch values
  scratch_type_mismatch,  // a scratch value read as another type
};

RECALL_EXPORT const char* to_string(session_errc code) noexcept;

class RECALL_EXPORT session_error : public error {
 public:
  session_error(session_errc code, const std::string& message) : error(message), code_(code) {}
  session_errc code() const noexcept { return code_; }

 private:
  session_errc code_;
};

// A write refused by the per-session quota. Nothing stored was changed.
class RECALL_EXPORT quota_error : public session_error {
 public:
  quota_error(std::string key, std::size_t entry_bytes, std::size_t session_bytes,
              std::size_t limit);
  const std::string& key() const noexcept { return key_; }
  // What the key's entry would have weighed (key + encoded bytes).
  std::size_t entry_bytes() const noexcept { return entry_bytes_; }
  // What the session would have held with the write.
  std::size_t session_bytes() const noexcept { return session_bytes_; }
  std::size_t limit() const noexcept { return limit_; }

 private:
  std::string key_;
  std::size_t entry_bytes_, session_bytes_, limit_;
};

// Why a presented id did not resume a session.
enum class rejected_id_reason {
  empty,              // no cookie
  malformed,          // wrong length or alphabet (over-long included)
  unknown,            // well formed, but no live session has it (ended, evicted, forged)
  expired,            // its session passed a timeout
  identity_mismatch,  // its session is bound to another user
};

RECALL_EXPORT const char* to_string(rejected_id_reason reason) noexcept;

// What on_rejected_id sees. Never the id itself: a stale id may still be a
// secret worth stealing from logs.
struct rejected_id {
  rejected_id_reason reason;
  std::size_t length = 0;  // of the presented value
};

// The accounted weight of a session beyond its values: the id, the state, the
// engine's entry and indexes (measured, see docs/sessions.md).
inline constexpr std::size_t session_overhead_bytes = 1024;

struct session_options {
  std::string name = "session_store";
  duration idle_timeout = std::chrono::minutes(30);
  duration absolute_timeout = std::chrono::hours(8);
  std::size_t max_sessions = 10'000;
  std::size_t max_total_bytes = std::size_t{256} << 20;
  std::size_t max_bytes_per_session = std::size_t{256} << 10;
  // Values in one request's scratch().
  std::size_t max_scratch_entries = 64;
  std::shared_ptr<const recall::clock> clock = default_clock();
  // Called (on the request's thread, before the fresh session is made) for
  // every id that did not resume a session. An exception from it propagates
  // out of open().
  std::function<void(const rejected_id&)> on_rejected_id{};
};

struct session_stats {
  std::uint64_t live = 0;
  std::uint64_t created = 0;
  std::uint64_t rotated = 0;  // rotate() and the automatic rotation at sign-in
  std::uint64_t ended = 0;    // end(), end_all() and the store's destruction
  std::uint64_t expired_idle = 0;
  std::uint64_t expired_absolute = 0;
  std::uint64_t evicted = 0;
  std::uint64_t rejected_empty = 0;
  std::uint64_t rejected_malformed = 0;
  std::uint64_t rejected_unknown = 0;
  std::uint64_t rejected_expired = 0;
  std::uint64_t rejected_identity_mismatch = 0;
  std::uint64_t quota_exceeded = 0;
  std::uint64_t bytes = 0;  // accounted: values plus session_overhead_bytes per session
  std::uint64_t max_sessions = 0;
  std::uint64_t max_total_bytes = 0;

  std::uint64_t rejected_ids() const noexcept {
    return rejected_empty + rejected_malformed + rejected_unknown + rejected_expired +
           rejected_identity_mismatch;
  }
};

// Values that live for one request only (raw uploads, parsed bodies): any
// type, not serialized, never counted as session state, dropped with the
// handle. Bounded by max_scratch_entries.
class RECALL_EXPORT request_scratch {
 public:
  explicit request_scratch(std::size_t max_entries) : max_entries_(max_entries) {}

  template <class T>
  std::decay_t<T>& put(std::string_view key, T&& value) {
    using V = std::decay_t<T>;
    auto held = std::make_shared<V>(std::forward<T>(value));
    entry* e = find_entry(key);
    if (!e) {
      if (entries_.size() >= max_entries_) throw_full(key);
      e = &entries_.emplace_back(entry{std::string(key), nullptr, nullptr});
    }
    e->value = held;
    e->type = &typeid(V);
    return *held;
  }

  // nullptr when absent; session_error(scratch_type_mismatch) for another type.
  template <class T>
  T* find(std::string_view key) {
    entry* e = find_entry(key);
    if (!e) return nullptr;
    if (*e->type != typeid(T)) throw_type_mismatch(key);
    return static_cast<T*>(e->value.get());
  }

  bool contains(std::string_view key) const noexcept;
  bool erase(std::string_view key) noexcept;
  std::size_t size() const noexcept { return entries_.size(); }
  std::size_t max_size() const noexcept { return max_entries_; }
  void clear() noexcept { entries_.clear(); }

 private:
  struct entry {
    std::string key;
    std::shared_ptr<void> value;
    const std::type_info* type;
  };
  entry* find_entry(std::string_view key) noexcept;
  [[noreturn]] void throw_full(std::string_view key) const;
  [[noreturn]] static void throw_type_mismatch(std::string_view key);

  std::size_t max_entries_;
  std::vector<entry> entries_;
};

class session;
template <class T>
class session_list;
template <class K, class V>
class session_map;

class RECALL_EXPORT session_store {
 public:
  explicit session_store(session_options options = {});
  // Ends every session (announcing each to scope::session caches). Every
  // handle must be gone by then.
  ~session_store();
  session_store(const session_store&) = delete;
  session_store& operator=(const session_store&) = delete;

  // Resumes the session whose id is `cookie_value`, or makes a fresh one (see
  // the header comment). A session bound to user A is resumed only by A; an
  // anonymous session opened by a signed-in identity is bound to it and gets
  // a new id (id_changed() is then true).
  session open(std::string_view cookie_value, const identity& who = {});

  // Ends every session bound to `user` (disabled account, password change).
  std::size_t end_all(std::string_view user);
  // Reclaims every expired session now (otherwise reclaimed as the store is used).
  std::size_t cleanup();

  const session_options& options() const noexcept { return options_; }
  session_stats stats() const;

 private:
  friend class session;
  template <class T>
  friend class session_list;
  template <class K, class V>
  friend class session_map;
  using state_ptr = std::shared_ptr<detail::session_state>;

  key key_of(std::string_view id) const;
  time_point deadline_of(const detail::session_state& st) const noexcept;
  void on_removal(const key& k, state_ptr&& st, removal_cause cause);
  void reject(rejected_id_reason reason, std::size_t length);
  state_ptr create(const identity& who, time_point now);
  void rotate(const state_ptr& st);
  void end(const state_ptr& st);
  // Copies the session's current weight into its engine entry.
  void sync(const detail::session_state& st);
  void check_quota(detail::session_state& st, std::string_view key, std::size_t old_bytes,
                   std::size_t new_bytes);

  session_options options_;
  std::uint64_t seed_;
  std::atomic<std::uint64_t> created_{0}, rotated_{0}, ended_{0}, expired_idle_{0},
      expired_absolute_{0}, evicted_{0}, quota_exceeded_{0};
  std::array<std::atomic<std::uint64_t>, 5> rejected_{};
  detail::engine<state_ptr> engine_;
  std::optional<detail::registration> registration_;
};

// One request's view of a session. Movable, not copyable; a moved-from handle
// may only be destroyed. Its destruction ends the request: scratch() is
// dropped and the thread is no longer marked as working for the session.
class RECALL_EXPORT session {
 public:
  session(session&&) noexcept = default;
  session& operator=(session&&) = delete;
  session(const session&) = delete;
  session& operator=(const session&) = delete;
  ~session();

  // The id to send in the cookie; empty once the session has ended.
  std::string id() const;
  // A number that identifies the session across rotations (never 0).
  std::uint64_t tag() const noexcept { return state_->tag; }
  // The user the session is bound to; empty for an anonymous session.
  std::string user() const;
  // True if this open() made the session.
  bool is_new() const noexcept { return is_new_; }
  // True if the cookie must be (re)sent: a new session, or a new id.
  bool id_changed() const noexcept { return id_changed_; }
  // True once the session was ended (here or by another request), expired
  // or evicted. Reads then find nothing; writes throw session_error(ended).
  bool ended() const;

  // Stores `value` (serialized) under `key`, replacing whatever was there.
  // With a source version, get() under a newer version drops it.
  template <class T>
  void set(std::string_view key, const T& value, std::uint64_t source_version = 0) {
    std::string bytes = encode(value);
    detail::session_slot slot{std::move(bytes), source_version, 0};
    slot.bytes = key.size() + std::get<std::string>(slot.data).size();
    put_slot(key, std::move(slot));
  }

  // The value under `key`, or nullopt. Throws codec_error (code
  // type_mismatch) if it was stored as another type, session_error
  // (wrong_kind) if it is a list or a map. A value stored under a source
  // version older than `current_version` is dropped and nullopt returned.
  template <class T>
  std::optional<T> get(std::string_view key, std::uint64_t current_version = 0) {
    std::optional<T> out;
    bool dropped = false;
    {
      std::lock_guard lock(state_->mu);
      auto it = state_->values.find(detail::lookup_key(key));
      if (it == state_->values.end()) return out;
      const auto* bytes = std::get_if<std::string>(&it->second.data);
      if (!bytes) throw_wrong_kind(key, "a single value");
      if (it->second.version < current_version) {
        state_->set_used(state_->used - it->second.bytes);
        state_->values.erase(it);
        dropped = true;
      } else {
        decoded<T> d = decode<T>(*bytes);
        if (!d) throw_decode(key, d.error(), d.message());
        out.emplace(std::move(*d));
      }
    }
    if (dropped) store_->sync(*state_);
    return out;
  }

  template <class T>
  T get_or(std::string_view key, T fallback, std::uint64_t current_version = 0) {
    std::optional<T> v = get<T>(key, current_version);
    return v ? std::move(*v) : std::move(fallback);
  }

  bool contains(std::string_view key) const;
  // erase() and clear() on an ended session are no-ops: there is nothing left.
  bool erase(std::string_view key);
  void clear();
  // Bytes the session's values take against max_bytes_per_session.
  std::size_t bytes() const;

  // A list under `key` that keeps its last `n` items (n > 0).
  template <class T>
  session_list<T> list(std::string_view key, std::size_t n);
  // A map under `key` that keeps its `n` most recently used entries (n > 0).
  template <class K, class V>
  session_map<K, V> map(std::string_view key, std::size_t n);

  request_scratch& scratch() noexcept { return scratch_; }

  // A new id for the same state (sign-in, privilege change): the old id stops
  // working at once. Throws session_error(ended) on an ended session.
  void rotate();
  // Logout: the session, its values and its scope::session cache entries are
  // gone, for every request. Later writes through any handle throw
  // session_error(ended). The thread stays marked until the handle is
  // destroyed, and the destruction of every handle of an ended session
  // announces the end again, so cache entries made after end() go too.
  void end();

  // Marks the calling thread as working for this session until the guard is
  // destroyed: for async frameworks that continue a request on another thread.
  detail::session_tag_guard enter() const noexcept {
    return detail::session_tag_guard(state_->tag);
  }

 private:
  friend class session_store;
  template <class T>
  friend class session_list;
  template <class K, class V>
  friend class session_map;

  session(session_store& store, session_store::state_ptr state, bool is_new, bool id_changed);

  std::unique_lock<std::mutex> lock_for_write() const;
  void put_slot(std::string_view key, detail::session_slot slot);
  [[noreturn]] static void throw_wrong_kind(std::string_view key, const char* wanted);
  [[noreturn]] static void throw_decode(std::string_view key, codec_errc code,
                                        const std::string& message);
  [[noreturn]] static void throw_out_of_range(std::string_view key, std::size_t i,
                                              std::size_t size);

  session_store* store_;
  session_store::state_ptr state_;
  std::unique_ptr<detail::session_tag_guard> guard_;
  request_scratch scratch_;
  bool is_new_;
  bool id_changed_;
};

// A list in a session that keeps its last n items. A light handle: every
// call locks the session; items are stored serialized and count against the
// quota. Valid while the session handle it came from is alive.
template <class T>
class session_list {
 public:
  // Appends; once full, the oldest item is dropped. quota_error if the list
  // would exceed the quota (the list is then unchanged).
  void push_back(const T& value) {
    std::string item = encode(value);
    {
      auto lock = s_->lock_for_write();
      auto& st = *s_->state_;
      auto it = st.values.find(key_);
      detail::session_list_slot* l = nullptr;
      if (it != st.values.end()) {
        l = std::get_if<detail::session_list_slot>(&it->second.data);
        if (!l) session::throw_wrong_kind(key_, "a list");
      }
      if (l && l->capacity == n_) {
        const bool full = l->ring.size() == n_;
        const std::size_t old_bytes = it->second.bytes;
        const std::size_t new_bytes =
            old_bytes - (full ? l->ring[l->head].size() : 0) + item.size();
        s_->store_->check_quota(st, key_, old_bytes, new_bytes);
        if (full) {
          l->ring[l->head] = std::move(item);
          l->head = (l->head + 1) % n_;
        } else {
          l->ring.push_back(std::move(item));
        }
        it->second.bytes = new_bytes;
        st.set_used(st.used - old_bytes + new_bytes);
      } else {
        // A first push or a new capacity: build the list aside, so that a
        // refused push leaves the stored one as it was.
        const std::size_t old_bytes = l ? it->second.bytes : 0;
        detail::session_list_slot next;
        if (l) next = *l;
        next.reshape(n_ - 1);
        next.ring.push_back(std::move(item));
        next.capacity = n_;
        std::size_t new_bytes = key_.size();
        for (const auto& i : next.ring) new_bytes += i.size();
        s_->store_->check_quota(st, key_, old_bytes, new_bytes);
        st.set_used(st.used - old_bytes + new_bytes);
        st.values.insert_or_assign(key_, detail::session_slot{std::move(next), 0, new_bytes});
      }
    }
    s_->store_->sync(*s_->state_);
  }

  std::size_t size() const {
    std::lock_guard lock(s_->state_->mu);
    const auto* l = slot();
    return l ? std::min(l->size(), n_) : 0;
  }
  std::size_t capacity() const noexcept { return n_; }
  bool empty() const { return size() == 0; }

  // Oldest first.
  std::vector<T> items() const {
    std::lock_guard lock(s_->state_->mu);
    std::vector<T> out;
    const auto* l = slot();
    if (!l) return out;
    const std::size_t count = std::min(l->size(), n_);
    out.reserve(count);
    for (std::size_t i = l->size() - count; i < l->size(); ++i)
      out.push_back(decode_item(l->at(i)));
    return out;
  }
  // 0 is the oldest kept item; std::out_of_range past the end.
  T operator[](std::size_t i) const {
    std::lock_guard lock(s_->state_->mu);
    const auto* l = slot();
    const std::size_t count = l ? std::min(l->size(), n_) : 0;
    if (i >= count) session::throw_out_of_range(key_, i, count);
    return decode_item(l->at(l->size() - count + i));
  }
  T back() const { return (*this)[size() - 1]; }

  void clear() { s_->erase(key_); }

 private:
  friend class session;
  session_list(session& s, std::string key, std::size_t n) : s_(&s), key_(std::move(key)), n_(n) {}

  const detail::session_list_slot* slot() const {
    auto it = s_->state_->values.find(key_);
    if (it == s_->state_->values.end()) return nullptr;
    const auto* l = std::get_if<detail::session_list_slot>(&it->second.data);
    if (!l) session::throw_wrong_kind(key_, "a list");
    return l;
  }
  T decode_item(const std::string& bytes) const {
    decoded<T> d = decode<T>(bytes);
    if (!d) session::throw_decode(key_, d.error(), d.message());
    return std::move(*d);
  }

  session* s_;
  std::string key_;
  std::size_t n_;
};

// A map in a session that keeps its n most recently used entries (put() and
// get() are uses; contains() and items() are not). Keys are compared by their
// serialized bytes; each operation is linear in n, meant for small n.
// Valid while the session handle it came from is alive.
template <class K, class V>
class session_map {
 public:
  // Inserts or replaces; past n entries the least recently used is dropped.
  // quota_error if the map would exceed the quota (it is then unchanged).
  void put(const K& k, const V& v) {
    std::string kb = encode(k);
    std::string vb = encode(v);
    {
      auto lock = s_->lock_for_write();
      auto& st = *s_->state_;
      auto it = st.values.find(key_);
      if (it == st.values.end()) {
        const std::size_t new_bytes = key_.size() + kb.size() + vb.size();
        s_->store_->check_quota(st, key_, 0, new_bytes);
        detail::session_map_slot m;
        m.entries.emplace_back(std::move(kb), std::move(vb));
        st.set_used(st.used + new_bytes);
        st.values.emplace(key_, detail::session_slot{std::move(m), 0, new_bytes});
      } else {
        auto* m = std::get_if<detail::session_map_slot>(&it->second.data);
        if (!m) session::throw_wrong_kind(key_, "a map");
        auto& e = m->entries;
        const auto hit = find(e, kb);
        const std::size_t old_bytes = it->second.bytes;
        std::size_t new_bytes = old_bytes + kb.size() + vb.size();
        if (hit != e.end()) new_bytes -= hit->first.size() + hit->second.size();
        // The least recently used entries that the new one pushes out.
        std::size_t count = e.size() + (hit == e.end() ? 1 : 0);
        std::size_t dropped = 0;
        for (auto d = e.begin(); count > n_ && d != e.end(); ++d) {
          if (d == hit) continue;
          new_bytes -= d->first.size() + d->second.size();
          --count;
          ++dropped;
        }
        s_->store_->check_quota(st, key_, old_bytes, new_bytes);
        if (hit != e.end()) e.erase(hit);
        e.erase(e.begin(), e.begin() + static_cast<std::ptrdiff_t>(dropped));
        e.emplace_back(std::move(kb), std::move(vb));
        it->second.bytes = new_bytes;
        st.set_used(st.used - old_bytes + new_bytes);
      }
    }
    s_->store_->sync(*s_->state_);
  }

  // The value, marking the entry most recently used; nullopt if absent.
  std::optional<V> get(const K& k) {
    const std::string kb = encode(k);
    std::lock_guard lock(s_->state_->mu);
    auto* m = slot();
    if (!m) return std::nullopt;
    auto& e = m->entries;
    const auto hit = find(e, kb);
    if (hit == e.end()) return std::nullopt;
    std::rotate(hit, hit + 1, e.end());
    decoded<V> d = decode<V>(e.back().second);
    if (!d) session::throw_decode(key_, d.error(), d.message());
    return std::move(*d);
  }

  bool contains(const K& k) const {
    const std::string kb = encode(k);
    std::lock_guard lock(s_->state_->mu);
    const auto* m = slot();
    return m && std::any_of(m->entries.begin(), m->entries.end(),
                            [&](const auto& p) { return p.first == kb; });
  }

  bool erase(const K& k) {
    const std::string kb = encode(k);
    bool erased = false;
    {
      std::lock_guard lock(s_->state_->mu);
      auto it = s_->state_->values.find(key_);
      if (it == s_->state_->values.end()) return false;
      auto* m = std::get_if<detail::session_map_slot>(&it->second.data);
      if (!m) session::throw_wrong_kind(key_, "a map");
      const auto hit = find(m->entries, kb);
      if (hit == m->entries.end()) return false;
      const std::size_t freed = hit->first.size() + hit->second.size();
      m->entries.erase(hit);
      it->second.bytes -= freed;
      s_->state_->set_used(s_->state_->used - freed);
      erased = true;
    }
    s_->store_->sync(*s_->state_);
    return erased;
  }

  std::size_t size() const {
    std::lock_guard lock(s_->state_->mu);
    const auto* m = slot();
    return m ? m->entries.size() : 0;
  }
  std::size_t capacity() const noexcept { return n_; }

  // Least recently used first.
  std::vector<std::pair<K, V>> items() const {
    std::lock_guard lock(s_->state_->mu);
    std::vector<std::pair<K, V>> out;
    const auto* m = slot();
    if (!m) return out;
    for (const auto& [kb, vb] : m->entries) {
      decoded<K> k = decode<K>(kb);
      if (!k) session::throw_decode(key_, k.error(), k.message());
      decoded<V> v = decode<V>(vb);
      if (!v) session::throw_decode(key_, v.error(), v.message());
      out.emplace_back(std::move(*k), std::move(*v));
    }
    return out;
  }

  void clear() { s_->erase(key_); }

 private:
  friend class session;
  session_map(session& s, std::string key, std::size_t n) : s_(&s), key_(std::move(key)), n_(n) {}

  using entries = std::vector<std::pair<std::string, std::string>>;
  static entries::iterator find(entries& e, const std::string& kb) {
    return std::find_if(e.begin(), e.end(), [&](const auto& p) { return p.first == kb; });
  }

  detail::session_map_slot* slot() const {
    auto it = s_->state_->values.find(key_);
    if (it == s_->state_->values.end()) return nullptr;
    auto* m = std::get_if<detail::session_map_slot>(&it->second.data);
    if (!m) session::throw_wrong_kind(key_, "a map");
    return m;
  }

  session* s_;
  std::string key_;
  std::size_t n_;
};

template <class T>
session_list<T> session::list(std::string_view key, std::size_t n) {
  detail::require_serializable<T>();
  if (n == 0) {
    throw config_error("recall: session list '" + std::string(key) +
                       "' needs a capacity n > 0 (the number of items to keep)");
  }
  return session_list<T>(*this, std::string(key), n);
}

template <class K, class V>
session_map<K, V> session::map(std::string_view key, std::size_t n) {
  detail::require_serializable<K>();
  detail::require_serializable<V>();
  if (n == 0) {
    throw config_error("recall: session map '" + std::string(key) +
                       "' needs a capacity n > 0 (the number of entries to keep)");
  }
  return session_map<K, V>(*this, std::string(key), n);
}

}  // namespace recall
