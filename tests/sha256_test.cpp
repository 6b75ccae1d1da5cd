#include "recall/detail/sha256.hpp"

#include <fmt/format.h>

#include <string>

#include "catch.hpp"

namespace {

std::string hex(const recall::detail::sha256_digest& d) {
  std::string out;
  for (unsigned char c : d) out += fmt::format("{:02x}", c);
  return out;
}

}  // namespace

TEST_CASE("SHA-256 matches the FIPS 180 examples") {
  using recall::detail::sha256_of;
  CHECK(hex(sha256_of("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(hex(sha256_of("abc")) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(hex(sha256_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // A million 'a', fed in uneven pieces so every buffering path runs.
  recall::detail::sha256 h;
  const std::string chunk(997, 'a');
  std::size_t fed = 0;
  while (fed + chunk.size() <= 1'000'000) {
    h.update(chunk);
    fed += chunk.size();
  }
  h.update(std::string(1'000'000 - fed, 'a'));
  CHECK(hex(h.finish()) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("HMAC-SHA256 matches RFC 4231") {
  using recall::detail::hmac_sha256;
  CHECK(hex(hmac_sha256(std::string(20, '\x0b')).sign("Hi There")) ==
        "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  CHECK(hex(hmac_sha256("Jefe").sign("what do ya want for nothing?")) ==
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  CHECK(hex(hmac_sha256(std::string(20, '\xaa')).sign(std::string(50, '\xdd'))) ==
        "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
  const std::string long_key(131, '\xaa');
  CHECK(hex(hmac_sha256(long_key).sign("Test Using Larger Than Block-Size Key - Hash Key First")) ==
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  CHECK(hex(hmac_sha256(long_key).sign(
            "This is a test using a larger than block-size key and a larger than block-size "
            "data. The key needs to be hashed before being used by the HMAC algorithm.")) ==
        "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
  // Signing parts is signing their concatenation.
  const hmac_sha256 mac("k");
  CHECK(mac.sign("ab", "c") == mac.sign("abc"));
  CHECK(recall::detail::digests_equal(mac.sign("x"), mac.sign("x")));
  CHECK_FALSE(recall::detail::digests_equal(mac.sign("x"), mac.sign("y")));
}
