#include "daemon/store/sql/sql.h"

#include <charconv>

namespace cairn::store::sql {

bool Row::is_null(size_t col) const {
  return std::holds_alternative<std::nullptr_t>(cells_->at(col));
}

int64_t Row::get_int(size_t col) const {
  const Value& v = cells_->at(col);
  if (const auto* i = std::get_if<int64_t>(&v)) return *i;
  if (const auto* s = std::get_if<std::string>(&v)) {
    int64_t parsed = 0;
    std::from_chars(s->data(), s->data() + s->size(), parsed);
    return parsed;
  }
  return 0;
}

std::optional<int64_t> Row::get_optional_int(size_t col) const {
  if (is_null(col)) return std::nullopt;
  return get_int(col);
}

std::string Row::get_text(size_t col) const {
  const Value& v = cells_->at(col);
  if (const auto* s = std::get_if<std::string>(&v)) return *s;
  if (const auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (const auto* b = std::get_if<Bytes>(&v)) return std::string(as_string_view(*b));
  return {};
}

Bytes Row::get_blob(size_t col) const {
  const Value& v = cells_->at(col);
  if (const auto* b = std::get_if<Bytes>(&v)) return *b;
  if (const auto* s = std::get_if<std::string>(&v)) {
    const ByteView view = as_bytes(*s);
    return Bytes(view.begin(), view.end());
  }
  return {};
}

}  // namespace cairn::store::sql
