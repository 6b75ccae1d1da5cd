#include "subscriber.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <system_error>
#include <vector>

#include "recall/detail/backoff.hpp"

namespace recall::detail {
namespace {

int poll_timeout_ms(duration d) {
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(d).count();
  return static_cast<int>(std::clamp<std::int64_t>(ms, 0, 60'000));
}

}  // namespace

redis_subscriber::redis_subscriber(std::shared_ptr<const connection_settings> settings,
                                   std::shared_ptr<rate_limited_log> log)
    : settings_(std::move(settings)), log_(std::move(log)) {
  if (::pipe2(wake_pipe_, O_CLOEXEC | O_NONBLOCK) != 0) {
    throw std::system_error(errno, std::generic_category(),
                            "recall redis: cannot create the subscriber's wake-up pipe");
  }
}

redis_subscriber::~redis_subscriber() {
  stop();
  ::close(wake_pipe_[0]);
  ::close(wake_pipe_[1]);
}

void redis_subscriber::start() {
  std::lock_guard lock(mu_);
  thread_ = std::thread([this] { run(); });
  thread_id_ = thread_.get_id();
}

void redis_subscriber::stop() {
  stopping_.store(true);
  wake();
  if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

std::uint64_t redis_subscriber::add(std::string channel,
                                    std::function<void(std::string_view)> on_message,
                                    std::function<void()> on_reconnect) {
  std::uint64_t id;
  {
    std::lock_guard lock(mu_);
    id = next_id_++;
    entries_.emplace(id, std::make_shared<entry>(entry{std::move(channel), std::move(on_message),
                                                       std::move(on_reconnect), generation_}));
  }
  wake();
  return id;
}

void redis_subscriber::remove(std::uint64_t id) {
  {
    std::unique_lock lock(mu_);
    const auto it = entries_.find(id);
    if (it == entries_.end()) return;
    const std::shared_ptr<entry> e = it->second;
    e->removed = true;
    entries_.erase(it);
    if (std::this_thread::get_id() != thread_id_) {
      changed_.wait(lock, [&] { return running_ != e.get(); });
    }
  }
  changed_.notify_all();
  wake();
}

bool redis_subscriber::active(std::uint64_t id) const {
  std::lock_guard lock(mu_);
  const auto it = entries_.find(id);
  return it != entries_.end() && it->second->active;
}

bool redis_subscriber::wait_until_active(std::uint64_t id, duration timeout) const {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, timeout, [&] {
    const auto it = entries_.find(id);
    return it != entries_.end() && it->second->active;
  });
}

std::uint64_t redis_subscriber::subscriptions() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

// --- the subscriber thread ---------------------------------------------------

void redis_subscriber::run() {
  const redis_options& o = settings_->options;
  backoff retry(o.reconnect_backoff_min, o.reconnect_backoff_max,
                reinterpret_cast<std::uintptr_t>(this));
  while (!stopping_.load()) {
    if (!connection_) {
      if (!connect()) {
        wait_for_wake(retry.next_delay());
        continue;
      }
      retry.reset();
    }
    try {
      sync_channels();
      wait_for_traffic();
      ping_if_quiet();
    } catch (const redis_error& e) {
      on_connection_lost(e.what());
    }
  }
  connection_.reset();
}

bool redis_subscriber::connect() {
  try {
    connection_ =
        redis_connection::open(*settings_, real_clock::now() + settings_->options.command_timeout);
  } catch (const redis_error& e) {
    log_->report(fmt::format("{} (subscriber connection; retrying with backoff)", e.what()));
    return false;
  }
  on_server_.clear();
  awaiting_.clear();
  last_traffic_ = real_clock::now();
  std::lock_guard lock(mu_);
  if (++generation_ > 1) reconnects_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void redis_subscriber::on_connection_lost(std::string_view why) {
  connection_.reset();
  log_->report(
      fmt::format("{} (subscriber connection; subscriptions resume after reconnecting)", why));
  std::lock_guard lock(mu_);
  for (auto& [id, e] : entries_) e->active = false;
}

// Sends SUBSCRIBE for channels wanted and not on the server, UNSUBSCRIBE for
// the reverse, one channel per command so that an error reply names its
// channel.
void redis_subscriber::sync_channels() {
  std::set<std::string> wanted;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, e] : entries_) wanted.insert(e->channel);
  }
  bool sent_any = false;
  for (const auto& channel : wanted) {
    if (on_server_.contains(channel)) continue;
    const std::array<std::string_view, 2> argv = {"SUBSCRIBE", channel};
    connection_->append(argv);
    awaiting_.emplace_back(sent::subscribe, channel);
    on_server_.insert(channel);
    sent_any = true;
  }
  for (auto it = on_server_.begin(); it != on_server_.end();) {
    if (wanted.contains(*it)) {
      ++it;
      continue;
    }
    const std::array<std::string_view, 2> argv = {"UNSUBSCRIBE", *it};
    connection_->append(argv);
    awaiting_.emplace_back(sent::unsubscribe, *it);
    it = on_server_.erase(it);
    sent_any = true;
  }
  if (sent_any) send_and_handle("SUBSCRIBE");
}

void redis_subscriber::ping_if_quiet() {
  if (real_clock::now() - last_traffic_ < settings_->options.subscriber_ping_interval) return;
  const std::array<std::string_view, 1> argv = {"PING"};
  connection_->append(argv);
  awaiting_.emplace_back(sent::ping, std::string());
  send_and_handle("PING");
}

// Sends what was appended and reads one reply (maybe an earlier message),
// then handles every other reply that one read brought. hiredis sends the
// buffered commands only when no complete reply is waiting in its reader, so
// none may be left behind: every reading path ends with handle_buffered().
void redis_subscriber::send_and_handle(std::string_view command_name) {
  handle(connection_->read_reply(command_name));
  handle_buffered();
}

void redis_subscriber::handle_buffered() {
  redis_reply reply;
  while (connection_->next_buffered_reply(reply)) handle(reply);
}

void redis_subscriber::wait_for_traffic() {
  const auto ping_at = last_traffic_ + settings_->options.subscriber_ping_interval;
  std::array<pollfd, 2> fds = {pollfd{connection_->fd(), POLLIN, 0},
                               pollfd{wake_pipe_[0], POLLIN, 0}};
  const int ready = ::poll(fds.data(), fds.size(), poll_timeout_ms(ping_at - real_clock::now()));
  if (ready <= 0) return;  // the ping is due, or a signal interrupted the wait
  if (fds[1].revents != 0) {
    std::array<char, 64> drain;
    while (::read(wake_pipe_[0], drain.data(), drain.size()) > 0) {
    }
  }
  if (fds[0].revents != 0) {
    connection_->read_available();
    handle_buffered();
  }
}

void redis_subscriber::handle(const redis_reply& reply) {
  last_traffic_ = real_clock::now();
  if (reply.is_error()) {
    const auto [what, channel] =
        awaiting_.empty() ? std::pair(sent::ping, std::string()) : awaiting_.front();
    if (!awaiting_.empty()) awaiting_.pop_front();
    // A refused channel stays in on_server_: it is not retried before the
    // next connection, instead of in a loop.
    log_->report(fmt::format("{}: {} refused by {}: {}", settings_->label,
                             what == sent::subscribe     ? "SUBSCRIBE " + channel
                             : what == sent::unsubscribe ? "UNSUBSCRIBE " + channel
                                                         : std::string("PING"),
                             settings_->endpoint, to_redis_error(reply.str()).what()));
    return;
  }
  if (reply.kind() == redis_reply_kind::status && reply.str() == "PONG") {
    if (!awaiting_.empty()) awaiting_.pop_front();
    return;
  }
  if (reply.kind() == redis_reply_kind::array && !reply.elements().empty() &&
      reply.elements()[0].kind() == redis_reply_kind::string) {
    const auto& e = reply.elements();
    const std::string_view type = e[0].str();
    if (type == "message" && e.size() == 3 && e[1].kind() == redis_reply_kind::string &&
        e[2].kind() == redis_reply_kind::string) {
      messages_received_.fetch_add(1, std::memory_order_relaxed);
      deliver(e[1].str(), e[2].str());
      return;
    }
    if ((type == "subscribe" || type == "unsubscribe") && e.size() == 3 &&
        e[1].kind() == redis_reply_kind::string) {
      if (!awaiting_.empty()) awaiting_.pop_front();
      if (type == "subscribe") activate(std::string(e[1].str()));
      return;
    }
    if (type == "pong" && e.size() == 2) {
      if (!awaiting_.empty()) awaiting_.pop_front();
      return;
    }
  }
  throw redis_error(redis_errc::protocol,
                    fmt::format("{}: unexpected {} reply on the subscriber connection to {}; "
                                "reconnecting",
                                settings_->label, to_string(reply.kind()), settings_->endpoint));
}

void redis_subscriber::activate(const std::string& channel) {
  std::vector<std::shared_ptr<entry>> missed_messages;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, e] : entries_) {
      if (e->channel != channel || e->active) continue;
      e->active = true;
      if (generation_ > 1 && e->registered_in_generation < generation_ && e->on_reconnect) {
        missed_messages.push_back(e);
      }
    }
  }
  changed_.notify_all();
  for (const auto& e : missed_messages) invoke(e, true, {});
}

