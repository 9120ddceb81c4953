#pragma once

#include "cli/client/reports.h"
#include "cli/client/state/session.h"

namespace cairn::client {

// Local changes not yet pushed (stat only, plus a fingerprint read for files whose stat changed
// but whose size did not), and, if `check_remote`, remote changes not yet pulled. An unreachable
// server is reported in remote_error, not as a failure.
Result<StatusReport> status(Session& session, bool check_remote);

}  // namespace cairn::client
