#pragma once
// Errors as values (LevelDB's Status, Abseil's StatusOr): functions that can fail for a reason
// the caller must handle return a Status or a Result<T>, never a bare bool.

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace newsreel {

enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,     // the caller's input is wrong (bad flag, not a media file, ...)
  kNotFound,            // a file, row or element does not exist
  kAlreadyExists,       // refused to overwrite something
  kFailedPrecondition,  // the system is not in a state that allows this
  kUnsupported,         // understood, but we cannot do it (codec without a decoder, ...)
  kIo,                  // the filesystem or a socket failed
  kTimeout,             // something took longer than its limit
  kCancelled,           // stopped on request
  kInternal,            // a bug or an unexpected library failure
};

// Stable lower-case name of a code ("invalid_argument"), used in JSON and logs.
const char* ErrorCodeName(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "invalid_argument: not a media file" or "ok".
  std::string ToString() const;

  // Returns a copy whose message is "context: message"; keeps the code.
  Status WithContext(const std::string& context) const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {ErrorCode::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {ErrorCode::kNotFound, std::move(m)}; }
inline Status Unsupported(std::string m) { return {ErrorCode::kUnsupported, std::move(m)}; }
inline Status IoError(std::string m) { return {ErrorCode::kIo, std::move(m)}; }
inline Status Internal(std::string m) { return {ErrorCode::kInternal, std::move(m)}; }

// Either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {
    if (status_.ok()) status_ = Internal("Result constructed from an OK status without a value");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }
  const T& operator*() const { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace newsreel

// Returns the status from the enclosing function when it is not OK.
#define NR_RETURN_IF_ERROR(expr)             \
  do {                                       \
    ::newsreel::Status nr_status_ = (expr);  \
    if (!nr_status_.ok()) return nr_status_; \
  } while (0)
