#include "recall/detail/table_hash.hpp"

#include <string>

#include "recall/session_id.hpp"

namespace recall::detail {

const table_secret& process_table_secret() {
  // A session id is 256 bits from the OS CSPRNG (getrandom, or /dev/urandom);
  // three independent 64-bit words are drawn from it and one more.
  static const table_secret secret = [] {
    const std::string first = new_session_id();
    const std::string second = new_session_id();
    key_builder a(0), b(1);
    a.add(std::string_view(first));
    b.add(std::string_view(second));
    const key ka = a.finish();
    const key kb = b.finish();
    return table_secret{ka.low, ka.high, kb.low};
  }();
  return secret;
}

}  // namespace recall::detail
