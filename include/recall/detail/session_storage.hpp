// The seam between the session handle API and where sessions are stored.
//
// session_store forwards every operation of its handles to one
// session_storage. Today that is local_session_storage (the in-process
// engine); a second backend (Redis, docs/sessions.md "Storage") implements
// the same operations, so the handle API does not change. Values cross the
// seam encoded (recall/codec.hpp), except that a value of a few simple types
// (held_typed<T>) may be kept typed by the storage that holds it, so a read
// copies instead of decoding.
//
// Thread safety: every member function may be called concurrently, for the
// same session or different ones; what each promises under concurrency is
// in docs/sessions.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

#include "recall/codec.hpp"
#include "recall/detail/function_ref.hpp"
#include "recall/export.hpp"
#include "recall/identity.hpp"

namespace recall {
enum class rejected_id_reason;
struct session_stats;
}  // namespace recall

namespace recall::detail {

// Types whose value is kept as itself next to nothing else: decode(encode(v))
// is v exactly, and the encoded size is known without encoding.
template <class T>
inline constexpr bool held_typed = std::is_same_v<T, std::string> ||
                                   (std::is_arithmetic_v<T> && sizeof(T) <= 8);

// How a stored value is held. `data` holds the value of type T (its bytes
// for a number, the text for a string) when `ops` is typed_ops<T>::ops, and
// its encoding when `ops` is nullptr.
struct value_ops {
  std::string (*encode)(std::string_view data);
};

template <class T>
struct typed_ops {
  static std::string pack(const T& value) {
    if constexpr (std::is_same_v<T, std::string>) {
      return value;
    } else {
      return std::string(reinterpret_cast<const char*>(&value), sizeof(T));  // fits the SSO
    }
  }
  static void unpack_into(std::optional<T>& out, std::string_view data) {
    if constexpr (std::is_same_v<T, std::string>) {
      out.emplace(data);
    } else {
      out.emplace(unpack(data));
    }
  }
  static T unpack(std::string_view data) {
    if constexpr (std::is_same_v<T, std::string>) {
      return T(data);
    } else {
      T value;
      std::memcpy(&value, data.data(), sizeof(T));
      return value;
    }
  }
  static std::string encode_held(std::string_view data) { return recall::encode(unpack(data)); }
  // The encoded size, without encoding: fixed for a number, linear in the
  // length for a string (checked once; otherwise it encodes).
  static std::size_t encoded_size(const T& value) {
    if constexpr (std::is_same_v<T, std::string>) {
      static const std::size_t base = recall::encode(std::string()).size();
      static const bool linear = recall::encode(std::string(3, 'x')).size() == base + 3;
      return linear ? base + value.size() : recall::encode(value).size();
    } else {
      static const std::size_t size = recall::encode(T{}).size();
      return size;
    }
  }
  static constexpr value_ops ops{&encode_held};
};

// A single value on its way into storage.
struct value_write {
  std::string data;                // as `ops` says
  const value_ops* ops = nullptr;  // nullptr: `data` is the encoding
  std::size_t encoded_size = 0;    // what the quota counts, beside the key
  std::uint64_t version = 0;
};

// A stored single value as a read sees it (valid during the callback only).
struct value_read {
  std::string_view data;
  const value_ops* ops;
};

// What a handle holds on to; each storage derives its own session object.
struct session_record {
  explicit session_record(std::uint64_t tag_) noexcept : tag(tag_) {}
  const std::uint64_t tag;  // stable across rotation, never 0, unique in the process
};
using record_ptr = std::shared_ptr<session_record>;

struct opened_session {
  record_ptr record;
  bool is_new = false;      // a fresh session: nothing stored until its first write
  bool id_changed = false;  // resumed with a new id (sign-in rotated it)
  std::optional<rejected_id_reason> rejected{};  // why the presented id gave a fresh session
};

struct session_status {
  bool stored = false;  // has an id and is in the storage (or was, if ended)
  bool ended = false;
};

// The errors every storage raises in the same words. `wanted` is what the
// operation needs the key to hold ("a list", "a map", "a single value");
// `what` is the refused operation ("cannot write to").
[[noreturn]] RECALL_EXPORT void throw_wrong_kind(std::string_view key, const char* wanted);
[[noreturn]] RECALL_EXPORT void throw_ended(std::string_view what);

class RECALL_EXPORT session_storage {
 public:
  virtual ~session_storage() = default;

  // Resumes the live session `id` names for `who`, or returns a fresh one
  // that is stored (and gets an id) only at its first write. The record is
  // pinned until release().
  virtual opened_session open(std::string_view id, const identity& who) = 0;
  // The handle is gone: unpins the record.
  virtual void release(const record_ptr& r) noexcept = 0;

  virtual std::string id(const record_ptr& r) = 0;  // "" until stored; the last id once ended
  virtual std::string user(const record_ptr& r) = 0;
  virtual session_status status(const record_ptr& r) = 0;
  virtual std::size_t bytes(const record_ptr& r) = 0;  // what max_bytes_per_session counts

  // Single values. read() calls `found` under the session's lock; a value
  // stored under an older version than `current_version` is dropped instead.
  virtual bool read(const record_ptr& r, std::string_view key, std::uint64_t current_version,
                    function_ref<void(const value_read&)> found) = 0;
  virtual void write(const record_ptr& r, std::string_view key, value_write value) = 0;
  virtual bool contains(const record_ptr& r, std::string_view key) = 0;
  virtual bool erase(const record_ptr& r, std::string_view key) = 0;
  virtual void clear(const record_ptr& r) = 0;

  // Lists that keep their newest `n` encoded items.
  virtual void list_push(const record_ptr& r, std::string_view key, std::size_t n,
                         std::string item) = 0;
  // Visits the kept items from the `first` oldest on (at most `count`);
  // returns how many are kept.
  virtual std::size_t list_read(const record_ptr& r, std::string_view key, std::size_t n,
                                std::size_t first, std::size_t count,
                                function_ref<void(std::string_view)> item) = 0;

  // Maps that keep their `n` most recently used entries, keyed by encoding.
  virtual void map_put(const record_ptr& r, std::string_view key, std::size_t n, std::string k,
                       std::string v) = 0;
  // Marks the entry used.
  virtual bool map_get(const record_ptr& r, std::string_view key, std::string_view k,
                       function_ref<void(std::string_view)> value) = 0;
  virtual bool map_contains(const record_ptr& r, std::string_view key, std::string_view k) = 0;
  virtual bool map_erase(const record_ptr& r, std::string_view key, std::string_view k) = 0;
  // Visits the entries, least recently used first; returns how many.
  virtual std::size_t map_read(const record_ptr& r, std::string_view key,
                               function_ref<void(std::string_view, std::string_view)> entry) = 0;

  virtual void rotate(const record_ptr& r) = 0;
  virtual void end(const record_ptr& r) = 0;
  virtual std::size_t end_all(std::string_view user) = 0;
  virtual std::size_t cleanup() = 0;
  virtual session_stats stats() const = 0;
};

}  // namespace recall::detail
