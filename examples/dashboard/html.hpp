// Server-rendered pages of the dashboard: plain HTML with an inline SVG
// chart, readable without JavaScript. Pure functions of their inputs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "warehouse.hpp"

namespace dashboard {

struct note {
  std::string text;
  std::string author;
  std::int64_t at = 0;  // Unix seconds
  template <class Archive>
  void serialize(Archive& ar) {
    ar(text, author, at);
  }
};

struct target_row {
  std::string region;
  std::int64_t target_cents = 0;
  std::int64_t actual_cents = 0;
};

// What the dashboard page shows.
struct dashboard_view {
  std::string replica;
  std::string user;  // empty: anonymous
  bool admin = false;
  std::vector<std::string> regions;
  std::string region;  // empty: all
  int range_days = 30;
  int page = 1;
  std::vector<day_total> daily;
  product_page products;
  freshness fresh;
  std::int64_t age_seconds = 0;  // of the oldest result on the page, from lookup()
  bool stale = false;
  std::vector<note> notes;
};

struct admin_view {
  std::string replica;
  std::string user;
  std::string message;
  struct object_row {
    std::string kind, name;
    std::uint64_t entries = 0, hits = 0, misses = 0, loads = 0;
  };
  std::vector<object_row> objects;
  std::uint64_t sessions_live = 0, sessions_created = 0, sessions_bytes = 0;
  std::uint64_t warehouse_queries = 0, refreshes = 0;
  freshness fresh;
};

std::string escape(std::string_view text);
std::string money(std::int64_t cents);
std::string render_dashboard(const dashboard_view& v);
std::string render_targets(const std::string& replica, const std::vector<target_row>& rows,
                           int range_days);
std::string render_admin(const admin_view& v);

}  // namespace dashboard
