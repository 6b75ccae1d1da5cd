// libFuzzer target: a session_store driven by random operation sequences
// (open with current, rotated-away, ended, forged, malformed or empty ids and
// three identities; set, get, list push and read, rotate, end, end_all,
// clock advance, cleanup, closing handles), checked against a reference
// model of what docs/sessions.md promises today:
//   - an ended, expired, rotated-away, never-issued or other user's id never
//     resumes a session; a fresh session has no id and asks for no cookie
//     until it is stored (the model stores it with rotate()), then a
//     never-seen well-formed id; it has no values;
//   - a resumed session is the model's session (same tag) and shows exactly
//     its values; no read ever shows another session's values (every value
//     names the session that wrote it);
//   - the quota refuses exactly the writes that would exceed it, and writes
//     and rotate() on an ended or expired session throw session_error(ended);
//   - live sessions <= max_sessions, accounted bytes <= max_total_bytes,
//     every session's bytes <= max_bytes_per_session.
// The first input byte picks a roomy store (nothing can be evicted, so a
// live session must resume and keep every value) or a small one (3 sessions,
// 2 full ones by bytes), where a session may vanish by eviction at any time
// but only as a whole: the model then learns it is gone.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "recall/clock.hpp"
#include "recall/codec.hpp"
#include "recall/session.hpp"
#include "recall/session_id.hpp"

namespace {

using namespace std::chrono_literals;

constexpr auto idle = 10s;
constexpr auto absolute = 30s;
constexpr std::size_t list_capacity = 3;
const std::string list_key = "L";
const char* const value_keys[] = {"a", "b", "c"};
const char* const users[] = {"", "alice", "bob"};

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "session_store_fuzz: %s\n", what);
  std::abort();
}
void require(bool ok, const char* what) {
  if (!ok) fail(what);
}

struct model_session {
  int number = 0;
  std::uint64_t tag = 0;
  std::string id;  // the current id
  std::string user;
  recall::time_point created{};
  recall::time_point last_activity{};
  bool gone = false;  // ended, ended by end_all, evicted, or reclaimed after expiry
  // Evicted while a handle held it: kept for its handles (which still work)
  // but not found by its id, until its last handle goes and it is stored
  // again. Its id may then resume it or give a fresh session.
  bool detached = false;
  std::map<std::string, std::string> values;
  std::deque<std::string> list;
  int writes = 0;
};

std::size_t encoded_size(const std::string& v) { return recall::encode(v).size(); }

class model {
 public:
  explicit model(bool small) : small_(small), clock_(std::make_shared<recall::manual_clock>()) {
    recall::session_options o;
    o.idle_timeout = idle;
    o.absolute_timeout = absolute;
    o.clock = clock_;
    if (small) {
      o.max_sessions = 3;
      o.max_bytes_per_session = 300;
      o.max_total_bytes = 2 * (o.max_bytes_per_session + recall::session_overhead_bytes);
    } else {
      o.max_sessions = 1000;
      // Nothing may vanish here: no per-user limit either (its oldest-first
      // ending is tested in session_store_test).
      o.max_sessions_per_user = SIZE_MAX;
      o.max_bytes_per_session = 4096;
      o.max_total_bytes = std::size_t{64} << 20;
    }
    store_.emplace(o);
    handles_.reserve(max_handles);
  }
  ~model() {
    while (!handles_.empty()) handles_.pop_back();  // in reverse order of opening
  }

  void step(FuzzedDataProvider& in) {
    switch (in.ConsumeIntegralInRange(0, 11)) {
      case 0:
        open(in);
        break;
      case 1:
        set(in);
        break;
      case 2:
        get(in);
        break;
      case 3:
        push(in);
        break;
      case 4:
        read_list(in);
        break;
      case 5:
        rotate(in);
        break;
      case 6:
        end(in);
        break;
      case 7:
        end_all(in);
        break;
      case 8:
        clock_->advance(std::chrono::seconds(in.ConsumeIntegralInRange(0, 15)));
        break;
      case 9:
        store_->cleanup();
        break;
      case 10:
        if (!handles_.empty()) handles_.pop_back();
        break;
      case 11:
        erase(in);
        break;
    }
    check_bounds();
  }

 private:
  static constexpr std::size_t max_handles = 4;
  struct handle {
    recall::session s;
    int model;
  };

  recall::time_point now() const { return clock_->now(); }
  bool expired(const model_session& m) const {
    return now() >= std::min(m.last_activity + idle, m.created + absolute);
  }
  std::string prefix(const model_session& m) const { return "s" + std::to_string(m.number) + ":"; }

