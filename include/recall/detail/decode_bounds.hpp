// What a decode may allocate for a container, known before it allocates.
//
// cereal's loaders read a container's element count (its size tag) and then
// allocate for that many elements at once (resize, reserve). Before that
// happens, the bounded archive checks the count against two things this
// header computes per container type:
//   - min_wire_size: the fewest payload bytes one element can be encoded in,
//     so a count the remaining bytes cannot hold is refused;
//   - bytes_per_element: roughly what the container allocates per element
//     (its slot, node or bucket, plus what the element's own default
//     constructor allocates), charged against the decode's allocation cap.
// Both are compile-time constants; a type recall does not know is assumed to
// take at least one byte (zero for an empty class) and its sizeof in memory.
#pragma once

#include <algorithm>
#include <array>
#include <cereal/details/helpers.hpp>
#include <chrono>
#include <complex>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <forward_list>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <valarray>
#include <variant>
#include <vector>

namespace recall::detail {

inline constexpr std::size_t size_tag_bytes = sizeof(cereal::size_type);

template <class T>
struct min_wire_size {
  static constexpr std::size_t value = std::is_empty_v<T> ? 0 : 1;
};
template <class T>
inline constexpr std::size_t min_wire_size_v = min_wire_size<std::remove_cv_t<T>>::value;

template <class T>
requires std::is_arithmetic_v<T>
struct min_wire_size<T> {
  static constexpr std::size_t value = sizeof(T);
};
template <class T, std::size_t N>
struct min_wire_size<std::array<T, N>> {
  static constexpr std::size_t value = N * min_wire_size_v<T>;
};
template <class T, std::size_t N>
struct min_wire_size<T[N]> {
  static constexpr std::size_t value = N * min_wire_size_v<T>;
};
template <class A, class B>
struct min_wire_size<std::pair<A, B>> {
  static constexpr std::size_t value = min_wire_size_v<A> + min_wire_size_v<B>;
};
template <class... Ts>
struct min_wire_size<std::tuple<Ts...>> {
  static constexpr std::size_t value = (std::size_t{0} + ... + min_wire_size_v<Ts>);
};
template <class T>
struct min_wire_size<std::optional<T>> {
  static constexpr std::size_t value = 1;  // the "empty" flag
};
template <class... Ts>
struct min_wire_size<std::variant<Ts...>> {
  static constexpr std::size_t value = sizeof(std::int32_t) + std::min({min_wire_size_v<Ts>...});
};
template <class R, class P>
struct min_wire_size<std::chrono::duration<R, P>> {
  static constexpr std::size_t value = min_wire_size_v<R>;
};
template <class C, class D>
struct min_wire_size<std::chrono::time_point<C, D>> {
  static constexpr std::size_t value = min_wire_size_v<D>;
};
template <class T>
struct min_wire_size<std::complex<T>> {
  static constexpr std::size_t value = 2 * min_wire_size_v<T>;
};

// What a default-constructed T allocates by itself. Only libstdc++'s
// std::deque does among the standard types: its map of 8 block pointers and
// one block.
template <class T>
struct construction_bytes {
  static constexpr std::size_t value = 0;
};
template <class T>
inline constexpr std::size_t construction_bytes_v = construction_bytes<std::remove_cv_t<T>>::value;

#if defined(__GLIBCXX__)
template <class T>
inline constexpr std::size_t deque_block_bytes = sizeof(T) < 512 ? 512 / sizeof(T) * sizeof(T)
                                                                 : sizeof(T);
template <class T, class A>
struct construction_bytes<std::deque<T, A>> {
  static constexpr std::size_t value = 8 * sizeof(void*) + deque_block_bytes<T>;
};
#endif
template <class T, std::size_t N>
struct construction_bytes<std::array<T, N>> {
  static constexpr std::size_t value = N * construction_bytes_v<T>;
};
template <class T, std::size_t N>
struct construction_bytes<T[N]> {
  static constexpr std::size_t value = N * construction_bytes_v<T>;
};
template <class A, class B>
struct construction_bytes<std::pair<A, B>> {
  static constexpr std::size_t value = construction_bytes_v<A> + construction_bytes_v<B>;
};
template <class... Ts>
struct construction_bytes<std::tuple<Ts...>> {
  static constexpr std::size_t value = (std::size_t{0} + ... + construction_bytes_v<Ts>);
};

constexpr std::size_t round_up(std::size_t bytes, std::size_t alignment) noexcept {
  return (bytes + alignment - 1) / alignment * alignment;
}

// An element stored in place (vector, deque, valarray) ...
template <class T>
inline constexpr std::size_t slot_bytes = sizeof(T) + construction_bytes_v<T>;
// ... or in a node of `links` pointers, rounded as the allocator rounds it.
template <class T, std::size_t links>
inline constexpr std::size_t node_bytes = round_up(links * sizeof(void*) + sizeof(T),
                                                   alignof(std::max_align_t)) +
                                          construction_bytes_v<T>;

// The bounds of a container whose loader starts with a size tag.
struct container_bounds {
  bool sized = false;
  std::size_t min_element_bytes = 1;
  std::size_t bytes_per_element = 1;
};

template <class T>
struct bounds_of {
  static constexpr container_bounds value{};
};
template <class T>
inline constexpr container_bounds bounds_of_v = bounds_of<std::remove_cv_t<T>>::value;

template <class Element, std::size_t per_element>
struct sized_bounds {
  static constexpr container_bounds value{true, min_wire_size_v<Element>, per_element};
};

template <class C, class Tr, class A>
struct bounds_of<std::basic_string<C, Tr, A>> : sized_bounds<C, sizeof(C)> {};
template <class T, class A>
struct bounds_of<std::vector<T, A>> : sized_bounds<T, slot_bytes<T>> {};
template <class A>
struct bounds_of<std::vector<bool, A>> : sized_bounds<bool, 1> {};
template <class T>
struct bounds_of<std::valarray<T>> : sized_bounds<T, slot_bytes<T>> {};
#if defined(__GLIBCXX__)
// Plus the block map: one pointer per block of 512 bytes (or one element).
template <class T, class A>
struct bounds_of<std::deque<T, A>>
    : sized_bounds<T, slot_bytes<T> + (sizeof(void*) * sizeof(T) + 511) / 512> {};
#else
template <class T, class A>
struct bounds_of<std::deque<T, A>> : sized_bounds<T, slot_bytes<T> + sizeof(void*)> {};
#endif
template <class T, class A>
struct bounds_of<std::list<T, A>> : sized_bounds<T, node_bytes<T, 2>> {};
template <class T, class A>
struct bounds_of<std::forward_list<T, A>> : sized_bounds<T, node_bytes<T, 1>> {};
// Tree nodes: colour, parent, left, right.
template <class K, class C, class A>
struct bounds_of<std::set<K, C, A>> : sized_bounds<K, node_bytes<K, 4>> {};
template <class K, class C, class A>
struct bounds_of<std::multiset<K, C, A>> : sized_bounds<K, node_bytes<K, 4>> {};
template <class K, class V, class C, class A>
struct bounds_of<std::map<K, V, C, A>>
    : sized_bounds<std::pair<K, V>, node_bytes<std::pair<const K, V>, 4>> {};
template <class K, class V, class C, class A>
struct bounds_of<std::multimap<K, V, C, A>>
    : sized_bounds<std::pair<K, V>, node_bytes<std::pair<const K, V>, 4>> {};
// Hash nodes: next and the cached hash, plus about two bucket slots each.
template <class K, class H, class E, class A>
struct bounds_of<std::unordered_set<K, H, E, A>> : sized_bounds<K, node_bytes<K, 4>> {};
template <class K, class H, class E, class A>
struct bounds_of<std::unordered_multiset<K, H, E, A>> : sized_bounds<K, node_bytes<K, 4>> {};
template <class K, class V, class H, class E, class A>
struct bounds_of<std::unordered_map<K, V, H, E, A>>
    : sized_bounds<std::pair<K, V>, node_bytes<std::pair<const K, V>, 4>> {};
template <class K, class V, class H, class E, class A>
struct bounds_of<std::unordered_multimap<K, V, H, E, A>>
    : sized_bounds<std::pair<K, V>, node_bytes<std::pair<const K, V>, 4>> {};

// Every sized container starts with its size tag, and may end there.
template <class T>
requires(bounds_of<T>::value.sized) struct min_wire_size<T> {
  static constexpr std::size_t value = size_tag_bytes;
};

}  // namespace recall::detail
