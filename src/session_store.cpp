#include <fmt/format.h>

#include "recall/detail/local_session_storage.hpp"
#include "recall/session.hpp"

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
    case session_errc::storage_unavailable:
      return "storage_unavailable";
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

// --- session_backend -------------------------------------------------------

std::unique_ptr<detail::session_storage> session_backend::make(
    const session_options& options) const {
  if (!make_) return std::make_unique<detail::local_session_storage>(options);
  return make_(options);
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
  if (o.max_sessions == 0 || o.max_bytes_per_session == 0 || o.max_scratch_entries == 0 ||
      o.max_sessions_per_user == 0) {
    throw config_error(
        "recall: session_store needs max_sessions, max_bytes_per_session, "
        "max_sessions_per_user and max_scratch_entries > 0 (SIZE_MAX means no bound)");
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

}  // namespace

session_store::session_store() : session_store(session_options{}) {}

session_store::session_store(session_options options)
    : options_(validate(std::move(options))), storage_(options_.storage.make(options_)) {
  registration_.emplace(
      options_.name, "session_store",
      detail::registry_hooks{[this] { return detail::session_metrics(stats()); }, {}});
}

session_store::~session_store() {
  registration_.reset();
  storage_.reset();
}

session session_store::open(std::string_view cookie_value, const identity& who) {
  return session(*this, storage_->open(cookie_value, who));
}

std::size_t session_store::end_all(std::string_view user) { return storage_->end_all(user); }

std::size_t session_store::cleanup() { return storage_->cleanup(); }

session_stats session_store::stats() const { return storage_->stats(); }

// --- session ---------------------------------------------------------------

session::session(session_store& store, detail::opened_session opened)
    : store_(&store),
      record_(std::move(opened.record)),
      scratch_(store.options_.max_scratch_entries),
      previous_tag_(detail::exchange_session_tag(record_->tag)),
      rejected_(opened.rejected),
      is_new_(opened.is_new),
      id_changed_(opened.id_changed) {}

session::session(session&& other) noexcept
    : store_(std::exchange(other.store_, nullptr)),
      record_(std::move(other.record_)),
      scratch_(std::move(other.scratch_)),
      previous_tag_(other.previous_tag_),
      rejected_(other.rejected_),
      is_new_(other.is_new_),
      id_changed_(other.id_changed_) {}

session& session::operator=(session&& other) noexcept {
  if (this == &other) return *this;
  // This handle's request ends; the thread's mark becomes the other
  // session's, and goes back to what it was before this handle at the end.
  if (store_) store_->storage_->release(record_);
  const std::uint64_t previous = store_ ? previous_tag_ : other.previous_tag_;
  if (other.store_) detail::exchange_session_tag(other.record_->tag);
  store_ = std::exchange(other.store_, nullptr);
  record_ = std::move(other.record_);
  scratch_ = std::move(other.scratch_);
  previous_tag_ = previous;
  rejected_ = other.rejected_;
  is_new_ = other.is_new_;
  id_changed_ = other.id_changed_;
  return *this;
}

session::~session() {
  if (!store_) return;
  store_->storage_->release(record_);
  detail::exchange_session_tag(previous_tag_);
}

std::string session::id() const { return storage().id(record_); }

std::string session::user() const { return storage().user(record_); }

bool session::id_changed() const {
  const detail::session_status st = storage().status(record_);
  if (st.ended) return false;
  return id_changed_ || (is_new_ && st.stored);
}

bool session::ended() const { return storage().status(record_).ended; }

bool session::contains(std::string_view key) const { return storage().contains(record_, key); }

bool session::erase(std::string_view key) { return storage().erase(record_, key); }

void session::clear() { storage().clear(record_); }

std::size_t session::bytes() const { return storage().bytes(record_); }

void session::rotate() {
  storage().rotate(record_);
  id_changed_ = true;
}

void session::end() { storage().end(record_); }

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