  // A session the store dropped by itself: allowed when it expired, or by
  // eviction in the small store.
  void learn_gone(model_session& m, const char* unexpected) {
    if (m.gone) return;
    require(small_ || expired(m), unexpected);
    m.gone = true;
  }

  handle* pick(FuzzedDataProvider& in) {
    if (handles_.empty()) return nullptr;
    handle& h = handles_[in.ConsumeIntegralInRange<std::size_t>(0, handles_.size() - 1)];
    model_session& m = sessions_[h.model];
    // A handle of a session that has ended says so, and a session that says
    // so is over in the model too.
    if (m.gone) require(h.s.ended(), "a handle of an ended session does not say it ended");
    if (h.s.ended()) {
      learn_gone(m, "a live session ended by itself");
      // id() keeps the dead id (the documented Set-Cookie idiom never throws),
      // but no cookie is asked for.
      require(!h.s.id_changed(), "an ended session asks for a cookie");
    }
    return &h;
  }

  std::string presented_id(FuzzedDataProvider& in) {
    switch (in.ConsumeIntegralInRange(0, 4)) {
      case 0:
        if (!sessions_.empty()) {
          return sessions_[in.ConsumeIntegralInRange<std::size_t>(0, sessions_.size() - 1)].id;
        }
        return {};
      case 1:
        if (!retired_.empty()) {
          return retired_[in.ConsumeIntegralInRange<std::size_t>(0, retired_.size() - 1)];
        }
        return {};
      case 2:
        return recall::new_session_id();  // well formed, never issued
      case 3:
        return in.ConsumeRandomLengthString(64);
      default:
        return {};
    }
  }

  void open(FuzzedDataProvider& in) {
    const std::string id = presented_id(in);
    recall::identity who{.user = users[in.ConsumeIntegralInRange(0, 2)], .groups = {}};
    model_session* target = nullptr;
    for (auto& m : sessions_) {
      if (!m.gone && !id.empty() && m.id == id) target = &m;
    }
    const bool live = target && !expired(*target);
    const bool may_resume = live && (target->user.empty() || target->user == who.user);
    if (handles_.size() == max_handles) handles_.pop_back();
    recall::session s = store_->open(id, who);

    if (s.ended()) {
      // Evicted before open() returned (the insert of its own entry, or of
      // its new id at sign-in, made room): allowed in a full store today.
      require(small_, "a session ended during the open() that returned it");
      if (s.is_new()) {
        model_session m;
        m.number = static_cast<int>(sessions_.size());
        m.tag = s.tag();
        m.user = who.user;
        m.gone = true;
        sessions_.push_back(std::move(m));
      } else {
        require(may_resume && s.tag() == target->tag, "an id resumed another session");
        target->gone = true;
      }
      handles_.push_back({std::move(s), static_cast<int>(sessions_.size()) - 1});
      if (!handles_.back().s.is_new()) handles_.back().model = target->number;
      check_values(handles_.back());
      return;
    }

    if (s.is_new()) {
      if (may_resume) {
        if (small_ && has_handles(*target)) {
          target->detached = true;
        } else if (!target->detached) {
          learn_gone(*target, "a live session was not resumed by its id");
        }
      }
      // An expired session is over, unless handles hold it outside the engine
      // (evicted under them): it ends when they go, and says so then.
      if (target && !live && !has_handles(*target)) target->gone = true;
      // Fresh sessions are lazy: no id and no cookie until the first write or
      // rotate(), which stores them. The model stores each one at once, so
      // every later step works on a stored session.
      require(s.id().empty(), "a fresh session has an id before its first write");
      require(!s.id_changed(), "a fresh session asks for a cookie before its first write");
      require(s.user() == who.user, "a fresh session is not bound to the identity");
      for (const auto& m : sessions_) require(m.tag != s.tag(), "a fresh session reuses a tag");
      model_session m;
      m.number = static_cast<int>(sessions_.size());
      m.tag = s.tag();
      m.user = who.user;
      m.created = m.last_activity = now();
      try {
        s.rotate();
      } catch (const recall::session_error& e) {
        require(e.code() == recall::session_errc::ended, "storing a fresh session failed");
        require(small_, "a fresh session ended as it was stored in a roomy store");
      }
      if (s.ended()) {
        require(small_, "a fresh session ended as it was stored in a roomy store");
        m.gone = true;
      } else {
        const std::string fresh = s.id();
        require(recall::is_well_formed_session_id(fresh), "a stored session has no well-formed id");
        require(seen_ids_.insert(fresh).second, "a fresh session reuses an id");
        require(s.id_changed(), "a stored fresh session does not ask for its cookie");
        m.id = fresh;
      }
      sessions_.push_back(std::move(m));
      handles_.push_back({std::move(s), static_cast<int>(sessions_.size()) - 1});
      check_values(handles_.back());
      return;
    }

    require(may_resume, "an ended, expired, foreign or other user's id resumed a session");
    require(s.tag() == target->tag, "an id resumed another session");
    target->detached = false;
    target->last_activity = now();
    if (target->user.empty() && !who.anonymous()) {
      // Signing in binds the session and gives it a new id.
      require(s.id_changed(), "signing in kept the anonymous id");
      retire(*target, s.id());
      target->user = who.user;
    } else {
      require(!s.id_changed() && s.id() == id, "a resumed session changed its id");
    }
    handles_.push_back({std::move(s), target->number});
    check_values(handles_.back());
  }

