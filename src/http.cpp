#include "recall/http.hpp"

#include <stdexcept>

#include "recall/codec.hpp"
#include "recall/error.hpp"

namespace recall {
namespace {

http_error from_session_error(const session_error& e) {
  switch (e.code()) {
    case session_errc::quota_exceeded:
      return {413, "session quota exceeded", e.what()};
    case session_errc::scratch_full:
      return {413, "too many values for one request", e.what()};
    case session_errc::ended:
      return {409, "the session has ended; reload the page", e.what()};
    case session_errc::wrong_kind:
    case session_errc::scratch_type_mismatch:
      return {500, "internal server error", e.what()};
    case session_errc::storage_unavailable:
      break;
  }
  // A storage's own failure (the Redis storage's storage_unavailable, or a
  // code a later storage adds): the session may be fine, its storage is not
  // reachable now.
  return {503, "session storage unavailable; try again", e.what()};
}

}  // namespace

http_error http_error_of(std::exception_ptr error) noexcept {
  try {
    try {
      if (error) std::rethrow_exception(error);
      return {500, "internal server error", "no exception"};
    } catch (const session_error& e) {
      return from_session_error(e);
    } catch (const codec_error& e) {
      return {400, "malformed data", e.what()};
    } catch (const std::invalid_argument& e) {
      return {400, "malformed argument", e.what()};
    } catch (const std::exception& e) {
      return {500, "internal server error", e.what()};
    } catch (...) {
      return {500, "internal server error", "an exception that is not a std::exception"};
    }
  } catch (...) {
    // Copying a message can throw bad_alloc; the status alone still helps.
    return {500, "internal server error", {}};
  }
}

http_error http_error_of(role_decision decision) noexcept {
  if (decision) return {200, {}, {}};
  return {decision.http_status(), decision.reason(), decision.reason()};
}

std::optional<std::string> http_request::set_cookie() const {
  if (session_.id_changed()) return cookie_options_->set(session_.id());
  if (cookie_ != cookie_presence::unique) return std::nullopt;
  // The browser sent an id: keep it only if it still names this live session.
  if (session_.ended() || session_.rejected_reason()) return cookie_options_->expire();
  return std::nullopt;
}

bool http_sessions::is_cookie_header(std::string_view name) noexcept {
  constexpr std::string_view cookie = "cookie";
  if (name.size() != cookie.size()) return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i] >= 'A' && name[i] <= 'Z' ? char(name[i] - 'A' + 'a') : name[i];
    if (c != cookie[i]) return false;
  }
  return true;
}

identification http_sessions::anonymous() noexcept {
  return {{}, identify_outcome::untrusted_peer, "no trusted proxy is configured"};
}

http_request http_sessions::open_with(identification who, std::string_view cookie_header) const {
  const cookie_lookup c = find_session_cookie(cookie_header, cookie_.name());
  recall::session s = store_->open(c.value, who.identity);
  return http_request(cookie_, std::move(who), std::move(s), c.presence);
}

}  // namespace recall
