// libFuzzer target: trusted-proxy configuration and identification.
//
// Building a trusted_proxy from any options either succeeds or throws
// recall::config_error, nothing else. For any peer string and header values,
// inspect() keeps its contract: a peer that trusted() refuses is anonymous
// (the invariant this whole component exists for), an identity is given only
// as `identified`, a user name is the trimmed header value within the length
// limit and free of control characters, and every call is counted once.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "recall/error.hpp"
#include "recall/trusted_proxy.hpp"

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "trusted_proxy_fuzz: %s\n", what);
  std::abort();
}

std::uint64_t total(const recall::trusted_proxy_stats& s) {
  return s.identified + s.no_user + s.untrusted_peer + s.untrusted_headers_ignored +
         s.bad_peer_address + s.rejected_header;
}

bool has_control_char(std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

void check(const recall::trusted_proxy& proxy, std::string_view peer,
           const recall::identification& who) {
  const bool trusted = proxy.trusted(peer);
  const auto& id = who.identity;
  if (!trusted && !id.anonymous()) fail("an untrusted peer got an identity");
  if (!trusted && !id.groups.empty()) fail("an untrusted peer got groups");
  if (!trusted && (who.outcome == recall::identify_outcome::identified ||
                   who.outcome == recall::identify_outcome::no_user ||
                   who.outcome == recall::identify_outcome::rejected_header)) {
    fail("an untrusted peer got a trusted peer's outcome");
  }
  if (id.anonymous() != (who.outcome != recall::identify_outcome::identified)) {
    fail("identity and outcome disagree");
  }
  if (id.anonymous() && !id.groups.empty()) fail("groups without a user");
  if (!id.anonymous()) {
    if (id.user.size() > proxy.options().max_user_bytes) fail("a user name over the limit");
    if (has_control_char(id.user)) fail("a user name with a control character");
    if (id.user.front() == ' ' || id.user.back() == ' ') fail("a user name with spaces around");
  }
  for (const auto& g : id.groups) {
    if (g.empty() || has_control_char(g)) fail("an empty group or one with a control character");
  }
  if (who.reason.empty()) fail("an outcome without a reason");
}

void exercise(const recall::trusted_proxy& proxy, FuzzedDataProvider& in) {
  const std::string peer = in.ConsumeRandomLengthString(64);
  const std::optional<std::string> user =
      in.ConsumeBool() ? std::optional(in.ConsumeRandomLengthString(300)) : std::nullopt;
  const std::optional<std::string> groups =
      in.ConsumeBool() ? std::optional(in.ConsumeRandomLengthString(300)) : std::nullopt;
  const auto& options = proxy.options();

  const std::uint64_t before = total(proxy.stats());
  const auto lookup = [&](std::string_view name) -> std::optional<std::string_view> {
    if (name == options.user_header && user) return std::string_view(*user);
    if (name == options.groups_header && groups) return std::string_view(*groups);
    return std::nullopt;
  };
  check(proxy, peer, proxy.inspect(peer, lookup));

  // The same as a header list, with names in any case and maybe twice.
  std::vector<std::pair<std::string, std::string>> headers;
  const int copies = in.ConsumeIntegralInRange(1, 2);
  for (int i = 0; i < copies; ++i) {
    if (user)
      headers.emplace_back(in.ConsumeBool() ? "x-forwarded-user" : options.user_header, *user);
    if (groups) headers.emplace_back(options.groups_header, *groups);
    headers.emplace_back(in.ConsumeRandomLengthString(32), in.ConsumeRandomLengthString(32));
  }
  check(proxy, peer, proxy.inspect(peer, headers));
  if (total(proxy.stats()) != before + 2) fail("an inspect() was not counted exactly once");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  FuzzedDataProvider in(bytes, size);

  // A fixed configuration, so that trusted peers are easy to reach ...
  static const recall::trusted_proxy fixed(
      {.trusted_networks = {"10.0.0.0/8", "192.168.1.0/24", "127.0.0.1", "fd00::/8", "::1/128"}});
  exercise(fixed, in);

  // ... and one built from the input.
  recall::trusted_proxy_options options;
  const int networks = in.ConsumeIntegralInRange(0, 4);
  for (int i = 0; i < networks; ++i)
    options.trusted_networks.push_back(in.ConsumeRandomLengthString(48));
  if (in.ConsumeBool()) options.user_header = in.ConsumeRandomLengthString(24);
  if (in.ConsumeBool()) options.groups_header = in.ConsumeRandomLengthString(24);
  if (in.ConsumeBool()) options.groups_separator = in.ConsumeIntegral<char>();
  if (in.ConsumeBool()) options.max_user_bytes = in.ConsumeIntegralInRange<std::size_t>(0, 300);
  if (in.ConsumeBool()) options.max_groups_bytes = in.ConsumeIntegralInRange<std::size_t>(0, 300);
  std::optional<recall::trusted_proxy> built;
  try {
    built.emplace(std::move(options));
  } catch (const recall::config_error&) {
    return 0;  // the only way a configuration may be refused
  }
  exercise(*built, in);
  return 0;
}
