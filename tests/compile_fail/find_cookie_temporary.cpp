// expect-first-error: (use of deleted function|call to deleted function).*find_cookie
// find_cookie() returns a view into its header: a temporary std::string would
// dangle as soon as the statement ends, so that overload is deleted.
#include <string>

#include "recall/cookie.hpp"

std::string cookie_header() { return "__Host-recall_session=abc"; }

int main() {
  auto id = recall::find_cookie(cookie_header(), "__Host-recall_session");
  return id ? 0 : 1;
}
