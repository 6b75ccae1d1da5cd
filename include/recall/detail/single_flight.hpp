// Single-flight: among concurrent callers for one key, one runs the
// computation and the others wait for its result or its exception. Callers of
// different keys never wait for each other (the table lock is held only to
// find or create a flight, never during a computation).
//
// Thread safety: run() may be called concurrently.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <array>
#include <condition_variable>
#include <mutex>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

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
    auto& flights = active_flights();
    for (const auto& [table, active] : flights) {
      if (table == this && active == k) {
        throw recursive_call_error("recall: '" + name +
                                   "' called itself with the same arguments while computing "
                                   "them; the inner call would wait for itself forever");
      }
    }
    shard& s = shards_[k.high % shards_.size()];
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

    flights.emplace_back(this, k);
    try {
      R result = compute();
      flights.pop_back();
      finish(s, k, *f, std::move(result), nullptr);
      return f->wait();
    } catch (...) {
      flights.pop_back();
      finish(s, k, *f, std::nullopt, std::current_exception());
      throw;
    }
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
    absl::flat_hash_map<key, std::shared_ptr<flight>> flights;
  };

  void finish(shard& s, const key& k, flight& f, std::optional<R> value, std::exception_ptr error) {
    {
      std::lock_guard lock(s.mu);
      s.flights.erase(k);
    }
    {
      std::lock_guard lock(f.mu);
      f.value = std::move(value);
      f.error = error;
      f.done = true;
    }
    f.finished.notify_all();
  }

  std::array<shard, 16> shards_;
};

}  // namespace recall::detail
