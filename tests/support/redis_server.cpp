#include "support/redis_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace recall::test {
namespace {

using namespace std::chrono_literals;

constexpr auto start_timeout = 10s;
constexpr int start_attempts = 5;

std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/local/bin:/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

// A port nobody listens on right now: the kernel's pick for 127.0.0.1:0.
std::uint16_t free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    throw std::runtime_error("redis_server: socket() failed: " + std::string(strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const std::string reason = strerror(errno);
    ::close(fd);
    throw std::runtime_error("redis_server: cannot pick a free loopback port: " + reason);
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

// One PING over a fresh loopback connection: "+PONG", or the server's
// refusal when it requires authentication, means it is serving; "-LOADING"
// (replaying its AOF) or no answer means not yet.
bool answers_ping(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  timeval tv{0, 200'000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::send(fd, "PING\r\n", 6, MSG_NOSIGNAL) == 6) {
    char buf[64] = {};
    const ssize_t n = ::recv(fd, buf, sizeof buf - 1, 0);
    const std::string reply(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
    ok = reply.starts_with("+PONG") || reply.starts_with("-NOAUTH") ||
         reply.starts_with("-NOPERM") || reply.starts_with("-WRONGPASS");
  }
  ::close(fd);
  return ok;
}

}  // namespace

redis_server::redis_server(redis_server_options options) : options_(std::move(options)) {
  executable_ = find_on_path("redis-server");
  if (executable_.empty()) {
    throw std::runtime_error(
        "redis-server is not on PATH: the Redis tests start a real server. Run scripts/deps.sh "
        "(it installs the Debian package redis-server), or put redis-server on PATH");
  }
  std::string pattern = (std::filesystem::temp_directory_path() / "recall-redis-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("redis_server: mkdtemp failed: " + std::string(strerror(errno)));
  }
  dir_ = pattern;
  for (int attempt = 0; attempt < start_attempts; ++attempt) {
    port_ = free_loopback_port();
    if (start()) return;
  }
  const std::string last_log = log();
  std::filesystem::remove_all(dir_);
  throw std::runtime_error("redis_server: redis-server did not start in " +
                           std::to_string(start_attempts) + " attempts. Its log:\n" + last_log);
}

redis_server::~redis_server() {
  if (running()) {
    ::kill(pid_, SIGKILL);
    reap();
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string redis_server::unix_socket() const {
  return options_.unix_socket ? (dir_ / "redis.sock").string() : std::string();
}

void redis_server::write_config() const {
  std::ofstream conf(dir_ / "redis.conf", std::ios::trunc);
  conf << "bind 127.0.0.1\n"
       << "protected-mode yes\n"
       << "port " << port_ << "\n"
       << "dir \"" << dir_.string() << "\"\n"
       << "daemonize no\n"
       << "logfile \"" << (dir_ / "redis.log").string() << "\"\n"
       << "save \"\"\n";
  if (options_.append_only) {
    conf << "appendonly yes\nappendfsync always\n";
  } else {
    conf << "appendonly no\n";
  }
  if (options_.unix_socket) conf << "unixsocket \"" << unix_socket() << "\"\nunixsocketperm 700\n";
  if (!options_.requirepass.empty()) conf << "requirepass \"" << options_.requirepass << "\"\n";
  for (const auto& user : options_.acl_users) conf << "user " << user << "\n";
  if (options_.default_user_off) conf << "user default off\n";
  for (const auto& line : options_.config) conf << line << "\n";
  if (!conf)
    throw std::runtime_error("redis_server: cannot write " + (dir_ / "redis.conf").string());
}

bool redis_server::start() {
  write_config();
  const std::string conf = (dir_ / "redis.conf").string();
  const std::string out = (dir_ / "redis.out").string();
  // Everything the child needs is prepared before fork(): after it, only
  // async-signal-safe calls.
  const int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (out_fd < 0) throw std::runtime_error("redis_server: cannot open " + out);
  std::vector<char*> argv = {executable_.data(), const_cast<char*>(conf.c_str()), nullptr};
  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child < 0) {
    ::close(out_fd);
    throw std::runtime_error("redis_server: fork failed: " + std::string(strerror(errno)));
  }
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(1);
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(out_fd, STDERR_FILENO);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  ::close(out_fd);
  pid_ = child;
  if (wait_until_answering()) return true;
  if (running()) {
    ::kill(pid_, SIGKILL);
    reap();
  }
  return false;
}

bool redis_server::wait_until_answering() {
  const auto until = std::chrono::steady_clock::now() + start_timeout;
  while (std::chrono::steady_clock::now() < until) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    if (answers_ping(port_)) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

void redis_server::reap() {
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

void redis_server::kill(int signal) {
  if (!running()) throw std::logic_error("redis_server::kill: the server is not running");
  ::kill(pid_, signal);
  if (signal == SIGKILL) reap();
}

void redis_server::restart() {
  if (running()) kill(SIGKILL);
  // The port is ours (SO_REUSEADDR in redis-server); a few tries cover a
  // slow exit of the previous process.
  for (int attempt = 0; attempt < start_attempts; ++attempt) {
    if (start()) return;
    std::this_thread::sleep_for(100ms);
  }
  throw std::runtime_error("redis_server: restart on port " + std::to_string(port_) +
                           " failed. Its log:\n" + log());
}

void redis_server::stop() {
  if (!running()) return;
  ::kill(pid_, SIGCONT);  // a frozen server cannot handle SIGTERM
  ::kill(pid_, SIGTERM);
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < until) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(10ms);
  }
  kill(SIGKILL);
}

std::string redis_server::log() const {
  std::string text;
  for (const char* name : {"redis.out", "redis.log"}) {
    std::ifstream in(dir_ / name);
    if (!in) continue;
    std::stringstream buffer;
    buffer << in.rdbuf();
    text += buffer.str();
  }
  return text;
}

}  // namespace recall::test
