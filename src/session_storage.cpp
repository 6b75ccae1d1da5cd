// What the session storages share: the errors they raise in the same words.
#include "recall/detail/session_storage.hpp"

#include <fmt/format.h>

#include "recall/session.hpp"

namespace recall::detail {

void throw_wrong_kind(std::string_view key, const char* wanted) {
  throw session_error(session_errc::wrong_kind,
                      fmt::format("recall: session key '{}' holds another kind of value than "
                                  "{} (a value, a list and a map cannot share a key); use "
                                  "another key or erase it first",
                                  key, wanted));
}

void throw_ended(std::string_view what) {
  throw session_error(session_errc::ended,
                      fmt::format("recall: {} a session that has ended (logged out, expired or "
                                  "evicted, possibly by another request); nothing was stored. "
                                  "Open the session again to start a new one",
                                  what));
}

}  // namespace recall::detail
