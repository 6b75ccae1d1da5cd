// Sessions in this process: each session is one entry of the engine
// (detail/engine.hpp), weighted by the heap it holds, with the session's
// deadline and a priority class (anonymous sessions are evicted first).
// A per-user index serves end_all() and max_sessions_per_user.
//
// Thread safety: as session_storage.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "recall/detail/engine.hpp"
#include "recall/detail/session_counters.hpp"
#include "recall/detail/session_state.hpp"
#include "recall/detail/session_storage.hpp"
#include "recall/detail/session_user_index.hpp"
#include "recall/export.hpp"

namespace recall {
struct session_options;
}

namespace recall::detail {

class RECALL_EXPORT local_session_storage final : public session_storage, private session_counters {
 public:
  explicit local_session_storage(const session_options& options);
  ~local_session_storage() override;

  opened_session open(std::string_view id, const identity& who) override;
  void release(const record_ptr& r) noexcept override;
  std::string id(const record_ptr& r) override;
  std::string user(const record_ptr& r) override;
  session_status status(const record_ptr& r) override;
  std::size_t bytes(const record_ptr& r) override;
  bool read(const record_ptr& r, std::string_view key, std::uint64_t current_version,
            function_ref<void(const value_read&)> found) override;
  void write(const record_ptr& r, std::string_view key, value_write value) override;
  bool contains(const record_ptr& r, std::string_view key) override;
  bool erase(const record_ptr& r, std::string_view key) override;
  void clear(const record_ptr& r) override;
  void list_push(const record_ptr& r, std::string_view key, std::size_t n,
                 std::string item) override;
  std::size_t list_read(const record_ptr& r, std::string_view key, std::size_t n, std::size_t first,
                        std::size_t count, function_ref<void(std::string_view)> item) override;
  void map_put(const record_ptr& r, std::string_view key, std::size_t n, std::string k,
               std::string v) override;
  bool map_get(const record_ptr& r, std::string_view key, std::string_view k,
               function_ref<void(std::string_view)> value) override;
  bool map_contains(const record_ptr& r, std::string_view key, std::string_view k) override;
  bool map_erase(const record_ptr& r, std::string_view key, std::string_view k) override;
  std::size_t map_read(const record_ptr& r, std::string_view key,
                       function_ref<void(std::string_view, std::string_view)> entry) override;
  void rotate(const record_ptr& r) override;
  void end(const record_ptr& r) override;
  std::size_t end_all(std::string_view user) override;
  std::size_t cleanup() override;
  session_stats stats() const override;

 private:
  using state_ptr = std::shared_ptr<session_state>;
  enum class end_cause { ended, user_limit, expired_idle, expired_absolute, evicted };

  key key_of(std::string_view id) const;
  void on_removal(const key& k, state_ptr&& st, removal_cause cause);
  opened_session fresh(std::optional<rejected_id_reason> reason, std::size_t length,
                       const identity& who, time_point now);
  opened_session sign_in(const state_ptr& st, const identity& who, time_point now);
  // Gives a fresh session its id and puts it in the engine (first write).
  void store(const state_ptr& st);
  // Binds `st` to its user in the index; ends the user's oldest sessions past
  // the limit. False if `st` ended or was bound to someone else meanwhile.
  bool index(const state_ptr& st, std::string_view user);
  void insert(const state_ptr& st, const key& k, std::size_t weight, time_point deadline,
              bool identified);
  void finish_end(session_state& st, std::string_view user, end_cause cause);
  void end_state(const state_ptr& st, end_cause cause);
  end_cause expiry_of(const session_state& st, time_point deadline) const noexcept;
  struct weight_change {
    key k;
    std::size_t weight;
  };
  // The heap `st` holds, as accounted (under st.mu).
  std::size_t weight_of(const session_state& st) const noexcept;
  // Under st.mu: the weight the engine must learn, if it changed.
  std::optional<weight_change> take_weight(session_state& st) const noexcept;
  // After st.mu is released: tells the engine.
  void publish(const std::optional<weight_change>& change);
  void check_quota(session_state& st, std::string_view key, std::size_t old_bytes,
                   std::size_t new_bytes);
  std::unique_lock<small_mutex> lock_for_write(session_state& st);
  // Under st.mu: keeps `st` alive while it is pinned outside the engine (a
  // borrowing handle holds no reference). Idempotent. Running out of memory
  // here terminates: a pinned state that nothing keeps would be read after
  // it is freed.
  void keep_while_pinned(session_state& st) noexcept;
  // Under st.mu, at its last release, if st.kept: the reference
  // keep_while_pinned took.
  state_ptr take_kept(session_state& st) noexcept;

  const session_options& options_;
  const std::uint64_t seed_;
  const duration granularity_;  // how far an open may move a deadline before the engine learns it
  std::atomic<std::uint64_t> detached_{0};
  session_user_index users_;
  // States out of the engine with a handle still open (evicted, expired or
  // ended under a request): rare, so one lock. Destroyed after engine_.
  small_mutex kept_mu_;
  absl::flat_hash_map<const session_state*, state_ptr> kept_;
  engine<state_ptr> engine_;
};

}  // namespace recall::detail
