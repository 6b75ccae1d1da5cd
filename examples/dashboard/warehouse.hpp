// The dashboard's data layer: a SQLite warehouse (a sales fact table over
// regions, products and days), the summary that the scheduled refresh
// rebuilds, and the read-only analytics views that are the only thing the
// pages query (the "stable schema contract" between dashboard and data).
//
// Thread safety: generate() and refresh() take the database's write lock and
// may run while pages read; a connection_pool may be used from any thread.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace dashboard {

struct day_total {
  int day = 0;
  std::int64_t units = 0;
  std::int64_t revenue_cents = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(day, units, revenue_cents);
  }
};

struct product_total {
  std::string product;
  std::string category;
  std::int64_t units = 0;
  std::int64_t revenue_cents = 0;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(product, category, units, revenue_cents);
  }
};

struct product_page {
  std::vector<product_total> rows;
  int pages = 1;
  template <class Archive>
  void serialize(Archive& ar) {
    ar(rows, pages);
  }
};

struct freshness {
  std::int64_t generation = 0;
  std::int64_t refreshed_at = 0;  // Unix seconds
  int last_day = 0;               // the newest day in the summary
  template <class Archive>
  void serialize(Archive& ar) {
    ar(generation, refreshed_at, last_day);
  }
};

// Creates the warehouse at `path` with `rows` sales rows, unless it exists.
// Returns true if it created it.
bool generate(const std::filesystem::path& path, std::int64_t rows);

struct refresh_result {
  std::int64_t generation = 0;
  std::int64_t new_rows = 0;
  double seconds = 0;
};

// The scheduled job: loads the day's new sales into the fact table (the
// stand-in for an ETL step) and rebuilds the summary, in one transaction.
refresh_result refresh(const std::filesystem::path& path);

// Read-only connections to the analytics views. Connections are opened with
// SQLITE_OPEN_READONLY and PRAGMA query_only: the app cannot write.
class connection_pool {
 public:
  connection_pool(std::filesystem::path path, std::size_t size);
  ~connection_pool();
  connection_pool(const connection_pool&) = delete;
  connection_pool& operator=(const connection_pool&) = delete;

  // False once the database file was replaced (a regenerated warehouse) or a
  // query failed with a connection error: the resource cache builds a new pool.
  bool ok() const;
  void close();

  std::vector<std::string> regions();
  freshness latest();
  std::vector<day_total> daily(const std::string& region, int from_day, int to_day);
  product_page top_products(const std::string& region, int from_day, int to_day, int page,
                            int page_size);
  bool ping();

 private:
  class lease;
  lease borrow();

  std::filesystem::path path_;
  std::uint64_t inode_ = 0;
  std::mutex mu_;
  std::vector<sqlite3*> idle_;
  std::atomic<bool> broken_{false};
  std::size_t size_;
};

}  // namespace dashboard
