#include "recall/cookie.hpp"

#include <string>

#include "catch.hpp"
#include "recall/error.hpp"
#include "recall/session_id.hpp"

namespace {

template <class F>
std::string config_error_of(F&& f) {
  try {
    f();
  } catch (const recall::config_error& e) {
    return e.what();
  }
  return "";
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

std::string refusal(recall::cookie_options options) {
  return config_error_of([&] { recall::session_cookie{std::move(options)}; });
}

}  // namespace

TEST_CASE("the default cookie is __Host-, Secure, HttpOnly, SameSite=Lax, Path=/") {
  const recall::session_cookie cookie;
  const std::string id = recall::new_session_id();
  const std::string header = cookie.set(id);
  CHECK(header == "__Host-recall_session=" + id + "; Path=/; Secure; HttpOnly; SameSite=Lax");
  CHECK_FALSE(contains(header, "Domain"));
  CHECK_FALSE(contains(header, "Max-Age"));
  CHECK_FALSE(contains(header, "Expires"));
  CHECK(cookie.name() == "__Host-recall_session");
}

TEST_CASE("SameSite and Max-Age are configurable") {
  const std::string id = recall::new_session_id();
  CHECK(contains(recall::session_cookie({.same_site = recall::same_site_policy::strict}).set(id),
                 "; SameSite=Strict"));
  const auto none = recall::session_cookie({.same_site = recall::same_site_policy::none}).set(id);
  CHECK(contains(none, "; SameSite=None"));
  CHECK(contains(none, "; Secure"));
  CHECK(contains(recall::session_cookie({.max_age = std::chrono::hours(8)}).set(id),
                 "; Max-Age=28800;"));
}

TEST_CASE("a __Secure- cookie may carry a Domain and a Path") {
  const recall::session_cookie cookie(
      {.name = "__Secure-sid", .path = "/app", .domain = "example.com"});
  const std::string header = cookie.set(recall::new_session_id());
  CHECK(contains(header, "; Path=/app"));
  CHECK(contains(header, "; Domain=example.com"));
  CHECK(contains(header, "; Secure"));
}

TEST_CASE("each insecure combination is refused with the problem and the fix") {
  SECTION("__Host- without Secure") {
    const auto m = refusal({.secure = false});
    CHECK(contains(m, "__Host-"));
    CHECK(contains(m, "secure = true"));
  }
  SECTION("__Host- matched case-insensitively, as browsers do") {
    CHECK(contains(refusal({.name = "__HOST-sid", .secure = false}), "__Host-"));
  }
  SECTION("__Secure- without Secure") {
    CHECK(contains(refusal({.name = "__Secure-sid", .secure = false}), "secure = true"));
  }
  SECTION("SameSite=None without Secure") {
    const auto m =
        refusal({.name = "sid", .secure = false, .same_site = recall::same_site_policy::none});
    CHECK(contains(m, "SameSite=None"));
    CHECK(contains(m, "secure = true"));
  }
  SECTION("a Domain with __Host-") {
    const auto m = refusal({.domain = "example.com"});
    CHECK(contains(m, "Domain"));
    CHECK(contains(m, "example.com"));
    CHECK(contains(m, "__Secure-"));
  }
  SECTION("a Path other than / with __Host-") {
    const auto m = refusal({.path = "/app"});
    CHECK(contains(m, "Path=/"));
    CHECK(contains(m, "\"/app\""));
  }
  SECTION("no Secure with an unprefixed name") {
    CHECK(contains(refusal({.name = "sid", .secure = false}), "plain HTTP"));
  }
  SECTION("an unprefixed name") {
    const auto m = refusal({.name = "sid"});
    CHECK(contains(m, "\"sid\""));
    CHECK(contains(m, "__Host-sid"));
  }
  SECTION("HttpOnly off") { CHECK(contains(refusal({.http_only = false}), "http_only = true")); }
}

TEST_CASE("allow_insecure_for_local_development lifts the refusals") {
  const std::string id = recall::new_session_id();
  const recall::session_cookie dev(
      {.name = "sid", .secure = false, .allow_insecure_for_local_development = true});
  const auto header = dev.set(id);
  CHECK(header == "sid=" + id + "; Path=/; HttpOnly; SameSite=Lax");
  CHECK_NOTHROW(
      recall::session_cookie({.secure = false, .allow_insecure_for_local_development = true}));
  CHECK_NOTHROW(
      recall::session_cookie({.http_only = false, .allow_insecure_for_local_development = true}));
  CHECK_NOTHROW(recall::session_cookie(
      {.domain = "localhost", .allow_insecure_for_local_development = true}));
}

TEST_CASE("malformed options are refused even for local development") {
  for (const bool dev : {false, true}) {
    CHECK(contains(refusal({.name = "", .allow_insecure_for_local_development = dev}),
                   "cookie name"));
    CHECK(contains(refusal({.name = "__Host-a b", .allow_insecure_for_local_development = dev}),
                   "\"__Host-a b\""));
    CHECK(contains(refusal({.name = "__Host-a;b", .allow_insecure_for_local_development = dev}),
                   "cookie name"));
    CHECK(contains(refusal({.name = "__Host-" + std::string(4096, 'n'),
                            .allow_insecure_for_local_development = dev}),
                   "4096"));
    CHECK(
        contains(refusal({.path = "app", .allow_insecure_for_local_development = dev}), "\"app\""));
    CHECK(contains(
        refusal({.path = "/; Domain=evil.com", .allow_insecure_for_local_development = dev}),
        "path"));
    CHECK(contains(refusal({.name = "__Secure-sid",
                            .domain = "example.com; Secure",
                            .allow_insecure_for_local_development = dev}),
                   "domain"));
    CHECK(contains(
        refusal({.max_age = std::chrono::seconds(0), .allow_insecure_for_local_development = dev}),
        "expire()"));
    CHECK(contains(
        refusal({.max_age = std::chrono::seconds(-5), .allow_insecure_for_local_development = dev}),
        "max_age"));
  }
}

TEST_CASE("only a well-formed session id goes into the cookie") {
  const recall::session_cookie cookie;
  const std::string id = recall::new_session_id();
  for (const std::string& bad : {std::string(), id.substr(1), id + "A", id.substr(1) + ";",
                                 std::string("x; Domain=evil.com"), std::string(43, '=')}) {
    INFO("id \"" << bad << "\"");
    CHECK(
        contains(config_error_of([&] { (void)cookie.set(bad); }), "not a well-formed session id"));
  }
}

TEST_CASE("expire() deletes the same cookie") {
  const recall::session_cookie cookie;
  CHECK(cookie.expire() ==
        "__Host-recall_session=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax");
  const recall::session_cookie shared(
      {.name = "__Secure-sid", .domain = "example.com", .max_age = std::chrono::hours(1)});
  const auto header = shared.expire();
  CHECK(header.starts_with("__Secure-sid=;"));
  CHECK(contains(header, "; Domain=example.com"));
  CHECK(contains(header, "; Max-Age=0;"));
  CHECK_FALSE(contains(header, "3600"));
}

TEST_CASE("find_cookie extracts one cookie from a Cookie header") {
  const std::string_view header = "theme=dark; __Host-recall_session=abc;lang=en ;  x = \"q v\" ";
  CHECK(recall::find_cookie(header, "__Host-recall_session") ==
        std::optional<std::string_view>("abc"));
  CHECK(recall::find_cookie(header, "theme") == std::optional<std::string_view>("dark"));
  CHECK(recall::find_cookie(header, "lang") == std::optional<std::string_view>("en"));
  CHECK(recall::find_cookie(header, "x") == std::optional<std::string_view>("q v"));
  CHECK_FALSE(recall::find_cookie(header, "THEME"));
  CHECK_FALSE(recall::find_cookie(header, "recall_session"));
  CHECK_FALSE(recall::find_cookie(header, "session"));
  CHECK_FALSE(recall::find_cookie(header, ""));
  CHECK_FALSE(recall::find_cookie("", "theme"));
}

TEST_CASE("find_cookie tolerates malformed headers") {
  CHECK(recall::find_cookie(";;; a=1 ;;", "a") == std::optional<std::string_view>("1"));
  CHECK(recall::find_cookie("garbage; a=1", "a") == std::optional<std::string_view>("1"));
  CHECK(recall::find_cookie("a=", "a") == std::optional<std::string_view>(""));
  CHECK(recall::find_cookie("a=\"", "a") == std::optional<std::string_view>("\""));
  CHECK(recall::find_cookie("a=x=y", "a") == std::optional<std::string_view>("x=y"));
  CHECK(recall::find_cookie("a=1; a=2", "a") == std::optional<std::string_view>("1"));
  CHECK(recall::find_cookie("\ta\t=\t1\t", "a") == std::optional<std::string_view>("1"));
  CHECK_FALSE(recall::find_cookie("=1; a", "a"));
  CHECK_FALSE(recall::find_cookie("ab=1", "a"));
}

TEST_CASE("a cookie built by set() is found again by find_cookie()") {
  const recall::session_cookie cookie;
  const std::string id = recall::new_session_id();
  const std::string set = cookie.set(id);
  const std::string request = "other=1; " + set.substr(0, set.find(';'));
  const auto found = recall::find_cookie(request, cookie.name());
  REQUIRE(found);
  CHECK(recall::constant_time_equal(*found, id));
}

TEST_CASE("a duplicated session cookie counts as no cookie") {
  const std::string id = recall::new_session_id();
  const std::string other = recall::new_session_id();
  const std::string name = "__Secure-sid";
  const std::string header = "a=1; " + name + "=" + id + "; b=2";
  const auto one = recall::find_session_cookie(header, name);
  CHECK(one);
  CHECK(one.presence == recall::cookie_presence::unique);
  CHECK(one.value == id);

  // A sibling subdomain planted a second cookie of the same name.
  for (const std::string& planted :
       {name + "=" + other + "; " + name + "=" + id, name + "=" + id + "; x=1; " + name + "=" + id,
        name + "=; " + name + "=" + id}) {
    INFO(planted);
    const auto two = recall::find_session_cookie(planted, name);
    CHECK_FALSE(two);
    CHECK(two.presence == recall::cookie_presence::duplicate);
    CHECK(two.value.empty());
  }
  const auto none = recall::find_session_cookie("a=1", name);
  CHECK(none.presence == recall::cookie_presence::absent);
  CHECK(none.value.empty());
  CHECK_FALSE(recall::find_session_cookie("sid=1", ""));
  CHECK(recall::to_string(recall::cookie_presence::duplicate) == std::string("duplicate"));
}

TEST_CASE("the local development flag refuses any Domain but localhost") {
  for (const std::string domain :
       {"example.com", "localhost.example.com", "evil.localhost", "127.0.0.1"}) {
    INFO(domain);
    const auto m = refusal({.name = "sid",
                            .secure = false,
                            .domain = domain,
                            .allow_insecure_for_local_development = true});
    CHECK(contains(m, "allow_insecure_for_local_development"));
    CHECK(contains(m, "\"" + domain + "\""));
  }
  CHECK_NOTHROW(recall::session_cookie({.name = "sid",
                                        .secure = false,
                                        .domain = "LocalHost",
                                        .allow_insecure_for_local_development = true}));
  CHECK_NOTHROW(recall::session_cookie(
      {.name = "sid", .secure = false, .allow_insecure_for_local_development = true}));
}
