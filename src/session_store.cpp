#include <fmt/format.h>

#include "recall/session.hpp"
#include "recall/session_id.hpp"

namespace recall {

const char* to_string(session_errc code) noexcept {
  switch (code) {
    case session_errc::ended:
      return "ended";
    case session_errc::quota_exceeded:
      return "quota_exceeded";
    case session_errc::wrong_kind:
      return "wrong_kind";
    case session_errc::scratch_full:
      return "scratch_full";
    case session_errc::scratch_type_mismatch:
      return "scratch_type_mismatch";
  }
  return "unknown";
}

const char* to_string(rejected_id_reason reason) noexcept {
  switch (reason) {
    case rejected_id_reason::empty:
      return "empty";
    case rejected_id_reason::malformed:
      return "malformed";
    case rejected_id_reason::unknown:
      return "unknown";
    case rejected_id_reason::expired:
      return "expired";
    case rejected_id_reason::identity_mismatch:
      return "identity_mismatch";
  }
  return "unknown";
}

quota_error::quota_error(std::string key, std::size_t entry_bytes, std::size_t session_bytes,
                         std::size_t limit)
    : session_error(session_errc::quota_exceeded,
                    fmt::format("recall: session value '{}' ({} bytes with its key) would bring "
                                "the session to {} bytes, over max_bytes_per_session = {}; "
                                "nothing was changed. Store less (a bounded list, the cache for "
                                "derived data) or raise max_bytes_per_session",
                                key, entry_bytes, session_bytes, limit)),
      key_(std::move(key)),
      entry_bytes_(entry_bytes),
      session_bytes_(session_bytes),
      limit_(limit) {}

// --- request_scratch -------------------------------------------------------

request_scratch::entry* request_scratch::find_entry(std::string_view key) noexcept {
  for (entry& e : entries_) {
    if (e.key == key) return &e;
  }
  return nullptr;
}

bool request_scratch::contains(std::string_view key) const noexcept {
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const entry& e) { return e.key == key; });
}

bool request_scratch::erase(std::string_view key) noexcept {
  return std::erase_if(entries_, [&](const entry& e) { return e.key == key; }) > 0;
}

void request_scratch::throw_full(std::string_view key) const {
  throw session_error(session_errc::scratch_full,
                      fmt::format("recall: scratch value '{}' refused: the request already holds "
                                  "max_scratch_entries = {} scratch values; erase some or raise "
                                  "the option",
                                  key, max_entries_));
}

void request_scratch::throw_type_mismatch(std::string_view key) {
  throw session_error(session_errc::scratch_type_mismatch,
                      fmt::format("recall: scratch value '{}' was put with another type than "
                                  "the one asked for; read it with the type it was put with",
                                  key));
}

// --- session_store ---------------------------------------------------------

