// recall::disk_store where there is no POSIX file system interface.
#include <fmt/format.h>

#include "recall/disk_store.hpp"
#include "recall/error.hpp"

namespace recall {

std::shared_ptr<second_level> disk_store(const std::filesystem::path& dir, disk_store_options) {
  throw config_error(fmt::format(
      "recall: disk_store('{}') needs a POSIX system (Linux, macOS, a BSD); on this platform "
      "use memory only, or Redis as the second level",
      dir.string()));
}

std::optional<disk_store_stats> disk_stats(const second_level&) { return std::nullopt; }

}  // namespace recall
