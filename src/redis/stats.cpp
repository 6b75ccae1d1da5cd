#include "recall/redis.hpp"

namespace recall {

std::vector<metric> to_metrics(const redis_stats& s) {
  constexpr metric_type counter = metric_type::counter;
  constexpr metric_type gauge = metric_type::gauge;
  return {
      {"commands", s.commands, counter, "Commands sent (a pipeline of n counts n)."},
      {"error_replies", s.error_replies, counter, "Replies of kind error."},
      {"failures_unavailable", s.failures_unavailable, counter,
       "Calls that failed: server unreachable, breaker open or pool exhausted."},
      {"failures_timeout", s.failures_timeout, counter, "Calls that failed: timeout."},
      {"failures_auth", s.failures_auth, counter, "Calls that failed: authentication refused."},
      {"failures_server", s.failures_server, counter,
       "Calls that failed: a handshake command was refused."},
      {"failures_protocol", s.failures_protocol, counter, "Calls that failed: protocol error."},
      {"connects", s.connects, counter, "Command connections opened."},
      {"reconnects", s.reconnects, counter, "Command connections that replaced a lost one."},
      {"connections", s.connections, gauge, "Command connections open now."},
      {"breaker_opens", s.breaker_opens, counter, "Times the circuit breaker opened."},
      {"short_circuited", s.short_circuited, counter, "Calls refused by the open breaker."},
      {"breaker_state", static_cast<int>(s.breaker), gauge,
       "Circuit breaker state: 0 closed, 1 open, 2 half-open."},
      {"pool_waits", s.pool_waits, counter, "Calls that found every pooled connection busy."},
      {"pool_exhausted", s.pool_exhausted, counter,
       "Calls that got no pooled connection within command_timeout."},
      {"round_trips", s.round_trips, counter,
       "Requests sent and answered (a pipeline counts 1; an EVAL fallback 2)."},
      {"eval_fallbacks", s.eval_fallbacks, counter, "EVALSHA answered NOSCRIPT; EVAL sent."},
      {"publishes", s.publishes, counter, "Messages published."},
      {"messages_received", s.messages_received, counter, "Messages delivered to subscriptions."},
      {"subscriptions", s.subscriptions, gauge, "Live subscriptions."},
      {"subscription_reconnects", s.subscription_reconnects, counter,
       "Times the subscriber connection was re-established."},
      {"subscriber_callback_failures", s.subscriber_callback_failures, counter,
       "Subscription callbacks that threw."},
  };
}

}  // namespace recall
