#pragma once

// What an admin runs beside a serving daemon: gc, retention, expiring upload sessions, and
// cairnd check. Part of Services
// (services.h).

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/service/chunk_service.h"
#include "daemon/service/service_base.h"

namespace cairn::service {

// What an admin runs beside a serving daemon: gc, retention, expiring upload sessions, and
// cairnd check.
class MaintenanceService : public ServiceBase {
 public:
  MaintenanceService(const ServiceBase& base, ChunkService& chunks)
      : ServiceBase(base), chunks_(chunks) {}

  // cairnd check: the metadata's invariants, every stored object's presence and size, and (for
  // options.read_percent of them) their bytes. What is damaged is set aside and forgotten as
  // report_damage does. `progress`, if given, is called now and then.
  Result<CheckReport> check(const CheckOptions& options,
                            const std::function<void(const CheckProgress&)>& progress = {});
  // Deletes expired upload sessions, chunks nothing references, and packs that hold nothing;
  // rewrites packs that are mostly dead. Safe while clients push and pull (see GcOptions). Run
  // one at a time.
  Result<GcReport> collect_garbage(const GcOptions& options);
  // Deletes expired upload sessions (returns how many) and ended web sessions.
  Result<int64_t> collect_expired_uploads();
  // cairnd retention: how many days of history and trash gc keeps (nullopt: everything).
  Result<std::optional<int64_t>> retention_days();
  Result<void> set_retention_days(std::optional<int64_t> days);

 private:
  ChunkService& chunks_;
};

}  // namespace cairn::service
