// recall/key.hpp: 128-bit cache keys computed from function arguments.
//
// A key is XXH3-128 over the function's identity, its version and every
// argument, each argument preceded by a fingerprint of its type. Arguments are
// hashed exactly as cereal would serialize them (strings and containers are
// length-prefixed), streamed into the hash rather than serialized into a
// buffer first. So any type cereal can serialize is a valid argument, and
//   f("ab", "c") != f("a", "bc"),  f(1) != f(1u),  g(1) != f(1).
// Unordered containers are hashed independently of their iteration order, so
// a key is a function of the arguments' values only.
//
// A type may hash itself instead: define, in its namespace,
//   void recall_hash(recall::key_builder& b, const my_type& v) { b.add(v.id); }
// and an argument can be left out of the key by taking it as
// `recall::unhashed<T>` (a database handle, a logger).
//
// Thread safety: keys are values; make_key is reentrant.
//
//   recall::key k = recall::make_key("load_sales", "v2", std::string("EU"), 42);
#pragma once

#include <algorithm>
#include <cereal/cereal.hpp>
#include <cereal/types/array.hpp>
#include <cereal/types/chrono.hpp>
#include <cereal/types/map.hpp>
#include <cereal/types/optional.hpp>
#include <cereal/types/set.hpp>
#include <cereal/types/string.hpp>
#include <cereal/types/tuple.hpp>
#include <cereal/types/unordered_map.hpp>
#include <cereal/types/unordered_set.hpp>
#include <cereal/types/utility.hpp>
#include <cereal/types/variant.hpp>
#include <cereal/types/vector.hpp>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "recall/detail/type_name.hpp"
#include "recall/detail/xxhash.hpp"
#include "recall/export.hpp"

namespace recall {

struct RECALL_EXPORT key {
  std::uint64_t low = 0;
  std::uint64_t high = 0;

  friend bool operator==(const key&, const key&) = default;
  template <class H>
  friend H AbslHashValue(H state, const key& k) {
    return H::combine(std::move(state), k.low, k.high);
  }
  // 32 lowercase hex digits, high half first: for logs and external stores.
  std::string to_hex() const;
};

namespace detail {
template <class T>
concept pointer_like = std::is_pointer_v<T> || requires(const T& p) {
  p.operator->();
  *p;
};
}  // namespace detail

// Marks an argument that must not be part of the key, like Streamlit's
// leading-underscore parameters. Callers pass `recall::unhashed{conn}`.
// Wrapping a pointer (raw, std::shared_ptr, std::unique_ptr, anything with
// operator-> and operator*), it behaves like the pointer: `->` and `*` reach
// the pointee. Wrapping anything else, `->` reaches the value.
template <class T>
struct unhashed {
  T value;

  T& get() noexcept { return value; }
  const T& get() const noexcept { return value; }

  // Returning the pointer itself makes `->` continue to the pointee.
  T& operator->() noexcept requires detail::pointer_like<T> { return value; }
  const T& operator->() const noexcept requires detail::pointer_like<T> { return value; }
  decltype(auto) operator*() const requires detail::pointer_like<T> { return *value; }

  T* operator->() noexcept requires(!detail::pointer_like<T>) { return &value; }
  const T* operator->() const noexcept requires(!detail::pointer_like<T>) { return &value; }
};
template <class T>
unhashed(T) -> unhashed<T>;

// The sink that arguments are hashed into. Short keys stay in a small inline
// buffer and are hashed in one call; longer ones stream through XXH3's state.
class key_builder {
 public:
  explicit key_builder(std::uint64_t seed = 0) : seed_(seed) {}
  key_builder(const key_builder&) = delete;
  key_builder& operator=(const key_builder&) = delete;

  void add_bytes(const void* data, std::size_t size) {
    if (size == 0) return;  // `data` may be null: an empty vector's data()
    if (size <= sizeof(buffer_) - used_) {
      std::memcpy(buffer_ + used_, data, size);
      used_ += size;
      return;
    }
    spill();
    XXH3_128bits_update(&*state_, data, size);
  }

