#include <fmt/format.h>

#include <array>
#include <utility>

#include "recall/redis.hpp"
#include "recall/redis_reply.hpp"
#include "sha1.hpp"

namespace recall {
namespace {

struct server_error_hint {
  std::string_view prefix;
  redis_errc code;
  std::string_view what_to_do;
};

// The error prefixes a caller can act on, with what to do about each.
constexpr std::array<server_error_hint, 10> hints = {{
    {"NOAUTH", redis_errc::auth,
     "the server requires authentication: set redis_options.password (and username for an ACL "
     "user)"},
    {"WRONGPASS", redis_errc::auth, "check redis_options.username and password"},
    {"NOPERM", redis_errc::auth,
     "the ACL user lacks a permission for this command, key or channel: grant it (ACL SETUSER, "
     "e.g. ~recall:* &recall:* +@all)"},
    {"OOM", redis_errc::server,
     "Redis is at maxmemory: raise maxmemory or choose an evicting maxmemory-policy"},
    {"READONLY", redis_errc::server, "this server is a replica: point the client at the primary"},
    {"LOADING", redis_errc::server, "Redis is loading its data set: retry shortly"},
    {"BUSY", redis_errc::server, "a script runs too long: wait, or SCRIPT KILL it"},
    {"MISCONF", redis_errc::server,
     "Redis cannot persist and refuses writes: check its disk and log"},
    {"WRONGTYPE", redis_errc::server,
     "the key holds another type of value: check the key and key_prefix for collisions"},
    {"NOSCRIPT", redis_errc::server,
     "the script is not cached on the server: run it with redis_client::eval"},
}};

bool starts_with_word(std::string_view message, std::string_view word) {
  return message.starts_with(word) &&
         (message.size() == word.size() || message[word.size()] == ' ');
}

}  // namespace

std::string_view to_string(redis_errc code) noexcept {
  switch (code) {
    case redis_errc::unavailable:
      return "unavailable";
    case redis_errc::timeout:
      return "timeout";
    case redis_errc::auth:
      return "auth";
    case redis_errc::server:
      return "server";
    case redis_errc::protocol:
      return "protocol";
  }
  return "unknown";
}

std::string_view to_string(redis_reply_kind kind) noexcept {
  switch (kind) {
    case redis_reply_kind::nil:
      return "nil";
    case redis_reply_kind::integer:
      return "integer";
    case redis_reply_kind::string:
      return "string";
    case redis_reply_kind::status:
      return "status";
    case redis_reply_kind::error:
      return "error";
    case redis_reply_kind::array:
      return "array";
  }
  return "unknown";
}

redis_error to_redis_error(std::string_view server_message) {
  for (const auto& hint : hints) {
    if (starts_with_word(server_message, hint.prefix)) {
      return redis_error(hint.code, fmt::format("recall redis: the server replied with an error: "
                                                "{}; {}",
                                                server_message, hint.what_to_do));
    }
  }
  return redis_error(redis_errc::server,
                     fmt::format("recall redis: the server replied with an error: {}; the command "
                                 "was refused as sent (see the server's message)",
                                 server_message));
}

// --- redis_reply ------------------------------------------------------------

redis_reply redis_reply::make_integer(std::int64_t value) {
  redis_reply r;
  r.kind_ = redis_reply_kind::integer;
  r.integer_ = value;
  return r;
}

redis_reply redis_reply::make_text(redis_reply_kind kind, std::string text) {
  if (kind != redis_reply_kind::string && kind != redis_reply_kind::status &&
      kind != redis_reply_kind::error) {
    throw std::invalid_argument(
        "recall::redis_reply::make_text: kind must be string, status or "
        "error");
  }
  redis_reply r;
  r.kind_ = kind;
  r.text_ = std::move(text);
  return r;
}

redis_reply redis_reply::make_array(std::vector<redis_reply> elements) {
  redis_reply r;
  r.kind_ = redis_reply_kind::array;
  r.elements_ = std::move(elements);
  return r;
}

void redis_reply::throw_wrong_kind(redis_reply_kind wanted) const {
  std::string got(to_string(kind_));
  if (kind_ == redis_reply_kind::error) got += " (\"" + text_ + "\")";
  throw redis_error(redis_errc::protocol,
                    fmt::format("recall redis: expected {} reply, got {} reply; the command does "
                                "not return what the caller reads (check the command, or call "
                                "throw_if_error() first)",
                                to_string(wanted), got));
}

std::int64_t redis_reply::integer() const {
  if (kind_ != redis_reply_kind::integer) throw_wrong_kind(redis_reply_kind::integer);
  return integer_;
}

std::string_view redis_reply::str() const {
  if (kind_ != redis_reply_kind::string && kind_ != redis_reply_kind::status &&
      kind_ != redis_reply_kind::error) {
    throw_wrong_kind(redis_reply_kind::string);
  }
  return text_;
}

const std::vector<redis_reply>& redis_reply::elements() const {
  if (kind_ != redis_reply_kind::array) throw_wrong_kind(redis_reply_kind::array);
  return elements_;
}

const redis_reply& redis_reply::throw_if_error() const& {
  if (is_error()) throw to_redis_error(text_);
  return *this;
}

redis_reply&& redis_reply::throw_if_error() && {
  if (is_error()) throw to_redis_error(text_);
  return std::move(*this);
}

// --- redis_script, redis_pipeline --------------------------------------------

redis_script::redis_script(std::string source)
    : source_(std::move(source)), sha1_(detail::sha1_hex(source_)) {}

redis_pipeline& redis_pipeline::add(std::span<const std::string_view> argv) {
  if (argv.empty()) {
    throw std::invalid_argument("recall::redis_pipeline::add: a command needs at least its name");
  }
  offsets_.push_back(args_.size());
  args_.insert(args_.end(), argv.begin(), argv.end());
  return *this;
}

void redis_pipeline::clear() noexcept {
  args_.clear();
  offsets_.clear();
}

std::span<const std::string> redis_pipeline::command(std::size_t i) const {
  const std::size_t begin = offsets_.at(i);
  const std::size_t end = i + 1 < offsets_.size() ? offsets_[i + 1] : args_.size();
  return {args_.data() + begin, end - begin};
}

}  // namespace recall
