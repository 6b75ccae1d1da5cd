// Checks of redis_options, and how the client names its server in messages.
//
// Thread safety: pure functions.
#pragma once

#include <string>

#include "recall/redis.hpp"

namespace recall::detail {

// config_error naming the option for options that cannot work.
void validate(const redis_options& options);

// "127.0.0.1:6379", "[::1]:6379" or "unix:/run/redis.sock".
std::string endpoint_of(const redis_options& options);

}  // namespace recall::detail