  bool has_handles(const model_session& m) const {
    return std::any_of(handles_.begin(), handles_.end(),
                       [&](const handle& h) { return h.model == m.number; });
  }

  void retire(model_session& m, const std::string& next) {
    require(recall::is_well_formed_session_id(next), "a new id is not well formed");
    require(next != m.id, "a new id equals the old one");
    require(seen_ids_.insert(next).second, "a new id was seen before");
    retired_.push_back(m.id);
    m.id = next;
  }

  // Reads through the handle must show the model's values, and never values
  // written by another session.
  void check_values(handle& h) {
    model_session& m = sessions_[h.model];
    for (const char* key : value_keys) {
      const std::optional<std::string> v = h.s.get<std::string>(key);
      if (v) require(v->rfind(prefix(m), 0) == 0, "a session shows another session's value");
      if (m.gone) {
        require(!v, "an ended session still shows a value");
        continue;
      }
      const auto it = m.values.find(key);
      if (it == m.values.end()) {
        require(!v, "a session shows a value it never stored");
      } else if (!v) {
        learn_gone(m, "a live session lost a value");
        require(h.s.ended(), "a value vanished from a session that has not ended");
      } else {
        require(*v == it->second, "a session shows an old value");
      }
    }
  }

  std::size_t model_bytes(const model_session& m) const {
    std::size_t total = 0;
    for (const auto& [k, v] : m.values) total += k.size() + encoded_size(v);
    if (!m.list.empty()) {
      total += list_key.size();
      for (const auto& item : m.list) total += encoded_size(item);
    }
    return total;
  }

  std::string new_value(FuzzedDataProvider& in, model_session& m) {
    return prefix(m) + std::to_string(m.writes++) + ":" +
           std::string(in.ConsumeIntegralInRange<std::size_t>(0, 200), 'x');
  }

  // What a write must do: succeed, hit the quota, or find the session ended.
  template <class Write>
  void write(handle& h, std::size_t old_bytes, std::size_t new_bytes, Write&& apply_to_model,
             const std::function<void()>& call) {
    model_session& m = sessions_[h.model];
    const std::size_t after = model_bytes(m) - old_bytes + new_bytes;
    const bool over_quota =
        new_bytes > old_bytes && after > store_->options().max_bytes_per_session;
    try {
      call();
    } catch (const recall::quota_error&) {
      require(over_quota && !m.gone, "a write within the quota was refused");
      return;
    } catch (const recall::session_error& e) {
      require(e.code() == recall::session_errc::ended, "a write failed with another error");
      learn_gone(m, "a write to a live session was refused as ended");
      require(h.s.ended(), "a write was refused as ended, but the session has not ended");
      return;
    }
    require(!m.gone, "a write to an ended session succeeded");
    require(!over_quota, "a write over the quota succeeded");
    apply_to_model(m);
  }

  void set(FuzzedDataProvider& in) {
    handle* h = pick(in);
    if (!h) return;
    model_session& m = sessions_[h->model];
    const std::string key = value_keys[in.ConsumeIntegralInRange(0, 2)];
    const std::string v = new_value(in, m);
    const auto it = m.values.find(key);
    const std::size_t old_bytes = it == m.values.end() ? 0 : key.size() + encoded_size(it->second);
    write(
        *h, old_bytes, key.size() + encoded_size(v), [&](model_session& s) { s.values[key] = v; },
        [&] { h->s.set(key, v); });
    require(h->s.bytes() <= store_->options().max_bytes_per_session, "a session over its quota");
  }