namespace {

session_options validate(session_options o) {
  if (o.idle_timeout <= duration::zero() || o.absolute_timeout <= duration::zero()) {
    throw config_error(
        "recall: session_store needs idle_timeout > 0 and absolute_timeout > 0 (e.g. 30min "
        "and 8h)");
  }
  if (o.absolute_timeout < o.idle_timeout) {
    throw config_error(
        "recall: session_store absolute_timeout is shorter than idle_timeout, so the idle "
        "timeout could never apply; make absolute_timeout >= idle_timeout");
  }
  if (o.max_sessions == 0 || o.max_bytes_per_session == 0 || o.max_scratch_entries == 0) {
    throw config_error(
        "recall: session_store needs max_sessions, max_bytes_per_session and "
        "max_scratch_entries > 0");
  }
  if (o.max_total_bytes < o.max_bytes_per_session + session_overhead_bytes) {
    throw config_error(
        fmt::format("recall: session_store max_total_bytes = {} cannot hold one full session "
                    "(max_bytes_per_session = {} plus {} bytes of overhead); raise max_total_bytes",
                    o.max_total_bytes, o.max_bytes_per_session, session_overhead_bytes));
  }
  if (!o.clock) o.clock = default_clock();
  return o;
}

// Tags are process-wide: scope::session caches serve every store, so two
// stores must never hand out the same tag.
std::uint64_t next_session_tag() noexcept {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t random_seed() {
  // Keys are looked up in hash maps: a secret seed keeps chosen ids from
  // colliding on purpose.
  key_builder b;
  b.add(std::string_view(new_session_id()));
  return b.finish().low;
}

}  // namespace

session_store::session_store(session_options options)
    : options_(validate(std::move(options))),
      seed_(random_seed()),
      engine_(detail::engine_config<state_ptr>{
          options_.max_sessions, options_.max_total_bytes, options_.clock,
          [this](const key& k, state_ptr&& st, removal_cause cause) {
            on_removal(k, std::move(st), cause);
          },
          0}) {
  registration_.emplace(
      options_.name, "session_store",
      detail::registry_hooks{[this] {
                               const session_stats s = stats();
                               return std::vector<metric>{
                                   {"live", double(s.live)},
                                   {"created", double(s.created)},
                                   {"rotated", double(s.rotated)},
                                   {"ended", double(s.ended)},
                                   {"expired_idle", double(s.expired_idle)},
                                   {"expired_absolute", double(s.expired_absolute)},
                                   {"evicted", double(s.evicted)},
                                   {"rejected_ids", double(s.rejected_ids())},
                                   {"quota_exceeded", double(s.quota_exceeded)},
                                   {"bytes", double(s.bytes)},
                                   {"max_sessions", double(s.max_sessions)},
                                   {"max_bytes", double(s.max_total_bytes)},
                               };
                             },
                             {}});
}

session_store::~session_store() {
  registration_.reset();
  engine_.clear();
}

key session_store::key_of(std::string_view id) const {
  key_builder b(seed_);
  b.add(id);
  return b.finish();
}

time_point session_store::deadline_of(const detail::session_state& st) const noexcept {
  return std::min(st.last_activity + options_.idle_timeout, st.created + options_.absolute_timeout);
}

void session_store::reject(rejected_id_reason reason, std::size_t length) {
  rejected_[static_cast<std::size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  if (options_.on_rejected_id) options_.on_rejected_id(rejected_id{reason, length});
}

session_store::state_ptr session_store::create(const identity& who, time_point now) {
  std::string id = new_session_id();
  const key k = key_of(id);
  auto st =
      std::make_shared<detail::session_state>(std::move(id), k, who.user, next_session_tag(), now);
  engine_.insert(k, st, session_overhead_bytes, deadline_of(*st), st->tag, who.anonymous() ? 0 : 1);
  created_.fetch_add(1, std::memory_order_relaxed);
  return st;
}

session session_store::open(std::string_view cookie_value, const identity& who) {
  const time_point t = engine_.now();
  std::optional<rejected_id_reason> reason;
  state_ptr st;
  if (cookie_value.empty()) {
    reason = rejected_id_reason::empty;
  } else if (!is_well_formed_session_id(cookie_value)) {
    reason = rejected_id_reason::malformed;
  } else {
    const key k = key_of(cookie_value);
    engine_.visit<true, true>(k, [&](const state_ptr& p, const detail::entry_info&) { st = p; });
    bool expired = false;
    bool bind = false;
    if (st) {
      std::lock_guard lock(st->mu);
      // Expiry is checked before `ended`: the engine may have reclaimed the
      // session right after finding it, and that is still an expired id.
      if (!constant_time_equal(st->id, cookie_value)) {
        reason = rejected_id_reason::unknown;
      } else if (t >= deadline_of(*st)) {
        reason = rejected_id_reason::expired;
        expired = true;
      } else if (st->ended) {
        reason = rejected_id_reason::unknown;
      } else if (!st->user.empty() && st->user != who.user) {
        reason = rejected_id_reason::identity_mismatch;
      } else {
        st->last_activity = t;
        bind = st->user.empty() && !who.anonymous();
        if (bind) st->user = who.user;
      }
    } else {
      reason = rejected_id_reason::unknown;
    }
    if (expired) engine_.erase(k, removal_cause::expired);
    if (!reason) {
      if (bind) {
        // Signing in is a privilege change: the anonymous id must not carry over.
        rotate(st);
        return session(*this, std::move(st), false, true);
      }
      const time_point deadline = t + options_.idle_timeout;
      engine_.update(k, [&](state_ptr& p, detail::entry_info& info) {
        info.deadline = std::min(deadline, p->created + options_.absolute_timeout);
        info.weight = session_overhead_bytes + p->bytes.load(std::memory_order_relaxed);
      });
      return session(*this, std::move(st), false, false);
    }
  }
  reject(*reason, cookie_value.size());
  return session(*this, create(who, t), true, true);
}

void session_store::rotate(const state_ptr& st) {
  std::string id = new_session_id();
  const key fresh = key_of(id);
  key old;
  time_point deadline;
  std::uint8_t priority;
  {
    std::lock_guard lock(st->mu);
    if (st->ended) {
      throw session_error(session_errc::ended,
                          "recall: cannot rotate the id of a session that has ended (logout, "
                          "timeout or eviction); open a new session instead");
    }
    old = st->k;
    st->id = std::move(id);
    st->k = fresh;
    deadline = deadline_of(*st);
    priority = st->user.empty() ? 0 : 1;
  }
  engine_.insert(fresh, st, session_overhead_bytes + st->bytes.load(std::memory_order_relaxed),
                 deadline, st->tag, priority);
  // The old entry no longer matches st->k, so its removal does not end the session.
  engine_.erase(old);
  bool ended;
  {
    std::lock_guard lock(st->mu);
    ended = st->ended;
  }
  // An end() that raced with the rotation saw the new key before it was inserted.
  if (ended) engine_.erase(fresh);
  sync(*st);
  rotated_.fetch_add(1, std::memory_order_relaxed);
}

void session_store::end(const state_ptr& st) {
  key k;
  {
    std::lock_guard lock(st->mu);
    if (st->ended) return;
    st->ended = true;
    st->values.clear();
    st->set_used(0);
    k = st->k;
  }
  engine_.erase(k);
  ended_.fetch_add(1, std::memory_order_relaxed);
  detail::announce_session_end(st->tag);
}

void session_store::on_removal(const key& k, state_ptr&& st, removal_cause cause) {
  bool absolute;
  {
    std::lock_guard lock(st->mu);
    // Already ended, or the entry of an id that rotation retired.
    if (st->ended || !(st->k == k)) return;
    st->ended = true;
    st->values.clear();
    st->set_used(0);
    absolute = st->created + options_.absolute_timeout <= st->last_activity + options_.idle_timeout;
  }
  switch (cause) {
    case removal_cause::expired:
      (absolute ? expired_absolute_ : expired_idle_).fetch_add(1, std::memory_order_relaxed);
      break;
    case removal_cause::evicted:
      evicted_.fetch_add(1, std::memory_order_relaxed);
      break;
    case removal_cause::replaced:
    case removal_cause::removed:
    case removal_cause::cleared:
      ended_.fetch_add(1, std::memory_order_relaxed);
      break;
  }
  detail::announce_session_end(st->tag);
}

void session_store::sync(const detail::session_state& st) {
  key k;
  {
    std::lock_guard lock(st.mu);
    if (st.ended) return;
    k = st.k;
  }
  engine_.update(k, [&](state_ptr&, detail::entry_info& info) {
    info.weight = session_overhead_bytes + st.bytes.load(std::memory_order_relaxed);
  });
}

void session_store::check_quota(detail::session_state& st, std::string_view key,
                                std::size_t old_bytes, std::size_t new_bytes) {
  const std::size_t total = st.used - old_bytes + new_bytes;
  if (new_bytes > old_bytes && total > options_.max_bytes_per_session) {
    quota_exceeded_.fetch_add(1, std::memory_order_relaxed);
    throw quota_error(std::string(key), new_bytes, total, options_.max_bytes_per_session);
  }
}

std::size_t session_store::end_all(std::string_view user) {
  if (user.empty()) return 0;
  return engine_.erase_if(
      [&](const key& k, const state_ptr& st, const detail::entry_info&) {
        std::lock_guard lock(st->mu);
        return st->k == k && st->user == user;
      },
      removal_cause::removed);
}

std::size_t session_store::cleanup() { return engine_.cleanup(); }

session_stats session_store::stats() const {
  session_stats s;
  s.live = engine_.size();
  s.bytes = engine_.weight();
  s.created = created_.load(std::memory_order_relaxed);
  s.rotated = rotated_.load(std::memory_order_relaxed);
  s.ended = ended_.load(std::memory_order_relaxed);
  s.expired_idle = expired_idle_.load(std::memory_order_relaxed);
  s.expired_absolute = expired_absolute_.load(std::memory_order_relaxed);
  s.evicted = evicted_.load(std::memory_order_relaxed);
  s.quota_exceeded = quota_exceeded_.load(std::memory_order_relaxed);
  const auto rejected = [&](rejected_id_reason r) {
    return rejected_[static_cast<std::size_t>(r)].load(std::memory_order_relaxed);
  };
  s.rejected_empty = rejected(rejected_id_reason::empty);
  s.rejected_malformed = rejected(rejected_id_reason::malformed);
  s.rejected_unknown = rejected(rejected_id_reason::unknown);
  s.rejected_expired = rejected(rejected_id_reason::expired);
  s.rejected_identity_mismatch = rejected(rejected_id_reason::identity_mismatch);
  s.max_sessions = options_.max_sessions;
  s.max_total_bytes = options_.max_total_bytes;
  return s;
}

// --- session ---------------------------------------------------------------

session::session(session_store& store, session_store::state_ptr state, bool is_new, bool id_changed)
    : store_(&store),
      state_(std::move(state)),
      guard_(std::make_unique<detail::session_tag_guard>(state_->tag)),
      scratch_(store.options_.max_scratch_entries),
      is_new_(is_new),
      id_changed_(id_changed) {}

std::string session::id() const {
  std::lock_guard lock(state_->mu);
  return state_->ended ? std::string() : state_->id;
}

std::string session::user() const {
  std::lock_guard lock(state_->mu);
  return state_->user;
}

bool session::ended() const {
  std::lock_guard lock(state_->mu);
  return state_->ended;
}

std::unique_lock<std::mutex> session::lock_for_write() const {
  std::unique_lock lock(state_->mu);
  if (state_->ended) {
    throw session_error(session_errc::ended,
                        "recall: write to a session that has ended (logged out, expired or "
                        "evicted, possibly by another request); nothing was stored. Open the "
                        "session again to start a new one");
  }
  return lock;
}

void session::put_slot(std::string_view key, detail::session_slot slot) {
  {
    auto lock = lock_for_write();
    auto& st = *state_;
    auto it = st.values.find(detail::lookup_key(key));
    const std::size_t old_bytes = it == st.values.end() ? 0 : it->second.bytes;
    store_->check_quota(st, key, old_bytes, slot.bytes);
    st.set_used(st.used - old_bytes + slot.bytes);
    if (it == st.values.end()) {
      st.values.emplace(std::string(key), std::move(slot));
    } else {
      it->second = std::move(slot);
    }
  }
  store_->sync(*state_);
}

bool session::contains(std::string_view key) const {
  std::lock_guard lock(state_->mu);
  return state_->values.contains(detail::lookup_key(key));
}

bool session::erase(std::string_view key) {
  {
    std::lock_guard lock(state_->mu);
    auto it = state_->values.find(detail::lookup_key(key));
    if (it == state_->values.end()) return false;
    state_->set_used(state_->used - it->second.bytes);
    state_->values.erase(it);
  }
  store_->sync(*state_);
  return true;
}

void session::clear() {
  {
    std::lock_guard lock(state_->mu);
    state_->values.clear();
    state_->set_used(0);
  }
  store_->sync(*state_);
}

std::size_t session::bytes() const {
  std::lock_guard lock(state_->mu);
  return state_->used;
}

void session::rotate() {
  store_->rotate(state_);
  id_changed_ = true;
}

session::~session() {
  if (!state_) return;
  bool ended;
  {
    std::lock_guard lock(state_->mu);
    ended = state_->ended;
  }
  // Session-scoped cache entries made by this request after the end was
  // announced (the thread was still marked) are dropped now.
  if (ended) detail::announce_session_end(state_->tag);
}

void session::end() { store_->end(state_); }

void session::throw_wrong_kind(std::string_view key, const char* wanted) {
  throw session_error(session_errc::wrong_kind,
                      fmt::format("recall: session key '{}' holds another kind of value than "
                                  "{} (a value, a list and a map cannot share a key); use "
                                  "another key or erase it first",
                                  key, wanted));
}

void session::throw_decode(std::string_view key, codec_errc code, const std::string& message) {
  throw codec_error(code, fmt::format("recall: session value '{}' cannot be read as the type "
                                      "asked for ({}): {}. Read it with the type it was stored "
                                      "with, or erase it",
                                      key, to_string(code), message));
}

void session::throw_out_of_range(std::string_view key, std::size_t i, std::size_t size) {
  throw std::out_of_range(fmt::format(
      "recall: session list '{}' has {} items; index {} is past the end", key, size, i));
}

}  // namespace recall