  // A fixed-size copy, so that a scalar argument costs a store wherever the
  // compiler declines to inline add_bytes.
  template <class T>
  requires std::is_arithmetic_v<T> || std::is_enum_v<T>
  void add(T value) {
    if (sizeof(value) <= sizeof(buffer_) - used_) {
      std::memcpy(buffer_ + used_, &value, sizeof(value));
      used_ += sizeof(value);
      return;
    }
    add_bytes(&value, sizeof(value));
  }

  // Length-prefixed, so adjacent strings cannot run into each other.
  void add(std::string_view text) {
    add(static_cast<std::uint64_t>(text.size()));
    add_bytes(text.data(), text.size());
  }

  key finish() {
    XXH128_hash_t h =
        state_ ? (XXH3_128bits_update(&*state_, buffer_, used_), XXH3_128bits_digest(&*state_))
               : XXH3_128bits_withSeed(buffer_, used_, seed_);
    return key{h.low64, h.high64};
  }

 private:
  // The streaming state is large (576 bytes) and short keys never need it,
  // so it is built, zeroed, on the first spill only.
  void spill() {
    if (!state_) {
      state_.emplace();
      XXH3_128bits_reset_withSeed(&*state_, seed_);
    }
    XXH3_128bits_update(&*state_, buffer_, used_);
    used_ = 0;
  }

  std::uint64_t seed_;
  unsigned char buffer_[192];
  std::size_t used_ = 0;
  std::optional<XXH3_state_t> state_;
};

namespace detail {

// A cereal output archive whose "output" is a key_builder.
class hash_archive : public cereal::OutputArchive<hash_archive, cereal::AllowEmptyClassElision> {
 public:
  explicit hash_archive(key_builder& sink)
      : cereal::OutputArchive<hash_archive, cereal::AllowEmptyClassElision>(this), sink_(sink) {}
  void saveBinary(const void* data, std::size_t size) { sink_.add_bytes(data, size); }

