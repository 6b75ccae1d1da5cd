#include "recall/detail/posix_file.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace recall::detail {

void unique_fd::reset(int fd) noexcept {
  if (fd_ >= 0) ::close(fd_);  // close() is not retried: on Linux the fd is gone either way
  fd_ = fd;
}

int open_at(int dir, const char* name, int flags, mode_t mode) noexcept {
  int fd;
  do {
    fd = ::openat(dir, name, flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  return fd;
}

int read_at(int fd, char* out, std::size_t size, off_t offset) noexcept {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t got = ::pread(fd, out + done, size - done, offset + static_cast<off_t>(done));
    if (got > 0) {
      done += static_cast<std::size_t>(got);
    } else if (got == 0) {
      return EIO;
    } else if (errno != EINTR) {
      return errno;
    }
  }
  return 0;
}

int write_all(int fd, std::span<iovec> buffers) noexcept {
  std::size_t first = 0;
  while (first < buffers.size()) {
    if (buffers[first].iov_len == 0) {
      ++first;
      continue;
    }
    const ssize_t put =
        ::writev(fd, buffers.data() + first, static_cast<int>(buffers.size() - first));
    if (put < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    auto left = static_cast<std::size_t>(put);
    while (first < buffers.size() && left >= buffers[first].iov_len) {
      left -= buffers[first].iov_len;
      ++first;
    }
    if (left > 0) {
      buffers[first].iov_base = static_cast<char*>(buffers[first].iov_base) + left;
      buffers[first].iov_len -= left;
    }
  }
  return 0;
}

int lock_file(int fd, int operation) noexcept {
  while (::flock(fd, operation) != 0) {
    if (errno != EINTR) return errno;
  }
  return 0;
}

std::string errno_text(int err) { return fmt::format("{} (errno {})", std::strerror(err), err); }

}  // namespace recall::detail
