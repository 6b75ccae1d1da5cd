#include "recall/cookie.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "recall/error.hpp"
#include "recall/session_id.hpp"

namespace recall {
namespace {

// Browsers match the prefixes case-insensitively.
bool has_prefix(std::string_view name, std::string_view prefix) {
  return name.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), name.begin(), [](char p, char c) {
           return p == ((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c);
         });
}

bool is_token_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

// Characters that would end or corrupt an attribute value.
bool is_unsafe_in_attribute(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f || c == ';' || c == ',' || c == ' ';
}

bool equals_ignoring_case(std::string_view text, std::string_view lowercase) {
  return text.size() == lowercase.size() && has_prefix(text, lowercase);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

[[noreturn]] void refuse(std::string_view problem, std::string_view fix) {
  throw config_error(fmt::format("recall::session_cookie: {}; {}", problem, fix));
}

// Cookie name and value together must fit in the 4096 bytes browsers keep.
constexpr std::size_t max_cookie_bytes = 4096;

}  // namespace

session_cookie::session_cookie(cookie_options options) : options_(std::move(options)) {
  const auto& o = options_;
  if (o.name.empty() || !std::all_of(o.name.begin(), o.name.end(), is_token_char)) {
    refuse(fmt::format("cookie name \"{}\" is not a valid cookie name", o.name),
           "use letters, digits, '-' and '_' (e.g. \"__Host-recall_session\")");
  }
  if (o.name.size() + 1 + session_id_length > max_cookie_bytes) {
    refuse(fmt::format("cookie name is {} bytes long", o.name.size()),
           "a cookie's name and value must fit in 4096 bytes; use a short name");
  }
  if (!o.path.starts_with('/') ||
      std::any_of(o.path.begin(), o.path.end(), is_unsafe_in_attribute)) {
    refuse(fmt::format("path \"{}\" is not a valid cookie path", o.path),
           "use an absolute path without spaces, ',' or ';' (normally \"/\")");
  }
  if (std::any_of(o.domain.begin(), o.domain.end(), is_unsafe_in_attribute)) {
    refuse(fmt::format("domain \"{}\" is not a valid cookie domain", o.domain),
           "use a host name such as \"example.com\", or leave it empty");
  }
  if (o.max_age && o.max_age->count() <= 0) {
    refuse(fmt::format("max_age is {}s", o.max_age->count()),
           "give a positive max_age, or none for a browser-session cookie; to delete the "
           "cookie use expire()");
  }
  if (o.allow_insecure_for_local_development) {
    if (!o.domain.empty() && !equals_ignoring_case(o.domain, "localhost")) {
      refuse(
          fmt::format("allow_insecure_for_local_development is set with Domain \"{}\"", o.domain),
          "the development flag is for plain-HTTP localhost only: leave domain empty or set "
          "it to \"localhost\", and drop the flag anywhere else");
    }
    return;
  }

  const bool host = has_prefix(o.name, "__host-");
  const bool secure_prefix = has_prefix(o.name, "__secure-");
  if (host && !o.secure) {
    refuse("a \"__Host-\" cookie without Secure is rejected by browsers",
           "set secure = true (or, for plain-HTTP localhost development only, "
           "allow_insecure_for_local_development = true)");
  }
  if (secure_prefix && !o.secure) {
    refuse("a \"__Secure-\" cookie without Secure is rejected by browsers", "set secure = true");
  }
  if (host && !o.domain.empty()) {
    refuse(fmt::format("a \"__Host-\" cookie may not have a Domain (\"{}\")", o.domain),
           "leave domain empty so the cookie stays on this host, or, to share it with "
           "subdomains, rename it with the \"__Secure-\" prefix");
  }
  if (host && o.path != "/") {
    refuse(fmt::format("a \"__Host-\" cookie must have Path=/ (not \"{}\")", o.path),
           "set path = \"/\", or rename it with the \"__Secure-\" prefix");
  }
  if (o.same_site == same_site_policy::none && !o.secure) {
    refuse(
        "SameSite=None without Secure is rejected by browsers and would send the session "
        "cookie on cross-site requests over plain HTTP",
        "set secure = true, or use SameSite=Lax");
  }
  if (!o.secure) {
    refuse("Secure is off, so the session id would travel over plain HTTP",
           "set secure = true (or, for plain-HTTP localhost development only, "
           "allow_insecure_for_local_development = true)");
  }
  if (!host && !secure_prefix) {
    refuse(fmt::format("cookie name \"{}\" has neither the \"__Host-\" nor the \"__Secure-\" "
                       "prefix, so a sibling subdomain or a plain-HTTP page could overwrite it",
                       o.name),
           "rename it to \"__Host-" + o.name + "\" (or \"__Secure-" + o.name +
               "\" if it needs a Domain)");
  }
  if (!o.http_only) {
    refuse(
        "HttpOnly is off, so any script on the page (an XSS included) could read the "
        "session id",
        "set http_only = true; a session id never needs to be read by JavaScript");
  }
}

std::string session_cookie::attributes(std::optional<std::chrono::seconds> max_age) const {
  const auto& o = options_;
  std::string out = "; Path=" + o.path;
  if (!o.domain.empty()) out += "; Domain=" + o.domain;
  if (max_age) out += fmt::format("; Max-Age={}", max_age->count());
  if (o.secure) out += "; Secure";
  if (o.http_only) out += "; HttpOnly";
  switch (o.same_site) {
    case same_site_policy::lax:
      out += "; SameSite=Lax";
      break;
    case same_site_policy::strict:
      out += "; SameSite=Strict";
      break;
    case same_site_policy::none:
      out += "; SameSite=None";
      break;
  }
  return out;
}

std::string session_cookie::set(std::string_view session_id) const {
  if (!is_well_formed_session_id(session_id)) {
    refuse(fmt::format("refusing to put a value of {} bytes that is not a well-formed session "
                       "id into the session cookie",
                       session_id.size()),
           "pass an id made by recall::new_session_id() (or returned by the session store)");
  }
  return options_.name + "=" + std::string(session_id) + attributes(options_.max_age);
}

std::string session_cookie::expire() const {
  return options_.name + "=" + attributes(std::chrono::seconds(0));
}

namespace {

// The next cookie called `name` in `rest`, which is advanced past it.
std::optional<std::string_view> next_cookie(std::string_view& rest, std::string_view name) {
  while (!rest.empty()) {
    const auto end = rest.find(';');
    const auto pair = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos || trim(pair.substr(0, eq)) != name) continue;
    auto value = trim(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    return value;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string_view> find_cookie(std::string_view cookie_header,
                                            std::string_view name) noexcept {
  if (name.empty()) return std::nullopt;
  return next_cookie(cookie_header, name);
}

cookie_lookup find_session_cookie(std::string_view cookie_header, std::string_view name) noexcept {
  if (name.empty()) return {};
  const auto first = next_cookie(cookie_header, name);
  if (!first) return {};
  if (next_cookie(cookie_header, name)) return {cookie_presence::duplicate, {}};
  return {cookie_presence::unique, *first};
}

const char* to_string(cookie_presence presence) noexcept {
  switch (presence) {
    case cookie_presence::absent:
      return "absent";
    case cookie_presence::unique:
      return "unique";
    case cookie_presence::duplicate:
      return "duplicate";
  }
  return "unknown";
}

}  // namespace recall
