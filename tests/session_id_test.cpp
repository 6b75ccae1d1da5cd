#include "recall/session_id.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "catch.hpp"

// ThreadSanitizer makes each id (a syscall and an allocation) several times
// slower; there the count is scaled down to keep the test within seconds.
#if defined(__SANITIZE_THREAD__)
#define RECALL_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RECALL_TSAN 1
#endif
#endif

namespace {

#ifdef RECALL_TSAN
constexpr std::size_t id_count = 250'000;
#else
constexpr std::size_t id_count = 1'000'000;
#endif

constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// The 6-bit value of each byte, -1 outside the alphabet: a table, because the
// million-id test looks up 43 million characters.
const std::array<int, 256> sextets = [] {
  std::array<int, 256> table;
  table.fill(-1);
  for (std::size_t i = 0; i < alphabet.size(); ++i) {
    table[static_cast<unsigned char>(alphabet[i])] = static_cast<int>(i);
  }
  return table;
}();

int sextet(char c) { return sextets[static_cast<unsigned char>(c)]; }

// Chi-square statistic of observed counts against a uniform distribution.
double chi_square(const std::vector<std::uint64_t>& counts) {
  double total = 0;
  for (const auto c : counts) total += static_cast<double>(c);
  const double expected = total / static_cast<double>(counts.size());
  double stat = 0;
  for (const auto c : counts)
    stat += (static_cast<double>(c) - expected) * (static_cast<double>(c) - expected) / expected;
  return stat;
}

// Upper quantile of the chi-square distribution with `df` degrees of freedom
// at standard-normal deviate z (Wilson-Hilferty). z = 5 is p ~ 3e-7 per
// test, so 43 positions give a false alarm about once in 80,000 runs.
double chi_square_limit(double df, double z = 5.0) {
  const double a = 2.0 / (9.0 * df);
  return df * std::pow(1.0 - a + z * std::sqrt(a), 3.0);
}

}  // namespace

TEST_CASE("an id is 43 well-formed base64url characters") {
  const std::string id = recall::new_session_id();
  CHECK(id.size() == recall::session_id_length);
  CHECK(recall::session_id_length * 6 >= recall::session_id_bytes * 8);
  CHECK((recall::session_id_length - 1) * 6 < recall::session_id_bytes * 8);
  CHECK(std::all_of(id.begin(), id.end(), [](char c) { return sextet(c) >= 0; }));
  CHECK(recall::is_well_formed_session_id(id));
  CHECK(recall::new_session_id() != id);
}

TEST_CASE("one million ids: no collision, every character position uniform") {
  constexpr std::size_t n = id_count;
  constexpr std::size_t positions = recall::session_id_length;

  // A 120-bit prefix (the first 20 characters) per id: 16 MB in a sorted
  // vector instead of 1M strings in a hash set.
  std::vector<std::array<std::uint64_t, 2>> prefixes;
  prefixes.reserve(n);
  std::vector<std::vector<std::uint64_t>> counts(positions - 1, std::vector<std::uint64_t>(64));
  // The last character holds the 4 remaining bits: 16 possible values.
  std::vector<std::uint64_t> last_counts(16);
  std::size_t malformed = 0;
  std::size_t non_canonical_last = 0;

  for (std::size_t i = 0; i < n; ++i) {
    const std::string id = recall::new_session_id();
    if (!recall::is_well_formed_session_id(id)) ++malformed;
    std::array<std::uint64_t, 2> prefix{};
    for (std::size_t p = 0; p < positions; ++p) {
      const int v = sextet(id[p]);
      if (p + 1 < positions) {
        ++counts[p][static_cast<std::size_t>(v)];
      } else if (v % 4 != 0) {
        ++non_canonical_last;
      } else {
        ++last_counts[static_cast<std::size_t>(v / 4)];
      }
      if (p < 20) prefix[p / 10] = (prefix[p / 10] << 6) | static_cast<std::uint64_t>(v);
    }
    prefixes.push_back(prefix);
  }

  CHECK(malformed == 0);
  CHECK(non_canonical_last == 0);

  std::sort(prefixes.begin(), prefixes.end());
  CHECK(std::adjacent_find(prefixes.begin(), prefixes.end()) == prefixes.end());

  const double limit64 = chi_square_limit(63);
  for (std::size_t p = 0; p + 1 < positions; ++p) {
    INFO("position " << p);
    CHECK(chi_square(counts[p]) < limit64);
  }
  CHECK(chi_square(last_counts) < chi_square_limit(15));
}

TEST_CASE("the chi-square check detects a modulo-biased encoder") {
  // The classic mistake: alphabet[byte % 62]. 256 = 4 * 62 + 8, so the first 8
  // symbols come up 5 times in 256 and the others 4 times.
  constexpr std::uint64_t n = 1'000'000;
  std::vector<std::uint64_t> counts(62);
  for (std::size_t s = 0; s < counts.size(); ++s) counts[s] = n * (s < 8 ? 5 : 4) / 256;
  CHECK(chi_square(counts) > chi_square_limit(61));
}

TEST_CASE("malformed ids are rejected") {
  const std::string id = recall::new_session_id();
  REQUIRE(recall::is_well_formed_session_id(id));

  SECTION("empty, short and long") {
    CHECK_FALSE(recall::is_well_formed_session_id(""));
    CHECK_FALSE(recall::is_well_formed_session_id(id.substr(0, id.size() - 1)));
    CHECK_FALSE(recall::is_well_formed_session_id(id + "A"));
    CHECK_FALSE(recall::is_well_formed_session_id(id + id));
  }
  SECTION("characters outside the base64url alphabet, at every position") {
    for (const char bad : std::string_view("+/= .%\0\x7f\xc3", 9)) {
      for (std::size_t p = 0; p < id.size(); ++p) {
        std::string copy = id;
        copy[p] = bad;
        INFO("char " << static_cast<int>(static_cast<unsigned char>(bad)) << " at " << p);
        CHECK_FALSE(recall::is_well_formed_session_id(copy));
      }
    }
  }
  SECTION("padding") {
    CHECK_FALSE(recall::is_well_formed_session_id(id + "="));
    CHECK_FALSE(recall::is_well_formed_session_id(id.substr(0, id.size() - 1) + "="));
  }
  SECTION("a last character with bits beyond the 256 is not canonical") {
    std::size_t accepted = 0;
    for (const char last : alphabet) {
      std::string copy = id;
      copy.back() = last;
      const bool ok = recall::is_well_formed_session_id(copy);
      INFO("last char " << last);
      CHECK(ok == (sextet(last) % 4 == 0));
      accepted += ok ? 1 : 0;
    }
    CHECK(accepted == 16);
  }
}

TEST_CASE("constant_time_equal compares like ==") {
  const std::string a = recall::new_session_id();
  CHECK(recall::constant_time_equal(a, a));
  CHECK(recall::constant_time_equal(a, std::string(a)));
  CHECK(recall::constant_time_equal("", ""));
  for (const std::size_t p : {std::size_t{0}, a.size() / 2, a.size() - 1}) {
    std::string b = a;
    b[p] = b[p] == 'A' ? 'B' : 'A';
    INFO("differs at " << p);
    CHECK_FALSE(recall::constant_time_equal(a, b));
  }
  CHECK_FALSE(recall::constant_time_equal(a, a.substr(0, a.size() - 1)));
  CHECK_FALSE(recall::constant_time_equal(a, a + "A"));
  CHECK_FALSE(recall::constant_time_equal("", "A"));
  CHECK_FALSE(recall::constant_time_equal(a, recall::new_session_id()));
}
