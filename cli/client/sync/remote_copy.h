#pragma once

// `cairn put`, `get` and `cat`: copies between local paths and the server with no working copy
// (nothing is written into the source, no .cairn/ anywhere), for CI jobs and cron backups.
//
// Where a copy goes is decided by the arguments alone, never by what happens to exist, so that a
// script does the same thing on its first run and its hundredth: with one source and a
// destination that does not end in '/', the destination *is* the copy (`put build /ci/b` makes
// /ci/b the build folder); with a destination ending in '/' or several sources, each source goes
// inside it under its own name (`put build /ci/` makes /ci/build).

#include <optional>
#include <string>
#include <vector>

#include "cli/client/net/api_client.h"
#include "cli/client/printer.h"
#include "cli/client/reports.h"
#include "common/error.h"

namespace cairn::client {

struct CopyOptions {
  int hash_threads = 0;  // 0: one per core.
  int transfer_threads = 4;
  // put: what the destination holds and the source does not goes to the server's trash, in the
  // same step as the rest. Refused, like a push's mass delete, when it would delete more than
  // half of the destination's files (and more than one) or more than 1,000, unless
  // allow_mass_delete.
  bool mirror = false;
  bool allow_mass_delete = false;
  // get: the remote paths as they were at this time (milliseconds since the epoch).
  std::optional<int64_t> at_ms;
};

// Where each of `sources` goes under `dest`, by the rule above ("" for a source whose copy is
// `dest` itself). `base_name` gives a source's own name. kInvalidArgument for a source without a
// name (the root "/" or ".") put inside a folder.
Result<std::vector<std::string>> copy_targets(const std::vector<std::string>& sources,
                                              const std::string& dest,
                                              std::string (*base_name)(const std::string&));

// Everything at and under the remote `path`, each path checked: canonical and at or under `path`
// (a server's word is not trusted). The first entry is `path`'s own (a folder's listing does not
// carry it: then a folder entry is made for it). kNotFound if nothing is there. With `at_ms`: as
// it was then.
Result<std::vector<protocol::Entry>> list_remote_tree(ApiClient& api, const std::string& path,
                                                      std::optional<int64_t> at_ms = std::nullopt);

// Uploads local files and folders (recursively) to the remote `dest`. Only chunks the server
// lacks travel; a file whose content and mode are already there is not committed again. What
// changes is staged as one group of upload sessions per destination and published by one
// commit, so that a reader sees each destination as it was before or after, never a mix.
Result<SyncReport> put(const ServerEndpoint& endpoint, const std::vector<std::string>& sources,
                       const std::string& dest, const CopyOptions& options, Printer& printer);

// Downloads remote files and folders to the local `dest`: files are written whole under a
// temporary name, made durable and renamed into place (replacing what was there), never through
// a symlink; every chunk is verified.
Result<SyncReport> get(const ServerEndpoint& endpoint, const std::vector<std::string>& sources,
                       const std::string& dest, const CopyOptions& options, Printer& printer);

// Writes the remote file `path` to `fd`, in order, every chunk verified before it is written.
// Memory is bounded by a window of chunks, whatever the file's size. With `at_ms`: the file as it
// was then.
Result<uint64_t> cat(const ServerEndpoint& endpoint, const std::string& path, int fd,
                     std::optional<int64_t> at_ms = std::nullopt);

}  // namespace cairn::client
