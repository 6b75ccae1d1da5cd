// recall/session.hpp: per-session state that is isolated, bounded and
// expiring, the C++ counterpart of Streamlit's st.session_state.
//
// A session_store holds sessions keyed by secure random ids (recall/
// session_id.hpp). open(cookie_value, identity) returns a request-scoped
// handle: an empty, malformed, unknown or expired id, or an id bound to
// another user, never resumes anything; it yields a fresh session (the event
// is counted, reported to on_rejected_id and told by rejected_reason()). A
// fresh session is stored, and gets its id, at its first write: until then
// it costs no memory and needs no cookie. Values are stored serialized
// (recall/codec.hpp) and their heap is accounted: per-session quota, total
// bytes, sessions and sessions per user are all bounded, and sessions expire
// after an idle and an absolute timeout. See docs/sessions.md.
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
//   s.set("region", std::string("EU"));
//   auto chat = s.list<message>("chat", 50);  // keeps the last 50
//   chat.push_back(msg);
//   // when the response is sent, after the writes:
//   if (s.id_changed()) res.add_header("Set-Cookie", cookie.set(s.id()));
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
#include "recall/detail/session_scope.hpp"
#include "recall/detail/session_storage.hpp"
#include "recall/error.hpp"
#include "recall/export.hpp"
#include "recall/identity.hpp"
#include "recall/registry.hpp"

namespace recall {

enum class session_errc {
  ended = 1,              // the session was logged out, expired or evicted
  quota_exceeded,         // the write would exceed max_bytes_per_session
  wrong_kind,             // a value read as a list, a list as a map, ...
  scratch_full,           // more than max_scratch_entries scratch values
  scratch_type_mismatch,  // a scratch value read as another type
  // The session storage (Redis) could not be reached or refused the call:
  // nothing was stored by it. Answer 503; the storage recovers by itself.
  storage_unavailable,
};

RECALL_EXPORT const char* to_string(session_errc code) noexcept;

class RECALL_EXPORT session_error : public error {
 public:
  session_error(session_errc code, const std::string& message) : error(message), code_(code) {}
  session_errc code() const noexcept { return code_; }
  // What to answer the client: 503 (Service Unavailable: retry later) for
  // storage_unavailable, 500 for the others (the program broke a rule).
  int http_status() const noexcept {
    return code_ == session_errc::storage_unavailable ? 503 : 500;
  }

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

// What an empty stored session is charged towards max_total_bytes: its state
// object (with room for two values in place), its engine entry (node, map
// slot, deadline index, ghost) and its share of the engine's tables, measured
// with glibc (docs/sessions.md, "Accounting"). Each value then adds what it
// holds on the heap.
inline constexpr std::size_t session_overhead_bytes = 600;

struct session_options;

// Where a session_store keeps its sessions. The default keeps them in this
// process (kind "memory"); recall::redis_sessions() (recall/redis_sessions.hpp,
// target recall::redis) keeps them in Redis, shared by every replica.
class RECALL_EXPORT session_backend {
 public:
  using factory =
      std::function<std::unique_ptr<detail::session_storage>(const session_options& options)>;
  session_backend() = default;
  session_backend(std::string kind, factory make)
      : kind_(std::move(kind)), make_(std::move(make)) {}
  const std::string& kind() const noexcept { return kind_; }
  // The storage for a store with these (validated) options; they outlive it.
  std::unique_ptr<detail::session_storage> make(const session_options& options) const;

