#include "daemon/store/sql_metadata_store.h"

#include "daemon/store/sql/metadata_internal.h"
#include "daemon/store/sql/postgres_database.h"
#include "daemon/store/sql/sqlite_database.h"

namespace cairn::store {

std::string_view token_kind_name(TokenKind kind) {
  switch (kind) {
    case TokenKind::kWebSession:
      return "web";
    case TokenKind::kSignInCode:
      return "signin";
    case TokenKind::kApi:
      break;
  }
  return "api";
}

TokenKind token_kind_from_name(std::string_view name) {
  if (name == "web") return TokenKind::kWebSession;
  if (name == "signin") return TokenKind::kSignInCode;
  return TokenKind::kApi;
}

std::string_view role_name(Role role) { return role == Role::kEditor ? "editor" : "viewer"; }

std::optional<Role> role_from_name(std::string_view name) {
  if (name == "viewer") return Role::kViewer;
  if (name == "editor") return Role::kEditor;
  return std::nullopt;
}

Result<std::unique_ptr<MetadataStore>> open_metadata_store(const std::string& location, bool create,
                                                           int up_to) {
  std::unique_ptr<sql::Database> db;
  std::string where = location;
  if (sql::is_postgres_url(location)) {
    where = sql::redact_postgres_url(location);
    CAIRN_ASSIGN_OR_RETURN(db, sql::open_postgres({location}));
  } else {
    CAIRN_ASSIGN_OR_RETURN(db, sql::open_sqlite(location, create));
  }
  auto store = std::make_unique<sqlstore::SqlMetadataStore>(std::move(db));
  CAIRN_RETURN_IF_ERROR(store->migrate(where, up_to));
  return std::unique_ptr<MetadataStore>(std::move(store));
}

}  // namespace cairn::store
