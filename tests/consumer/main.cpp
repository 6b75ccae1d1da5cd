// The program every consumer test builds: recall used the way a service uses
// it (a memoized function, a shared object, a session), through each way of
// adding recall to a project (find_package, add_subdirectory, FetchContent,
// pkg-config, Conan, vcpkg), as a static and as a shared library. It prints
// what failed and exits non-zero.
#include <cstdio>
#include <memory>
#include <recall/recall.hpp>
#include <string>

#ifdef RECALL_CONSUMER_PLUGIN
#include "plugin.hpp"
#endif
#ifdef RECALL_CONSUMER_REDIS
#include <recall/redis.hpp>
#endif

namespace {

int failures = 0;

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "consumer: FAILED: %s\n", what);
    ++failures;
  }
}

}  // namespace

int main() {
  using namespace std::chrono_literals;

  int loads = 0;
  auto square = recall::cache_data(
      [&](int x) {
        ++loads;
        return x * x;
      },
      {.name = "square", .ttl = 1min});
  check(square(7) == 49 && square(7) == 49 && loads == 1, "cache_data computes once per key");

  auto pool = recall::cache_resource(
      [](const std::string& dsn) { return std::make_shared<std::string>("pool for " + dsn); },
      {.name = "pool", .ttl = 1h});
  check(pool("db1") == pool("db1") && pool("db1") != pool("db2"),
        "cache_resource shares one object per argument list");

  recall::session_store sessions({.max_sessions = 100, .max_bytes_per_session = 4096});
  std::string id;
  {
    recall::session s = sessions.open("");
    s.set("region", std::string("EU"));
    id = s.id();
    check(s.is_new() && recall::is_well_formed_session_id(id), "a fresh session has a good id");
    // Thrown inside librecall, caught here by its type.
    bool refused = false;
    try {
      s.set("blob", std::string(8192, 'x'));
    } catch (const recall::quota_error& e) {
      refused = e.limit() == 4096;
    }
    check(refused, "a write over the session quota throws recall::quota_error");
  }
  {
    recall::session s = sessions.open(id);
    check(!s.is_new() && s.get<std::string>("region") == "EU", "a session resumes by its id");
  }

#ifdef RECALL_CONSUMER_PLUGIN
  // A computation that calls itself through another module of the program
  // (built with hidden visibility) is reported, not left waiting for itself.
  const recall::cached_function<int(int)>* self = nullptr;
  auto again = recall::cache_data([&](int x) { return call_through_plugin(*self, x); },
                                  {.name = "again", .ttl = 1min});
  self = &again;
  bool reported = false;
  try {
    again(3);
  } catch (const recall::recursive_call_error&) {
    reported = true;
  }
  check(reported, "recursion through a hidden-visibility module is a recursive_call_error");
#endif

  // The engine's per-thread read record is registered once per thread, even
  // though each module of the program reads it through its own copy of an
  // inline variable (a shared librecall keeps the library's copy to itself).
  recall::detail::epoch::record* const record = &recall::detail::epoch::this_thread();
  square(7);
  check(&recall::detail::epoch::this_thread() == record,
        "a thread keeps one epoch record across reads from this executable");

#ifdef RECALL_CONSUMER_REDIS
  // recall::redis links; its client connects on first use only.
  const recall::redis_client lazy({.port = 1});
  const recall::redis_script script("return 1");
  check(script.sha1() == "e0e1f9fabfc9d4800c877a703b823ac0578ff8db" && lazy.prefix() == "recall:",
        "recall::redis makes a client and a script");
#endif

  std::printf("consumer: recall %s, %d failure(s)\n", recall::version_string, failures);
  return failures == 0 ? 0 : 1;
}
