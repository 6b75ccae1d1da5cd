#include "warehouse.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <chrono>
#include <stdexcept>
#include <utility>

namespace dashboard {
namespace {

constexpr int days_of_history = 365;
const char* const region_names[] = {"Africa",        "Asia",    "Europe",
                                    "North America", "Oceania", "South America"};
const char* const categories[] = {"Hardware", "Software", "Services", "Support"};
constexpr int product_count = 24;

[[noreturn]] void fail(sqlite3* db, const std::string& what) {
  throw std::runtime_error(fmt::format("warehouse: {}: {}", what, db ? sqlite3_errmsg(db) : ""));
}

void exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    const std::string text = message ? message : "unknown error";
    sqlite3_free(message);
    throw std::runtime_error(fmt::format("warehouse: {} in: {}", text, sql));
  }
}

struct statement {
  sqlite3_stmt* s = nullptr;
  statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &s, nullptr) != SQLITE_OK) fail(db, sql);
  }
  ~statement() { sqlite3_finalize(s); }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  bool step() {
    const int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(sqlite3_db_handle(s), "step");
  }
  std::int64_t i64(int col) { return sqlite3_column_int64(s, col); }
  std::string text(int col) {
    const auto* p = sqlite3_column_text(s, col);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
};

sqlite3* open_rw(const std::filesystem::path& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) !=
      SQLITE_OK) {
    std::string why = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw std::runtime_error("warehouse: cannot open " + path.string() + ": " + why);
  }
  sqlite3_busy_timeout(db, 30'000);
  return db;
}

// A small deterministic generator (splitmix64): the same warehouse every run.
struct random_source {
  std::uint64_t state;
  std::uint64_t next() {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
  }
  int below(int n) { return static_cast<int>(next() % static_cast<std::uint64_t>(n)); }
};

void insert_sales(sqlite3* db, random_source& rng, std::int64_t rows, int first_day, int days) {
  statement insert(db,
                   "INSERT INTO sales(day, region_id, product_id, units, revenue_cents) "
                   "VALUES (?, ?, ?, ?, ?)");
  for (std::int64_t i = 0; i < rows; ++i) {
    const int day = first_day + rng.below(days);
    const int region = 1 + rng.below(6);
    const int product = 1 + rng.below(product_count);
    // Seasonal and regional shape, so the chart has something to show.
    const int units = 1 + rng.below(5 + region + (day % 7 == 5 ? 6 : 0));
    const std::int64_t price = 500 + product * 250;
    sqlite3_bind_int(insert.s, 1, day);
    sqlite3_bind_int(insert.s, 2, region);
    sqlite3_bind_int(insert.s, 3, product);
    sqlite3_bind_int(insert.s, 4, units);
    sqlite3_bind_int64(insert.s, 5, units * price);
    insert.step();
    sqlite3_reset(insert.s);
  }
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The summary and the freshness record; the caller holds the transaction.
std::int64_t rebuild_summary(sqlite3* db, std::int64_t new_rows) {
  exec(db, "DELETE FROM sales_summary");
  exec(db,
       "INSERT INTO sales_summary(region_id, day, product_id, units, revenue_cents) "
       "SELECT region_id, day, product_id, SUM(units), SUM(revenue_cents) FROM sales "
       "GROUP BY region_id, day, product_id");
  statement log(db,
                "INSERT INTO refresh_log(refreshed_at, new_rows) VALUES (?, ?) "
                "RETURNING generation");
  sqlite3_bind_int64(log.s, 1, unix_now());
  sqlite3_bind_int64(log.s, 2, new_rows);
  log.step();
  return log.i64(0);
}

}  // namespace

