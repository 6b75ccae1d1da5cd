// Small POSIX helpers for the disk store: an owned file descriptor, and
// reads and writes that retry on EINTR and partial transfers.
//
// Thread safety: a unique_fd is a value; the functions are reentrant.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <span>
#include <string>
#include <utility>

#include "recall/export.hpp"

namespace recall::detail {

class RECALL_EXPORT unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) noexcept : fd_(fd) {}
  unique_fd(unique_fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) reset(std::exchange(other.fd_, -1));
    return *this;
  }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  ~unique_fd() { reset(); }

  int get() const noexcept { return fd_; }
  explicit operator bool() const noexcept { return fd_ >= 0; }
  void reset(int fd = -1) noexcept;

 private:
  int fd_ = -1;
};

// openat() retried on EINTR; always O_CLOEXEC. Returns -1 with errno set.
RECALL_EXPORT int open_at(int dir, const char* name, int flags, mode_t mode = 0) noexcept;

// Reads exactly `size` bytes at `offset`: 0, or an errno value (EIO when the
// file ends early).
RECALL_EXPORT int read_at(int fd, char* out, std::size_t size, off_t offset) noexcept;

// Writes every byte of every buffer: 0 or an errno value.
RECALL_EXPORT int write_all(int fd, std::span<iovec> buffers) noexcept;

// flock(), retried on EINTR: 0 or an errno value.
RECALL_EXPORT int lock_file(int fd, int operation) noexcept;

// "No such file or directory (errno 2)".
RECALL_EXPORT std::string errno_text(int err);

}  // namespace recall::detail
