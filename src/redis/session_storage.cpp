// Opening, rotating and ending sessions in Redis, and the calls underneath
// (the values, lists and maps are in session_values.cpp).
#include "session_storage.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>

#include "recall/detail/session_scope.hpp"
#include "recall/detail/xxhash.hpp"
#include "recall/session_id.hpp"

namespace recall::detail {
namespace {

std::int64_t milliseconds(duration d) {
  return std::max<std::int64_t>(1, std::chrono::ceil<std::chrono::milliseconds>(d).count());
}

// Tags name a session in every replica (scope::session caches, the ended
// channel) and bind its values, so they must be unique across the fleet:
// 63 bits from the OS CSPRNG, the top bit set so they never meet the
// in-process store's counter.
std::uint64_t random_tag() {
  const std::string bytes = new_session_id();
  return XXH3_64bits(bytes.data(), bytes.size()) | (std::uint64_t{1} << 63);
}

session_function_config function_config(const session_options& o, const std::string& prefix,
                                        const redis_session_options& r) {
  const std::int64_t idle = milliseconds(o.idle_timeout);
  return {prefix,
          idle,
          milliseconds(o.absolute_timeout),
          idle / 64,
          o.max_sessions,
          o.max_sessions_per_user,
          o.max_bytes_per_session,
          milliseconds(r.expiry_grace),
          milliseconds(r.tombstone_ttl)};
}

std::optional<std::int64_t> to_int(std::string_view s) {
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

bool is_int(const redis_reply& r) { return r.kind() == redis_reply_kind::integer; }
bool is_text(const redis_reply& r) { return r.kind() == redis_reply_kind::string; }

}  // namespace

redis_session_storage::redis_session_storage(const session_options& options,
                                             std::shared_ptr<redis_client> client,
                                             const redis_session_options& redis)
    : options_(options),
      client_(std::move(client)),
      prefix_(client_->prefix() + "s:"),
      format_(redis.secret),
      functions_(function_config(options, prefix_, redis)) {
  // Sessions other replicas end reach this process's scope::session caches.
  ends_ = client_->subscribe(prefix_ + "ended", [this](std::string_view message) {
    if (message.size() == 8) {
      announce_session_end(read_big_endian(message));
    } else {
      rejected_storage_.fetch_add(1, std::memory_order_relaxed);
    }
  });
  const redis_options& o = client_->options();
  ends_.wait_until_active(o.connect_timeout + o.command_timeout);
}

redis_session_storage::~redis_session_storage() { ends_.reset(); }

std::int64_t redis_session_storage::now_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             options_.clock->wall_now().time_since_epoch())
      .count();
}

// --- calls ---------------------------------------------------------------------

void redis_session_storage::throw_unavailable(std::string_view what, std::string_view why) const {
  unavailable_.fetch_add(1, std::memory_order_relaxed);
  while (why.ends_with('.')) why.remove_suffix(1);
  throw session_error(
      session_errc::storage_unavailable,
      fmt::format("recall: session storage on Redis ({}): {} failed: {}. The call was not "
                  "confirmed: treat it as not done (a write whose reply was lost may still have "
                  "been applied). Answer 503 and retry later; the client reconnects by itself",
                  client_->options().name, what, why));
}

redis_reply redis_session_storage::call(const std::string& function,
                                        std::span<const std::string_view> args,
                                        std::string_view what) const {
  std::vector<std::string_view> argv{"FCALL", function, "0"};
  argv.insert(argv.end(), args.begin(), args.end());
  redis_reply r;
  try {
    r = client_->command(argv);
    if (r.is_error() && r.str().starts_with("ERR Function not found")) {
      // A Redis that never had the library or lost it (FUNCTION FLUSH, a
      // restart without persistence): load it, then call once more.
      const redis_reply loaded =
          client_->command({"FUNCTION", "LOAD", "REPLACE", functions_.load_source});
      if (loaded.is_error()) {
        const bool acl = loaded.str().starts_with("NOPERM");
        throw_unavailable(what, fmt::format("loading recall's session functions ({}) was refused: "
                                            "{}{}",
                                            functions_.library, loaded.str(),
                                            acl ? " (the ACL user needs +function|load)" : ""));
      }
      r = client_->command(argv);
    }
  } catch (const redis_error& e) {
    throw_unavailable(what, e.what());
  }
  if (r.is_error()) throw_unavailable(what, fmt::format("Redis refused it: {}", r.str()));
  if (r.kind() != redis_reply_kind::array || r.elements().empty() || !is_int(r.elements()[0])) {
    rejected_storage_.fetch_add(1, std::memory_order_relaxed);
    throw_unavailable(what, "the reply is not what recall's functions return (is this Redis 7?)");
  }
  return r;
}

