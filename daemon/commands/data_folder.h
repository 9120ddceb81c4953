#pragma once

// A cairnd data folder: which backends it uses (DATA/cairnd.conf), and opening them into the
// services every admin command and the server work through.

#include <memory>
#include <string>

#include "common/chunker.h"
#include "common/error.h"
#include "daemon/service/services.h"
#include "daemon/store/blob_store.h"
#include "daemon/store/metadata_store.h"

namespace cairn::admin {

// Where a data folder's metadata and chunks live. Written by `init` to DATA/cairnd.conf; a folder
// without one uses the embedded defaults inside it.
struct Backends {
  std::string metadata;
  std::string blobs;
};

// Everything a command needs from an initialised data folder.
struct Daemon {
  Backends backends;
  std::unique_ptr<store::MetadataStore> metadata;
  std::unique_ptr<store::BlobStore> blobs;
  service::SystemClock clock;
  std::unique_ptr<service::Services> services;
};

// What a metadata location looks like in messages and logs: no password.
std::string describe_metadata(const std::string& location);

// Opens the data folder. With `init`, makes it if needed, records `wanted` backends (empty fields
// mean the embedded defaults) and applies `chunking` to a new store; an existing store keeps its
// chunking, so a second daemon joins the first.
Result<std::unique_ptr<Daemon>> open_daemon(const std::string& data, bool init,
                                            const Backends& wanted = {},
                                            const ChunkerParams& chunking = {});

}  // namespace cairn::admin
