#include "recall/codec.hpp"

#include <map>
#include <string>
#include <vector>

#include "catch.hpp"

namespace {

struct table {
  std::string name;
  std::vector<double> values;
  std::map<std::string, int> index;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(name, values, index);
  }
  friend bool operator==(const table&, const table&) = default;
};

table sample() { return {"sales", {1.5, 2.5, 3.5}, {{"EU", 1}, {"US", 2}}}; }

}  // namespace

TEST_CASE("values round-trip") {
  const auto bytes = recall::encode(sample());
  CHECK(bytes.size() > recall::envelope_size);
  auto back = recall::decode<table>(bytes);
  REQUIRE(back);
  CHECK(*back == sample());
  CHECK(*recall::decode<int>(recall::encode(-7)) == -7);
  CHECK(*recall::decode<std::string>(recall::encode(std::string())) == "");
}

TEST_CASE("the payload is cereal's binary layout") {
  const auto bytes = recall::encode(std::string("ab"));
  const std::string payload = bytes.substr(recall::envelope_size);
  REQUIRE(payload.size() == 8 + 2);
  std::uint64_t length;
  std::memcpy(&length, payload.data(), 8);
  CHECK(length == 2);
  CHECK(payload.substr(8) == "ab");
}

TEST_CASE("every kind of bad bytes gets its own error") {
  const std::string good = recall::encode(sample());

  SECTION("truncated envelope") {
    auto r = recall::decode<table>(good.substr(0, 10));
    CHECK_FALSE(r);
    CHECK(r.error() == recall::codec_errc::truncated);
  }
  SECTION("truncated payload") {
    auto r = recall::decode<table>(good.substr(0, good.size() - 1));
    CHECK(r.error() == recall::codec_errc::truncated);
  }
  SECTION("bad magic") {
    std::string bad = good;
    bad[0] = 'X';
    CHECK(recall::decode<table>(bad).error() == recall::codec_errc::bad_magic);
  }
  SECTION("unsupported version") {
    std::string bad = good;
    bad[4] = 99;
    CHECK(recall::decode<table>(bad).error() == recall::codec_errc::unsupported_version);
  }
  SECTION("wrong type") {
    CHECK(recall::decode<std::string>(good).error() == recall::codec_errc::type_mismatch);
    CHECK(recall::decode<unsigned>(recall::encode(1)).error() == recall::codec_errc::type_mismatch);
  }
  SECTION("over the size limit") {
    CHECK(recall::decode<table>(good, 4).error() == recall::codec_errc::too_large);
  }
  SECTION("corrupted payload") {
    std::string bad = good;
    bad[bad.size() - 3] ^= 0x40;
    auto r = recall::decode<table>(bad);
    CHECK(r.error() == recall::codec_errc::checksum_mismatch);
    CHECK_THROWS_AS(r.value(), recall::codec_error);
  }
  SECTION("forged element count with a valid checksum") {
    // A payload claiming 2^40 characters: must be refused before allocating.
    std::string payload(8, '\0');
    const std::uint64_t huge = std::uint64_t{1} << 40;
    std::memcpy(payload.data(), &huge, 8);
    std::string forged = recall::encode(std::string());
    forged.resize(recall::envelope_size);
    forged += payload;
    const std::uint64_t size = payload.size();
    const std::uint64_t sum = XXH3_64bits(payload.data(), payload.size());
    std::memcpy(forged.data() + 16, &size, 8);
    std::memcpy(forged.data() + 24, &sum, 8);
    auto r = recall::decode<std::string>(forged);
    CHECK(r.error() == recall::codec_errc::malformed_payload);
    CHECK_FALSE(r.message().empty());
  }
  SECTION("trailing bytes the type does not read") {
    std::string payload(12, '\0');
    std::string forged = recall::encode(std::int32_t{5});
    forged.resize(recall::envelope_size);
    forged += payload;
    const std::uint64_t size = payload.size();
    const std::uint64_t sum = XXH3_64bits(payload.data(), payload.size());
    std::memcpy(forged.data() + 16, &size, 8);
    std::memcpy(forged.data() + 24, &sum, 8);
    CHECK(recall::decode<std::int32_t>(forged).error() == recall::codec_errc::malformed_payload);
  }
}

TEST_CASE("a flipped bit anywhere is detected") {
  const std::string good = recall::encode(sample());
  for (std::size_t at = 0; at < good.size(); ++at) {
    for (const unsigned char mask : {0x01, 0x10, 0x80, 0xff}) {
      std::string bad = good;
      bad[at] = static_cast<char>(bad[at] ^ mask);
      CHECK_FALSE(recall::decode<table>(bad));
    }
  }
}

TEST_CASE("serializable is a concept") {
  STATIC_REQUIRE(recall::serializable<table>);
  struct opaque_value {
    int* p;
  };
  STATIC_REQUIRE_FALSE(recall::serializable<opaque_value>);
  STATIC_REQUIRE_FALSE(recall::serializable<int*>);
}

TEST_CASE("error codes have names") {
  CHECK(std::string(recall::to_string(recall::codec_errc::checksum_mismatch)) ==
        "checksum_mismatch");
}