void redis_session_storage::apply_ends(const redis_reply& ends) const {
  if (ends.kind() != redis_reply_kind::array) return;
  const auto& e = ends.elements();
  for (std::size_t i = 0; i + 1 < e.size(); i += 2) {
    if (!is_int(e[i])) continue;
    switch (static_cast<session_end_cause>(e[i].integer())) {
      case session_end_cause::ended:
        ended_.fetch_add(1, std::memory_order_relaxed);
        break;
      case session_end_cause::user_limit:
        ended_user_limit_.fetch_add(1, std::memory_order_relaxed);
        break;
      case session_end_cause::expired_idle:
        expired_idle_.fetch_add(1, std::memory_order_relaxed);
        break;
      case session_end_cause::expired_absolute:
        expired_absolute_.fetch_add(1, std::memory_order_relaxed);
        break;
      case session_end_cause::evicted:
        evicted_.fetch_add(1, std::memory_order_relaxed);
        break;
    }
    if (is_text(e[i + 1]) && e[i + 1].str().size() == 8) {
      announce_session_end(read_big_endian(e[i + 1].str()));
    }
  }
}

redis_session_storage::outcome redis_session_storage::run(
    redis_session_record& rec, const std::string& function,
    std::initializer_list<std::string_view> op_args, std::string_view what, bool create) {
  for (int attempt = 0;; ++attempt) {
    const bool creating = create && !rec.stored;
    std::string id, suffix = rec.suffix, meta, created;
    if (creating) {
      id = new_session_id();
      const sha256_digest full = format_.id_hash(id);
      suffix = session_format::key_suffix(full);
      meta = format_.meta(full, rec.tag, rec.user, rec.created_ms);
      created = std::to_string(rec.created_ms);
    }
    const std::string now = std::to_string(now_ms());
    std::vector<std::string_view> args{now, suffix, creating ? "1" : "", meta, created, rec.user};
    args.insert(args.end(), op_args.begin(), op_args.end());
    const redis_reply r = call(function, args, what);
    const auto& e = r.elements();
    if (e.size() != 5 || !is_text(e[1]) || !is_int(e[2]) || e[0].integer() < 0 ||
        e[0].integer() > static_cast<int>(session_reply::corrupt)) {
      rejected_storage_.fetch_add(1, std::memory_order_relaxed);
      throw_unavailable(what, "the reply is not what recall's functions return");
    }
    apply_ends(e[4]);
    outcome o;
    o.status = static_cast<session_reply>(e[0].integer());
    if (o.status == session_reply::id_taken && creating && attempt < 3) continue;
    if (!e[1].str().empty()) {
      if (creating) {
        rec.stored = true;
        rec.id = std::move(id);
        created_.fetch_add(1, std::memory_order_relaxed);
      }
      rec.suffix = std::string(e[1].str());
    }
    o.bytes = static_cast<std::size_t>(std::max<std::int64_t>(e[2].integer(), 0));
    if (is_int(e[3])) {
      o.extra = static_cast<std::size_t>(std::max<std::int64_t>(e[3].integer(), 0));
    } else if (is_text(e[3])) {
      o.user = std::string(e[3].str());
    }
    if (o.status == session_reply::ended) {
      mark_ended(rec);
    } else if (o.status != session_reply::quota) {
      rec.used = o.bytes;
    }
    return o;
  }
}

void redis_session_storage::mark_ended(redis_session_record& rec) const {
  rec.ended = true;
  rec.values.clear();
  rec.values.shrink_to_fit();
  rec.used = 0;
}

// --- opening -------------------------------------------------------------------

