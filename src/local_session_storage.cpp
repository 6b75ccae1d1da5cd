#include "recall/detail/local_session_storage.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>

#include "recall/detail/xxhash.hpp"
#include "recall/session.hpp"
#include "recall/session_id.hpp"

namespace recall::detail {
namespace {

// Tags are process-wide: scope::session caches serve every store, so two
// stores must never hand out the same tag.
std::uint64_t next_session_tag() noexcept {
  static std::atomic<std::uint64_t> next{1};
  return next.fetch_add(1, std::memory_order_relaxed);
}

std::uint64_t random_seed() {
  // Ids are looked up in hash maps: a secret seed keeps chosen ids from
  // colliding on purpose.
  key_builder b;
  b.add(std::string_view(new_session_id()));
  return b.finish().low;
}

// Screens slots before their keys are compared: the length and the first
// and last (up to) eight bytes, mixed. Session keys are chosen by the
// application, not by clients, so this needs no secret seed.
inline std::uint32_t hash_of(std::string_view key) noexcept {
  const char* p = key.data();
  const std::size_t n = key.size();
  std::uint64_t head = 0, tail = 0;
  if (n >= 8) {
    std::memcpy(&head, p, 8);
    std::memcpy(&tail, p + n - 8, 8);
  } else if (n >= 4) {
    std::uint32_t h32, t32;
    std::memcpy(&h32, p, 4);
    std::memcpy(&t32, p + n - 4, 4);
    head = h32;
    tail = t32;
  } else if (n > 0) {
    head = static_cast<unsigned char>(p[0]) | static_cast<unsigned char>(p[n / 2]) << 8 |
           static_cast<unsigned char>(p[n - 1]) << 16;
  }
  const std::uint64_t h = (head * 0x9e3779b97f4a7c15ULL) ^ ((tail + n) * 0xc2b2ae3d27d4eb4fULL);
  return static_cast<std::uint32_t>(h >> 32);
}

session_slot* find_slot(session_state& st, std::string_view key) noexcept {
  const std::uint32_t h = hash_of(key);
  for (std::size_t i = 0; i < st.in_place; ++i) {
    session_slot& s = st.slots[i];
    if (s.hash == h && s.key == key) return &s;
  }
  if (st.more) {
    for (session_slot& s : *st.more) {
      if (s.hash == h && s.key == key) return &s;
    }
  }
  return nullptr;
}

// A slot for `key` at the end of the table, holding nothing yet. If it
// throws, the table is unchanged.
session_slot& add_slot(session_state& st, std::string_view key) {
  std::string k(key);
  session_slot* s = nullptr;
  if (st.in_place < st.slots.size()) {
    s = &st.slots[st.in_place++];
  } else if (st.more) {
    s = &st.more->emplace_back();
  } else {
    auto more = std::make_unique<std::vector<session_slot>>();
    s = &more->emplace_back();
    st.more = std::move(more);
  }
  s->key = std::move(k);
  s->hash = hash_of(key);
  return *s;
}

// A slot as new, its heap freed. (Assigning an empty slot would not do: a
// std::string assigned a short one keeps its own buffer.)
void reset_slot(session_slot& s) noexcept {
  std::destroy_at(&s);
  std::construct_at(&s);
}

// Empties the table.
void clear_slots(session_state& st) noexcept {
  for (std::size_t i = 0; i < st.in_place; ++i) reset_slot(st.slots[i]);
  st.in_place = 0;
  st.more.reset();
}

// The heap the table holds beyond the session's own allocation.
std::size_t table_heap(const session_state& st) noexcept {
  if (!st.more) return 0;
  return heap_chunk(sizeof(*st.more)) + heap_chunk(st.more->capacity() * sizeof(session_slot));
}

std::size_t slot_heap(const session_slot& s);

void erase_slot(session_state& st, session_slot* slot) {
  st.used -= slot->bytes;
  st.heap -= slot_heap(*slot);
  // Swapped, not move-assigned: a string move-assigned a short one keeps its
  // buffer, which the accounting above has just given back.
  session_slot& last = st.more ? st.more->back() : st.slots[st.in_place - 1];
  if (slot != &last) std::swap(*slot, last);
  if (st.more) {
    st.more->pop_back();
    if (st.more->empty()) st.more.reset();
  } else {
    reset_slot(last);
    --st.in_place;
  }
}

session_list_slot* list_of(session_slot* slot, std::string_view key) {
  if (!slot) return nullptr;
  auto* l =
      slot->kind.aggregate() ? std::get_if<session_list_slot>(slot->kind.aggregate()) : nullptr;
  if (!l) throw_wrong_kind(key, "a list");
  return l;
}

session_map_slot* map_of(session_slot* slot, std::string_view key) {
  if (!slot) return nullptr;
  auto* m =
      slot->kind.aggregate() ? std::get_if<session_map_slot>(slot->kind.aggregate()) : nullptr;
  if (!m) throw_wrong_kind(key, "a map");
  return m;
}

// The heap a slot holds beyond its place in the session's table.
std::size_t slot_heap(const session_slot& s) {
  std::size_t n = string_heap(s.key) + string_heap(s.data);
  const session_aggregate* a = s.kind.aggregate();
  if (!a) return n;
  n += heap_chunk(sizeof(session_aggregate));
  if (const auto* l = std::get_if<session_list_slot>(a)) {
    n += heap_chunk(l->ring.capacity() * sizeof(std::string));
    for (const auto& item : l->ring) n += string_heap(item);
  } else {
    const auto& m = std::get<session_map_slot>(*a);
    n += heap_chunk(m.entries.capacity() * sizeof(m.entries[0]));
    for (const auto& [k, v] : m.entries) n += string_heap(k) + string_heap(v);
  }
  return n;
}

using entries = std::vector<std::pair<std::string, std::string>>;
entries::iterator find_entry(entries& e, std::string_view kb) {
  return std::find_if(e.begin(), e.end(), [&](const auto& p) { return p.first == kb; });
}

}  // namespace

void slot_kind::free_aggregate(session_aggregate* a) noexcept { delete a; }

local_session_storage::local_session_storage(const session_options& options)
    : options_(options),
      seed_(random_seed()),
      granularity_(options.idle_timeout / 64),
      engine_(engine_config<state_ptr>{options.max_sessions, options.max_total_bytes, options.clock,
                                       [this](const key& k, state_ptr&& st, removal_cause cause) {
                                         on_removal(k, std::move(st), cause);
                                       },
                                       0}) {}

local_session_storage::~local_session_storage() { engine_.clear(); }

key local_session_storage::key_of(std::string_view id) const {
  const XXH128_hash_t h = XXH3_128bits_withSeed(id.data(), id.size(), seed_);
  return key{h.high64, h.low64};
}

// --- opening ----------------------------------------------------------------

opened_session local_session_storage::open(std::string_view id, const identity& who) {
  const time_point t = engine_.now();
  if (id.empty()) return fresh(rejected_id_reason::empty, 0, who, t);
  if (!is_well_formed_session_id(id))
    return fresh(rejected_id_reason::malformed, id.size(), who, t);
  const key k = key_of(id);
  // The handle borrows the state: it is pinned inside the engine's read
  // section, which keeps the entry alive until then, and from then on the
  // pin does (keep_while_pinned). A request so writes no reference count,
  // which sits at the edge of the state's allocation where another
  // session's data may share its cache line (docs/design.md, "Sessions: a
  // request borrows its state").
  session_state* found = nullptr;
  state_ptr owner;  // for a sign-in, or when the lock was not free in the read section
  bool admitted = false;
  std::optional<rejected_id_reason> reason;
  bool bind = false;
  std::optional<time_point> extend;
  // Under st.mu: whether `id` opens `st`; if so, pinned, unless it signs in.
  const auto admit = [&](session_state& st) {
    admitted = true;
    // Expiry is checked before `ended`: the engine may have reclaimed the
    // session right after finding it, and that is still an expired id.
    if (!constant_time_equal(st.id.view(), id)) {
      reason = rejected_id_reason::unknown;
    } else if (t >= st.deadline) {
      reason = rejected_id_reason::expired;
    } else if (st.ended) {
      reason = rejected_id_reason::unknown;
    } else if (!st.user.empty() && st.user != who.user) {
      reason = rejected_id_reason::identity_mismatch;
    } else {
      // Signing in is activity too: sign_in() rotates the id, and the new
      // entry takes this deadline.
      bind = st.user.empty() && !who.anonymous();
      if (!bind) ++st.pins;
      // The engine learns a later deadline only when it moved by more than
      // the granularity: most requests then touch no engine lock but the
      // shared one of their lookup. A session may so expire up to that much
      // before idle_timeout, never after.
      const time_point d =
          std::min(t + options_.idle_timeout, st.created + options_.absolute_timeout);
      if (d - st.deadline >= granularity_) {
        st.deadline = d;
        extend = d;
      }
    }
  };
  engine_.visit<true, true>(k, [&](const state_ptr& p, const entry_info&) {
    found = p.get();
    // Not waited for here: a lock held through a slow decode would hold up
    // the reclamation of every engine (the read section is global). A
    // session busy with another request is referenced instead, and admitted
    // after the read section.
    if (p->mu.try_lock()) {
      std::lock_guard lock(p->mu, std::adopt_lock);
      admit(*p);
    }
    if (!admitted || bind) owner = p;
  });
  if (!found) return fresh(rejected_id_reason::unknown, id.size(), who, t);
  if (!admitted) {
    std::lock_guard lock(owner->mu);
    admit(*owner);
  }
  if (reason == rejected_id_reason::expired) engine_.erase(k, removal_cause::expired);
  if (reason) return fresh(reason, id.size(), who, t);
  if (bind) return sign_in(owner, who, t);
  // Without a reference, empty but not null: copying or destroying it
  // touches no count.
  record_ptr handle = owner ? record_ptr(std::move(owner)) : record_ptr(record_ptr(), found);
  if (extend) {
    try {
      engine_.update(k, [&](const state_ptr&, entry_info& info) { info.deadline = *extend; });
    } catch (...) {
      release(handle);
      throw;
    }
  }
  return {std::move(handle), false, false, std::nullopt};
}

opened_session local_session_storage::fresh(std::optional<rejected_id_reason> reason,
                                            std::size_t length, const identity& who,
                                            time_point now) {
  rejected_[static_cast<std::size_t>(*reason)].fetch_add(1, std::memory_order_relaxed);
  if (options_.on_rejected_id) options_.on_rejected_id(rejected_id{*reason, length});
  auto st = std::make_shared<session_state>(
      next_session_tag(), who.user, now,
      std::min(now + options_.idle_timeout, now + options_.absolute_timeout));
  st->pins = 1;
  return {std::move(st), true, false, reason};
}

opened_session local_session_storage::sign_in(const state_ptr& st, const identity& who,
                                              time_point now) {
  // Signing in is a privilege change: the anonymous id must not carry over.
  if (index(st, who.user)) {
    try {
      rotate(st);
      return {st, false, true, std::nullopt};
    } catch (const session_error&) {
      // The session ended between the lookup and the rotation: a fresh one.
      release(st);
    } catch (...) {
      // Out of memory: signed in but still under its anonymous id, the
      // session must not go on (the id would carry the privilege over).
      end_state(st, end_cause::ended);
      release(st);  // the pin index() took for this handle
      throw;
    }
  }
  return fresh(rejected_id_reason::unknown, session_id_length, who, now);
}

bool local_session_storage::index(const state_ptr& st, std::string_view user) {
  std::vector<state_ptr> over_limit;
  const bool bound = users_.add(
      user, st, options_.max_sessions_per_user,
      [&](session_state& s) {
        std::lock_guard lock(s.mu);
        if (s.ended || (!s.user.empty() && s.user != user)) return false;
        if (s.user.empty()) s.user = std::string(user);
        ++s.pins;
        return true;
      },
      over_limit);
  try {
    for (const state_ptr& old : over_limit) end_state(old, end_cause::user_limit);
  } catch (...) {
    // Out of memory: the caller never learns of the binding, so it is
    // undone the only sure way, by ending the session, and its pin released.
    end_state(st, end_cause::ended);
    release(st);
    throw;
  }
  return bound;
}

// --- storing, releasing, ending --------------------------------------------

void local_session_storage::insert(const state_ptr& st, const key& k, std::size_t weight,
                                   time_point deadline, bool identified) {
  // The engine refuses an entry over its whole budget; such a session (tiny
  // values can hold several times max_bytes_per_session on the heap) is kept
  // alone instead.
  engine_.insert(k, st, std::min(weight, options_.max_total_bytes), deadline, st->tag,
                 identified ? 1 : 0);
  bool ended;
  {
    std::lock_guard lock(st->mu);
    ended = st->ended;
  }
  // An end() that raced with this saw the key before it was inserted.
  if (ended) engine_.erase(k);
}

void local_session_storage::store(const state_ptr& st) {
  if (st->stored.load(std::memory_order_acquire)) return;
  // Only the handle that opened a fresh session can reach it before it is
  // stored: nothing else runs here for `st`.
  std::string id = new_session_id();
  const key k = key_of(id);
  std::string user;
  {
    std::lock_guard lock(st->mu);
    if (st->ended) throw_ended("cannot write to");
    st->id.assign(id);
    st->k = k;
    user = st->user;
  }
  if (!user.empty()) {
    // Pinned by the binding as a resumed session is; this handle already is.
    if (index(st, user)) {
      std::lock_guard lock(st->mu);
      --st->pins;
    }
  }
  std::size_t weight;
  time_point deadline;
  {
    std::lock_guard lock(st->mu);
    st->weight = weight_of(*st);
    weight = st->weight;
    deadline = st->deadline;
    st->stored.store(true, std::memory_order_release);
  }
  insert(st, k, weight, deadline, !user.empty());
  created_.fetch_add(1, std::memory_order_relaxed);
}

void local_session_storage::release(const record_ptr& r) noexcept {
  auto& state = static_cast<session_state&>(*r);
  // Read while pinned: once the pin is gone, another handle's release may
  // free the state (this one holds no reference if it borrowed it).
  const std::uint64_t tag = state.tag;
  // The keep-alive reference, once the last handle is gone: declared first,
  // so that the state outlives everything below.
  state_ptr kept;
  bool back = false, ended;
  key k;
  std::size_t weight = 0;
  time_point deadline;
  std::string user;
  {
    std::lock_guard lock(state.mu);
    --state.pins;
    ended = state.ended;
    if (state.pins == 0 && state.kept) kept = take_kept(state);
    if (state.pins == 0 && state.detached && !ended) {
      state.detached = false;
      back = true;
      k = state.k;
      weight = state.weight;
      deadline = state.deadline;
      user = state.user;
    }
  }
  if (back) {
    const state_ptr st = state.shared_from_this();
    detached_.fetch_sub(1, std::memory_order_relaxed);
    if (engine_.now() >= deadline) {
      end_state(st, expiry_of(*st, deadline));
      return;
    }
    try {
      insert(st, k, weight, deadline, !user.empty());
    } catch (...) {
      end_state(st, end_cause::evicted);  // out of memory: the session is lost, not leaked
    }
  }
  // Session-scoped cache entries made by this request after the end was
  // announced (the thread was still marked) are dropped now.
  if (ended) announce_session_end(tag);
}

void local_session_storage::on_removal(const key& k, state_ptr&& st, removal_cause cause) {
  end_cause why = end_cause::ended;
  {
    std::lock_guard lock(st->mu);
    // The entry of an id that rotation retired: the state lives on under
    // its new key.
    if (!(st->k == k)) return;
    // It leaves the engine, which owned it: an open handle still needs it.
    keep_while_pinned(*st);
    if (st->ended) return;
    const bool early = cause == removal_cause::expired && engine_.now() < st->deadline;
    if ((cause == removal_cause::evicted || early) && st->pins > 0) {
      // A request holds it: it is not evicted under that request, and comes
      // back when the last handle is released.
      st->detached = true;
      detached_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    switch (cause) {
      case removal_cause::expired:
        why = expiry_of(*st, st->deadline);
        break;
      case removal_cause::evicted:
        why = end_cause::evicted;
        break;
      default:
        break;
    }
  }
  end_state(st, why);
}

void local_session_storage::end_state(const state_ptr& st, end_cause cause) {
  key k;
  bool stored;
  std::string user;
  {
    std::lock_guard lock(st->mu);
    if (st->ended) return;
    st->ended = true;
    // Not in the engine if it was taken out for a release's reinsertion.
    keep_while_pinned(*st);
    clear_slots(*st);
    st->used = 0;
    st->heap = 0;
    k = st->k;
    stored = st->stored.load(std::memory_order_relaxed);
    if (st->detached) {
      st->detached = false;
      detached_.fetch_sub(1, std::memory_order_relaxed);
    }
    user = st->user;
  }
  if (stored) engine_.erase(k);  // its own removal event sees `ended` and returns
  finish_end(*st, user, cause);
}

void local_session_storage::finish_end(session_state& st, std::string_view user, end_cause cause) {
  if (!user.empty()) users_.remove(user, &st);
  if (st.stored.load(std::memory_order_relaxed)) {
    switch (cause) {
      case end_cause::ended:
        ended_.fetch_add(1, std::memory_order_relaxed);
        break;
      case end_cause::user_limit:
        ended_user_limit_.fetch_add(1, std::memory_order_relaxed);
        break;
      case end_cause::expired_idle:
        expired_idle_.fetch_add(1, std::memory_order_relaxed);
        break;
      case end_cause::expired_absolute:
        expired_absolute_.fetch_add(1, std::memory_order_relaxed);
        break;
      case end_cause::evicted:
        evicted_.fetch_add(1, std::memory_order_relaxed);
        break;
    }
  }
  announce_session_end(st.tag);
}

void local_session_storage::end(const record_ptr& r) {
  end_state(static_cast<session_state&>(*r).shared_from_this(), end_cause::ended);
}

std::size_t local_session_storage::end_all(std::string_view user) {
  if (user.empty()) return 0;
  std::size_t count = 0;
  for (const state_ptr& st : users_.take(user)) {
    bool live;
    {
      std::lock_guard lock(st->mu);
      live = !st->ended;
    }
    end_state(st, end_cause::ended);
    count += live ? 1 : 0;
  }
  return count;
}

std::size_t local_session_storage::cleanup() { return engine_.cleanup(); }

void local_session_storage::rotate(const record_ptr& r) {
  const state_ptr st = static_cast<session_state&>(*r).shared_from_this();
  if (!st->stored.load(std::memory_order_acquire)) {
    store(st);
    rotated_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::string id = new_session_id();
  const key fresh = key_of(id);
  key old;
  time_point deadline;
  std::size_t weight;
  bool identified, expired = false;
  {
    std::lock_guard lock(st->mu);
    if (st->ended) throw_ended("cannot rotate the id of");
    if (engine_.now() >= st->deadline) {
      expired = true;
    } else {
      old = st->k;
      st->id.assign(id);
      st->k = fresh;
      if (st->detached) {
        st->detached = false;  // the new key goes into the engine now
        detached_.fetch_sub(1, std::memory_order_relaxed);
      }
    }
    deadline = st->deadline;
    weight = st->weight;
    identified = !st->user.empty();
  }
  if (expired) {
    // Past its timeout but not yet reclaimed: it is over.
    end_state(st, expiry_of(*st, deadline));
    throw_ended("cannot rotate the id of");
  }
  try {
    insert(st, fresh, weight, deadline, identified);
  } catch (...) {
    // Out of memory: the old entry no longer matches st->k, so its removal
    // would neither end the session nor keep it for a borrowing handle. The
    // session is lost, not left half-rotated.
    end_state(st, end_cause::evicted);
    engine_.erase(old);
    throw;
  }
  // The old entry no longer matches st->k, so its removal does not end the session.
  engine_.erase(old);
  rotated_.fetch_add(1, std::memory_order_relaxed);
}

local_session_storage::end_cause local_session_storage::expiry_of(
    const session_state& st, time_point deadline) const noexcept {
  // A session that passed both timeouts counts as absolute.
  return st.created + options_.absolute_timeout <= deadline ? end_cause::expired_absolute
                                                            : end_cause::expired_idle;
}

// --- accounting -------------------------------------------------------------

std::size_t local_session_storage::weight_of(const session_state& st) const noexcept {
  std::size_t w = session_overhead_bytes + table_heap(st) + st.heap;
  if (!st.user.empty()) {
    w += string_heap(st.user) + session_user_index::bytes_per_session(st.user.size());
  }
  return w;
}

std::optional<local_session_storage::weight_change> local_session_storage::take_weight(
    session_state& st) const noexcept {
  const std::size_t w = weight_of(st);
  if (w == st.weight || st.ended) return std::nullopt;
  st.weight = w;
  return weight_change{st.k, std::min(w, options_.max_total_bytes)};
}

void local_session_storage::publish(const std::optional<weight_change>& change) {
  if (!change) return;
  engine_.update(change->k,
                 [&](const state_ptr&, entry_info& info) { info.weight = change->weight; });
}

void local_session_storage::check_quota(session_state& st, std::string_view key,
                                        std::size_t old_bytes, std::size_t new_bytes) {
  const std::size_t total = st.used - old_bytes + new_bytes;
  const bool over = total > options_.max_bytes_per_session ||
                    new_bytes > std::numeric_limits<std::uint32_t>::max();
  if (new_bytes > old_bytes && over) {
    quota_exceeded_.fetch_add(1, std::memory_order_relaxed);
    throw quota_error(std::string(key), new_bytes, total, options_.max_bytes_per_session);
  }
}

std::unique_lock<small_mutex> local_session_storage::lock_for_write(session_state& st) {
  std::unique_lock lock(st.mu);
  if (st.ended) throw_ended("cannot write to");
  return lock;
}

// --- lifetime ---------------------------------------------------------------

void local_session_storage::keep_while_pinned(session_state& st) noexcept {
  if (st.pins == 0 || st.kept) return;
  std::lock_guard lock(kept_mu_);
  kept_.emplace(&st, st.shared_from_this());
  st.kept = true;
}

local_session_storage::state_ptr local_session_storage::take_kept(session_state& st) noexcept {
  st.kept = false;
  std::lock_guard lock(kept_mu_);
  auto node = kept_.extract(&st);
  return std::move(node.mapped());
}

// --- reading the session ----------------------------------------------------

std::string local_session_storage::id(const record_ptr& r) {
  auto& st = static_cast<session_state&>(*r);
  std::lock_guard lock(st.mu);
  return std::string(st.id.view());
}

std::string local_session_storage::user(const record_ptr& r) {
  auto& st = static_cast<session_state&>(*r);
  std::lock_guard lock(st.mu);
  return st.user;
}

session_status local_session_storage::status(const record_ptr& r) {
  auto& st = static_cast<session_state&>(*r);
  std::lock_guard lock(st.mu);
  return {st.stored.load(std::memory_order_relaxed), st.ended};
}

std::size_t local_session_storage::bytes(const record_ptr& r) {
  auto& st = static_cast<session_state&>(*r);
  std::lock_guard lock(st.mu);
  return st.used;
}

bool local_session_storage::read(const record_ptr& r, std::string_view key,
                                 std::uint64_t current_version,
                                 function_ref<void(const value_read&)> found) {
  auto& st = static_cast<session_state&>(*r);
  std::optional<weight_change> change;
  {
    std::lock_guard lock(st.mu);
    session_slot* slot = find_slot(st, key);
    if (!slot) return false;
    if (slot->kind.aggregate()) throw_wrong_kind(key, "a single value");
    if (slot->version >= current_version) {
      found(value_read{slot->data, slot->kind.ops()});
      return true;
    }
    erase_slot(st, slot);
    change = take_weight(st);
  }
  publish(change);
  return false;
}

bool local_session_storage::contains(const record_ptr& r, std::string_view key) {
  auto& st = static_cast<session_state&>(*r);
  std::lock_guard lock(st.mu);
  return find_slot(st, key) != nullptr;
}

// --- single values ----------------------------------------------------------

void local_session_storage::write(const record_ptr& r, std::string_view key, value_write value) {
  session_state* st = &static_cast<session_state&>(*r);
  if (!st->stored.load(std::memory_order_acquire)) store(st->shared_from_this());
  std::optional<weight_change> change;
  {
    auto lock = lock_for_write(*st);
    session_slot* slot = find_slot(*st, key);
    const std::size_t old_bytes = slot ? slot->bytes : 0;
    const std::size_t new_bytes = key.size() + value.encoded_size;
    check_quota(*st, key, old_bytes, new_bytes);
    if (!slot) {
      slot = &add_slot(*st, key);
    }
    const std::size_t old_heap = slot_heap(*slot);
    slot->data = std::move(value.data);
    slot->kind.set_ops(value.ops);
    slot->version = value.version;
    slot->bytes = static_cast<std::uint32_t>(new_bytes);
    st->used = st->used - old_bytes + new_bytes;
    st->heap = st->heap - old_heap + slot_heap(*slot);
    change = take_weight(*st);
  }
  publish(change);
}

bool local_session_storage::erase(const record_ptr& r, std::string_view key) {
  auto& st = static_cast<session_state&>(*r);
  std::optional<weight_change> change;
  {
    std::lock_guard lock(st.mu);
    session_slot* slot = find_slot(st, key);
    if (!slot) return false;
    erase_slot(st, slot);
    change = take_weight(st);
  }
  publish(change);
  return true;
}

void local_session_storage::clear(const record_ptr& r) {
  auto& st = static_cast<session_state&>(*r);
  std::optional<weight_change> change;
  {
    std::lock_guard lock(st.mu);
    clear_slots(st);
    st.used = 0;
    st.heap = 0;
    change = take_weight(st);
  }
  publish(change);
}

// --- lists ------------------------------------------------------------------

void local_session_storage::list_push(const record_ptr& r, std::string_view key, std::size_t n,
                                      std::string item) {
  session_state* st = &static_cast<session_state&>(*r);
  if (!st->stored.load(std::memory_order_acquire)) store(st->shared_from_this());
  std::optional<weight_change> change;
  {
    auto lock = lock_for_write(*st);
    session_slot* slot = find_slot(*st, key);
    session_list_slot* l = list_of(slot, key);
    if (l && l->capacity == n) {
      const bool full = l->ring.size() == n;
      const std::size_t old_bytes = slot->bytes;
      const std::size_t new_bytes = old_bytes - (full ? l->ring[l->head].size() : 0) + item.size();
      check_quota(*st, key, old_bytes, new_bytes);
      // The heap changes by the item swapped and, on growth, by the ring.
      std::size_t old_heap = heap_chunk(l->ring.capacity() * sizeof(std::string));
      if (full) {
        old_heap += string_heap(l->ring[l->head]);
        l->ring[l->head] = std::move(item);
        st->heap += string_heap(l->ring[l->head]);
        l->head = (l->head + 1) % n;
      } else {
        l->ring.push_back(std::move(item));
        st->heap += string_heap(l->ring.back());
      }
      st->heap = st->heap - old_heap + heap_chunk(l->ring.capacity() * sizeof(std::string));
      slot->bytes = static_cast<std::uint32_t>(new_bytes);
      st->used = st->used - old_bytes + new_bytes;
    } else {
      // A first push or a new capacity: build the list aside, so that a
      // refused push leaves the stored one as it was.
      const std::size_t old_bytes = slot ? slot->bytes : 0;
      session_list_slot next;
      if (l) next = *l;
      next.reshape(n - 1);
      next.ring.push_back(std::move(item));
      next.capacity = n;
      std::size_t new_bytes = key.size();
      for (const auto& i : next.ring) new_bytes += i.size();
      check_quota(*st, key, old_bytes, new_bytes);
      if (!slot) {
        slot = &add_slot(*st, key);
      }
      const std::size_t old_heap = slot_heap(*slot);
      slot->data.clear();
      slot->data.shrink_to_fit();
      slot->kind.set_aggregate(std::make_unique<session_aggregate>(std::move(next)));
      slot->bytes = static_cast<std::uint32_t>(new_bytes);
      st->used = st->used - old_bytes + new_bytes;
      st->heap = st->heap - old_heap + slot_heap(*slot);
    }
    change = take_weight(*st);
  }
  publish(change);
}

std::size_t local_session_storage::list_read(const record_ptr& r, std::string_view key,
                                             std::size_t n, std::size_t first, std::size_t count,
                                             function_ref<void(std::string_view)> item) {
  auto& st = static_cast<session_state&>(*r);
  std::lock_guard lock(st.mu);
  const session_list_slot* l = list_of(find_slot(st, key), key);
  if (!l) return 0;
  const std::size_t kept = std::min(l->size(), n);
  const std::size_t oldest = l->size() - kept;
  for (std::size_t i = first; i < kept && i - first < count; ++i) item(l->at(oldest + i));
  return kept;
}

// --- maps -------------------------------------------------------------------

void local_session_storage::map_put(const record_ptr& r, std::string_view key, std::size_t n,
                                    std::string kb, std::string vb) {
  session_state* st = &static_cast<session_state&>(*r);
  if (!st->stored.load(std::memory_order_acquire)) store(st->shared_from_this());
  std::optional<weight_change> change;
  {
    auto lock = lock_for_write(*st);
    session_slot* slot = find_slot(*st, key);
    session_map_slot* m = map_of(slot, key);
    if (!m) {
      const std::size_t new_bytes = key.size() + kb.size() + vb.size();
      check_quota(*st, key, 0, new_bytes);
      session_map_slot fresh_map;
      fresh_map.entries.emplace_back(std::move(kb), std::move(vb));
      slot = &add_slot(*st, key);
      slot->kind.set_aggregate(std::make_unique<session_aggregate>(std::move(fresh_map)));
      slot->bytes = static_cast<std::uint32_t>(new_bytes);
      st->used += new_bytes;
      st->heap += slot_heap(*slot);
    } else {
      auto& e = m->entries;
      const auto hit = find_entry(e, kb);
      const std::size_t old_bytes = slot->bytes;
      std::size_t new_bytes = old_bytes + kb.size() + vb.size();
      if (hit != e.end()) new_bytes -= hit->first.size() + hit->second.size();
      // The least recently used entries that the new one pushes out.
      std::size_t count = e.size() + (hit == e.end() ? 1 : 0);
      std::size_t dropped = 0;
      for (auto d = e.begin(); count > n && d != e.end(); ++d) {
        if (d == hit) continue;
        new_bytes -= d->first.size() + d->second.size();
        --count;
        ++dropped;
      }
      check_quota(*st, key, old_bytes, new_bytes);
      const std::size_t old_heap = slot_heap(*slot);
      if (hit != e.end()) e.erase(hit);
      e.erase(e.begin(), e.begin() + static_cast<std::ptrdiff_t>(dropped));
      e.emplace_back(std::move(kb), std::move(vb));
      slot->bytes = static_cast<std::uint32_t>(new_bytes);
      st->used = st->used - old_bytes + new_bytes;
      st->heap = st->heap - old_heap + slot_heap(*slot);
    }
    change = take_weight(*st);
  }
  publish(change);
}

bool local_session_storage::map_get(const record_ptr& r, std::string_view key, std::string_view k,
                                    function_ref<void(std::string_view)> value) {
  auto& st = static_cast<session_state&>(*r);
  std::lock_guard lock(st.mu);
  session_map_slot* m = map_of(find_slot(st, key), key);
  if (!m) return false;
  auto& e = m->entries;
  const auto hit = find_entry(e, k);
  if (hit == e.end()) return false;
  std::rotate(hit, hit + 1, e.end());
  value(e.back().second);
  return true;
}

bool local_session_storage::map_contains(const record_ptr& r, std::string_view key,
                                         std::string_view k) {
  auto& st = static_cast<session_state&>(*r);
  std::lock_guard lock(st.mu);
  session_map_slot* m = map_of(find_slot(st, key), key);
  return m && find_entry(m->entries, k) != m->entries.end();
}

bool local_session_storage::map_erase(const record_ptr& r, std::string_view key,
                                      std::string_view k) {
  auto& st = static_cast<session_state&>(*r);
  std::optional<weight_change> change;
  {
    std::lock_guard lock(st.mu);
    session_slot* slot = find_slot(st, key);
    session_map_slot* m = map_of(slot, key);
    if (!m) return false;
    const auto hit = find_entry(m->entries, k);
    if (hit == m->entries.end()) return false;
    const std::size_t freed = hit->first.size() + hit->second.size();
    const std::size_t old_heap = slot_heap(*slot);
    m->entries.erase(hit);
    slot->bytes -= static_cast<std::uint32_t>(freed);
    st.used -= freed;
    st.heap = st.heap - old_heap + slot_heap(*slot);
    change = take_weight(st);
  }
  publish(change);
  return true;
}

std::size_t local_session_storage::map_read(
    const record_ptr& r, std::string_view key,
    function_ref<void(std::string_view, std::string_view)> entry) {
  auto& st = static_cast<session_state&>(*r);
  std::lock_guard lock(st.mu);
  const session_map_slot* m = map_of(find_slot(st, key), key);
  if (!m) return 0;
  for (const auto& [k, v] : m->entries) entry(k, v);
  return m->entries.size();
}

// --- stats ------------------------------------------------------------------

session_stats local_session_storage::stats() const {
  const auto detached = detached_.load(std::memory_order_relaxed);
  session_stats s = counted(options_);
  s.live = engine_.size() + detached;
  s.bytes = engine_.weight();
  s.pinned_over_bound = detached;
  return s;
}

}  // namespace recall::detail
