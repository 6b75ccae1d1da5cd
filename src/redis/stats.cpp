#include "recall/redis.hpp"

namespace recall {

std::vector<metric> to_metrics(const redis_stats& s) {
  return {{"commands", double(s.commands)},
          {"error_replies", double(s.error_replies)},
          {"failures_unavailable", double(s.failures_unavailable)},
          {"failures_timeout", double(s.failures_timeout)},
          {"failures_auth", double(s.failures_auth)},
          {"failures_server", double(s.failures_server)},
          {"failures_protocol", double(s.failures_protocol)},
          {"connects", double(s.connects)},
          {"reconnects", double(s.reconnects)},
          {"connections", double(s.connections)},
          {"breaker_opens", double(s.breaker_opens)},
          {"short_circuited", double(s.short_circuited)},
          {"breaker_state", double(static_cast<int>(s.breaker))},
          {"pool_waits", double(s.pool_waits)},
          {"pool_exhausted", double(s.pool_exhausted)},
          {"round_trips", double(s.round_trips)},
          {"eval_fallbacks", double(s.eval_fallbacks)},
          {"publishes", double(s.publishes)},
          {"messages_received", double(s.messages_received)},
          {"subscriptions", double(s.subscriptions)},
          {"subscription_reconnects", double(s.subscription_reconnects)},
          {"subscriber_callback_failures", double(s.subscriber_callback_failures)}};
}

}  // namespace recall
