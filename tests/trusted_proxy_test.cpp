#include "recall/trusted_proxy.hpp"

#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "catch.hpp"
#include "recall/error.hpp"
#include "recall/roles.hpp"

namespace {

using headers = std::vector<std::pair<std::string, std::string>>;

template <class F>
std::string config_error_of(F&& f) {
  try {
    f();
  } catch (const recall::config_error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

recall::trusted_proxy proxy_for(std::vector<std::string> networks) {
  return recall::trusted_proxy({.trusted_networks = std::move(networks)});
}

const headers alice = {{"X-Forwarded-User", "alice"}, {"X-Forwarded-Groups", "staff,admin"}};

}  // namespace

TEST_CASE("a bad network entry is a config_error naming it") {
  for (const std::string bad :
       {"10.0.0.0/33", "::1/129", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x", "10.0.0/8", "abc", "",
        "10.0.0.0/0008", "fe80::1%eth0", " 10.0.0.0/8"}) {
    const auto message = config_error_of([&] { proxy_for({"127.0.0.1/32", bad}); });
    INFO(bad << " -> " << message);
    CHECK(contains(message, "\"" + bad + "\""));
  }
}

TEST_CASE("a network with host bits set is refused with the likely intended network") {
  const auto message = config_error_of([] { proxy_for({"10.1.2.3/8"}); });
  CHECK(contains(message, "\"10.1.2.3/8\""));
  CHECK(contains(message, "\"10.0.0.0/8\""));
  CHECK(contains(config_error_of([] { proxy_for({"fd00::1/64"}); }), "\"fd00::/64\""));
}

TEST_CASE("bad header names and separators are config errors") {
  CHECK(
      contains(config_error_of([] { recall::trusted_proxy({.user_header = ""}); }), "user_header"));
  CHECK(contains(config_error_of([] { recall::trusted_proxy({.groups_header = "X Groups"}); }),
                 "\"X Groups\""));
  CHECK(contains(config_error_of([] {
                   recall::trusted_proxy({.user_header = "X-User", .groups_header = "x-user"});
                 }),
                 "different names"));
  CHECK(contains(config_error_of([] { recall::trusted_proxy({.groups_separator = ' '}); }),
                 "groups_separator"));
  CHECK(contains(config_error_of([] { recall::trusted_proxy({.max_user_bytes = 0}); }),
                 "max_user_bytes"));
}

TEST_CASE("IPv4 CIDR matching, edge prefixes included") {
  SECTION("/0 trusts every IPv4 peer") {
    const auto p = proxy_for({"0.0.0.0/0"});
    CHECK(p.trusted("0.0.0.0"));
    CHECK(p.trusted("255.255.255.255"));
    CHECK(p.trusted("::ffff:8.8.8.8"));
    CHECK_FALSE(p.trusted("::1"));
  }
  SECTION("/32 and a bare address trust exactly one host") {
    for (const std::string entry : {"192.168.1.7/32", "192.168.1.7"}) {
      const auto p = proxy_for({entry});
      CHECK(p.trusted("192.168.1.7"));
      CHECK_FALSE(p.trusted("192.168.1.6"));
      CHECK_FALSE(p.trusted("192.168.1.8"));
    }
  }
  SECTION("a prefix that is not a whole number of bytes") {
    const auto p = proxy_for({"172.16.0.0/12"});
    CHECK(p.trusted("172.16.0.0"));
    CHECK(p.trusted("172.31.255.255"));
    CHECK_FALSE(p.trusted("172.32.0.0"));
    CHECK_FALSE(p.trusted("172.15.255.255"));
  }
  SECTION("several networks") {
    const auto p = proxy_for({"10.0.0.0/8", "127.0.0.1/32"});
    CHECK(p.trusted("10.200.3.4"));
    CHECK(p.trusted("127.0.0.1"));
    CHECK_FALSE(p.trusted("127.0.0.2"));
    CHECK_FALSE(p.trusted("11.0.0.1"));
  }
}

TEST_CASE("IPv6 CIDR matching, edge prefixes included") {
  SECTION("/0 trusts every IPv6 peer, and no IPv4 peer") {
    const auto p = proxy_for({"::/0"});
    CHECK(p.trusted("::"));
    CHECK(p.trusted("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    CHECK_FALSE(p.trusted("10.0.0.1"));
  }
  SECTION("/128 trusts exactly one host") {
    const auto p = proxy_for({"::1/128"});
    CHECK(p.trusted("::1"));
    CHECK(p.trusted("0:0:0:0:0:0:0:1"));
    CHECK_FALSE(p.trusted("::2"));
    CHECK_FALSE(p.trusted("127.0.0.1"));
  }
  SECTION("a prefix inside a byte") {
    const auto p = proxy_for({"2001:db8:0:0:8000::/65"});
    CHECK(p.trusted("2001:db8::8000:0:0:0"));
    CHECK(p.trusted("2001:db8::ffff:ffff:ffff:ffff"));
    CHECK_FALSE(p.trusted("2001:db8::7fff:ffff:ffff:ffff"));
    CHECK_FALSE(p.trusted("2001:db8:0:1:8000::"));
  }
}

TEST_CASE("IPv4-mapped IPv6 peers and networks") {
  CHECK(proxy_for({"10.0.0.0/8"}).trusted("::ffff:10.1.2.3"));
  CHECK_FALSE(proxy_for({"10.0.0.0/8"}).trusted("::ffff:11.1.2.3"));
  CHECK(proxy_for({"::ffff:10.0.0.0/104"}).trusted("10.1.2.3"));
  CHECK(proxy_for({"::ffff:10.0.0.0/104"}).trusted("::ffff:10.1.2.3"));
  CHECK_FALSE(proxy_for({"::ffff:10.0.0.0/104"}).trusted("11.1.2.3"));
}

TEST_CASE("peer addresses with ports; anything else is untrusted") {
  const auto p = proxy_for({"10.0.0.0/8", "::1/128"});
  CHECK(p.trusted("10.0.0.1:8080"));
  CHECK(p.trusted("[::1]"));
  CHECK(p.trusted("[::1]:443"));
  for (const std::string bad :
       {"", "localhost", "10.0.0.1:", "10.0.0.1:99999", "10.0.0.1:8x", "[10.0.0.1]", "[::1",
        "[::1]443", "10.0.0.1 ", " 10.0.0.1", "010.0.0.1", "10.0.0.1/8"}) {
    INFO("peer \"" << bad << "\"");
    CHECK_FALSE(p.trusted(bad));
    CHECK(p.inspect(bad, alice).outcome == recall::identify_outcome::bad_peer_address);
  }
}

TEST_CASE("identity comes from the headers of a trusted peer") {
  const auto p = proxy_for({"10.0.0.0/8"});
  const auto who = p.identify("10.0.0.5", alice);
  CHECK(who.user == "alice");
  CHECK(who.groups == std::vector<std::string>{"staff", "admin"});
  CHECK_FALSE(who.anonymous());
  CHECK(p.stats().identified == 1);
}

TEST_CASE("headers from an untrusted peer are ignored and flagged") {
  const auto p = proxy_for({"10.0.0.0/8"});
  const auto result = p.inspect("192.0.2.1", alice);
  CHECK(result.identity.anonymous());
  CHECK(result.identity.groups.empty());
  CHECK(result.outcome == recall::identify_outcome::untrusted_headers_ignored);
  CHECK(p.inspect("192.0.2.1", headers{}).outcome == recall::identify_outcome::untrusted_peer);
  CHECK(p.stats().untrusted_headers_ignored == 1);
  CHECK(p.stats().untrusted_peer == 1);
  CHECK(p.stats().identified == 0);

  const auto empty = proxy_for({});
  CHECK(empty.identify("10.0.0.1", alice).anonymous());
}

TEST_CASE("header names match case-insensitively; names are configurable") {
  const auto p = proxy_for({"127.0.0.1"});
  const std::map<std::string, std::string> lower = {{"x-forwarded-user", "bob"},
                                                    {"X-FORWARDED-GROUPS", "ops"}};
  const auto who = p.identify("127.0.0.1", lower);
  CHECK(who.user == "bob");
  CHECK(who.groups == std::vector<std::string>{"ops"});

  const recall::trusted_proxy custom({.trusted_networks = {"127.0.0.1"},
                                      .user_header = "X-Auth-Request-User",
                                      .groups_header = "X-Auth-Request-Groups",
                                      .groups_separator = ';'});
  const headers h = {{"x-auth-request-user", "carol"},
                     {"x-auth-request-groups", "a,b; c ;;"},
                     {"X-Forwarded-User", "mallory"}};
  const auto carol = custom.identify("127.0.0.1", h);
  CHECK(carol.user == "carol");
  CHECK(carol.groups == std::vector<std::string>{"a,b", "c"});
}

TEST_CASE("the lookup overload passes the configured names to the host") {
  const auto p = proxy_for({"127.0.0.1"});
  std::vector<std::string> asked;
  const auto who = p.identify("127.0.0.1", [&](std::string_view name) {
    asked.emplace_back(name);
    return name == "X-Forwarded-User" ? std::optional<std::string_view>("dave") : std::nullopt;
  });
  CHECK(who.user == "dave");
  CHECK(who.groups.empty());
  CHECK(asked == std::vector<std::string>{"X-Forwarded-User", "X-Forwarded-Groups"});
}

TEST_CASE("groups are trimmed and empty ones dropped") {
  const auto p = proxy_for({"127.0.0.1"});
  const auto who = p.identify("127.0.0.1", headers{{"X-Forwarded-User", "  erin\t"},
                                                   {"X-Forwarded-Groups", " a , ,b,,\tc "}});
  CHECK(who.user == "erin");
  CHECK(who.groups == std::vector<std::string>{"a", "b", "c"});
}

TEST_CASE("a trusted peer without a user header gives an anonymous identity") {
  const auto p = proxy_for({"127.0.0.1"});
  for (const headers& h : {headers{}, headers{{"X-Forwarded-Groups", "admin"}},
                           headers{{"X-Forwarded-User", "  "}, {"X-Forwarded-Groups", "admin"}}}) {
    const auto result = p.inspect("127.0.0.1", h);
    CHECK(result.outcome == recall::identify_outcome::no_user);
    CHECK(result.identity.anonymous());
    CHECK(result.identity.groups.empty());
  }
}

TEST_CASE("unsafe header values make the request anonymous, with a reason") {
  const recall::trusted_proxy p(
      {.trusted_networks = {"127.0.0.1"}, .max_user_bytes = 8, .max_groups_bytes = 16});
  std::uint64_t rejected = 0;
  const auto check_rejected = [&](const headers& h, std::string_view why) {
    ++rejected;
    const auto result = p.inspect("127.0.0.1", h);
    CHECK(result.outcome == recall::identify_outcome::rejected_header);
    CHECK(result.identity.anonymous());
    CHECK(result.identity.groups.empty());
    CHECK(contains(std::string(result.reason), why));
  };
  using namespace std::string_literals;
  for (const std::string& bad : {"al\r\nice"s, "al\x7fice"s, "al\0ice"s, "al\tice"s, "\x1b[0m"s}) {
    INFO("user " << bad.size() << " bytes");
    check_rejected({{"X-Forwarded-User", bad}}, "control character");
    check_rejected({{"X-Forwarded-User", "ok"}, {"X-Forwarded-Groups", "a," + bad}},
                   "control character");
  }
  check_rejected({{"X-Forwarded-User", "123456789"}}, "too long");
  CHECK(p.identify("127.0.0.1", headers{{"X-Forwarded-User", "12345678"}}).user == "12345678");
  check_rejected({{"X-Forwarded-User", "ok"}, {"X-Forwarded-Groups", std::string(17, 'g')}},
                 "too long");
  check_rejected({{"X-Forwarded-User", "frank"}, {"x-forwarded-user", "admin"}}, "more than once");
  CHECK(p.stats().rejected_header == rejected);
  CHECK(p.identify("127.0.0.1", headers{{"X-Forwarded-User", "Zoë"}}).user == "Zoë");
}

TEST_CASE("concurrent identification counts every request") {
  const auto p = proxy_for({"10.0.0.0/8"});
  constexpr int per_thread = 2000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&p, t] {
      for (int i = 0; i < per_thread; ++i) {
        const auto who = p.identify(t % 2 == 0 ? "10.0.0.1" : "192.0.2.1", alice);
        if (who.anonymous() != (t % 2 == 1)) FAIL("wrong identity");
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(p.stats().identified == 2 * per_thread);
  CHECK(p.stats().untrusted_headers_ignored == 2 * per_thread);
}

TEST_CASE("a moved trusted_proxy keeps its configuration and counts") {
  auto p = proxy_for({"10.0.0.0/8"});
  CHECK_FALSE(p.identify("10.0.0.1", alice).anonymous());
  const recall::trusted_proxy moved = std::move(p);
  CHECK(moved.trusted("10.9.9.9"));
  CHECK(moved.stats().identified == 1);
  CHECK(moved.options().trusted_networks == std::vector<std::string>{"10.0.0.0/8"});
}

TEST_CASE("role guard: anonymous is 401, not a member is 403") {
  const recall::identity nobody;
  const recall::identity ghost{.user = "", .groups = {"admin"}};
  const recall::identity staff{.user = "alice", .groups = {"staff"}};
  const recall::identity admin{.user = "root", .groups = {"staff", "admin"}};

  CHECK(recall::require_role(nobody, "admin").outcome == recall::access::unauthenticated);
  CHECK(recall::require_role(nobody, "admin").http_status() == 401);
  CHECK(recall::require_role(ghost, "admin").http_status() == 401);
  CHECK(recall::require_role(staff, "admin").outcome == recall::access::forbidden);
  CHECK(recall::require_role(staff, "admin").http_status() == 403);
  CHECK_FALSE(recall::require_role(staff, "admin"));
  CHECK(recall::require_role(admin, "admin"));
  CHECK(recall::require_role(admin, "admin").http_status() == 200);
  CHECK(recall::has_role(admin, "staff"));
  CHECK_FALSE(recall::has_role(admin, "Admin"));
  CHECK_FALSE(recall::has_role(admin, ""));
  CHECK_FALSE(recall::has_role(ghost, "admin"));
  CHECK(std::string(recall::require_role(staff, "admin").reason()) !=
        recall::require_role(nobody, "admin").reason());
}

TEST_CASE("an IPv4 client is one peer whichever way the socket spells it") {
  // IPv6 networks that cover ::ffff:0:0/96 do not trust mapped IPv4 peers:
  // the peer is its IPv4 address, which only IPv4 (or ::ffff:) networks match.
  for (const std::string net : {"::/0", "::/64", "::/80", "::fffe:0:0/95"}) {
    INFO("network " << net);
    const auto p = proxy_for({net});
    CHECK_FALSE(p.trusted("10.1.2.3"));
    CHECK_FALSE(p.trusted("::ffff:10.1.2.3"));
    CHECK_FALSE(p.trusted("[::ffff:10.1.2.3]:443"));
    CHECK(p.trusted("::1") == (net != "::fffe:0:0/95"));
  }
  for (const std::string net :
       {"0.0.0.0/0", "::ffff:0:0/96", "10.0.0.0/8", "::ffff:10.0.0.0/104"}) {
    INFO("network " << net);
    const auto p = proxy_for({net});
    CHECK(p.trusted("10.1.2.3"));
    CHECK(p.trusted("::ffff:10.1.2.3"));
    CHECK(p.trusted("[::ffff:10.1.2.3]:443"));
    CHECK_FALSE(p.trusted("::1"));
  }
}

TEST_CASE("a NUL anywhere, or a signed prefix length, is refused") {
  using namespace std::string_literals;
  for (const std::string& bad : {"10.0.0.0\0x/8"s, "10.0.0.0/8\0"s, "10.0.0.0\0/8"s, "::1\0/128"s,
                                 "0.0.0.0/-0"s, "10.0.0.0/+8"s, "::/-0"s, "10.0.0.0/ 8"s}) {
    INFO("network of " << bad.size() << " bytes");
    CHECK(contains(config_error_of([&] { proxy_for({bad}); }), "trusted network"));
  }
  const auto p = proxy_for({"10.0.0.0/8", "::1/128"});
  for (const std::string& bad :
       {"10.0.0.1\0junk"s, "10.0.0.1\0"s, "10.0.0.1:443\0"s, "[::1]\0:443"s, "::1\0"s, "\0"s}) {
    INFO("peer of " << bad.size() << " bytes");
    CHECK_FALSE(p.trusted(bad));
    CHECK(p.inspect(bad, alice).outcome == recall::identify_outcome::bad_peer_address);
  }
}

TEST_CASE("every identify_outcome has a name") {
  using recall::identify_outcome;
  CHECK(recall::to_string(identify_outcome::identified) == std::string("identified"));
  CHECK(recall::to_string(identify_outcome::no_user) == std::string("no_user"));
  CHECK(recall::to_string(identify_outcome::untrusted_peer) == std::string("untrusted_peer"));
  CHECK(recall::to_string(identify_outcome::untrusted_headers_ignored) ==
        std::string("untrusted_headers_ignored"));
  CHECK(recall::to_string(identify_outcome::bad_peer_address) == std::string("bad_peer_address"));
  CHECK(recall::to_string(identify_outcome::rejected_header) == std::string("rejected_header"));
}
