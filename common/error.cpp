#include "common/error.h"

#include <array>

namespace cairn {
namespace {

struct CodeName {
  ErrorCode code;
  std::string_view name;
};

constexpr std::array kCodeNames = {
    CodeName{ErrorCode::kNotFound, "not_found"},
    CodeName{ErrorCode::kAlreadyExists, "already_exists"},
    CodeName{ErrorCode::kConflict, "conflict"},
    CodeName{ErrorCode::kInvalidArgument, "invalid_argument"},
    CodeName{ErrorCode::kUnauthenticated, "unauthenticated"},
    CodeName{ErrorCode::kPermissionDenied, "permission_denied"},
    CodeName{ErrorCode::kQuotaExceeded, "quota_exceeded"},
    CodeName{ErrorCode::kStorageFull, "storage_full"},
    CodeName{ErrorCode::kTooLarge, "too_large"},
    CodeName{ErrorCode::kCorrupt, "corrupt"},
    CodeName{ErrorCode::kUnavailable, "unavailable"},
    CodeName{ErrorCode::kIo, "io"},
    CodeName{ErrorCode::kInternal, "internal"},
};

}  // namespace

std::string_view error_code_name(ErrorCode code) {
  for (const auto& entry : kCodeNames) {
    if (entry.code == code) return entry.name;
  }
  return "internal";
}

ErrorCode error_code_from_name(std::string_view name) {
  for (const auto& entry : kCodeNames) {
    if (entry.name == name) return entry.code;
  }
  return ErrorCode::kInternal;
}

}  // namespace cairn
