// tests/support/promtool.hpp: Prometheus's own linter on a metrics text.
//
// Runs Debian's `promtool check metrics` (package prometheus) with the text
// on its standard input. A missing promtool is an error telling to run
// scripts/deps.sh test, not a skip.
//
//   auto r = recall::test::promtool_check(text);
//   INFO(r.output);
//   CHECK(r.accepted);
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace recall::test {

struct promtool_result {
  bool accepted = false;
  std::string output;  // what promtool printed (its complaints)
};

inline promtool_result promtool_check(const std::string& text) {
  if (std::system("command -v promtool >/dev/null 2>&1") != 0) {
    throw std::runtime_error(
        "promtool is not installed; run scripts/deps.sh test (Debian package prometheus)");
  }
  const auto path = std::filesystem::temp_directory_path() /
                    ("recall_metrics_" + std::to_string(::getpid()) + ".prom");
  std::ofstream(path, std::ios::binary) << text;
  const std::string command = "promtool check metrics < '" + path.string() + "' 2>&1";
  promtool_result r;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw std::runtime_error("cannot run promtool");
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) r.output.append(buf, n);
  const int status = ::pclose(pipe);
  std::filesystem::remove(path);
  r.accepted = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return r;
}

}  // namespace recall::test
