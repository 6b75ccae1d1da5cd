// Single-flight: among concurrent callers for one key, one runs the
// computation and the others wait for its result or its exception. Callers of
// different keys never wait for each other (the table lock is held only to
// find or create a flight, never during a computation).
//
// The leader's bookkeeping (this thread's stack of running flights, the
// table entry, the waiters' wake-up) happens exactly once however the
// computation ends, including when storing its result throws: that exception
// then reaches the leader and every waiter.
//
// Thread safety: run() may be called concurrently.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <array>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "recall/detail/table_hash.hpp"
#include "recall/error.hpp"
#include "recall/export.hpp"
#include "recall/key.hpp"

namespace recall::detail {

// The (table, key) pairs whose computation this thread is running, to report
// a computation that calls itself instead of waiting for itself forever. The
// list lives in the library, not in an inline variable: every module of a
// program (a plugin built with hidden visibility too) must see the same one.
RECALL_EXPORT std::vector<std::pair<const void*, key>>& active_flights() noexcept;

template <class R>
class single_flight {
 public:
  // Returns compute()'s result, or the result of the concurrent call already
  // computing `k`. Throws what compute() threw, to every waiter.
  template <class F>
  R run(const key& k, const std::string& name, F&& compute) {
    auto& running = active_flights();
    for (const auto& [table, active] : running) {
      if (table == this && active == k) {
        throw recursive_call_error("recall: '" + name +
                                   "' called itself with the same arguments while computing "
                                   "them; the inner call would wait for itself forever");
      }
    }
    shard& s = shards_[secret_key_hash{}(k) % shards_.size()];
    std::shared_ptr<flight> f;
    bool leader = false;
    {
      std::lock_guard lock(s.mu);
      auto& slot = s.flights[k];
      if (!slot) {
        slot = std::make_shared<flight>();
        leader = true;
      }
      f = slot;
    }
    if (!leader) return f->wait();

    std::optional<R> result;
    std::exception_ptr error;
    try {
      running.emplace_back(this, k);
      const active_flight mark;
      result.emplace(compute());
    } catch (...) {
      error = std::current_exception();
    }
    finish(s, k, *f, std::move(result), error);
    return f->wait();
  }

 private:
  struct flight {
    std::mutex mu;
    std::condition_variable finished;
    bool done = false;
    std::optional<R> value;
    std::exception_ptr error;

    R wait() {
      std::unique_lock lock(mu);
      finished.wait(lock, [this] { return done; });
      if (error) std::rethrow_exception(error);
      return *value;
    }
  };

  struct shard {
    std::mutex mu;
    absl::flat_hash_map<key, std::shared_ptr<flight>, secret_key_hash> flights;
  };

  // Pops this thread's flight mark when the computation ends, however it ends.
  struct active_flight {
    active_flight() = default;
    active_flight(const active_flight&) = delete;
    active_flight& operator=(const active_flight&) = delete;
    ~active_flight() { active_flights().pop_back(); }
  };

  // Once per flight. Storing the value may throw (R's move constructor); the
  // flight then ends with that exception instead.
  void finish(shard& s, const key& k, flight& f, std::optional<R>&& value,
              std::exception_ptr error) noexcept {
    {
      std::lock_guard lock(s.mu);
      s.flights.erase(k);
    }
    {
      std::lock_guard lock(f.mu);
      if (!error) {
        try {
          f.value = std::move(value);
        } catch (...) {
          error = std::current_exception();
        }
      }
      f.error = error;
      f.done = true;
    }
    f.finished.notify_all();
  }

  std::array<shard, 16> shards_;
};

}  // namespace recall::detail
