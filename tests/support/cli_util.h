// Running the shoal binary from a test: its exit code, stdout and stderr apart.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

namespace shoal {

struct ProcessRun {
  int code = -1;  // the exit code; -1 when killed by a signal
  std::string out, err;
};

// Runs `shoal ARGS` (a shell command line after the binary's path).
inline ProcessRun run_shoal(const std::string& args) {
  static std::atomic<int> counter{0};
  const std::string err_path = testing::TempDir() + "/shoal_cli_stderr_" +
                               std::to_string(getpid()) + "_" + std::to_string(counter++) + ".txt";
  const std::string cmd = std::string(SHOAL_SHOAL_BIN) + " " + args + " 2>" + err_path;
  ProcessRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream f(err_path);
  r.err.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  std::remove(err_path.c_str());
  return r;
}

}  // namespace shoal
