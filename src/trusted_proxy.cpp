#include "recall/trusted_proxy.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstring>

#include "recall/error.hpp"
#include "recall/registry.hpp"

namespace recall {
namespace {

struct address {
  bool v6 = false;
  std::array<unsigned char, 16> bytes{};  // IPv4 uses the first 4
};

struct network {
  address base;
  int prefix = 0;
};

bool is_v4_mapped(const address& a) {
  static constexpr unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return a.v6 && std::memcmp(a.bytes.data(), prefix, sizeof(prefix)) == 0;
}

address unmap(const address& a) {
  address v4;
  std::memcpy(v4.bytes.data(), a.bytes.data() + 12, 4);
  return v4;
}

// A bare IPv4 or IPv6 address, no port, no zone id. inet_pton reads up to a
// NUL, so a NUL anywhere would let trailing text through unseen: refused.
std::optional<address> parse_address(std::string_view text) {
  char buf[INET6_ADDRSTRLEN];
  if (text.empty() || text.size() >= sizeof(buf)) return std::nullopt;
  if (text.find('\0') != std::string_view::npos) return std::nullopt;
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  address a;
  if (::inet_pton(AF_INET, buf, a.bytes.data()) == 1) return a;
  a.v6 = true;
  if (::inet_pton(AF_INET6, buf, a.bytes.data()) == 1) return a;
  return std::nullopt;
}

bool is_port(std::string_view s) {
  unsigned port = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), port);
  return ec == std::errc() && end == s.data() + s.size() && s.size() <= 5 && port <= 65535;
}

// What frameworks report as the remote endpoint: an address, "v4:port",
// "[v6]" or "[v6]:port".
std::optional<address> parse_endpoint(std::string_view peer) {
  if (peer.starts_with('[')) {
    const auto close = peer.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    const auto rest = peer.substr(close + 1);
    if (!rest.empty() && !(rest.front() == ':' && is_port(rest.substr(1)))) return std::nullopt;
    auto a = parse_address(peer.substr(1, close - 1));
    if (!a || !a->v6) return std::nullopt;
    return a;
  }
  if (std::count(peer.begin(), peer.end(), ':') == 1) {
    const auto colon = peer.find(':');
    if (!is_port(peer.substr(colon + 1))) return std::nullopt;
    auto a = parse_address(peer.substr(0, colon));
    if (!a || a->v6) return std::nullopt;
    return a;
  }
  return parse_address(peer);
}

// An IPv4-mapped peer ("::ffff:10.0.0.1", what dual-stack sockets report for
// IPv4 clients) is its IPv4 address, so both spellings of one client match
// the same networks: IPv4 ones only.
std::optional<address> parse_peer(std::string_view peer) {
  auto a = parse_endpoint(peer);
  if (a && is_v4_mapped(*a)) a = unmap(*a);
  return a;
}

bool same_prefix(const address& a, const address& b, int prefix) {
  const int whole = prefix / 8;
  if (std::memcmp(a.bytes.data(), b.bytes.data(), whole) != 0) return false;
  const int rest = prefix % 8;
  if (rest == 0) return true;
  const unsigned char mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a.bytes[whole] & mask) == (b.bytes[whole] & mask);
}

void clear_host_bits(address& a, int prefix) {
  const int bits = a.v6 ? 128 : 32;
  for (int i = prefix; i < bits; ++i)
    a.bytes[i / 8] &= static_cast<unsigned char>(~(0x80 >> (i % 8)));
}

std::string to_text(const address& a) {
  char buf[INET6_ADDRSTRLEN];
  ::inet_ntop(a.v6 ? AF_INET6 : AF_INET, a.bytes.data(), buf, sizeof(buf));
  return buf;
}

