#pragma once

#include <memory>
#include <string>

#include "daemon/store/metadata_store.h"

namespace cairn::store {

// Opens the metadata store named by `location`: a "postgresql://" (or "postgres://") URL, or the
// path of a SQLite file (created when `create` is set). Applies pending schema migrations; two
// daemons starting together on one PostgreSQL database migrate it once.
// `up_to` stops the migrations at that schema version (tests of upgrades); 0 applies them all.
Result<std::unique_ptr<MetadataStore>> open_metadata_store(const std::string& location, bool create,
                                                           int up_to = 0);

// The schema version this build writes, and the one the store at `location` is at after opening.
int metadata_schema_version();

}  // namespace cairn::store
