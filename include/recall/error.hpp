// recall/error.hpp: the exceptions recall throws.
//
// Every error a caller can cause derives from recall::error, carries a message
// that names what was wrong and what to do, and (where a program may want to
// branch on it) a typed code.
//
// Thread safety: exceptions are immutable values.
#pragma once

#include <stdexcept>
#include <string>

namespace recall {

class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Options that cannot work (no TTL, a zero bound, an insecure cookie, ...).
class config_error : public error {
 public:
  using error::error;
};

// A cached function called itself with the same arguments: waiting for its
// own result would deadlock.
class recursive_call_error : public error {
 public:
  using error::error;
};

// A cache with scope::session was used with no session open on this thread.
class no_session_error : public error {
 public:
  using error::error;
};

}  // namespace recall
