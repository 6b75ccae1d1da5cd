// tests/support/child_process.hpp: another program started by a test, with
// its standard output captured; killed (SIGKILL) and reaped by the destructor
// if the test did not wait for it.
//
// Thread safety: none; one thread owns a child_process.
//
//   recall::test::child_process other(RECALL_SESSION_REPLICA, {"6379", "read", id});
//   auto [status, out] = other.finish();
#pragma once

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

extern char** environ;

namespace recall::test {

class child_process {
 public:
  child_process(const std::string& program, std::vector<std::string> args) {
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("child_process: pipe() failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    args.insert(args.begin(), program);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, program.c_str(), &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    output_fd_ = out[0];
    if (rc != 0) {
      ::close(output_fd_);
      throw std::runtime_error("child_process: cannot start " + program);
    }
  }
  ~child_process() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(output_fd_);
  }
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  // Waits for the exit: its status (-1 if killed by a signal) and what it printed.
  std::pair<int, std::string> finish() {
    std::string text;
    char buffer[4096];
    for (ssize_t n; (n = ::read(output_fd_, buffer, sizeof(buffer))) > 0;) {
      text.append(buffer, static_cast<std::size_t>(n));
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text};
  }

 private:
  pid_t pid_ = -1;
  int output_fd_ = -1;
};

}  // namespace recall::test