void redis_subscriber::deliver(std::string_view channel, std::string_view message) {
  std::vector<std::shared_ptr<entry>> targets;
  {
    std::lock_guard lock(mu_);
    for (const auto& [id, e] : entries_) {
      if (e->channel == channel) targets.push_back(e);
    }
  }
  for (const auto& e : targets) invoke(e, false, message);
}

void redis_subscriber::invoke(const std::shared_ptr<entry>& e, bool reconnect,
                              std::string_view message) {
  {
    std::lock_guard lock(mu_);
    if (e->removed) return;
    running_ = e.get();
  }
  try {
    if (reconnect) {
      e->on_reconnect();
    } else {
      e->on_message(message);
    }
  } catch (const std::exception& ex) {
    callback_failures_.fetch_add(1, std::memory_order_relaxed);
    log_->report(fmt::format("{}: a subscription callback for channel '{}' threw: {}",
                             settings_->label, e->channel, ex.what()));
  } catch (...) {
    callback_failures_.fetch_add(1, std::memory_order_relaxed);
    log_->report(
        fmt::format("{}: a subscription callback for channel '{}' threw a non-standard "
                    "exception",
                    settings_->label, e->channel));
  }
  {
    std::lock_guard lock(mu_);
    running_ = nullptr;
  }
  changed_.notify_all();
}

// The backoff wait: only stop() ends it early, so subscribe() calls during
// an outage do not turn into connection attempts.
void redis_subscriber::wait_for_wake(duration timeout) {
  const auto until = real_clock::now() + timeout;
  while (!stopping_.load()) {
    const auto left = until - real_clock::now();
    if (left <= duration::zero()) return;
    pollfd p{wake_pipe_[0], POLLIN, 0};
    if (::poll(&p, 1, poll_timeout_ms(left)) > 0) {
      std::array<char, 64> drain;
      while (::read(wake_pipe_[0], drain.data(), drain.size()) > 0) {
      }
    }
  }
}

void redis_subscriber::wake() noexcept {
  const char byte = 1;
  [[maybe_unused]] const auto n = ::write(wake_pipe_[1], &byte, 1);  // full pipe: already woken
}

}  // namespace recall::detail