 private:
  std::string kind_ = "memory";
  factory make_;
};

struct session_options {
  std::string name = "session_store";
  duration idle_timeout = std::chrono::minutes(30);
  duration absolute_timeout = std::chrono::hours(8);
  std::size_t max_sessions = 10'000;
  // The heap all stored sessions hold, as accounted (see session_overhead_bytes).
  std::size_t max_total_bytes = std::size_t{256} << 20;
  std::size_t max_bytes_per_session = std::size_t{256} << 10;
  // Stored sessions bound to one user; past it the user's oldest session is
  // ended. SIZE_MAX: no bound.
  std::size_t max_sessions_per_user = 16;
  // Values in one request's scratch().
  std::size_t max_scratch_entries = 64;
  std::shared_ptr<const recall::clock> clock = default_clock();
  // Called (on the request's thread, before the fresh session is made) for
  // every id that did not resume a session. An exception from it propagates
  // out of open().
  std::function<void(const rejected_id&)> on_rejected_id{};
  // Where sessions live: this process (the default), or Redis for a fleet of
  // replicas (.storage = recall::redis_sessions(client, {...})).
  session_backend storage{};
};

struct session_stats {
  std::uint64_t live = 0;     // stored sessions (pinned_over_bound included)
  std::uint64_t created = 0;  // sessions stored (a fresh session is stored at its first write)
  std::uint64_t rotated = 0;  // rotate() and the automatic rotation at sign-in
  std::uint64_t ended = 0;    // end(), end_all() and the store's destruction
  std::uint64_t ended_user_limit = 0;  // a user's oldest, past max_sessions_per_user
  std::uint64_t expired_idle = 0;
  std::uint64_t expired_absolute = 0;
  std::uint64_t evicted = 0;
  std::uint64_t rejected_empty = 0;
  std::uint64_t rejected_malformed = 0;
  std::uint64_t rejected_unknown = 0;
  std::uint64_t rejected_expired = 0;
  std::uint64_t rejected_identity_mismatch = 0;
  std::uint64_t quota_exceeded = 0;
  std::uint64_t bytes = 0;  // accounted heap of the stored sessions
  // Sessions evicted while a request held them: kept for that request (and
  // stored again when it ends), outside max_sessions and max_total_bytes.
  std::uint64_t pinned_over_bound = 0;
  std::uint64_t max_sessions = 0;
  std::uint64_t max_total_bytes = 0;
  // Calls that threw session_error(storage_unavailable) (Redis storage).
  std::uint64_t storage_unavailable = 0;
  // Bytes read from the storage and refused: a stored value, list, map or
  // session record that failed its check (corrupted, or moved from another
  // session). Always 0 in memory.
  std::uint64_t storage_rejected = 0;

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

namespace detail {
struct default_session_options;
}

class RECALL_EXPORT session_store {
 public:
  // The defaults. session_store{} and session_store({}) both mean them.
  session_store();
  explicit session_store(session_options options);
  explicit session_store(const detail::default_session_options*) : session_store() {}
  // Ends every session (announcing each to scope::session caches). Every
  // handle must be gone by then.
  ~session_store();
  session_store(const session_store&) = delete;
  session_store& operator=(const session_store&) = delete;

  // Resumes the session whose id is `cookie_value`, or gives a fresh one (see
  // the header comment). A fresh session is stored, and gets its id, at its
  // first write (or rotate()): until then it costs no memory and needs no
  // cookie. A session bound to user A is resumed only by A; an anonymous
  // session opened by a signed-in identity is bound to it and gets a new id
  // (id_changed() is then true).
  session open(std::string_view cookie_value, const identity& who = {});

  // Ends every session bound to `user` (disabled account, password change),
  // whatever runs concurrently: a session being rotated or signed in meanwhile
  // included.
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

  session_options options_;
  std::unique_ptr<detail::session_storage> storage_;
  std::optional<detail::registration> registration_;
};

// One request's view of a session. Movable (also by assignment: the handle
// it replaces ends its request first), not copyable; a moved-from handle may
// only be destroyed or assigned to. Its destruction ends the request:
// scratch() is dropped and the thread is no longer marked as working for the
// session.
class RECALL_EXPORT session {
 public:
  session(session&& other) noexcept;
  session& operator=(session&& other) noexcept;
  session(const session&) = delete;
  session& operator=(const session&) = delete;
  ~session();

  // The id to send in the cookie: empty for a fresh session nothing was
  // written to (it has none yet); after the session ended, the id it last
  // had (dead: the store rejects it).
  std::string id() const;
  // A number that identifies the session across rotations (never 0).
  std::uint64_t tag() const noexcept { return record_->tag; }
  // The user the session is bound to; empty for an anonymous session.
  std::string user() const;
  // True if this open() gave a fresh session (see rejected_reason()).
  bool is_new() const noexcept { return is_new_; }
  // Why the presented id did not resume a session (the reason on_rejected_id
  // saw); nullopt when it did.
  std::optional<rejected_id_reason> rejected_reason() const noexcept { return rejected_; }
  // True if the cookie must be (re)sent: this request stored a fresh session
  // or gave the session a new id, and it has not ended. Check it when the
  // response is sent, after the request's writes:
  //   if (s.id_changed()) res.set_header("Set-Cookie", cookie.set(s.id()));
  bool id_changed() const;
  // True once the session was ended (here or by another request) or
  // expired. Reads then find nothing; writes throw session_error(ended).
  bool ended() const;

  // Stores `value` (serialized) under `key`, replacing whatever was there.
  // With a source version, get() under a newer version drops it.
  template <class T>
  void set(std::string_view key, const T& value, std::uint64_t source_version = 0) {
    detail::require_serializable<T>();
    detail::value_write w;
    w.version = source_version;
    if constexpr (detail::held_typed<T>) {
      w.data = detail::typed_ops<T>::pack(value);
      w.ops = &detail::typed_ops<T>::ops;
      w.encoded_size = detail::typed_ops<T>::encoded_size(value);
    } else {
      w.data = encode(value);
      w.encoded_size = w.data.size();
    }
    storage().write(record_, key, std::move(w));
  }

