// Request streams for the replay harness. A trace is a sequence of dense key
// ids (0 .. distinct-1), so the reference policies can index arrays by id.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace recall_bench {

struct trace {
  std::string name;
  std::vector<std::uint32_t> requests;
  std::size_t distinct = 0;
};

// Renumbers ids in order of first appearance and counts the distinct ones.
inline void densify(trace& t) {
  absl::flat_hash_map<std::uint32_t, std::uint32_t> ids;
  for (auto& r : t.requests) {
    r = ids.try_emplace(r, static_cast<std::uint32_t>(ids.size())).first->second;
  }
  t.distinct = ids.size();
}

// Draws ranks 0..n-1 with P(rank r) proportional to 1/(r+1)^skew.
class zipf_sampler {
 public:
  zipf_sampler(std::size_t n, double skew) : cdf_(n) {
    double sum = 0;
    for (std::size_t r = 0; r < n; ++r)
      cdf_[r] = sum += 1.0 / std::pow(static_cast<double>(r + 1), skew);
    for (double& c : cdf_) c /= sum;
  }
  template <class Rng>
  std::uint32_t operator()(Rng& rng) {
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    const auto it = std::lower_bound(cdf_.begin(), cdf_.end(), u);
    return static_cast<std::uint32_t>(std::min<std::size_t>(it - cdf_.begin(), cdf_.size() - 1));
  }

 private:
  std::vector<double> cdf_;
};

inline std::string skew_label(double skew) {
  std::string s = std::to_string(skew);
  s.erase(s.find_last_not_of('0') + 1);
  if (s.back() == '.') s.pop_back();
  return s;
}

inline trace make_zipf(std::size_t keys, std::size_t ops, double skew, std::uint64_t seed) {
  trace t{"zipf-" + skew_label(skew), {}, 0};
  zipf_sampler draw(keys, skew);
  std::mt19937_64 rng(seed);
  t.requests.reserve(ops);
  for (std::size_t i = 0; i < ops; ++i) t.requests.push_back(draw(rng));
  densify(t);
  return t;
}

// Zipf traffic over `keys` hot keys, interrupted after every `keys` requests
// by one sequential pass over keys/4 cold keys (the same cold range each
// time, like a batch job re-reading a table).
inline trace make_zipf_with_scans(std::size_t keys, std::size_t ops, double skew,
                                  std::uint64_t seed) {
  trace t{"zipf-" + skew_label(skew) + "+scan", {}, 0};
  zipf_sampler draw(keys, skew);
  std::mt19937_64 rng(seed);
  const std::size_t scan = std::max<std::size_t>(1, keys / 4);
  t.requests.reserve(ops);
  while (t.requests.size() < ops) {
    for (std::size_t i = 0; i < keys && t.requests.size() < ops; ++i) {
      t.requests.push_back(draw(rng));
    }
    for (std::size_t i = 0; i < scan && t.requests.size() < ops; ++i) {
      t.requests.push_back(static_cast<std::uint32_t>(keys + i));
    }
  }
  densify(t);
  return t;
}

// Popularity that moves: a new key appears every `drift` requests and is at
// once the most popular; request i draws a Zipf rank r over the `window`
// newest keys and asks for the r-th newest. Yesterday's hot keys cool down as
// newer ones arrive (a news feed, the latest reports of a dashboard): recency
// predicts reuse, frequency counted in the past misleads.
inline trace make_shifting(std::size_t window, std::size_t ops, double skew, std::size_t drift,
                           std::uint64_t seed) {
  trace t{"shifting-" + skew_label(skew), {}, 0};
  zipf_sampler draw(window, skew);
  std::mt19937_64 rng(seed);
  t.requests.reserve(ops);
  for (std::size_t i = 0; i < ops; ++i) {
    const std::size_t newest = window + i / drift;
    t.requests.push_back(static_cast<std::uint32_t>(newest - draw(rng)));
  }
  densify(t);
  return t;
}

// 0, 1, ..., length-1, 0, 1, ... : the pattern that defeats LRU completely
// when the loop is longer than the cache.
inline trace make_loop(std::size_t length, std::size_t ops) {
  trace t{"loop-1.1x", {}, 0};
  t.requests.reserve(ops);
  for (std::size_t i = 0; i < ops; ++i)
    t.requests.push_back(static_cast<std::uint32_t>(i % length));
  t.distinct = std::min(length, ops);
  return t;
}

// One key per line; blank lines are skipped. nullopt if the file cannot be read.
inline std::optional<trace> load_trace(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  trace t;
  const auto slash = path.find_last_of('/');
  std::string base = path.substr(slash == std::string::npos ? 0 : slash + 1);
  t.name = "trace:" + base.substr(0, base.find('.'));
  absl::flat_hash_map<std::string, std::uint32_t> ids;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) continue;
    t.requests.push_back(
        ids.try_emplace(line, static_cast<std::uint32_t>(ids.size())).first->second);
  }
  t.distinct = ids.size();
  return t;
}

}  // namespace recall_bench
