// recall/cookie.hpp: the session cookie, set safely and read tolerantly.
//
// session_cookie builds Set-Cookie header values for session ids with safe
// defaults: the name "__Host-recall_session", Secure, HttpOnly,
// SameSite=Lax, Path=/, no Domain, and no Max-Age (a browser-session cookie;
// the server-side idle and absolute timeouts decide how long a session
// lives). Options that would weaken the cookie are refused with a
// recall::config_error that names the problem and the fix, unless
// allow_insecure_for_local_development is set (plain http://localhost).
// find_cookie() extracts one cookie's value from a Cookie request header.
//
// Thread safety: session_cookie is immutable after construction; every member
// may be called concurrently. find_cookie() is reentrant.
//
//   recall::session_cookie cookie;  // the defaults
//   response.set_header("Set-Cookie", cookie.set(session_id));
//   auto id = recall::find_session_cookie(request.header("Cookie"), cookie.name());
//   response.set_header("Set-Cookie", cookie.expire());  // on logout
#pragma once

#include <chrono>
#include <concepts>
#include <optional>
#include <string>
#include <string_view>

#include "recall/export.hpp"

namespace recall {

enum class same_site_policy { lax, strict, none };

struct cookie_options {
  // "__Host-" binds the cookie to this exact host over HTTPS; "__Secure-"
  // (needed to use a Domain) only to HTTPS. A name with neither prefix is
  // refused unless allow_insecure_for_local_development is set.
  std::string name = "__Host-recall_session";
  bool secure = true;
  bool http_only = true;
  same_site_policy same_site = same_site_policy::lax;
  std::string path = "/";
  std::string domain{};  // empty: no Domain attribute (host-only)
  // Empty: no Max-Age, so the cookie is gone when the browser closes.
  std::optional<std::chrono::seconds> max_age{};
  // Permits, for plain-HTTP development on localhost only: no Secure, no
  // HttpOnly, and a name without a "__Host-"/"__Secure-" prefix; also lifts
  // the refusals of the prefix rules. The Domain must then be empty or
  // "localhost". Never set it in production.
  bool allow_insecure_for_local_development = false;
};

class RECALL_EXPORT session_cookie {
 public:
  // Throws recall::config_error for an invalid or insecure combination.
  explicit session_cookie(cookie_options options = {});

  // "name=id; Path=/; Secure; HttpOnly; SameSite=Lax". Throws
  // recall::config_error if `session_id` is not a well-formed session id (a
  // cookie must never carry anything else, e.g. a client-supplied value).
  std::string set(std::string_view session_id) const;

  // The Set-Cookie value that deletes the cookie (logout): an empty value
  // with Max-Age=0 and the same name, path, domain and flags, which browsers
  // require to match the cookie being removed.
  std::string expire() const;

  const std::string& name() const noexcept { return options_.name; }
  const cookie_options& options() const noexcept { return options_; }

 private:
  std::string attributes(std::optional<std::chrono::seconds> max_age) const;

  cookie_options options_;
};

// The value of the first cookie called `name` in a Cookie request header
// ("a=1; b=2"), without surrounding whitespace or double quotes; nullopt if
// absent. Names are case-sensitive. Tolerates missing or extra spaces and
// empty or malformed pairs; never throws. The result points into
// `cookie_header`, so the header must outlive it: a temporary std::string is
// refused at compile time. For the session cookie use find_session_cookie().
RECALL_EXPORT std::optional<std::string_view> find_cookie(std::string_view cookie_header,
                                                          std::string_view name) noexcept;
template <class S>
requires std::same_as<S, std::string> std::optional<std::string_view> find_cookie(
    S&& temporary_cookie_header, std::string_view name)
= delete;

// What find_session_cookie() saw.
enum class cookie_presence {
  absent,     // no cookie with that name
  unique,     // exactly one
  duplicate,  // two or more: which is genuine cannot be told
};

RECALL_EXPORT const char* to_string(cookie_presence presence) noexcept;

struct cookie_lookup {
  cookie_presence presence = cookie_presence::absent;
  std::string_view value{};  // the value when unique, else empty

  explicit operator bool() const noexcept { return presence == cookie_presence::unique; }
};

// The session cookie called `name` in a Cookie request header, parsed as
// find_cookie() does, but a name that appears more than once is reported as
// `duplicate` with an empty value: without the "__Host-" prefix a sibling
// subdomain or a plain-HTTP page can plant a second cookie of the same name
// (browsers send both), so the host treats it as no cookie at all:
//   auto c = recall::find_session_cookie(header, cookie.name());
//   auto s = sessions.open(c.value, who);  // "" for absent and duplicate
// The value points into `cookie_header`.
RECALL_EXPORT cookie_lookup find_session_cookie(std::string_view cookie_header,
                                                std::string_view name) noexcept;
template <class S>
requires std::same_as<S, std::string> cookie_lookup find_session_cookie(S&& temporary_cookie_header,
                                                                        std::string_view name)
= delete;

}  // namespace recall