 private:
  key_builder& sink_;
};

template <class T>
requires std::is_arithmetic_v<T>
void save(hash_archive& ar, const T& value) { ar.saveBinary(&value, sizeof(value)); }
template <class T>
void save(hash_archive& ar, const cereal::BinaryData<T>& data) {
  ar.saveBinary(data.data, static_cast<std::size_t>(data.size));
}
template <class T>
void serialize(hash_archive& ar, cereal::NameValuePair<T>& nvp) {
  ar(nvp.value);
}
template <class T>
void serialize(hash_archive& ar, cereal::SizeTag<T>& tag) {
  ar(tag.size);
}

// Unordered containers iterate in an order that depends on their history
// (insertion order, bucket count, rehashes), not on their value. So each
// element is hashed on its own into a 128-bit digest (seeded with a fixed
// constant), the digests are sorted, and the key gets the element count and
// the sorted digests: equal containers give equal keys, in any process.
inline constexpr std::uint64_t unordered_element_seed = 0x72656361'6c6c5345ULL;  // "recallSE"

template <class C, class Visit>
void save_unordered(hash_archive& ar, const C& container, const Visit& hash_element) {
  std::vector<XXH128_hash_t> digests;
  digests.reserve(container.size());
  for (const auto& element : container) {
    key_builder element_builder(unordered_element_seed);
    hash_archive element_archive(element_builder);
    hash_element(element_archive, element);
    const key k = element_builder.finish();
    digests.push_back({k.low, k.high});
  }
  std::sort(digests.begin(), digests.end(), [](const XXH128_hash_t& a, const XXH128_hash_t& b) {
    return a.high64 != b.high64 ? a.high64 < b.high64 : a.low64 < b.low64;
  });
  ar(cereal::make_size_tag(static_cast<cereal::size_type>(digests.size())));
  for (const XXH128_hash_t& d : digests) {
    ar.saveBinary(&d.low64, sizeof(d.low64));
    ar.saveBinary(&d.high64, sizeof(d.high64));
  }
}

inline constexpr auto hash_set_element = [](hash_archive& ar, const auto& element) { ar(element); };
// The bytes cereal writes for a map item: the key, then the value.
inline constexpr auto hash_map_element = [](hash_archive& ar, const auto& element) {
  ar(element.first, element.second);
};

template <class K, class H, class E, class A>
void save(hash_archive& ar, const std::unordered_set<K, H, E, A>& set) {
  save_unordered(ar, set, hash_set_element);
}
template <class K, class H, class E, class A>
void save(hash_archive& ar, const std::unordered_multiset<K, H, E, A>& set) {
  save_unordered(ar, set, hash_set_element);
}
template <class K, class V, class H, class E, class A>
void save(hash_archive& ar, const std::unordered_map<K, V, H, E, A>& map) {
  save_unordered(ar, map, hash_map_element);
}
template <class K, class V, class H, class E, class A>
void save(hash_archive& ar, const std::unordered_multimap<K, V, H, E, A>& map) {
  save_unordered(ar, map, hash_map_element);
}

template <class T>
concept has_custom_hash = requires(key_builder& b, const T& v) {
  recall_hash(b, v);
};

template <class T>
inline constexpr bool is_unhashed = false;
template <class T>
inline constexpr bool is_unhashed<unhashed<T>> = true;

}  // namespace detail

// A type that can be part of a key: serializable by cereal, or with its own
// recall_hash, or wrapped in recall::unhashed.
template <class T>
concept hashable = detail::is_unhashed<std::remove_cvref_t<T>> ||
    detail::has_custom_hash<std::remove_cvref_t<T>> ||
    (!std::is_pointer_v<std::remove_cvref_t<T>> &&
     cereal::traits::is_output_serializable<std::remove_cvref_t<T>, detail::hash_archive>::value);

namespace detail {

template <class T>
constexpr void require_hashable() {
  static_assert(hashable<T>,
                "recall: this argument type cannot be hashed into a cache key (the type is T in "
                "the 'In instantiation of' line above). Fix: give it a cereal serialize()/save() "
                "function, or define recall_hash(recall::key_builder&, const T&) in its "
                "namespace, or take the argument as recall::unhashed<T> to leave it out.");
}

template <class T>
void hash_argument(key_builder& builder, const T& value) {
  using type = std::remove_cvref_t<T>;
  if constexpr (!hashable<type>) {
    require_hashable<type>();  // stops here, before cereal adds its own errors
  } else {
    builder.add(type_fingerprint<type>);
    if constexpr (is_unhashed<type>) {
      return;
    } else if constexpr (has_custom_hash<type>) {
      recall_hash(builder, value);
    } else if constexpr (std::is_arithmetic_v<type>) {
      builder.add(value);  // the bytes cereal would write, without building an archive
    } else if constexpr (std::is_same_v<type, std::string>) {
      builder.add(std::string_view(value));  // cereal's size tag, then the characters
    } else {
      hash_archive archive(builder);
      archive(value);
    }
  }
}

}  // namespace detail

// What a function's identity and version contribute to its keys: the XXH3
// seed. Caches compute it once, keeping it off the hit path.
inline std::uint64_t key_seed(std::string_view identity, std::string_view version) {
  return XXH3_64bits_withSeed(version.data(), version.size(),
                              XXH3_64bits(identity.data(), identity.size()));
}

template <class... Args>
key make_key_with_seed(std::uint64_t seed, const Args&... args) {
  key_builder builder(seed);
  (detail::hash_argument(builder, args), ...);
  return builder.finish();
}

// The key of one call: identity names the function (cache_data uses its
// `name` option), version separates incompatible generations of it.
template <class... Args>
key make_key(std::string_view identity, std::string_view version, const Args&... args) {
  return make_key_with_seed(key_seed(identity, version), args...);
}

}  // namespace recall