opened_session redis_session_storage::open(std::string_view id, const identity& who) {
  const std::int64_t now = now_ms();
  if (id.empty()) return fresh(rejected_id_reason::empty, 0, who, now);
  if (!is_well_formed_session_id(id))
    return fresh(rejected_id_reason::malformed, id.size(), who, now);
  const sha256_digest full = format_.id_hash(id);
  std::string suffix = session_format::key_suffix(full);
  // A read needs no function: one HGETALL, the session as one moment saw it.
  // Ending, rotating and signing in turn the hash into a tombstone in the
  // same function that takes it out of its sorted set, so a session hash
  // (not a tombstone) is in its sorted set, and its 'd' is a lower bound of
  // its deadline there (session_functions.cpp).
  redis_reply r;
  try {
    r = client_->command({"HGETALL", prefix_ + suffix});
  } catch (const redis_error& e) {
    throw_unavailable("open", e.what());
  }
  if (r.is_error()) throw_unavailable("open", fmt::format("Redis refused it: {}", r.str()));
  const auto unknown = [&] { return fresh(rejected_id_reason::unknown, id.size(), who, now); };
  if (r.kind() != redis_reply_kind::array || r.elements().size() % 2 != 0) {
    rejected_storage_.fetch_add(1, std::memory_order_relaxed);
    throw_unavailable("open", "the reply is not what HGETALL returns");
  }
  const auto& f = r.elements();
  if (f.empty()) return unknown();
  std::string_view created, user, meta;
  std::optional<std::string_view> hint;
  for (std::size_t i = 0; i < f.size(); i += 2) {
    if (!is_text(f[i]) || !is_text(f[i + 1])) continue;
    const std::string_view name = f[i].str();
    if (name == "x") return unknown();  // a tombstone
    if (name == "c") created = f[i + 1].str();
    if (name == "u") user = f[i + 1].str();
    if (name == "t") meta = f[i + 1].str();
    if (name == "d") hint = f[i + 1].str();
  }
  const auto created_ms = to_int(created);
  if (!created_ms || meta.empty()) {
    rejected_storage_.fetch_add(1, std::memory_order_relaxed);
    return unknown();
  }
  // No 'd' (a session an older recall wrote) or one that is not a number: a
  // hint in the past, so the refresh below asks the sorted set and writes 'd'.
  std::int64_t deadline = 0;
  if (hint) {
    if (const auto d = to_int(*hint)) {
      deadline = *d;
    } else {
      rejected_storage_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  const std::int64_t idle = milliseconds(options_.idle_timeout);
  const std::int64_t moved =
      std::min(now + idle, *created_ms + milliseconds(options_.absolute_timeout));
  const bool looks_expired = now >= deadline;
  if (!looks_expired && !user.empty() && user != who.user) {
    return fresh(rejected_id_reason::identity_mismatch, id.size(), who, now);
  }
  const bool signing_in = user.empty() && !who.user.empty();  // the sign-in moves the deadline
  if (looks_expired || (!signing_in && moved - deadline >= idle / 64)) {
    // One more round trip: the server reads the deadline from the sorted set
    // and ends the session if it expired, or moves it if due (not for another
    // user's request) and writes 'd'.
    const std::string now_s = std::to_string(now);
    const std::array<std::string_view, 3> args{now_s, suffix, who.user};
    const redis_reply e = call(functions_.refresh, args, "open");
    if (e.elements().size() == 2) apply_ends(e.elements()[1]);
    switch (e.elements()[0].integer()) {
      case 1:
        break;
      case 2:
        return fresh(rejected_id_reason::expired, id.size(), who, now);
      case 3:
        return fresh(rejected_id_reason::identity_mismatch, id.size(), who, now);
      default:
        return unknown();
    }
  }
  auto rec = resume(full, id, std::move(suffix), r);
  if (!rec) {
    rejected_storage_.fetch_add(1, std::memory_order_relaxed);
    return unknown();
  }
  if (signing_in) return sign_in(std::move(rec), who, now);
  return {std::move(rec), false, false, std::nullopt};
}

opened_session redis_session_storage::fresh(rejected_id_reason reason, std::size_t length,
                                            const identity& who, std::int64_t now) {
  rejected_[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  if (options_.on_rejected_id) options_.on_rejected_id(rejected_id{reason, length});
  return {std::make_shared<redis_session_record>(random_tag(), who.user, now), true, false, reason};
}

std::shared_ptr<redis_session_record> redis_session_storage::resume(const sha256_digest& id_hash,
                                                                    std::string_view id,
                                                                    std::string suffix,
                                                                    const redis_reply& fields) {
  if (fields.kind() != redis_reply_kind::array || fields.elements().size() % 2 != 0) return nullptr;
  const auto& f = fields.elements();
  std::string_view created, user, meta, used;
  for (std::size_t i = 0; i < f.size(); i += 2) {
    if (!is_text(f[i]) || !is_text(f[i + 1])) return nullptr;
    const std::string_view name = f[i].str();
    if (name == "c") created = f[i + 1].str();
    if (name == "u") user = f[i + 1].str();
    if (name == "t") meta = f[i + 1].str();
    if (name == "b") used = f[i + 1].str();
  }
  const auto created_ms = to_int(created);
  if (!created_ms) return nullptr;
  const auto tag = format_.check_meta(meta, id_hash, user, *created_ms);
  if (!tag) return nullptr;
  auto rec = std::make_shared<redis_session_record>(*tag, std::string(user), *created_ms);
  rec->id = std::string(id);
  rec->suffix = std::move(suffix);
  rec->stored = true;
  rec->used = static_cast<std::size_t>(std::max<std::int64_t>(to_int(used).value_or(0), 0));
  for (std::size_t i = 0; i < f.size(); i += 2) {
    const std::string_view name = f[i].str();
    if (name.starts_with('.')) rec->values.emplace_back(name.substr(1), f[i + 1].str());
  }
  return rec;
}

opened_session redis_session_storage::sign_in(std::shared_ptr<redis_session_record> rec,
                                              const identity& who, std::int64_t now) {
  // Signing in is a privilege change: the anonymous id must not carry over.
  for (int attempt = 0; attempt < 4; ++attempt) {
    std::string id = new_session_id();
    const sha256_digest full = format_.id_hash(id);
    std::string suffix = session_format::key_suffix(full);
    const std::string meta = format_.meta(full, rec->tag, who.user, rec->created_ms);
    const std::string now_s = std::to_string(now_ms());
    const std::array<std::string_view, 5> args{now_s, rec->suffix, suffix, meta, who.user};
    const redis_reply r = call(functions_.sign_in, args, "sign-in");
    if (r.elements().size() == 2) apply_ends(r.elements()[1]);
    switch (r.elements()[0].integer()) {
      case 0:
        rec->id = std::move(id);
        rec->suffix = std::move(suffix);
        rec->user = who.user;
        rotated_.fetch_add(1, std::memory_order_relaxed);
        return {std::move(rec), false, true, std::nullopt};
      case 2:
        return fresh(rejected_id_reason::expired, session_id_length, who, now);
      case 4:
        continue;
      default:  // ended, rotated or signed in by another request meanwhile
        return fresh(rejected_id_reason::unknown, session_id_length, who, now);
    }
  }
  throw_unavailable("sign-in", "four fresh ids in a row were taken (this cannot happen by chance)");
}

// --- the record ------------------------------------------------------------------

void redis_session_storage::release(const record_ptr& r) noexcept {
  // Session-scoped cache entries made by this request after the end was
  // announced (the thread was still marked) are dropped now.
  if (static_cast<redis_session_record&>(*r).ended) announce_session_end(r->tag);
}

std::string redis_session_storage::id(const record_ptr& r) {
  return static_cast<redis_session_record&>(*r).id;
}

std::string redis_session_storage::user(const record_ptr& r) {
  return static_cast<redis_session_record&>(*r).user;
}

session_status redis_session_storage::status(const record_ptr& r) {
  const auto& rec = static_cast<redis_session_record&>(*r);
  return {rec.stored, rec.ended};
}

std::size_t redis_session_storage::bytes(const record_ptr& r) {
  return static_cast<redis_session_record&>(*r).used;
}

// --- rotation and ends -------------------------------------------------------------

void redis_session_storage::rotate(const record_ptr& r) {
  auto& rec = static_cast<redis_session_record&>(*r);
  if (rec.ended) throw_ended("cannot rotate the id of");
  if (!rec.stored) {
    run(rec, functions_.store, {}, "rotate", true);
    rotated_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  for (int attempt = 0; attempt < 4; ++attempt) {
    std::string id = new_session_id();
    const sha256_digest full = format_.id_hash(id);
    const std::string suffix = session_format::key_suffix(full);
    const std::string meta = format_.meta(full, rec.tag, rec.user, rec.created_ms);
    const outcome o = run(rec, functions_.rotate, {suffix, meta, rec.user}, "rotate", false);
    switch (o.status) {
      case session_reply::ok:
        rec.id = std::move(id);
        rotated_.fetch_add(1, std::memory_order_relaxed);
        return;
      case session_reply::user_changed:
        rec.user = o.user;  // signed in by another request since this one opened
        continue;
      case session_reply::id_taken:
        continue;
      default:
        check_write(o, "", "rotate");
    }
  }
  throw_unavailable("rotate", "the session kept changing under the rotation");
}

void redis_session_storage::end(const record_ptr& r) {
  auto& rec = static_cast<redis_session_record&>(*r);
  if (rec.ended) return;
  if (rec.stored) run(rec, functions_.end, {}, "end", false);
  mark_ended(rec);
  announce_session_end(rec.tag);
}

std::size_t redis_session_storage::end_all(std::string_view user) {
  if (user.empty()) return 0;
  const std::string now = std::to_string(now_ms());
  const std::array<std::string_view, 2> args{now, user};
  const redis_reply r = call(functions_.end_all, args, "end_all");
  if (r.elements().size() == 2) apply_ends(r.elements()[1]);
  return static_cast<std::size_t>(std::max<std::int64_t>(r.elements()[0].integer(), 0));
}

std::size_t redis_session_storage::cleanup() {
  std::size_t ended = 0;
  for (;;) {
    const std::string now = std::to_string(now_ms());
    const std::array<std::string_view, 2> args{now, "1000"};
    const redis_reply r = call(functions_.cleanup, args, "cleanup");
    if (r.elements().size() == 2 && r.elements()[1].kind() == redis_reply_kind::array) {
      ended += r.elements()[1].elements().size() / 2;
      apply_ends(r.elements()[1]);
    }
    if (r.elements()[0].integer() <= 0) return ended;
  }
}

session_stats redis_session_storage::stats() const {
  try {
    redis_pipeline p;
    p.add({"ZCARD", prefix_ + "z:0"}).add({"ZCARD", prefix_ + "z:1"});
    const std::vector<redis_reply> counts = client_->pipeline(p);
    if (counts.size() == 2 && is_int(counts[0]) && is_int(counts[1])) {
      live_.store(static_cast<std::uint64_t>(counts[0].integer() + counts[1].integer()),
                  std::memory_order_relaxed);
    }
  } catch (const redis_error&) {
    // Redis unreachable: the last count seen.
  }
  session_stats s = counted(options_);
  s.live = live_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace recall::detail

namespace recall {

session_backend redis_sessions(std::shared_ptr<redis_client> client,
                               redis_session_options options) {
  if (!client) {
    throw config_error("recall::redis_sessions needs a redis_client (got a null pointer)");
  }
  if (options.secret.size() < 16) {
    throw config_error(
        "recall::redis_sessions needs .secret: at least 16 bytes (best 32 random bytes, e.g. "
        "`openssl rand -base64 32`), the same on every replica, kept out of the code like a "
        "password. Session ids are stored in Redis only as keyed hashes with it, so a copy of "
        "Redis cannot be used as cookies");
  }
  if (options.tombstone_ttl <= duration::zero() || options.expiry_grace < duration::zero()) {
    throw config_error(
        "recall::redis_sessions needs tombstone_ttl > 0 (e.g. 10min) and expiry_grace >= 0");
  }
  return session_backend("redis", [client = std::move(client), options = std::move(options)](
                                      const session_options& store_options) {
    return std::make_unique<detail::redis_session_storage>(store_options, client, options);
  });
}

}  // namespace recall