  void get(FuzzedDataProvider& in) {
    if (handle* h = pick(in)) check_values(*h);
  }

  void erase(FuzzedDataProvider& in) {
    handle* h = pick(in);
    if (!h) return;
    model_session& m = sessions_[h->model];
    const std::string key = value_keys[in.ConsumeIntegralInRange(0, 2)];
    const bool erased = h->s.erase(key);
    if (m.gone) {
      require(!erased, "erase() found a value in an ended session");
      return;
    }
    if (!erased && m.values.contains(key)) {
      learn_gone(m, "erase() did not find a value of a live session");
      require(h->s.ended(), "a value vanished from a session that has not ended");
    }
    m.values.erase(key);
  }

  void push(FuzzedDataProvider& in) {
    handle* h = pick(in);
    if (!h) return;
    model_session& m = sessions_[h->model];
    const std::string item = new_value(in, m);
    std::size_t old_bytes = 0;
    if (!m.list.empty()) {
      old_bytes = list_key.size();
      for (const auto& i : m.list) old_bytes += encoded_size(i);
    }
    std::size_t new_bytes = (m.list.empty() ? list_key.size() : old_bytes) + encoded_size(item);
    if (m.list.size() == list_capacity) new_bytes -= encoded_size(m.list.front());
    write(
        *h, old_bytes, new_bytes,
        [&](model_session& s) {
          s.list.push_back(item);
          if (s.list.size() > list_capacity) s.list.pop_front();
        },
        [&] { h->s.list<std::string>(list_key, list_capacity).push_back(item); });
  }

  void read_list(FuzzedDataProvider& in) {
    handle* h = pick(in);
    if (!h) return;
    model_session& m = sessions_[h->model];
    const std::vector<std::string> items = h->s.list<std::string>(list_key, list_capacity).items();
    for (const auto& i : items) {
      require(i.rfind(prefix(m), 0) == 0, "a session list shows another session's item");
    }
    if (m.gone) {
      require(items.empty(), "an ended session still shows list items");
    } else if (items.empty() && !m.list.empty()) {
      learn_gone(m, "a live session lost its list");
      require(h->s.ended(), "a list vanished from a session that has not ended");
    } else {
      require(std::equal(items.begin(), items.end(), m.list.begin(), m.list.end()),
              "a session list differs from what was pushed");
    }
  }

  void rotate(FuzzedDataProvider& in) {
    handle* h = pick(in);
    if (!h) return;
    model_session& m = sessions_[h->model];
    try {
      h->s.rotate();
    } catch (const recall::session_error& e) {
      require(e.code() == recall::session_errc::ended, "rotate() failed with another error");
      learn_gone(m, "rotate() refused a live session");
      return;
    }
    require(!m.gone, "rotate() succeeded on an ended session");
    require(!expired(m), "rotate() succeeded on an expired session (it must throw ended)");
    retire(m, h->s.id());
  }

  void end(FuzzedDataProvider& in) {
    handle* h = pick(in);
    if (!h) return;
    h->s.end();
    sessions_[h->model].gone = true;
    require(h->s.ended() && !h->s.id_changed(), "end() left the session open");
  }

  void end_all(FuzzedDataProvider& in) {
    const std::string user = users[in.ConsumeIntegralInRange(1, 2)];
    store_->end_all(user);
    for (auto& m : sessions_) {
      if (m.user == user) m.gone = true;
    }
    for (auto& h : handles_) {
      if (sessions_[h.model].user == user) {
        require(h.s.ended(), "end_all() left a session of the user open");
      }
    }
  }

  void check_bounds() {
    const recall::session_stats st = store_->stats();
    // Sessions evicted while a handle held them are kept for their requests,
    // outside the engine and its bounds (docs/sessions.md).
    require(st.live - st.pinned_over_bound <= st.max_sessions,
            "more live sessions than max_sessions");
    require(st.bytes <= st.max_total_bytes, "more bytes than max_total_bytes");
    for (auto& h : handles_) {
      require(h.s.bytes() <= store_->options().max_bytes_per_session, "a session over its quota");
    }
  }

  bool small_;
  std::shared_ptr<recall::manual_clock> clock_;
  std::optional<recall::session_store> store_;
  std::vector<model_session> sessions_;
  std::vector<handle> handles_;
  std::vector<std::string> retired_;
  std::set<std::string> seen_ids_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  FuzzedDataProvider in(bytes, size);
  model m(in.ConsumeBool());
  for (int step = 0; step < 64 && in.remaining_bytes() > 0; ++step) m.step(in);
  return 0;
}
