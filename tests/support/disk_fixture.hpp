// What the disk store tests share: a fresh directory per test, values that
// can tell whether they are whole, and a look at the files themselves.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "recall/detail/disk_file.hpp"

namespace disk_test {

// A new directory (mkdtemp), removed with everything in it at the end.
class temp_dir {
 public:
  temp_dir() {
    char pattern[] = "/tmp/recall-disk-test-XXXXXX";
    if (!::mkdtemp(pattern)) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  // Where tests put the store: a directory that does not exist yet.
  std::filesystem::path store() const { return path_ / "store"; }

 private:
  std::filesystem::path path_;
};

inline std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// A value of `size` bytes (at least 16) that says which write made it: its
// first 8 bytes are `id`, the next 8 its size, the rest a pattern of both.
inline std::string make_value(std::uint64_t id, std::size_t size) {
  std::string v(std::max<std::size_t>(size, 16), '\0');
  const std::uint64_t n = v.size();
  std::memcpy(v.data(), &id, 8);
  std::memcpy(v.data() + 8, &n, 8);
  for (std::size_t i = 16; i < v.size(); ++i)
    v[i] = static_cast<char>(mix(id + i / 8) >> (i % 8 * 8));
  return v;
}

// Whether `v` is exactly what make_value wrote: no byte missing or changed.
inline bool whole(const std::string& v) {
  if (v.size() < 16) return false;
  std::uint64_t id, n;
  std::memcpy(&id, v.data(), 8);
  std::memcpy(&n, v.data() + 8, 8);
  return n == v.size() && v == make_value(id, v.size());
}

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

inline void write_file(const std::filesystem::path& p, const std::string& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The file that holds `key` in the store at `dir`.
inline std::filesystem::path entry_file(const std::filesystem::path& dir, std::string_view key) {
  return dir / "e" / recall::detail::disk_file::name_of(key).hex().c_str();
}

// The file system's block: the unit the store counts bytes in.
inline std::uint64_t block_size(const std::filesystem::path& dir) {
  struct statvfs vfs;
  if (::statvfs(dir.c_str(), &vfs) != 0) return 4096;
  return vfs.f_frsize ? vfs.f_frsize : vfs.f_bsize;
}

struct listing {
  std::size_t files = 0;
  std::uint64_t bytes = 0;  // each file rounded up to whole blocks, as the store counts
  std::size_t undecodable = 0;
  std::vector<std::string> values;  // of the files that decode
};

// Reads every file under e/ as the store would, with the key it holds.
inline listing list_entries(const std::filesystem::path& dir) {
  const std::uint64_t block = block_size(dir);
  listing out;
  for (const auto& f : std::filesystem::directory_iterator(dir / "e")) {
    ++out.files;
    std::string bytes = read_file(f.path());
    out.bytes += (bytes.size() + block - 1) / block * block;
    std::string why;
    const auto h = recall::detail::disk_file::parse_header(bytes, bytes.size(), why);
    if (!h) {
      ++out.undecodable;
      continue;
    }
    const std::string key = bytes.substr(recall::detail::disk_file::header_size, h->key_size);
    if (!recall::detail::disk_file::decode(key, bytes, why) ||
        f.path().filename() != recall::detail::disk_file::name_of(key).hex().c_str()) {
      ++out.undecodable;
      continue;
    }
    out.values.push_back(std::move(bytes));
  }
  return out;
}

inline std::size_t count_files(const std::filesystem::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& f : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

inline mode_t mode_of(const std::filesystem::path& p) {
  struct stat st;
  if (::lstat(p.c_str(), &st) != 0) return 0;
  return st.st_mode & 07777;
}

}  // namespace disk_test