network parse_network(const std::string& entry) {
  const auto fail = [&](std::string_view why) -> network {
    throw config_error(fmt::format(
        "recall::trusted_proxy: trusted network \"{}\" {}; write a CIDR network such as "
        "\"10.0.0.0/8\", \"192.168.1.7/32\" or \"fd00::/8\", or a single address",
        entry, why));
  };
  const std::string_view text(entry);
  const auto slash = text.find('/');
  const auto maybe = parse_address(text.substr(0, slash));
  if (!maybe) return fail("is not an IPv4 or IPv6 address");
  network n{*maybe, maybe->v6 ? 128 : 32};
  if (slash != std::string_view::npos) {
    const auto digits = text.substr(slash + 1);
    int prefix = -1;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
    // from_chars takes a sign ("-0"): the prefix length is plain digits only.
    const bool plain =
        std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits.empty() || digits.size() > 3 || !plain || ec != std::errc() ||
        end != digits.data() + digits.size() || prefix < 0 || prefix > n.prefix) {
      return fail(fmt::format("has a bad prefix length (0 to {} allowed)", n.prefix));
    }
    n.prefix = prefix;
  }
  address masked = n.base;
  clear_host_bits(masked, n.prefix);
  if (masked.bytes != n.base.bytes) {
    return fail(
        fmt::format("has bits set after the /{} prefix (did you mean \"{}/{}\", or the "
                    "single host \"{}\"?)",
                    n.prefix, to_text(masked), n.prefix, text.substr(0, slash)));
  }
  if (is_v4_mapped(n.base) && n.prefix >= 96) n = {unmap(n.base), n.prefix - 96};
  return n;
}

bool is_token_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

