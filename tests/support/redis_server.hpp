// tests/support/redis_server.hpp: a real redis-server for tests, started and
// stopped by the test itself (library recall_redis_test_server, linked into
// every tests/redis_*_test.cpp).
//
// Each redis_server runs Debian's `redis-server` as a child process (fork and
// exec, no shell) bound to 127.0.0.1 on a free port (found by binding port 0;
// the start is retried on another port if that one was taken meanwhile), in a
// fresh temporary directory with its own generated redis.conf. Persistence is
// off unless append_only is set. The constructor returns once the server
// answers PING. The destructor always kills and reaps the child (also when a
// test fails with an exception) and removes the directory; if the test
// process dies, the kernel kills the child (PR_SET_PDEATHSIG).
//
// A missing redis-server is an error, not a skip: the constructor throws
// std::runtime_error telling to run scripts/deps.sh.
//
// Thread safety: none; create, restart and destroy a server on the test's
// main thread (the death signal is tied to the thread that started the
// child). port(), host(), unix_socket() may be read from any thread.
//
//   recall::test::redis_server server({.append_only = true});
//   recall::redis_client client({.port = server.port()});
//   server.kill();     // SIGKILL: the client now sees a dead server
//   server.restart();  // same port, same directory: the AOF data is back
#pragma once

#include <sys/types.h>

#include <csignal>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace recall::test {

struct redis_server_options {
  // appendonly yes and appendfsync always: every acknowledged write survives
  // kill() and comes back with restart().
  bool append_only = false;
  // Also listen on <dir>/redis.sock (see unix_socket()).
  bool unix_socket = false;
  // The default user's password (clients use the legacy AUTH password).
  std::string requirepass{};
  // ACL users, as redis.conf `user` rules without the word `user`, e.g.
  // "app on >secret ~recall:* &recall:* +@all".
  std::vector<std::string> acl_users{};
  // "user default off": only the ACL users above can authenticate.
  bool default_user_off = false;
  // More redis.conf lines, e.g. "maxmemory 1mb".
  std::vector<std::string> config{};
};

class redis_server {
 public:
  explicit redis_server(redis_server_options options = {});
  ~redis_server();
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  const std::string& host() const noexcept { return host_; }  // always 127.0.0.1
  std::uint16_t port() const noexcept { return port_; }
  // The socket path, empty unless options.unix_socket.
  std::string unix_socket() const;
  const std::filesystem::path& dir() const noexcept { return dir_; }
  pid_t pid() const noexcept { return pid_; }
  bool running() const noexcept { return pid_ > 0; }

  // Sends `signal`; for SIGKILL also waits until the process is gone.
  void kill(int signal = SIGKILL);
  void freeze() { kill(SIGSTOP); }  // the process stops: connections hang, nothing answers
  void thaw() { kill(SIGCONT); }
  // Kills (SIGKILL) the server if it runs, then starts it again on the same
  // port in the same directory, and waits until it answers.
  void restart();
  // SIGTERM (a clean shutdown), then SIGKILL after 5 s.
  void stop();

  // The server's log, for failure messages.
  std::string log() const;

 private:
  void write_config() const;
  // False when the server exited before answering (e.g. the port was taken).
  bool start();
  bool wait_until_answering();
  void reap();

  redis_server_options options_;
  std::string executable_;
  std::string host_ = "127.0.0.1";
  std::uint16_t port_ = 0;
  std::filesystem::path dir_;
  pid_t pid_ = -1;
};

}  // namespace recall::test
