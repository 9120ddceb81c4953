#pragma once

#include "common/error.h"

namespace cairn::cli {

// Exit codes of `cairn`, documented in `cairn --help` and docs/cli.md. Scripts rely on them.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;         // I/O or internal failure; some paths not synced.
inline constexpr int kExitUsage = 2;         // Bad flags, bad path, bad input.
inline constexpr int kExitConflict = 3;      // Finished, but conflicts need attention.
inline constexpr int kExitUnavailable = 4;   // Server unreachable or overloaded.
inline constexpr int kExitUnauthorized = 5;  // No token, wrong token, or not allowed.
inline constexpr int kExitNotFound = 6;      // Remote path or working copy not found.
inline constexpr int kExitCorrupt = 7;       // Data failed hash verification.
inline constexpr int kExitNoSpace = 8;       // Storage full (server or local disk), or quota.

inline int exit_code_for(const Error& e) {
  switch (e.code()) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kTooLarge:
      return kExitUsage;
    case ErrorCode::kConflict:
    case ErrorCode::kAlreadyExists:
      return kExitConflict;
    case ErrorCode::kUnavailable:
      return kExitUnavailable;
    case ErrorCode::kUnauthenticated:
    case ErrorCode::kPermissionDenied:
      return kExitUnauthorized;
    case ErrorCode::kNotFound:
      return kExitNotFound;
    case ErrorCode::kCorrupt:
      return kExitCorrupt;
    case ErrorCode::kStorageFull:
    case ErrorCode::kQuotaExceeded:
      return kExitNoSpace;
    default:
      return kExitError;
  }
}

}  // namespace cairn::cli
