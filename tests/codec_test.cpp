#include "recall/codec.hpp"

#include <array>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "catch.hpp"
#include "forged_envelope.hpp"

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

struct switch_state {
  int id = 0;
  bool on = false;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(id, on);
  }
};

struct panel {
  bool leds[2][2] = {};  // cereal reads a C array of bools as one block
  template <class Archive>
  void serialize(Archive& ar) {
    ar(leds);
  }
};

// No data at all: containers of it carry only their size.
struct nothing {
  template <class Archive>
  void serialize(Archive&) {}
  friend bool operator==(const nothing&, const nothing&) = default;
};

using recall_test::in_envelope;

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

TEST_CASE("a byte other than 0 or 1 loaded as a bool is malformed and never a bool") {
  using recall::codec_errc;
  // Issue 15's reproducer: an optional<int> whose "empty" flag is 2.
  const std::string flag_two("\x02\x2a\x00\x00\x00", 5);
  auto opt = recall::decode<std::optional<int>>(in_envelope<std::optional<int>>(flag_two));
  CHECK(opt.error() == codec_errc::malformed_payload);
  CHECK(opt.message().find("bool") != std::string::npos);

  CHECK(recall::decode<bool>(in_envelope<bool>("\x02")).error() == codec_errc::malformed_payload);
  CHECK(recall::decode<bool>(in_envelope<bool>("\xff")).error() == codec_errc::malformed_payload);
  const std::string member("\x07\x00\x00\x00\x80", 5);
  CHECK(recall::decode<switch_state>(in_envelope<switch_state>(member)).error() ==
        codec_errc::malformed_payload);
  const std::string bits("\x02\x00\x00\x00\x00\x00\x00\x00\x01\x03", 10);
  CHECK(recall::decode<std::vector<bool>>(in_envelope<std::vector<bool>>(bits)).error() ==
        codec_errc::malformed_payload);
  // std::array<bool, N> is read as one block of bytes, not bool by bool.
  using flags = std::array<bool, 3>;
  CHECK(recall::decode<flags>(in_envelope<flags>(std::string("\x01\x00\x04", 3))).error() ==
        codec_errc::malformed_payload);
  CHECK(recall::decode<panel>(in_envelope<panel>(std::string("\x00\x01\x01\x09", 4))).error() ==
        codec_errc::malformed_payload);
  CHECK(recall::decode<panel>(in_envelope<panel>(std::string("\x00\x01\x01\x00", 4)))->leds[0][1]);

  // 0 and 1 are the only spellings, and they still decode.
  CHECK(*recall::decode<bool>(in_envelope<bool>(std::string(1, '\x01'))) == true);
  CHECK(*recall::decode<bool>(in_envelope<bool>(std::string(1, '\x00'))) == false);
  CHECK(*recall::decode<std::optional<int>>(recall::encode(std::optional<int>(42))) == 42);
  CHECK(*recall::decode<std::optional<int>>(recall::encode(std::optional<int>())) == std::nullopt);
  CHECK(*recall::decode<flags>(recall::encode(flags{true, false, true})) ==
        flags{true, false, true});
  CHECK(*recall::decode<std::vector<bool>>(recall::encode(std::vector<bool>{true, false})) ==
        std::vector<bool>{true, false});
}

TEST_CASE("a variant index outside the alternatives is malformed") {
  using v = std::variant<int, std::string>;
  for (const std::int32_t index : {2, -1, 1 << 30}) {
    std::string payload(4, '\0');
    std::memcpy(payload.data(), &index, 4);
    payload.append(8, '\0');
    CHECK(recall::decode<v>(in_envelope<v>(payload)).error() ==
          recall::codec_errc::malformed_payload);
  }
  CHECK(std::get<std::string>(*recall::decode<v>(recall::encode(v(std::string("x"))))) == "x");
}

TEST_CASE("empty containers of numbers round-trip") {
  // Their data() is a null pointer: copying zero bytes from or to it must not
  // reach memcpy (UBSan flags memcpy(nullptr, ..., 0)).
  CHECK(recall::decode<std::vector<int>>(recall::encode(std::vector<int>{}))->empty());
  CHECK(recall::decode<std::vector<double>>(recall::encode(std::vector<double>{}))->empty());
  CHECK(recall::decode<std::string>(recall::encode(std::string()))->empty());
  CHECK(recall::decode<table>(recall::encode(table{}))->values.empty());
}

TEST_CASE("containers of empty types round-trip") {
  CHECK(recall::decode<std::vector<nothing>>(recall::encode(std::vector<nothing>(1000)))->size() ==
        1000);
  using holes = std::vector<std::monostate>;
  CHECK(recall::decode<holes>(recall::encode(holes(5000)))->size() == 5000);
  std::map<int, nothing> keys;
  for (int i = 0; i < 100; ++i) keys[i];
  CHECK(*recall::decode<std::map<int, nothing>>(recall::encode(keys)) == keys);
}
