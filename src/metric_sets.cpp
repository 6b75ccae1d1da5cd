#include "recall/detail/metric_sets.hpp"

#include <chrono>
#include <initializer_list>

#include "recall/session.hpp"
#include "recall/trusted_proxy.hpp"

namespace recall::detail {
namespace {

constexpr metric_type counter = metric_type::counter;
constexpr metric_type gauge = metric_type::gauge;

struct cache_field {
  const char* name;
  metric_type type;
  const char* help;
  std::uint64_t cache_stats::*field;
};

// Shared by both cache kinds, in exposition order.
constexpr cache_field hits{"hits", counter, "Calls answered from the cache.", &cache_stats::hits};
constexpr cache_field misses{"misses", counter,
                             "Calls that found no value (each caller of a shared load counts).",
                             &cache_stats::misses};
constexpr cache_field inserts{"inserts", counter, "Values stored.", &cache_stats::inserts};
constexpr cache_field loads{"loads", counter, "Calls of the cached function or factory.",
                            &cache_stats::loads};
constexpr cache_field load_failures{"load_failures", counter,
                                    "Calls of the cached function or factory that threw.",
                                    &cache_stats::load_failures};
constexpr cache_field expired{"expired", counter, "Entries that left because their TTL passed.",
                              &cache_stats::expired};
constexpr cache_field evicted{"evicted", counter, "Entries pushed out by the entry or byte bound.",
                              &cache_stats::evicted};
constexpr cache_field replaced{"replaced", counter, "Entries replaced by a new value.",
                               &cache_stats::replaced};
constexpr cache_field removed{"removed", counter,
                              "Entries removed by invalidate() or the end of their session.",
                              &cache_stats::removed};
constexpr cache_field cleared{"cleared", counter, "Entries dropped by clear() or clear_all().",
                              &cache_stats::cleared};
constexpr cache_field entries{"entries", gauge, "Entries held now.", &cache_stats::entries};
constexpr cache_field max_entries{"max_entries", gauge, "The max_entries bound.",
                                  &cache_stats::max_entries};

metric from(const cache_stats& s, const cache_field& f) {
  return {f.name, s.*(f.field), f.type, f.help};
}

metric load_seconds(const cache_stats& s) {
  return {"load_seconds", std::chrono::duration<double>(s.load_time).count(), counter,
          "Time spent in the cached function or factory, in seconds."};
}

void add(std::vector<metric>& out, const cache_stats& s,
         std::initializer_list<cache_field> fields) {
  for (const cache_field& f : fields) out.push_back(from(s, f));
}

}  // namespace

std::vector<metric> cache_data_metrics(const cache_stats& s, bool second_level) {
  std::vector<metric> out;
  add(out, s, {hits, misses});
  add(out, s,
      {{"stale_hits", counter, "Hits served from the refresh-ahead window.",
        &cache_stats::stale_hits},
       {"fail_safe_hits", counter, "Expired values served because the function failed.",
        &cache_stats::fail_safe_hits},
       inserts,
       {"rejected", counter, "Values larger than the whole byte budget, not stored.",
        &cache_stats::rejected},
       loads,
       load_failures});
  out.push_back(load_seconds(s));
  add(out, s,
      {{"refreshes", counter, "Background refresh-ahead loads that succeeded.",
        &cache_stats::refreshes},
       {"refresh_failures", counter, "Background refresh-ahead loads that threw.",
        &cache_stats::refresh_failures},
       {"refreshes_dropped", counter, "Refreshes not started because the queue was full.",
        &cache_stats::refreshes_dropped},
       expired,
       evicted,
       replaced,
       removed,
       cleared,
       entries,
       {"bytes", gauge, "Encoded bytes held now.", &cache_stats::bytes},
       max_entries,
       {"max_bytes", gauge, "The max_bytes bound.", &cache_stats::max_bytes}});
  if (second_level) {
    add(out, s,
        {{"l2_hits", counter, "Results found in the second level.", &cache_stats::l2_hits},
         {"l2_misses", counter, "Results not found in the second level.", &cache_stats::l2_misses},
         {"l2_unavailable", counter, "Second-level operations that could not reach it.",
          &cache_stats::l2_unavailable},
         {"l2_rejected", counter,
          "Second-level records refused (corrupt, foreign, unsigned or forged).",
          &cache_stats::l2_rejected},
         {"l2_writes", counter, "Results stored in the second level.", &cache_stats::l2_writes},
         {"lease_waits", counter, "Loads that waited for another replica's computation.",
          &cache_stats::lease_waits},
         {"lease_timeouts", counter, "Lease waits that gave up and computed themselves.",
          &cache_stats::lease_timeouts},
         {"invalidations_sent", counter, "Invalidation messages sent to other replicas.",
          &cache_stats::invalidations_sent},
         {"invalidations_received", counter, "Invalidation messages received from replicas.",
          &cache_stats::invalidations_received},
         {"invalidations_lost", counter,
          "Invalidation messages that could not be sent (store unreachable, queue full).",
          &cache_stats::invalidations_lost}});
  }
  return out;
}

std::vector<metric> cache_resource_metrics(const cache_stats& s) {
  std::vector<metric> out;
  add(out, s, {hits, misses, inserts, loads, load_failures});
  out.push_back(load_seconds(s));
  add(out, s,
      {{"release_failures", counter, "on_release calls that threw.",
        &cache_stats::release_failures},
       expired,
       evicted,
       replaced,
       removed,
       cleared,
       entries,
       max_entries});
  return out;
}

std::vector<metric> session_metrics(const session_stats& s) {
  return {
      {"live", s.live, gauge, "Stored sessions."},
      {"created", s.created, counter, "Sessions stored (at their first write)."},
      {"rotated", s.rotated, counter, "Session id rotations."},
      {"ended", s.ended, counter, "Sessions ended by logout, end_all() or the store's end."},
      {"ended_user_limit", s.ended_user_limit, counter,
       "Sessions ended because their user passed max_sessions_per_user."},
      {"expired_idle", s.expired_idle, counter, "Sessions that passed the idle timeout."},
      {"expired_absolute", s.expired_absolute, counter,
       "Sessions that passed the absolute timeout."},
      {"evicted", s.evicted, counter, "Sessions evicted by the session or byte bound."},
      {"rejected_ids", s.rejected_ids(), counter,
       "Presented ids that resumed no session (empty, malformed, unknown, expired, another "
       "user's)."},
      {"quota_exceeded", s.quota_exceeded, counter, "Writes refused by max_bytes_per_session."},
      {"bytes", s.bytes, gauge, "Accounted heap bytes of the stored sessions."},
      {"pinned_over_bound", s.pinned_over_bound, gauge,
       "Sessions evicted while a request held them, kept for that request."},
      {"max_sessions", s.max_sessions, gauge, "The max_sessions bound."},
      {"max_total_bytes", s.max_total_bytes, gauge, "The max_total_bytes bound."},
      {"storage_unavailable", s.storage_unavailable, counter,
       "Calls that threw session_error(storage_unavailable): the storage (Redis) could not be "
       "reached or refused the call."},
      {"storage_rejected", s.storage_rejected, counter,
       "Bytes read from the storage and refused (corrupted, or moved from another session)."},
  };
}

std::vector<metric> trusted_proxy_metrics(const trusted_proxy_stats& s) {
  return {
      {"identified", s.identified, counter, "Requests identified by the trusted proxy's headers."},
      {"no_user", s.no_user, counter, "Requests from a trusted peer without a user header."},
      {"untrusted_peer", s.untrusted_peer, counter,
       "Requests from an untrusted peer without identity headers."},
      {"untrusted_headers_ignored", s.untrusted_headers_ignored, counter,
       "Identity headers from an untrusted peer, ignored (spoofing, or a proxy missing from "
       "the trusted networks)."},
      {"bad_peer_address", s.bad_peer_address, counter,
       "Requests whose peer address was not an IP address."},
      {"rejected_header", s.rejected_header, counter,
       "Identity headers from the trusted peer refused as unsafe (duplicate, too long, control "
       "characters)."},
  };
}

}  // namespace recall::detail
