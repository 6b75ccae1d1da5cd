// recall/trusted_proxy.hpp: identity from an authenticating reverse proxy.
//
// When a proxy (oauth2-proxy, Authelia, a corporate SSO gateway, ...) has
// authenticated the user, it forwards the result in request headers,
// X-Forwarded-User and X-Forwarded-Groups by default. Anybody can send those
// headers, so they are honoured ONLY when the TCP peer of the request is
// inside one of the configured trusted networks; from any other peer they
// are ignored and the request is anonymous. A header value with a control
// character or over the length limit makes the request anonymous too, with
// a reason. Every outcome is counted (stats()); a non-zero
// untrusted_headers_ignored means someone tried to spoof an identity or a
// proxy is missing from the trusted list. The counts are in the process
// registry too (kind "trusted_proxy"), so recall::write_prometheus exports them.
//
// The peer address must come from the connection (the socket's remote
// address), never from X-Forwarded-For or Forwarded, which are headers too.
//
// Thread safety: after construction every const member may be called
// concurrently. A moved-from trusted_proxy may only be destroyed or assigned.
//
//   recall::trusted_proxy proxy({.trusted_networks = {"10.0.0.0/8", "::1/128"}});
//   recall::identity who = proxy.identify(conn.remote_ip(), [&](std::string_view name) {
//     return req.header(name);  // std::optional<std::string_view>, case-insensitive
//   });
//   auto who2 = proxy.identify(conn.remote_ip(), headers);  // any range of name/value pairs
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ranges>
#include <string>
#include <string_view>
#include <vector>

#include "recall/export.hpp"
#include "recall/identity.hpp"

namespace recall {

struct trusted_proxy_options {
  // CIDR networks ("10.0.0.0/8", "fd00::/8"); a bare address means that one
  // host. Host bits must be zero ("10.0.0.1/8" is refused as a likely typo).
  // Empty: no peer is trusted and every request is anonymous.
  std::vector<std::string> trusted_networks{};
  std::string user_header = "X-Forwarded-User";
  std::string groups_header = "X-Forwarded-Groups";
  char groups_separator = ',';
  std::size_t max_user_bytes = 256;
  std::size_t max_groups_bytes = 4096;
  // The proxy's name in the process registry (recall/registry.hpp) and metrics.
  std::string name = "trusted_proxy";
};

enum class identify_outcome {
  identified,                 // trusted peer, valid user header
  no_user,                    // trusted peer, no or empty user header: anonymous
  untrusted_peer,             // peer outside the trusted networks, no identity headers
  untrusted_headers_ignored,  // peer outside the trusted networks sent identity headers
  bad_peer_address,           // the peer address is not an IP address: treated as untrusted
  rejected_header,            // trusted peer, but a header value was unsafe: anonymous
};

// "identified", "no_user", ...: the enumerator's name, for logs and metrics.
RECALL_EXPORT const char* to_string(identify_outcome outcome) noexcept;

// The identity and why it is what it is, for logging.
struct identification {
  recall::identity identity;
  identify_outcome outcome = identify_outcome::untrusted_peer;
  std::string_view reason;  // a static string describing the outcome
};

// A snapshot of how many requests ended in each outcome.
struct trusted_proxy_stats {
  std::uint64_t identified = 0;
  std::uint64_t no_user = 0;
  std::uint64_t untrusted_peer = 0;
  std::uint64_t untrusted_headers_ignored = 0;
  std::uint64_t bad_peer_address = 0;
  std::uint64_t rejected_header = 0;
};

// Anything iterable whose elements have .first (name) and .second (value)
// viewable as strings: std::map, std::multimap, std::vector<std::pair<...>>.
template <class H>
concept header_list = std::ranges::input_range<const H> &&
    requires(std::ranges::range_reference_t<const H> h) {
  { h.first } -> std::convertible_to<std::string_view>;
  { h.second } -> std::convertible_to<std::string_view>;
};

class RECALL_EXPORT trusted_proxy {
 public:
  // Returns the value of the named request header, if present. The lookup
  // should match names case-insensitively, as HTTP frameworks do.
  using header_lookup = std::function<std::optional<std::string_view>(std::string_view name)>;

  // Throws recall::config_error naming a bad network entry, header name or
  // separator.
  explicit trusted_proxy(trusted_proxy_options options);
  ~trusted_proxy();
  trusted_proxy(trusted_proxy&&) noexcept;
  trusted_proxy& operator=(trusted_proxy&&) noexcept;

  // Whether the peer (an IPv4 or IPv6 address, optionally with a port:
  // "10.0.0.1", "10.0.0.1:443", "::1", "[::1]:443") is in a trusted network.
  // An IPv4-mapped IPv6 peer ("::ffff:10.0.0.1") is its IPv4 address: it
  // matches IPv4 networks (and "::ffff:a.b.c.d/96+" ones), never other IPv6
  // networks, whatever they cover.
  bool trusted(std::string_view peer_address) const noexcept;

  identity identify(std::string_view peer_address, const header_lookup& header) const {
    return inspect(peer_address, header).identity;
  }
  // Header names are matched case-insensitively here; a user or groups
  // header that appears twice is rejected (which of the two is genuine cannot
  // be told).
  template <header_list H>
  identity identify(std::string_view peer_address, const H& headers) const {
    return inspect(peer_address, headers).identity;
  }

  // Same as identify(), with the outcome; counts it in stats().
  identification inspect(std::string_view peer_address, const header_lookup& header) const;
  template <header_list H>
  identification inspect(std::string_view peer_address, const H& headers) const {
    return inspect_list(peer_address, [&headers](const header_visitor& visit) {
      for (const auto& h : headers) visit(std::string_view(h.first), std::string_view(h.second));
    });
  }

  trusted_proxy_stats stats() const noexcept;
  const trusted_proxy_options& options() const noexcept;

 private:
  using header_visitor = std::function<void(std::string_view name, std::string_view value)>;
  identification inspect_list(std::string_view peer_address,
                              const std::function<void(const header_visitor&)>& for_each) const;

  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace recall
