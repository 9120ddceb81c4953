#pragma once

// Errors as values. Fallible functions return Result<T>, which follows std::expected's interface
// so that it can become an alias for it once the toolchain allows.

#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "common/check.h"

namespace cairn {

enum class ErrorCode {
  kNotFound,
  kAlreadyExists,
  kConflict,
  kInvalidArgument,
  kUnauthenticated,
  kPermissionDenied,
  kQuotaExceeded,
  kStorageFull,  // The disk (or the database) has no room left: ENOSPC, SQLITE_FULL.
  kTooLarge,
  kCorrupt,
  kUnavailable,
  kIo,
  kInternal,
};

// Stable lower-case name used on the wire ("not_found") and in logs.
std::string_view error_code_name(ErrorCode code);
// Inverse of error_code_name; unknown names map to kInternal.
ErrorCode error_code_from_name(std::string_view name);

class Error {
 public:
  Error(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // True when the same request may succeed later unchanged.
  bool retryable() const { return code_ == ErrorCode::kUnavailable; }

  // Returns this error with "what: " in front of its message, for callers passing it up.
  Error with_context(std::string_view what) const& {
    return Error(code_, std::string(what) + ": " + message_);
  }
  Error with_context(std::string_view what) && {
    message_.insert(0, std::string(what) + ": ");
    return std::move(*this);
  }

 private:
  ErrorCode code_;
  std::string message_;
};

// Mirrors std::unexpected so that `return Unexpected(err)` reads like expected code.
struct Unexpected {
  explicit Unexpected(Error e) : error(std::move(e)) {}
  Error error;
};

inline Unexpected make_error(ErrorCode code, std::string message) {
  return Unexpected(Error(code, std::move(message)));
}

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}         // NOLINT: implicit
  Result(Unexpected u) : state_(std::in_place_index<1>, std::move(u.error)) {}  // NOLINT
  Result(Error e) : state_(std::in_place_index<1>, std::move(e)) {}             // NOLINT

  bool has_value() const { return state_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & {
    CAIRN_CHECK(has_value());
    return std::get<0>(state_);
  }
  const T& value() const& {
    CAIRN_CHECK(has_value());
    return std::get<0>(state_);
  }
  T&& value() && {
    CAIRN_CHECK(has_value());
    return std::get<0>(std::move(state_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const& {
    CAIRN_CHECK(!has_value());
    return std::get<1>(state_);
  }
  Error&& error() && {
    CAIRN_CHECK(!has_value());
    return std::get<1>(std::move(state_));
  }

 private:
  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Unexpected u) : error_(std::move(u.error)), ok_(false) {}  // NOLINT: implicit
  Result(Error e) : error_(std::move(e)), ok_(false) {}             // NOLINT: implicit

  bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  void value() const { CAIRN_CHECK(ok_); }

  const Error& error() const& {
    CAIRN_CHECK(!ok_);
    return error_;
  }
  Error&& error() && {
    CAIRN_CHECK(!ok_);
    return std::move(error_);
  }

 private:
  Error error_{ErrorCode::kInternal, ""};
  bool ok_ = true;
};

}  // namespace cairn

// Evaluates a Result<void> expression and returns its error from the enclosing function.
#define CAIRN_RETURN_IF_ERROR(expr)                              \
  do {                                                           \
    auto cairn_status_ = (expr);                                 \
    if (!cairn_status_) return std::move(cairn_status_).error(); \
  } while (false)

#define CAIRN_CONCAT_INNER_(a, b) a##b
#define CAIRN_CONCAT_(a, b) CAIRN_CONCAT_INNER_(a, b)
#define CAIRN_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp) return std::move(tmp).error();           \
  lhs = std::move(tmp).value()

// `CAIRN_ASSIGN_OR_RETURN(auto x, f());` binds x to f()'s value or returns its error.
#define CAIRN_ASSIGN_OR_RETURN(lhs, expr) \
  CAIRN_ASSIGN_OR_RETURN_IMPL_(CAIRN_CONCAT_(cairn_result_, __LINE__), lhs, expr)
