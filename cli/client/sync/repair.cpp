#include "cli/client/sync/repair.h"

#include <unordered_map>
#include <unordered_set>

#include "cli/client/tree/file_hasher.h"
#include "cli/client/tree/local_tree.h"

namespace cairn::client {
namespace {

// Lost chunks read back from one file are sent in batches holding at most this many bytes.
constexpr uint64_t kBatchBytes = 64 << 20;

struct Found {
  ChunkRef ref;
  Bytes bytes;
};

// Uploads `found` chunk by chunk (each verified where it lands); returns how many the server
// now holds.
Result<uint64_t> send(ApiClient& api, std::vector<Found>& found) {
  if (found.empty()) return uint64_t{0};
  protocol::CheckChunksRequest req;
  std::unordered_map<Digest, const Found*> by_hash;
  for (const auto& f : found) {
    req.chunks.push_back(f.ref);
    by_hash.emplace(f.ref.hash, &f);
  }
  CAIRN_ASSIGN_OR_RETURN(auto check, api.check_chunks(req));
  uint64_t sent = 0;
  protocol::CheckChunksRequest direct;  // Put straight into the blob store: to confirm.
  for (const auto& grant : check.missing) {
    auto it = by_hash.find(grant.hash);
    if (it == by_hash.end()) continue;  // Not asked for: ignore.
    CAIRN_RETURN_IF_ERROR(api.put_chunk(grant, it->second->bytes));
    if (grant.url.rfind('/', 0) == 0) {
      ++sent;
    } else {
      direct.chunks.push_back(it->second->ref);
    }
  }
  if (!direct.chunks.empty()) {
    CAIRN_ASSIGN_OR_RETURN(auto confirmed, api.confirm_chunks(direct));
    sent += direct.chunks.size() - confirmed.missing.size();
  }
  found.clear();
  return sent;
}

}  // namespace

Result<RepairReport> repair_lost_chunks(Session& session, ApiClient& api,
                                        const ChunkerParams& chunking) {
  RepairReport report;
  auto wanted = api.repairs();
  if (!wanted) {
    const ErrorCode code = wanted.error().code();
    // An older server, or a token that may not see or send: nothing to repair from here.
    if (code == ErrorCode::kNotFound || code == ErrorCode::kPermissionDenied) return report;
    return std::move(wanted).error();
  }
  std::unordered_set<Digest> outstanding;  // Lost chunks not yet read back.
  for (const auto& f : wanted->files) {
    for (const auto& c : f.chunks) outstanding.insert(c.hash);
  }
  for (const auto& f : wanted->files) {
    // The server's path is untrusted: it must map into this working copy, through no symlink.
    const auto rel = session.to_local(f.path);
    if (!rel || !LocalTree::check(*rel)) continue;
    LocalTree tree(session.root);
    if (!tree.check_parents(*rel)) continue;
    std::unordered_set<Digest> lost;
    for (const auto& c : f.chunks) {
      if (outstanding.count(c.hash) != 0) lost.insert(c.hash);
    }
    if (lost.empty()) continue;  // Another file already gave them back.
    report.chunks_wanted += lost.size();

    std::vector<Found> found;
    uint64_t held = 0;
    const std::string abs = session.root + "/" + *rel;
    auto hashed = hash_file(abs, chunking, [&](const ChunkRef& c, uint64_t, ByteView bytes) {
      // What does not fit in one batch waits for the next push.
      if (lost.count(c.hash) == 0 || held + c.length > kBatchBytes) return;
      lost.erase(c.hash);
      found.push_back({c, Bytes(bytes.begin(), bytes.end())});
      held += c.length;
    });
    if (!hashed) {
      // Gone or unreadable here: another working copy may still have it.
      if (hashed.error().code() != ErrorCode::kNotFound) {
        report.errors.push_back(
            *rel + ": not read to repair the server's copy: " + hashed.error().message());
      }
      continue;
    }
    for (const auto& c : found) outstanding.erase(c.ref.hash);
    auto sent = send(api, found);
    if (!sent) {
      report.errors.push_back(*rel +
                              ": lost chunks could not be sent back: " + sent.error().message());
      continue;
    }
    report.chunks_repaired += *sent;
  }
  return report;
}

}  // namespace cairn::client
