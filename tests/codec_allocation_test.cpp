// What decode() allocates, counted by a replaced global operator new: forged
// element counts must not make a decode allocate more than its input can
// hold, and no decode may allocate more than max_decode_allocation() of its
// input. A file of its own because the replacement applies to the whole
// executable.
#include <array>
#include <cereal/types/deque.hpp>
#include <cereal/types/list.hpp>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <new>
#include <set>
#include <string>
#include <vector>

#include "catch.hpp"
#include "forged_envelope.hpp"
#include "recall/codec.hpp"
#include "support/replaced_new.hpp"

namespace {
thread_local bool counting = false;
thread_local std::size_t counted = 0;
}  // namespace

// Counts what the armed thread allocates (support/replaced_new.hpp).
void* recall_test::test_malloc(std::size_t size) noexcept {
  if (counting) counted += size;
  return std::malloc(size == 0 ? 1 : size);
}

namespace {

struct measured {
  std::size_t bytes;
  recall::codec_errc error;
};

template <class T>
measured decode_counting(const std::string& input) {
  counted = 0;
  counting = true;
  auto result = recall::decode<T>(input);
  counting = false;
  return {counted, result.error()};
}

// A payload of `size` bytes: the element count, then zeros.
std::string forged_payload(std::size_t size, std::uint64_t count) {
  std::string payload(size, '\0');
  std::memcpy(payload.data(), &count, sizeof(count));
  return payload;
}

constexpr std::size_t payload_size = 256 << 10;
constexpr std::size_t remaining = payload_size - 8;

template <class T>
measured forged(std::uint64_t count) {
  const std::string input = recall_test::in_envelope<T>(forged_payload(payload_size, count));
  const measured m = decode_counting<T>(input);
  INFO("count " << count << ": " << m.bytes << " bytes allocated for " << input.size()
                << " bytes of input (" << double(m.bytes) / double(input.size()) << "x)");
  CHECK(m.bytes <= recall::max_decode_allocation(input.size()));
  return m;
}

}  // namespace

TEST_CASE("a forged count of numbers allocates no more than the payload holds") {
  using doubles = std::vector<double>;
  // Every count that the payload cannot hold is refused before allocating.
  for (const std::uint64_t count : {std::uint64_t{remaining}, std::uint64_t{remaining / 8 + 1},
                                    std::uint64_t{1} << 40, ~std::uint64_t{0}}) {
    const measured m = forged<doubles>(count);
    CHECK(m.error == recall::codec_errc::malformed_payload);
    CHECK(m.bytes < 4096);
  }
  // The largest count it can hold is a valid payload: one allocation of it.
  const measured m = forged<doubles>(remaining / 8);
  CHECK(m.error == recall::codec_errc::ok);
  CHECK(m.bytes <= remaining + 4096);
}

TEST_CASE("a forged count of big elements allocates no more than the payload holds") {
  using blocks = std::vector<std::array<double, 128>>;
  for (const std::uint64_t count :
       {std::uint64_t{remaining}, std::uint64_t{remaining / 1024 + 1}, std::uint64_t{1} << 40}) {
    const measured m = forged<blocks>(count);
    CHECK(m.error == recall::codec_errc::malformed_payload);
    CHECK(m.bytes < 4096);
  }
  const std::string exact = recall_test::in_envelope<blocks>(
      forged_payload(8 + 100 * sizeof(std::array<double, 128>), 100));
  const measured m = decode_counting<blocks>(exact);
  CHECK(m.error == recall::codec_errc::ok);
  CHECK(m.bytes <= 100 * sizeof(std::array<double, 128>) + 4096);
}

TEST_CASE("a forged count of strings allocates at most a string per length prefix") {
  using strings = std::vector<std::string>;
  for (const std::uint64_t count : {std::uint64_t{remaining}, std::uint64_t{remaining / 8 + 1}}) {
    const measured m = forged<strings>(count);
    CHECK(m.error == recall::codec_errc::malformed_payload);
    CHECK(m.bytes < 4096);
  }
  // remaining / 8 empty strings is a valid payload: the vector of them.
  const measured m = forged<strings>(remaining / 8);
  CHECK(m.error == recall::codec_errc::ok);
  CHECK(m.bytes <= remaining / 8 * sizeof(std::string) + 4096);
}

TEST_CASE("element constructors that allocate count against the cap") {
  // libstdc++'s empty std::deque allocates its map and a block.
  using queues = std::vector<std::deque<char>>;
  for (const std::uint64_t count : {std::uint64_t{remaining / 8}, std::uint64_t{remaining / 64}}) {
    forged<queues>(count);
  }
  using lists = std::list<char>;
  forged<lists>(remaining);
  forged<lists>(remaining / 2);
}

TEST_CASE("values recall encodes decode within the cap") {
  std::vector<std::string> words(20'000, "region");
  std::map<std::string, std::vector<int>> index;
  for (int i = 0; i < 5'000; ++i) index["k" + std::to_string(i)] = {i, i + 1};
  std::set<int> ids;
  for (int i = 0; i < 20'000; ++i) ids.insert(i);
  std::vector<double> series(100'000, 1.5);

  const auto check = [](const auto& value) {
    using T = std::decay_t<decltype(value)>;
    const std::string input = recall::encode(value);
    const measured m = decode_counting<T>(input);
    INFO(m.bytes << " bytes allocated for " << input.size() << " bytes of input");
    CHECK(m.error == recall::codec_errc::ok);
    CHECK(m.bytes <= recall::max_decode_allocation(input.size()));
  };
  check(words);
  check(index);
  check(ids);
  check(series);
}

TEST_CASE("the cap is a multiple of the input, with a floor for small inputs") {
  CHECK(recall::max_decode_allocation(0) == recall::decode_allocation_floor);
  CHECK(recall::max_decode_allocation(1 << 20) ==
        recall::decode_allocation_multiple * (std::size_t{1} << 20));
}
