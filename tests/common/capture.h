#pragma once
// The standard output of a shell command, for tests that ask ffprobe or ffmpeg what a file
// holds. Empty when the command cannot be started.
#include <cstdio>
#include <string>

namespace newsreel::test_support {

inline std::string Capture(const std::string& command) {
  std::string out;
  FILE* f = popen(command.c_str(), "r");
  if (f == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  pclose(f);
  return out;
}

}  // namespace newsreel::test_support
