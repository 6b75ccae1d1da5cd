// recall/identity.hpp: who is making a request, as the host has established it.
//
// An identity is a user name and the groups it belongs to, usually obtained
// from an authenticating reverse proxy through recall::trusted_proxy. An
// empty user means anonymous. Sessions are bound to the identity that opened
// them; role checks for routing live in recall/roles.hpp.
//
// Thread safety: a value type; concurrent reads are safe.
//
//   recall::identity who{.user = "alice", .groups = {"staff", "admin"}};
//   if (who.in_group("admin")) show_admin_menu();
#pragma once

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

namespace recall {

struct identity {
  std::string user{};                 // empty: anonymous
  std::vector<std::string> groups{};  // as sent by the proxy, in order

  bool anonymous() const noexcept { return user.empty(); }

  // Exact, case-sensitive match: identity providers treat group names as
  // opaque strings, and "Admins" must not grant "admins". No one is in the
  // empty group.
  bool in_group(std::string_view group) const noexcept {
    return !group.empty() && std::find(groups.begin(), groups.end(), group) != groups.end();
  }

  friend bool operator==(const identity&, const identity&) = default;
};

}  // namespace recall
