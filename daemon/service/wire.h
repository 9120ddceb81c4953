#pragma once

// The store's answers as the wire carries them: the one place where store types become protocol
// types (and back, for what a request asks of the store).

#include <utility>
#include <vector>

#include "common/protocol/protocol.h"
#include "daemon/store/metadata_store.h"

namespace cairn::service {

inline store::OpKind to_store(protocol::OpKind kind) {
  switch (kind) {
    case protocol::OpKind::kPut:
      return store::OpKind::kPut;
    case protocol::OpKind::kMkdir:
      return store::OpKind::kMkdir;
    case protocol::OpKind::kDelete:
      return store::OpKind::kDelete;
    case protocol::OpKind::kMove:
      return store::OpKind::kMove;
    case protocol::OpKind::kRestore:
      return store::OpKind::kRestore;
    case protocol::OpKind::kUndelete:
      return store::OpKind::kUndelete;
    case protocol::OpKind::kPublish:
      return store::OpKind::kPublish;
    case protocol::OpKind::kRestoreAt:
      return store::OpKind::kRestoreAt;
  }
  return store::OpKind::kPut;
}

inline protocol::OpStatus to_wire(store::OpStatus status) {
  switch (status) {
    case store::OpStatus::kOk:
      return protocol::OpStatus::kOk;
    case store::OpStatus::kUnchanged:
      return protocol::OpStatus::kUnchanged;
    case store::OpStatus::kConflict:
      return protocol::OpStatus::kConflict;
    case store::OpStatus::kError:
      return protocol::OpStatus::kError;
    case store::OpStatus::kCopied:
      return protocol::OpStatus::kCopied;
  }
  return protocol::OpStatus::kError;
}

inline protocol::CommitResult to_wire(store::OpResult r) {
  return {to_wire(r.status),    std::move(r.path), r.node_id,   r.version, std::move(r.error_code),
          std::move(r.message), std::move(r.copy), r.published, r.changed, r.deleted};
}

inline protocol::Entry to_wire(store::Entry e) {
  return {e.node_id,
          std::move(e.path),
          e.kind,
          e.deleted,
          e.version,
          e.size,
          e.mode,
          e.mtime_ns,
          std::move(e.manifest),
          std::move(e.symlink_target),
          e.modified_at,
          std::move(e.change),
          std::move(e.share_role),
          std::move(e.shared_by)};
}

inline std::vector<protocol::Entry> to_wire(std::vector<store::Entry> entries) {
  std::vector<protocol::Entry> out;
  out.reserve(entries.size());
  for (auto& e : entries) out.push_back(to_wire(std::move(e)));
  return out;
}

inline protocol::ListResponse to_wire(store::Listing l) {
  return {std::move(l.path), to_wire(std::move(l.entries)), std::move(l.attributions)};
}

inline protocol::HistoryResponse to_wire(store::FileHistory h) {
  protocol::HistoryResponse out{h.node_id, std::move(h.path), h.deleted, {}};
  out.versions.reserve(h.versions.size());
  for (auto& v : h.versions) {
    out.versions.push_back({v.version, v.kind, v.size, v.mode, v.mtime_ns, std::move(v.manifest),
                            std::move(v.symlink_target), std::move(v.author), std::move(v.device),
                            v.created_at});
  }
  return out;
}

inline protocol::TrashResponse to_wire(std::vector<store::TrashItem> items) {
  protocol::TrashResponse out;
  out.entries.reserve(items.size());
  for (auto& t : items) {
    out.entries.push_back(
        {t.node_id, std::move(t.path), t.kind, t.deleted_at, t.version, t.size, t.files});
  }
  return out;
}

inline protocol::EmptyTrashResponse to_wire(const store::TrashPurged& p) {
  return {p.nodes, p.bytes};
}

inline protocol::QuotaResponse to_wire(const store::QuotaUsage& q) { return {q.used, q.limit}; }

}  // namespace cairn::service