bool generate(const std::filesystem::path& path, std::int64_t rows) {
  if (std::filesystem::exists(path)) return false;
  const auto building = std::filesystem::path(path.string() + ".building");
  std::filesystem::remove(building);
  sqlite3* db = open_rw(building);
  try {
    exec(db, "PRAGMA journal_mode=WAL");
    exec(db, "PRAGMA synchronous=NORMAL");
    exec(db, "BEGIN");
    exec(db,
         "CREATE TABLE region(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
         "CREATE TABLE product(id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT "
         "NULL);"
         "CREATE TABLE sales(day INTEGER NOT NULL, region_id INTEGER NOT NULL REFERENCES region, "
         "product_id INTEGER NOT NULL REFERENCES product, units INTEGER NOT NULL, "
         "revenue_cents INTEGER NOT NULL);"
         "CREATE TABLE sales_summary(region_id INTEGER, day INTEGER, product_id INTEGER, "
         "units INTEGER, revenue_cents INTEGER, PRIMARY KEY(region_id, day, product_id)) "
         "WITHOUT ROWID;"
         "CREATE TABLE refresh_log(generation INTEGER PRIMARY KEY, refreshed_at INTEGER NOT "
         "NULL, new_rows INTEGER NOT NULL);"
         // The analytics schema: the only names the dashboard reads.
         "CREATE VIEW analytics_regions AS SELECT name FROM region;"
         "CREATE VIEW analytics_sales AS SELECT s.day, r.name AS region, p.name AS product, "
         "p.category, s.units, s.revenue_cents FROM sales_summary s "
         "JOIN region r ON r.id = s.region_id JOIN product p ON p.id = s.product_id;"
         "CREATE VIEW analytics_freshness AS SELECT generation, refreshed_at, "
         "(SELECT MAX(day) FROM sales_summary) AS last_day FROM refresh_log "
         "ORDER BY generation DESC LIMIT 1;");
    {
      statement region(db, "INSERT INTO region(id, name) VALUES (?, ?)");
      for (int i = 0; i < 6; ++i) {
        sqlite3_bind_int(region.s, 1, i + 1);
        sqlite3_bind_text(region.s, 2, region_names[i], -1, SQLITE_STATIC);
        region.step();
        sqlite3_reset(region.s);
      }
      statement product(db, "INSERT INTO product(id, name, category) VALUES (?, ?, ?)");
      for (int i = 0; i < product_count; ++i) {
        const std::string name = fmt::format("{} {:02}", categories[i % 4], i + 1);
        sqlite3_bind_int(product.s, 1, i + 1);
        sqlite3_bind_text(product.s, 2, name.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(product.s, 3, categories[i % 4], -1, SQLITE_STATIC);
        product.step();
        sqlite3_reset(product.s);
      }
    }
    random_source rng{42};
    insert_sales(db, rng, rows, 0, days_of_history);
    rebuild_summary(db, rows);
    exec(db, "COMMIT");
    exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  } catch (...) {
    sqlite3_close(db);
    std::filesystem::remove(building);
    throw;
  }
  sqlite3_close(db);
  std::filesystem::remove(building.string() + "-wal");
  std::filesystem::remove(building.string() + "-shm");
  std::filesystem::rename(building, path);
  return true;
}

refresh_result refresh(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) {
    throw std::runtime_error("warehouse: " + path.string() +
                             " does not exist; run `dashboard generate` first");
  }
  const auto started = std::chrono::steady_clock::now();
  sqlite3* db = open_rw(path);
  refresh_result out;
  try {
    exec(db, "BEGIN IMMEDIATE");
    int last_day = 0;
    std::int64_t generation = 0;
    {
      statement s(db, "SELECT MAX(day), (SELECT MAX(generation) FROM refresh_log) FROM sales");
      s.step();
      last_day = static_cast<int>(s.i64(0));
      generation = s.i64(1);
    }
    // Late-arriving sales for the newest day: what a real ETL step brings.
    random_source rng{static_cast<std::uint64_t>(generation) * 7919u};
    out.new_rows = 500;
    insert_sales(db, rng, out.new_rows, last_day, 1);
    out.generation = rebuild_summary(db, out.new_rows);
    exec(db, "COMMIT");
  } catch (...) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db);
    throw;
  }
  sqlite3_close(db);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return out;
}

// --- connection_pool --------------------------------------------------------

namespace {

std::uint64_t inode_of(const std::filesystem::path& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_ino) : 0;
}

}  // namespace

