// Sessions in Redis, behind the session_storage seam (docs/redis.md,
// "Sessions"). A handle's record holds the session as open() fetched it (the
// snapshot) plus the request's own writes; every write is one function call
// (session_functions.hpp) that changes one key of the session on the server,
// checking the quota, the kind of the key and the session's liveness there.
//
// Thread safety: as session_storage. A record belongs to one handle (one
// request, one thread at a time), so it needs no lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "recall/detail/session_counters.hpp"
#include "recall/detail/session_storage.hpp"
#include "recall/redis.hpp"
#include "recall/redis_sessions.hpp"
#include "session_format.hpp"
#include "session_functions.hpp"

namespace recall::detail {

struct redis_session_record final : session_record {
  redis_session_record(std::uint64_t tag_, std::string user_, std::int64_t created)
      : session_record(tag_), user(std::move(user_)), created_ms(created) {}

  std::string id;      // empty until stored; the last id once ended
  std::string suffix;  // the key suffix the handle reaches the session by
  std::string user;
  std::int64_t created_ms;
  std::size_t used = 0;  // quota bytes, as the server last said
  bool stored = false;
  bool ended = false;  // as far as this request knows
  // Key (without the '.' of its field) and stored bytes, as open() read them
  // and the request's own writes changed them.
  std::vector<std::pair<std::string, std::string>> values;
};

class redis_session_storage final : public session_storage, private session_counters {
 public:
  redis_session_storage(const session_options& options, std::shared_ptr<redis_client> client,
                        const redis_session_options& redis);
  ~redis_session_storage() override;

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
  // What a handle operation's function answered.
  struct outcome {
    session_reply status = session_reply::ok;
    std::size_t bytes = 0;
    std::size_t extra = 0;  // quota: the entry's bytes; erase: whether it existed
    std::string user;       // rotate: the session's user, when it was not the expected one
  };
  using slot = std::pair<std::string, std::string>;

  std::int64_t now_ms() const;
  // One FCALL, loading the library first when Redis does not have it; a call
  // without a usable reply throws storage_unavailable.
  redis_reply call(const std::string& function, std::span<const std::string_view> args,
                   std::string_view what) const;
  // A handle operation on the record's session (created first when it is not
  // stored yet and `create`). Counts and announces the sessions it ended,
  // follows a rotation, and marks the record ended when the session is gone.
  outcome run(redis_session_record& rec, const std::string& function,
              std::initializer_list<std::string_view> op_args, std::string_view what, bool create);
  // Counts each (cause, tag) pair of a function's reply and announces the tags.
  void apply_ends(const redis_reply& ends) const;

  opened_session fresh(rejected_id_reason reason, std::size_t length, const identity& who,
                       std::int64_t now);
  // The record of a session from its hash's fields; nullptr if its metadata
  // does not verify for this id.
  std::shared_ptr<redis_session_record> resume(const sha256_digest& id_hash, std::string_view id,
                                               std::string suffix, const redis_reply& fields);
  opened_session sign_in(std::shared_ptr<redis_session_record> rec, const identity& who,
                         std::int64_t now);

  static slot* find(redis_session_record& rec, std::string_view key);
  void mark_ended(redis_session_record& rec) const;
  [[noreturn]] void throw_unavailable(std::string_view what, std::string_view why) const;
  [[noreturn]] void throw_corrupt(std::string_view key, std::string_view what,
                                  codec_errc code) const;
  [[noreturn]] void throw_quota(std::string_view key, const outcome& o);
  void check_write(const outcome& o, std::string_view key, std::string_view what);

  const session_options& options_;
  std::shared_ptr<redis_client> client_;
  const std::string prefix_;
  const session_format format_;
  const session_functions functions_;
  mutable std::atomic<std::uint64_t> live_{0};  // the last count Redis gave
  redis_subscription ends_;
};

}  // namespace recall::detail
