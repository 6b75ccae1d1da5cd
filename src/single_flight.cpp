#include "recall/detail/single_flight.hpp"

namespace recall::detail {

std::vector<std::pair<const void*, key>>& active_flights() noexcept {
  thread_local std::vector<std::pair<const void*, key>> flights;
  return flights;
}

}  // namespace recall::detail
