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

#include "recall/export.hpp"

namespace recall {

// Every exception class is exported, the header-only ones too: a class may not
// be more visible than its bases, and one type identity in every module lets a
// catch match what a shared librecall throws.
class RECALL_EXPORT error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Options that cannot work (no TTL, a zero bound, an insecure cookie, ...).
class RECALL_EXPORT config_error : public error {
 public:
  using error::error;
};

// A cached function called itself with the same arguments: waiting for its
// own result would deadlock.
class RECALL_EXPORT recursive_call_error : public error {
 public:
  using error::error;
};

// A cache with scope::session was used with no session open on this thread.
class RECALL_EXPORT no_session_error : public error {
 public:
  using error::error;
};

}  // namespace recall
