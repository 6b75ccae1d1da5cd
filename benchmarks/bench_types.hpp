// Value shapes and key helpers shared by the micro benchmarks and the replay
// harness, so that every program measures the same thing.
//
// sales_row is the ~1 KiB result the cache_data benchmarks and their floors
// store: a short string and 128 doubles, serialized with cereal.
#pragma once

#include <array>
#include <cereal/types/string.hpp>
#include <cereal/types/vector.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "recall/key.hpp"

namespace recall_bench {

struct sales_row {
  std::string region;
  std::vector<double> values;

  template <class A>
  void serialize(A& a) {
    a(region, values);
  }
};

// 128 doubles (1 KiB) plus a short region name.
inline sales_row make_sales_row() {
  sales_row row{"EU-west", std::vector<double>(128)};
  for (std::size_t i = 0; i < row.values.size(); ++i) row.values[i] = 0.5 * static_cast<double>(i);
  return row;
}

// A 64-byte trivially copyable value: copying it costs no allocation, so a
// hit measures the map and its locking rather than malloc.
struct blob64 {
  std::array<std::uint64_t, 8> words{};
};

inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A well-mixed 128-bit key for integer id `i`, as make_key would produce,
// without paying for make_key on every operation.
inline recall::key key_of(std::uint64_t i) {
  return recall::key{splitmix64(i), splitmix64(i ^ 0x5bd1e9955bd1e995ULL)};
}

}  // namespace recall_bench
