// A second process for the Redis session tests: one replica of a service,
// with one session_store on Redis, doing one scripted thing and printing
// what it saw (tests/redis_session_fleet_test.cpp).
//
//   session_replica <port> <secret> create <user|-> <count>
//     stores <count> sessions holding v=1 (bound to <user>); prints each id.
//   session_replica <port> <secret> read <id> <user|-> <key>
//     prints "value=<int>", or "fresh=<reason>" when the id resumed nothing.
//   session_replica <port> <secret> write <id> <prefix> <rounds> <barrier>
//     once <barrier> exists: <rounds> requests, each setting <prefix><i> = i.
//   session_replica <port> <secret> push <id> <who> <count> <n> <barrier>
//     once <barrier> exists: <count> requests, each pushing (who, i) into the
//     list "log" of capacity <n>.
//   session_replica <port> <secret> fill <id> <prefix> <count> <barrier>
//     once <barrier> exists: <count> requests each setting <prefix><i> to 100
//     bytes, under a quota of 4000 bytes; prints "refused=<quota errors>".
//   session_replica <port> <secret> sign_in <user> <count> <barrier>
//     once <barrier> exists: <count> sessions bound to <user>, at most 3 per
//     user; prints each id.
//   session_replica <port> <secret> hold <id> <ready> <go>
//     opens <id>, sets <ready>, waits for <go>, then writes: prints "ended",
//     "written" or "error=<what>".
//   session_replica <port> <secret> end <id>
//   session_replica <port> <secret> load <milliseconds> <barrier>
//     once <barrier> exists: requests on 8 sessions of its own until the time
//     is up, Redis outages included; prints "ok=<n> unavailable=<n> bad=<n>"
//     (bad: any other error, or a value that is not the session's own).
#include <cereal/types/utility.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <recall/redis_sessions.hpp>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

struct replica {
  std::shared_ptr<recall::redis_client> client;
  recall::session_store store;

  replica(int port, const std::string& secret, std::size_t quota, std::size_t per_user)
      : client(std::make_shared<recall::redis_client>(recall::redis_options{
            .port = static_cast<std::uint16_t>(port), .command_timeout = 1s})),
        store({.max_bytes_per_session = quota,
               .max_sessions_per_user = per_user,
               .storage = recall::redis_sessions(client, {.secret = secret})}) {}

  void wait_for(const std::string& key) {
    while (client->command({"EXISTS", key}).integer() == 0) std::this_thread::sleep_for(1ms);
  }
};

recall::identity who_of(const std::string& user) {
  return user == "-" ? recall::identity{} : recall::identity{.user = user};
}

int load(replica& r, int ms, const std::string& barrier) {
  std::vector<std::string> ids;
  for (int i = 0; i < 8; ++i) {
    auto s = r.store.open("");
    s.set("owner", i);
    ids.push_back(s.id());
  }
  r.wait_for(barrier);
  long ok = 0, unavailable = 0, bad = 0;
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  for (int n = 0; std::chrono::steady_clock::now() < end; ++n) {
    const int i = n % 8;
    try {
      auto s = r.store.open(ids[i]);
      if (s.is_new()) {
        s.set("owner", i);  // lost with an unpersisted Redis: start again
        ids[i] = s.id();
      } else if (s.get<int>("owner") != i) {
        ++bad;
      }
      s.set("n", n);
      ++ok;
    } catch (const recall::session_error& e) {
      (e.code() == recall::session_errc::storage_unavailable ? unavailable : bad) += 1;
      std::this_thread::sleep_for(1ms);
    } catch (...) {
      ++bad;
    }
  }
  std::printf("ok=%ld unavailable=%ld bad=%ld\n", ok, unavailable, bad);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> a(argv + 1, argv + argc);
  if (a.size() < 3) return 64;
  const int port = std::stoi(a[0]);
  const std::string command = a[2];
  // The quota and per-user tests run with small bounds (the test's replica too).
  replica r(port, a[1], command == "fill" ? 4000 : 256 << 10, command == "sign_in" ? 3 : 16);
  if (command == "create" && a.size() == 5) {
    for (int i = 0; i < std::stoi(a[4]); ++i) {
      auto s = r.store.open("", who_of(a[3]));
      s.set("v", 1);
      std::printf("%s\n", s.id().c_str());
    }
    return 0;
  }
  if (command == "read" && a.size() == 6) {
    auto s = r.store.open(a[3], who_of(a[4]));
    if (s.is_new()) {
      std::printf("fresh=%s\n", recall::to_string(*s.rejected_reason()));
    } else {
      std::printf("value=%d\n", s.get<int>(a[5]).value_or(-1));
    }
    return 0;
  }
  if (command == "write" && a.size() == 7) {
    r.wait_for(a[6]);
    for (int i = 0; i < std::stoi(a[5]); ++i) r.store.open(a[3]).set(a[4] + std::to_string(i), i);
    return 0;
  }
  if (command == "push" && a.size() == 8) {
    r.wait_for(a[7]);
    const int who = std::stoi(a[4]);
    const auto n = static_cast<std::size_t>(std::stoul(a[6]));
    for (int i = 0; i < std::stoi(a[5]); ++i) {
      r.store.open(a[3]).list<std::pair<int, int>>("log", n).push_back({who, i});
    }
    return 0;
  }
  if (command == "fill" && a.size() == 7) {
    r.wait_for(a[6]);
    int refused = 0;
    for (int i = 0; i < std::stoi(a[5]); ++i) {
      try {
        r.store.open(a[3]).set(a[4] + std::to_string(i), std::string(100, 'f'));
      } catch (const recall::quota_error&) {
        ++refused;
      }
    }
    std::printf("refused=%d\n", refused);
    return 0;
  }
  if (command == "sign_in" && a.size() == 6) {
    r.wait_for(a[5]);
    for (int i = 0; i < std::stoi(a[4]); ++i) {
      auto s = r.store.open("", who_of(a[3]));
      s.set("v", 1);
      std::printf("%s\n", s.id().c_str());
    }
    return 0;
  }
  if (command == "hold" && a.size() == 6) {
    auto s = r.store.open(a[3]);
    if (s.is_new()) return 3;
    r.client->command({"SET", a[4], "1"});
    r.wait_for(a[5]);
    try {
      s.set("late", 1);
      std::printf("written\n");
    } catch (const recall::session_error& e) {
      if (e.code() == recall::session_errc::ended) {
        std::printf("ended\n");
      } else {
        std::printf("error=%s\n", e.what());
      }
    }
    return 0;
  }
  if (command == "end" && a.size() == 4) {
    auto s = r.store.open(a[3]);
    if (s.is_new()) return 3;
    s.end();
    return 0;
  }
  if (command == "load" && a.size() == 5) return load(r, std::stoi(a[3]), a[4]);
  std::fprintf(stderr, "usage: session_replica <port> <secret> <command> ... (see the source)\n");
  return 64;
}
