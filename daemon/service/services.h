#pragma once

// The daemon's services: plain C++ over the stores, with no HTTP in sight. A handler
// authenticates, builds a RequestContext, calls one method with protocol structs and turns the
// Result into a response. Every method is safe to call from any thread.

#include "common/bytes.h"
#include "common/protocol/protocol.h"
#include "daemon/service/chunk_service.h"
#include "daemon/service/file_service.h"
#include "daemon/service/identity_service.h"
#include "daemon/service/maintenance_service.h"
#include "daemon/service/service_base.h"
#include "daemon/service/sharing_service.h"
#include "daemon/store/blob_store.h"
#include "daemon/store/metadata_store.h"

namespace cairn::service {

// The daemon's services, one per role of the store, over one set of stores, configuration and
// clock. Routes and admin commands reach each through its accessor.
class Services {
 public:
  // `signing_key` signs the daemon's own chunk and pack URLs; every daemon sharing a database
  // shares it.
  Services(store::MetadataStore& metadata, store::BlobStore& blobs, ServiceConfig config,
           Bytes signing_key, const Clock& clock);
  Services(const Services&) = delete;
  Services& operator=(const Services&) = delete;

  const ServiceConfig& config() const { return config_; }
  int64_t now() const { return clock_.now_seconds(); }
  int64_t now_ms() const { return clock_.now_ms(); }
  protocol::ServerConfig server_config() const;

  IdentityService& identity() { return identity_; }
  ChunkService& chunks() { return chunks_; }
  FileService& files() { return files_; }
  SharingService& sharing() { return sharing_; }
  MaintenanceService& maintenance() { return maintenance_; }

 private:
  ServiceConfig config_;
  const Clock& clock_;
  ServiceBase base_;
  IdentityService identity_;
  ChunkService chunks_;
  FileService files_;
  SharingService sharing_;
  MaintenanceService maintenance_;
};

}  // namespace cairn::service