class connection_pool::lease {
 public:
  lease(connection_pool& pool, sqlite3* db) : pool_(&pool), db_(db) {}
  lease(lease&& other) noexcept
      : pool_(std::exchange(other.pool_, nullptr)), db_(std::exchange(other.db_, nullptr)) {}
  ~lease() {
    if (!pool_) return;
    std::lock_guard lock(pool_->mu_);
    if (pool_->idle_.size() < pool_->size_ && !pool_->broken_) {
      pool_->idle_.push_back(db_);
    } else {
      sqlite3_close(db_);
    }
  }
  sqlite3* get() const { return db_; }

 private:
  connection_pool* pool_;
  sqlite3* db_;
};

connection_pool::connection_pool(std::filesystem::path path, std::size_t size)
    : path_(std::move(path)), inode_(inode_of(path_)), size_(size) {
  if (inode_ == 0) {
    throw std::runtime_error("warehouse: " + path_.string() +
                             " does not exist; run `dashboard generate` first");
  }
}

connection_pool::~connection_pool() { close(); }

void connection_pool::close() {
  std::lock_guard lock(mu_);
  for (sqlite3* db : idle_) sqlite3_close(db);
  idle_.clear();
}

bool connection_pool::ok() const { return !broken_ && inode_of(path_) == inode_; }

connection_pool::lease connection_pool::borrow() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      sqlite3* db = idle_.back();
      idle_.pop_back();
      return lease(*this, db);
    }
  }
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path_.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr) !=
      SQLITE_OK) {
    broken_ = true;
    const std::string why = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    throw std::runtime_error("warehouse: cannot open " + path_.string() + ": " + why);
  }
  sqlite3_busy_timeout(db, 5'000);
  exec(db, "PRAGMA query_only=1");
  return lease(*this, db);
}

std::vector<std::string> connection_pool::regions() {
  lease l = borrow();
  statement s(l.get(), "SELECT name FROM analytics_regions ORDER BY name");
  std::vector<std::string> out;
  while (s.step()) out.push_back(s.text(0));
  return out;
}

freshness connection_pool::latest() {
  lease l = borrow();
  statement s(l.get(), "SELECT generation, refreshed_at, last_day FROM analytics_freshness");
  freshness f;
  if (s.step()) f = {s.i64(0), s.i64(1), static_cast<int>(s.i64(2))};
  return f;
}

std::vector<day_total> connection_pool::daily(const std::string& region, int from_day, int to_day) {
  lease l = borrow();
  statement s(l.get(),
              "SELECT day, SUM(units), SUM(revenue_cents) FROM analytics_sales "
              "WHERE (?1 = '' OR region = ?1) AND day BETWEEN ?2 AND ?3 GROUP BY day ORDER BY day");
  sqlite3_bind_text(s.s, 1, region.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(s.s, 2, from_day);
  sqlite3_bind_int(s.s, 3, to_day);
  std::vector<day_total> out;
  while (s.step()) out.push_back({static_cast<int>(s.i64(0)), s.i64(1), s.i64(2)});
  return out;
}

product_page connection_pool::top_products(const std::string& region, int from_day, int to_day,
                                           int page, int page_size) {
  lease l = borrow();
  statement s(l.get(),
              "SELECT product, category, SUM(units), SUM(revenue_cents), COUNT(*) OVER () "
              "FROM analytics_sales WHERE (?1 = '' OR region = ?1) AND day BETWEEN ?2 AND ?3 "
              "GROUP BY product ORDER BY 4 DESC, product LIMIT ?4 OFFSET ?5");
  sqlite3_bind_text(s.s, 1, region.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(s.s, 2, from_day);
  sqlite3_bind_int(s.s, 3, to_day);
  sqlite3_bind_int(s.s, 4, page_size);
  sqlite3_bind_int(s.s, 5, (page - 1) * page_size);
  product_page out;
  while (s.step()) {
    out.rows.push_back({s.text(0), s.text(1), s.i64(2), s.i64(3)});
    out.pages = static_cast<int>((s.i64(4) + page_size - 1) / page_size);
  }
  return out;
}

bool connection_pool::ping() {
  try {
    lease l = borrow();
    statement s(l.get(), "SELECT COUNT(*) FROM analytics_freshness");
    return s.step();
  } catch (const std::exception&) {
    broken_ = true;
    return false;
  }
}

}  // namespace dashboard
