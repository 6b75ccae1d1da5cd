// recall/metrics.hpp: typed metrics of every registered object, and their
// Prometheus text exposition.
//
// Every cache_data, cache_resource, session_store, redis_client and
// trusted_proxy registers itself (recall/registry.hpp) with the metrics its
// kind really has: a counter or a gauge, a help text, and an exact value (an
// unsigned integer, or a real number for seconds). write_prometheus() writes
// them all in the Prometheus text format 0.0.4, which a host serves as its
// /metrics endpoint; `promtool check metrics` accepts it. The series are
//
//   recall_<group>_<metric>[_total]{kind="<kind>",name="<object name>"}
//
// with group `cache` for cache_data and cache_resource (so one family holds
// both kinds' hits), `session` for session stores, `redis` for Redis clients
// and `trusted_proxy` for proxies; counters end in `_total`. docs/metrics.md
// lists every family.
//
// Thread safety: write_prometheus() may be called from any number of threads,
// concurrently with objects being created and destroyed.
//
//   std::string body;
//   recall::write_prometheus(body);
//   res.set_content(body, recall::prometheus_content_type);
#pragma once

#include <concepts>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>

#include "recall/export.hpp"

namespace recall {

enum class metric_type { counter, gauge };

// An exact unsigned integer, or a real number (seconds).
class metric_value {
 public:
  constexpr metric_value() noexcept = default;
  template <std::unsigned_integral I>
  constexpr metric_value(I v) noexcept : integer_(v) {}
  template <std::signed_integral I>
  constexpr metric_value(I v) noexcept
      : integer_(v < 0 ? 0 : static_cast<std::uint64_t>(v)), real_(double(v)), is_real_(v < 0) {}
  constexpr metric_value(double v) noexcept : real_(v), is_real_(true) {}

  constexpr bool is_integer() const noexcept { return !is_real_; }
  // The integer; 0 for a real value.
  constexpr std::uint64_t integer() const noexcept { return is_real_ ? 0 : integer_; }
  constexpr double as_double() const noexcept { return is_real_ ? real_ : double(integer_); }

  friend constexpr bool operator==(const metric_value& a, const metric_value& b) noexcept {
    if (a.is_integer() && b.is_integer()) return a.integer_ == b.integer_;
    return a.as_double() == b.as_double();
  }

 private:
  std::uint64_t integer_ = 0;
  double real_ = 0;
  bool is_real_ = false;
};

// One number a registered object reports. `name` is the metric's suffix
// ("hits", "bytes"), without the group prefix and without `_total`.
struct metric {
  std::string name;
  metric_value value{};
  metric_type type = metric_type::gauge;
  std::string_view help{};  // a static string
};

// The Content-Type of write_prometheus()'s output.
inline constexpr std::string_view prometheus_content_type =
    "text/plain; version=0.0.4; charset=utf-8";

// Appends the metrics of every registered object to `out`, in the Prometheus
// text format: a `# HELP` and `# TYPE` line per family, then one sample per
// object, families and objects in name order. Two objects of one kind with
// the same name are told apart by a `copy="2"`, `copy="3"`... label.
RECALL_EXPORT void write_prometheus(std::string& out);
RECALL_EXPORT void write_prometheus(std::ostream& out);

}  // namespace recall
