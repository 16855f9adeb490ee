#pragma once
// Minimal leveled logging to stderr, one line per call, safe from any thread.
//   NR_LOG(kWarning) << "segment " << n << " is short";
// The threshold comes from NEWSREEL_LOG (debug|info|warning|error), default info.

#include <sstream>
#include <string>

namespace newsreel {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

bool LogEnabled(LogLevel level);
void LogLine(LogLevel level, const std::string& line);

class LogMessage {
 public:
  explicit LogMessage(LogLevel level) : level_(level) {}
  ~LogMessage() { LogLine(level_, stream_.str()); }
  std::ostringstream& stream() { return stream_; }

 private:
  LogLevel level_;
  std::ostringstream stream_;
};

}  // namespace newsreel

// A for-statement rather than if/else, so that NR_LOG inside an unbraced if has no dangling else.
#define NR_LOG(level)                                                                         \
  for (bool nr_log_once_ = ::newsreel::LogEnabled(::newsreel::LogLevel::level); nr_log_once_; \
       nr_log_once_ = false)                                                                  \
  ::newsreel::LogMessage(::newsreel::LogLevel::level).stream()
