#include <string>

#include "catch.hpp"
#include "recall/redis.hpp"
#include "redis/sha1.hpp"

using recall::detail::sha1_hex;

TEST_CASE("SHA-1 matches the FIPS 180 test vectors") {
  CHECK(sha1_hex("abc") == "a9993e364706816aba3e25717850c26c9cd0d89d");
  CHECK(sha1_hex("") == "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  CHECK(sha1_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq") ==
        "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  CHECK(sha1_hex(std::string(1'000'000, 'a')) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST_CASE("SHA-1 pads correctly around the block boundaries") {
  // Expected values from coreutils sha1sum.
  CHECK(sha1_hex(std::string(55, 'x')) == "cef734ba81a024479e09eb5a75b6ddae62e6abf1");
  CHECK(sha1_hex(std::string(56, 'x')) == "901305367c259952f4e7af8323f480d59f81335b");
  CHECK(sha1_hex(std::string(63, 'x')) == "0ddc4e0cccd9a12850deb5abb0853a4425559fec");
  CHECK(sha1_hex(std::string(64, 'x')) == "bb2fa3ee7afb9f54c6dfb5d021f14b1ffe40c163");
  CHECK(sha1_hex(std::string(65, 'x')) == "78c741ddc482e4cdf8c474a0876347a0905b6233");
  CHECK(sha1_hex(std::string(119, 'x')) == "4300320394f7ee239bcdce7d3b8bcee173a0cd5c");
  CHECK(sha1_hex(std::string(120, 'x')) == "ceb2821639c4b6dcb10bce0e522ca2e608ce056d");
}

TEST_CASE("a redis_script carries the digest Redis computes for it") {
  // SCRIPT LOAD "return 1" answers this digest (also checked against a live
  // server in redis_client_test).
  CHECK(recall::redis_script("return 1").sha1() == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
}
