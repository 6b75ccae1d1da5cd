#include "recall/session_id.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "recall/error.hpp"

#if defined(__linux__)
#include <sys/random.h>
#endif

namespace recall {
namespace {

constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static_assert(sizeof(alphabet) == 65);

// Bits the last character carries: 256 - 42 * 6.
constexpr int last_char_bits = session_id_bytes * 8 - (session_id_length - 1) * 6;
static_assert(last_char_bits == 4);

// The 6-bit value of a base64url character, -1 for anything else.
constexpr int sextet(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

[[noreturn]] void fail(const char* what, int err) {
  throw error(std::string("recall: cannot create a session id: ") + what + " failed (" +
              std::strerror(err) +
              "); the operating system's random source is unavailable, and recall will not "
              "fall back to a predictable generator. Check the process sandbox (seccomp, "
              "chroot without /dev/urandom).");
}

void read_urandom(unsigned char* out, std::size_t n) {
  int fd;
  do {
    fd = ::open("/dev/urandom", O_RDONLY | O_CLOEXEC);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) fail("open(\"/dev/urandom\")", errno);
  std::size_t done = 0;
  while (done < n) {
    const ssize_t got = ::read(fd, out + done, n - done);
    if (got > 0) {
      done += static_cast<std::size_t>(got);
    } else if (got < 0 && errno == EINTR) {
      continue;
    } else {
      const int err = got == 0 ? EIO : errno;
      ::close(fd);
      fail("read(\"/dev/urandom\")", err);
    }
  }
  ::close(fd);
}

void fill_random(unsigned char* out, std::size_t n) {
#if defined(__linux__)
  std::size_t done = 0;
  while (done < n) {
    // Flags 0: blocks only until the kernel pool is first seeded, then never.
    const ssize_t got = ::getrandom(out + done, n - done, 0);
    if (got > 0) {
      done += static_cast<std::size_t>(got);
    } else if (got < 0 && errno == EINTR) {
      continue;
    } else if (got < 0 && (errno == ENOSYS || errno == EPERM)) {
      // A kernel older than 3.17, or a seccomp filter that forbids the call.
      read_urandom(out + done, n - done);
      return;
    } else {
      fail("getrandom()", got == 0 ? EIO : errno);
    }
  }
#else
  read_urandom(out, n);
#endif
}

}  // namespace

std::string new_session_id() {
  std::array<unsigned char, session_id_bytes> raw;
  fill_random(raw.data(), raw.size());

  std::string id(session_id_length, '\0');
  char* out = id.data();
  std::size_t i = 0;
  for (; i + 3 <= raw.size(); i += 3) {
    const unsigned v = (raw[i] << 16) | (raw[i + 1] << 8) | raw[i + 2];
    *out++ = alphabet[(v >> 18) & 63];
    *out++ = alphabet[(v >> 12) & 63];
    *out++ = alphabet[(v >> 6) & 63];
    *out++ = alphabet[v & 63];
  }
  // 32 = 10 * 3 + 2: two bytes left, written as three characters.
  const unsigned v = (raw[i] << 16) | (raw[i + 1] << 8);
  *out++ = alphabet[(v >> 18) & 63];
  *out++ = alphabet[(v >> 12) & 63];
  *out = alphabet[(v >> 6) & 63];
  return id;
}

namespace {

// The sextet of every byte, 0xff for a byte outside the alphabet: one load
// per character, and no branch until the end.
constexpr std::array<std::uint8_t, 256> sextet_table = [] {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    const int v = sextet(static_cast<char>(c));
    t[static_cast<std::size_t>(c)] = v < 0 ? 0xff : static_cast<std::uint8_t>(v);
  }
  return t;
}();

}  // namespace

bool is_well_formed_session_id(std::string_view id) noexcept {
  if (id.size() != session_id_length) return false;
  const auto* p = reinterpret_cast<const unsigned char*>(id.data());
  // One table load per character. The empty asm keeps GCC from
  // "vectorizing" the loop into a slower emulated gather.
  unsigned bad = 0;
  for (std::size_t i = 0; i < session_id_length; ++i) {
    bad |= sextet_table[p[i]];
#if defined(__GNUC__) || defined(__clang__)
    asm("" : "+r"(bad));
#endif
  }
  // Every valid sextet is below 64, so bit 7 is set only by an invalid byte.
  constexpr unsigned unused_low_bits = 6 - last_char_bits;
  return (bad & 0x80) == 0 &&
         (sextet_table[p[session_id_length - 1]] & ((1u << unused_low_bits) - 1)) == 0;
}

namespace {

// Hides `v` from the optimizer, which then cannot see that the comparison's
// outcome is known early and turn the loop into an early exit.
inline void opaque(std::uint64_t& v) noexcept {
#if defined(__GNUC__) || defined(__clang__)
  asm volatile("" : "+r"(v));
#else
  volatile std::uint64_t hidden = v;
  v = hidden;
#endif
}

}  // namespace

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  std::uint64_t diff = 0;
  std::size_t i = 0;
  for (; i + 8 <= a.size(); i += 8) {
    std::uint64_t x, y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    diff |= x ^ y;
    opaque(diff);
  }
  for (; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
    opaque(diff);
  }
  return diff == 0;
}

}  // namespace recall