void check_header_name(std::string_view what, const std::string& name) {
  if (name.empty() || !std::all_of(name.begin(), name.end(), is_token_char)) {
    throw config_error(fmt::format(
        "recall::trusted_proxy: {} \"{}\" is not a valid HTTP header name; use letters, digits "
        "and '-' (e.g. \"X-Forwarded-User\")",
        what, name));
  }
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool has_control_char(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

struct header_values {
  std::optional<std::string_view> user;
  std::optional<std::string_view> groups;
  bool duplicate = false;
};

}  // namespace

// rejected_header is the last identify_outcome.
constexpr std::size_t outcome_count =
    static_cast<std::size_t>(identify_outcome::rejected_header) + 1;

struct trusted_proxy::state {
  trusted_proxy_options options;
  std::vector<network> networks;
  mutable std::atomic<std::uint64_t> counts[outcome_count] = {};
  // Last: it goes first, so the registry never reads a half-destroyed state.
  std::optional<detail::registration> registration;

  // Mapped peers arrive here as IPv4 and mapped networks were stored as IPv4
  // (parse_peer, parse_network), so a network matches its own family only.
  bool trusted(const address& peer) const {
    return std::any_of(networks.begin(), networks.end(), [&](const network& n) {
      return n.base.v6 == peer.v6 && same_prefix(n.base, peer, n.prefix);
    });
  }

  trusted_proxy_stats snapshot() const noexcept {
    const auto get = [this](identify_outcome o) {
      return counts[static_cast<std::size_t>(o)].load(std::memory_order_relaxed);
    };
    return {
        get(identify_outcome::identified),       get(identify_outcome::no_user),
        get(identify_outcome::untrusted_peer),   get(identify_outcome::untrusted_headers_ignored),
        get(identify_outcome::bad_peer_address), get(identify_outcome::rejected_header)};
  }

  identification finish(identification result) const {
    counts[static_cast<std::size_t>(result.outcome)].fetch_add(1, std::memory_order_relaxed);
    return result;
  }

  identification evaluate(std::string_view peer_address,
                          const std::function<header_values()>& read_headers) const;
};

namespace {

identification outcome(identify_outcome o, std::string_view reason) { return {{}, o, reason}; }

}  // namespace

identification trusted_proxy::state::evaluate(
    std::string_view peer_address, const std::function<header_values()>& read_headers) const {
  const auto peer = parse_peer(peer_address);
  if (!peer) {
    return finish(outcome(identify_outcome::bad_peer_address,
                          "the peer address is not an IP address; headers ignored"));
  }
  const header_values h = read_headers();
  if (!trusted(*peer)) {
    return finish(h.user || h.groups
                      ? outcome(identify_outcome::untrusted_headers_ignored,
                                "identity headers from an untrusted peer were ignored")
                      : outcome(identify_outcome::untrusted_peer, "the peer is not trusted"));
  }
  if (h.duplicate) {
    return finish(outcome(identify_outcome::rejected_header,
                          "the user or groups header appears more than once"));
  }
  if (h.user && h.user->size() > options.max_user_bytes) {
    return finish(outcome(identify_outcome::rejected_header, "the user header is too long"));
  }
  if (h.groups && h.groups->size() > options.max_groups_bytes) {
    return finish(outcome(identify_outcome::rejected_header, "the groups header is too long"));
  }
  const std::string_view user = h.user ? trim(*h.user) : std::string_view();
  if (has_control_char(user)) {
    return finish(
        outcome(identify_outcome::rejected_header, "the user header contains a control character"));
  }
  std::vector<std::string> groups;
  for (std::string_view rest = h.groups.value_or(std::string_view()); !rest.empty();) {
    const auto sep = rest.find(options.groups_separator);
    const auto group = trim(rest.substr(0, sep));
    if (has_control_char(group)) {
      return finish(outcome(identify_outcome::rejected_header,
                            "the groups header contains a control character"));
    }
    if (!group.empty()) groups.emplace_back(group);
    rest = sep == std::string_view::npos ? std::string_view() : rest.substr(sep + 1);
  }
  if (user.empty()) {
    return finish(outcome(identify_outcome::no_user, "no user header from the trusted proxy"));
  }
  identification result{{std::string(user), std::move(groups)},
                        identify_outcome::identified,
                        "identified by the trusted proxy"};
  return finish(std::move(result));
}

trusted_proxy::trusted_proxy(trusted_proxy_options options) : state_(std::make_unique<state>()) {
  check_header_name("user_header", options.user_header);
  check_header_name("groups_header", options.groups_header);
  if (iequals(options.user_header, options.groups_header)) {
    throw config_error(fmt::format(
        "recall::trusted_proxy: user_header and groups_header are both \"{}\"; give them "
        "different names",
        options.user_header));
  }
  const auto sep = static_cast<unsigned char>(options.groups_separator);
  if (sep < 0x21 || sep == 0x7f) {
    throw config_error(
        "recall::trusted_proxy: groups_separator must be a visible character such as ',' or "
        "';' (whitespace is trimmed around groups and cannot separate them)");
  }
  if (options.max_user_bytes == 0 || options.max_groups_bytes == 0) {
    throw config_error(
        "recall::trusted_proxy: max_user_bytes and max_groups_bytes must be greater than zero");
  }
  for (const auto& entry : options.trusted_networks) {
    state_->networks.push_back(parse_network(entry));
  }
  state_->options = std::move(options);
  state_->registration.emplace(
      state_->options.name, "trusted_proxy",
      detail::registry_hooks{
          [s = state_.get()] { return detail::trusted_proxy_metrics(s->snapshot()); }, {}});
}

trusted_proxy::~trusted_proxy() = default;
trusted_proxy::trusted_proxy(trusted_proxy&&) noexcept = default;
trusted_proxy& trusted_proxy::operator=(trusted_proxy&&) noexcept = default;

bool trusted_proxy::trusted(std::string_view peer_address) const noexcept {
  const auto peer = parse_peer(peer_address);
  return peer && state_->trusted(*peer);
}

identification trusted_proxy::inspect(std::string_view peer_address,
                                      const header_lookup& header) const {
  return state_->evaluate(peer_address, [&] {
    return header_values{header(state_->options.user_header),
                         header(state_->options.groups_header)};
  });
}

identification trusted_proxy::inspect_list(
    std::string_view peer_address,
    const std::function<void(const header_visitor&)>& for_each) const {
  const auto& options = state_->options;
  return state_->evaluate(peer_address, [&] {
    header_values h;
    for_each([&](std::string_view name, std::string_view value) {
      auto* slot = iequals(name, options.user_header)     ? &h.user
                   : iequals(name, options.groups_header) ? &h.groups
                                                          : nullptr;
      if (slot == nullptr) return;
      if (*slot) h.duplicate = true;
      *slot = value;
    });
    return h;
  });
}

const char* to_string(identify_outcome outcome) noexcept {
  switch (outcome) {
    case identify_outcome::identified:
      return "identified";
    case identify_outcome::no_user:
      return "no_user";
    case identify_outcome::untrusted_peer:
      return "untrusted_peer";
    case identify_outcome::untrusted_headers_ignored:
      return "untrusted_headers_ignored";
    case identify_outcome::bad_peer_address:
      return "bad_peer_address";
    case identify_outcome::rejected_header:
      return "rejected_header";
  }
  return "unknown";
}

trusted_proxy_stats trusted_proxy::stats() const noexcept { return state_->snapshot(); }

const trusted_proxy_options& trusted_proxy::options() const noexcept { return state_->options; }

}  // namespace recall
