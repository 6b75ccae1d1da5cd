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
//   auto id = recall::find_cookie(request.header("Cookie"), cookie.name());
//   response.set_header("Set-Cookie", cookie.expire());  // on logout
#pragma once

#include <chrono>
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
  // the refusals of the prefix rules. Never set it in production.
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
// `cookie_header`.
RECALL_EXPORT std::optional<std::string_view> find_cookie(std::string_view cookie_header,
                                                          std::string_view name) noexcept;

}  // namespace recall
