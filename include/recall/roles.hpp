// recall/roles.hpp: a role guard for page routing.
//
// require_role() answers "may this identity see a page reserved for this
// group?" with a decision a router maps straight to an HTTP status: allowed,
// unauthenticated (401: nobody is logged in, send them to the login page) or
// forbidden (403: logged in, but not a member). An anonymous identity is never
// allowed, even if it somehow carries groups.
//
// Thread safety: pure functions over values.
//
//   if (auto d = recall::require_role(who, "admin"); !d) {
//     return response(d.http_status(), d.reason());
//   }
#pragma once

#include <string_view>

#include "recall/identity.hpp"

namespace recall {

enum class access {
  allowed,
  unauthenticated,  // anonymous: HTTP 401
  forbidden,        // authenticated but not in the group: HTTP 403
};

struct role_decision {
  access outcome = access::unauthenticated;

  constexpr explicit operator bool() const noexcept { return outcome == access::allowed; }

  constexpr int http_status() const noexcept {
    switch (outcome) {
      case access::allowed:
        return 200;
      case access::unauthenticated:
        return 401;
      case access::forbidden:
        return 403;
    }
    return 403;
  }

  constexpr const char* reason() const noexcept {
    switch (outcome) {
      case access::allowed:
        return "allowed";
      case access::unauthenticated:
        return "authentication required";
      case access::forbidden:
        return "not a member of the required group";
    }
    return "not a member of the required group";
  }
};

inline role_decision require_role(const identity& who, std::string_view group) noexcept {
  if (who.anonymous()) return {access::unauthenticated};
  return {who.in_group(group) ? access::allowed : access::forbidden};
}

inline bool has_role(const identity& who, std::string_view group) noexcept {
  return static_cast<bool>(require_role(who, group));
}

}  // namespace recall