  // The value under `key`, or nullopt. Throws codec_error (code
  // type_mismatch) if it was stored as another type, session_error
  // (wrong_kind) if it is a list or a map. A value stored under a source
  // version older than `current_version` is dropped and nullopt returned.
  template <class T>
  std::optional<T> get(std::string_view key, std::uint64_t current_version = 0) {
    std::optional<T> out;
    storage().read(record_, key, current_version, [&](const detail::value_read& v) {
      if constexpr (detail::held_typed<T>) {
        if (v.ops == &detail::typed_ops<T>::ops) {
          detail::typed_ops<T>::unpack_into(out, v.data);
          return;
        }
      }
      if (v.ops == nullptr) {
        out.emplace(decode_value<T>(key, v.data));
      } else {
        out.emplace(decode_value<T>(key, v.ops->encode(v.data)));
      }
    });
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
  // working at once. A fresh session is stored and gets its first id. Throws
  // session_error(ended) on an ended session, and on one past its timeout.
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
    return detail::session_tag_guard(record_->tag);
  }

 private:
  friend class session_store;
  template <class T>
  friend class session_list;
  template <class K, class V>
  friend class session_map;

  session(session_store& store, detail::opened_session opened);
  detail::session_storage& storage() const noexcept { return *store_->storage_; }

  template <class T>
  static T decode_value(std::string_view key, std::string_view bytes) {
    decoded<T> d = decode<T>(bytes);
    if (!d) throw_decode(key, d.error(), d.message());
    return std::move(*d);
  }
  [[noreturn]] static void throw_decode(std::string_view key, codec_errc code,
                                        const std::string& message);
  [[noreturn]] static void throw_out_of_range(std::string_view key, std::size_t i,
                                              std::size_t size);

  session_store* store_;
  detail::record_ptr record_;
  request_scratch scratch_;
  std::uint64_t previous_tag_;  // the thread's mark before this handle, restored at the end
  std::optional<rejected_id_reason> rejected_;
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
  void push_back(const T& value) { s_->storage().list_push(s_->record_, key_, n_, encode(value)); }

  std::size_t size() const {
    return s_->storage().list_read(s_->record_, key_, n_, 0, 0, [](std::string_view) {});
  }
  std::size_t capacity() const noexcept { return n_; }
  bool empty() const { return size() == 0; }

  // Oldest first.
  std::vector<T> items() const {
    std::vector<T> out;
    s_->storage().list_read(s_->record_, key_, n_, 0, n_, [&](std::string_view item) {
      out.push_back(session::decode_value<T>(key_, item));
    });
    return out;
  }
  // 0 is the oldest kept item; std::out_of_range past the end.
  T operator[](std::size_t i) const {
    std::optional<T> out;
    const std::size_t count = s_->storage().list_read(
        s_->record_, key_, n_, i, 1,
        [&](std::string_view item) { out.emplace(session::decode_value<T>(key_, item)); });
    if (!out) session::throw_out_of_range(key_, i, count);
    return std::move(*out);
  }
  T back() const { return (*this)[size() - 1]; }

  void clear() { s_->erase(key_); }

 private:
  friend class session;
  session_list(session& s, std::string key, std::size_t n) : s_(&s), key_(std::move(key)), n_(n) {}

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
    s_->storage().map_put(s_->record_, key_, n_, encode(k), encode(v));
  }

  // The value, marking the entry most recently used; nullopt if absent.
  std::optional<V> get(const K& k) {
    std::optional<V> out;
    s_->storage().map_get(s_->record_, key_, encode(k), [&](std::string_view value) {
      out.emplace(session::decode_value<V>(key_, value));
    });
    return out;
  }

  bool contains(const K& k) const {
    return s_->storage().map_contains(s_->record_, key_, encode(k));
  }
  bool erase(const K& k) { return s_->storage().map_erase(s_->record_, key_, encode(k)); }
  std::size_t size() const {
    return s_->storage().map_read(s_->record_, key_, [](std::string_view, std::string_view) {});
  }
  std::size_t capacity() const noexcept { return n_; }

  // Least recently used first.
  std::vector<std::pair<K, V>> items() const {
    std::vector<std::pair<K, V>> out;
    s_->storage().map_read(s_->record_, key_, [&](std::string_view k, std::string_view v) {
      out.emplace_back(session::decode_value<K>(key_, k), session::decode_value<V>(key_, v));
    });
    return out;
  }

  void clear() { s_->erase(key_); }

 private:
  friend class session;
  session_map(session& s, std::string key, std::size_t n) : s_(&s), key_(std::move(key)), n_(n) {}

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
