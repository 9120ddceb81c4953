// FileService: staging and committing files, manifests, listings, the change feed,
// history, the trash and quotas (file_service.h).

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <thread>
#include <unordered_set>

#include "common/duration.h"
#include "common/manifest.h"
#include "common/paths.h"
#include "common/remote_path.h"
#include "daemon/service/parse.h"
#include "daemon/service/services.h"
#include "daemon/service/wire.h"

namespace cairn::service {
namespace {

// A cursor lists the position in each feed of the user's view: "c2." then "FEED:SEQ" pairs
// joined by '.', FEED 0 for the home namespace and a share id for each shared folder.
constexpr std::string_view kCursorPrefix = "c2.";

std::string encode_cursor(const store::FeedCursor& cursor) {
  std::string out(kCursorPrefix);
  bool first = true;
  for (const auto& [feed, seq] : cursor) {
    if (!first) out += '.';
    first = false;
    out += std::to_string(feed) + ":" + std::to_string(seq);
  }
  return out;
}

// nullopt for anything that is not such a cursor: the caller resets. A cursor of schema 4
// ("c1.NS.SEQ", the home namespace's alone) still counts for the home namespace `home`.
std::optional<store::FeedCursor> decode_cursor(std::string_view cursor, int64_t home) {
  constexpr std::string_view kOldPrefix = "c1.";
  if (cursor.substr(0, kOldPrefix.size()) == kOldPrefix) {
    cursor.remove_prefix(kOldPrefix.size());
    const size_t dot = cursor.find('.');
    if (dot == std::string_view::npos) return std::nullopt;
    auto ns = parse_int(cursor.substr(0, dot));
    auto seq = parse_int(cursor.substr(dot + 1));
    if (!ns || !seq || *ns != home || *seq < 0) return std::nullopt;
    return store::FeedCursor{{0, *seq}};
  }
  if (cursor.substr(0, kCursorPrefix.size()) != kCursorPrefix) return std::nullopt;
  cursor.remove_prefix(kCursorPrefix.size());
  store::FeedCursor out;
  while (!cursor.empty()) {
    const size_t dot = cursor.find('.');
    const std::string_view part = cursor.substr(0, dot);
    const size_t colon = part.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    auto feed = parse_int(part.substr(0, colon));
    auto seq = parse_int(part.substr(colon + 1));
    if (!feed || !seq || *feed < 0 || *seq < 0 || out.size() > 10000) return std::nullopt;
    out[*feed] = *seq;
    if (dot == std::string_view::npos) break;
    cursor.remove_prefix(dot + 1);
  }
  return out;
}

// A group of upload sessions, or a commit's request id, is named by the client: 16-64 letters,
// digits, '-' or '_' (a random one, so that two puts or two commits never share it).
Result<void> check_client_name(const char* what, const std::string& name) {
  const bool ok =
      name.size() >= 16 && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_';
      });
  if (!ok) {
    return make_error(ErrorCode::kInvalidArgument,
                      std::string(what) + " is 16-64 letters, digits, '-' or '_'");
  }
  return {};
}

// What a commit asks, whatever its cursor: a repeat asks the same.
std::string fingerprint(const protocol::CommitRequest& req) {
  protocol::CommitRequest what = req;
  what.cursor.reset();
  what.request_id.clear();
  return sha256(as_bytes(protocol::encode_json(what))).hex();
}

}  // namespace

Result<store::StagedUpload> FileService::stage_file(const RequestContext& ctx,
                                                    const protocol::FileUpload& f,
                                                    const std::string& group) const {
  store::StagedUpload u;
  auto path = normalize_remote_path(f.path);
  if (!path) return std::move(path).error().with_context("upload " + f.path.substr(0, 200));
  if (*path == "/") return make_error(ErrorCode::kInvalidArgument, "cannot upload to /");
  u.path = std::move(*path);
  u.user_id = ctx.user.user_id;
  u.namespace_id = ctx.user.home_namespace_id;
  u.kind = f.kind;
  u.mtime_ns = f.mtime_ns;
  u.base_version = f.base_version;
  u.node_id = f.node_id;
  if (u.base_version && u.node_id == 0) {
    return make_error(ErrorCode::kInvalidArgument,
                      "base_version needs node_id (a base is a version of a node): " + u.path);
  }
  u.created_at = ctx.now;
  switch (f.kind) {
    case protocol::NodeKind::kFolder:
      // In a group a folder is staged too, so that an empty one appears with the rest.
      if (group.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          "folders are created with a mkdir op in POST /v1/commit (or staged in "
                          "a group)");
      }
      if (f.base_version) {
        return make_error(ErrorCode::kInvalidArgument, "a folder has no versions: " + u.path);
      }
      u.mode = f.mode;
      u.group = group;
      break;
    case protocol::NodeKind::kSymlink:
      if (f.symlink_target.empty() || f.symlink_target.size() > kMaxPathBytes ||
          f.symlink_target.find('\0') != std::string::npos) {
        return make_error(ErrorCode::kInvalidArgument,
                          "symlink target must be 1-4096 bytes without NUL: " + u.path);
      }
      u.symlink_target = f.symlink_target;
      u.size = f.symlink_target.size();
      break;
    case protocol::NodeKind::kFile: {
      for (const auto& c : f.chunks) {
        if (c.length > config_.chunking.max_size) {
          return make_error(ErrorCode::kInvalidArgument,
                            "chunk longer than the server's max chunk size in " + u.path);
        }
      }
      Manifest manifest(f.chunks);
      u.mode = f.mode;
      u.size = manifest.total_size();
      u.manifest = manifest.encode();
      u.manifest_hash = sha256(u.manifest);
      u.chunks = std::move(manifest);
      break;
    }
  }
  return u;
}

Result<protocol::InitUploadsResponse> FileService::init_uploads(
    const RequestContext& ctx, const protocol::InitUploadsRequest& req) {
  if (req.files.empty()) return make_error(ErrorCode::kInvalidArgument, "no files to upload");
  if (req.files.size() > config_.max_batch) {
    return make_error(ErrorCode::kTooLarge,
                      "at most " + std::to_string(config_.max_batch) + " files per request");
  }
  if (!req.group.empty()) CAIRN_RETURN_IF_ERROR(check_client_name("a group", req.group));
  CAIRN_RETURN_IF_ERROR(may_write(ctx));
  std::vector<store::StagedUpload> staged;
  std::vector<ChunkRef> all_chunks;
  protocol::InitUploadsResponse out;
  out.expires_at = ctx.now + config_.upload_ttl_seconds;
  for (const auto& f : req.files) {
    CAIRN_ASSIGN_OR_RETURN(store::StagedUpload u, stage_file(ctx, f, req.group));
    u.group = req.group;
    CAIRN_RETURN_IF_ERROR(in_scope(ctx, u.path));
    u.upload_id = to_hex(secure_random(16));
    u.expires_at = out.expires_at;
    all_chunks.insert(all_chunks.end(), f.chunks.begin(), f.chunks.end());
    out.uploads.push_back(
        {u.upload_id, u.path, u.manifest_hash ? u.manifest_hash->hex() : std::string()});
    staged.push_back(std::move(u));
  }
  std::vector<std::string> paths;
  for (const auto& u : staged) paths.push_back(u.path);
  CAIRN_RETURN_IF_ERROR(metadata_.check_write(ctx.actor(), paths));
  CAIRN_ASSIGN_OR_RETURN(out.missing, chunks_.missing_chunks(ctx.user, std::move(all_chunks)));
  CAIRN_RETURN_IF_ERROR(metadata_.save_uploads(staged));
  return out;
}

// One item per op for the store: the op in the store's terms, with a put's file staged (its
// manifest encoded and decoded once, here) and every path canonical.
Result<store::TreeOp> FileService::tree_op(const RequestContext& ctx,
                                           const protocol::CommitOp& op) const {
  store::TreeOp out;
  out.kind = to_store(op.kind);
  out.upload_id = op.upload_id;
  out.base_version = op.base_version;
  out.node_id = op.node_id;
  out.version = op.version;
  out.mode = op.mode;
  if (op.kind == protocol::OpKind::kRestoreAt) {
    CAIRN_RETURN_IF_ERROR(check_time(ctx, op.at_ms));
    out.at_ms = op.at_ms;
  }
  if (op.kind == protocol::OpKind::kPut) {
    if (op.file) {
      CAIRN_ASSIGN_OR_RETURN(out.file, stage_file(ctx, *op.file, ""));
    }
    return out;
  }
  if (op.kind == protocol::OpKind::kPublish) {
    CAIRN_RETURN_IF_ERROR(check_client_name("a group", op.group));
    out.group = op.group;
    out.mirror = op.mirror;
  }
  if (op.kind != protocol::OpKind::kUndelete) {
    auto path = normalize_remote_path(op.path);
    if (!path) return std::move(path).error().with_context("commit " + op.path.substr(0, 200));
    out.path = std::move(*path);
  }
  if (op.kind == protocol::OpKind::kMove ||
      (op.kind == protocol::OpKind::kUndelete && !op.to.empty())) {
    auto to = normalize_remote_path(op.to);
    if (!to) return std::move(to).error().with_context("commit to " + op.to.substr(0, 200));
    out.to = std::move(*to);
  }
  return out;
}

Result<protocol::CommitResponse> FileService::commit(const RequestContext& ctx,
                                                     const protocol::CommitRequest& req) {
  if (req.ops.empty()) return make_error(ErrorCode::kInvalidArgument, "no operations to commit");
  if (req.ops.size() > config_.max_batch) {
    return make_error(ErrorCode::kTooLarge,
                      "at most " + std::to_string(config_.max_batch) + " operations per request");
  }
  if (!req.request_id.empty()) {
    CAIRN_RETURN_IF_ERROR(check_client_name("a request id", req.request_id));
  }
  std::vector<store::TreeOp> ops;
  ops.reserve(req.ops.size());
  std::vector<ChunkRef> carried;  // The chunks of the files that came with the request.
  for (const auto& op : req.ops) {
    CAIRN_ASSIGN_OR_RETURN(auto item, tree_op(ctx, op));
    if (item.file && item.file->chunks) {
      const auto& chunks = item.file->chunks->chunks();
      carried.insert(carried.end(), chunks.begin(), chunks.end());
    }
    ops.push_back(std::move(item));
  }
  CAIRN_RETURN_IF_ERROR(may_write(ctx));
  for (const auto& op : ops) {
    if (op.kind == store::OpKind::kUndelete) {
      // Where the node was is checked by the store, inside the transaction that acts.
      if (!op.to.empty()) CAIRN_RETURN_IF_ERROR(in_scope(ctx, op.to));
      continue;
    }
    CAIRN_RETURN_IF_ERROR(in_scope(ctx, op.file ? op.file->path : op.path));
    if (!op.to.empty()) CAIRN_RETURN_IF_ERROR(in_scope(ctx, op.to));
  }
  store::Actor actor = ctx.actor();
  if (!req.device.empty()) actor.device = req.device.substr(0, 128);
  // Chunks uploaded straight to the blob store and not confirmed yet: a HEAD each, before any
  // version that needs them can become visible. (Clients that confirm leave nothing here, and a
  // store that takes uploads through the daemon has recorded every chunk already.)
  std::vector<std::string> put_ids;
  for (const auto& op : ops) {
    if (op.kind == store::OpKind::kPut && !op.file) put_ids.push_back(op.upload_id);
    if (op.kind == store::OpKind::kPublish && blobs_.takes_direct_uploads()) {
      CAIRN_ASSIGN_OR_RETURN(auto ids, metadata_.group_uploads(actor.user_id, op.group, ctx.now));
      put_ids.insert(put_ids.end(), ids.begin(), ids.end());
    }
  }
  if (!put_ids.empty() && blobs_.takes_direct_uploads()) {
    CAIRN_ASSIGN_OR_RETURN(auto unconfirmed,
                           metadata_.missing_upload_chunks(actor.user_id, put_ids, ctx.now));
    CAIRN_RETURN_IF_ERROR(chunks_.adopt_stored_chunks(actor.user_id, unconfirmed));
  }
  if (!carried.empty() && blobs_.takes_direct_uploads()) {
    CAIRN_ASSIGN_OR_RETURN(auto unconfirmed,
                           chunks_.unheld_chunks(actor.user_id, std::move(carried)));
    CAIRN_RETURN_IF_ERROR(chunks_.adopt_stored_chunks(actor.user_id, unconfirmed));
  }
  // A cursor to move past this commit: only a well-formed one, and only its home feed (what the
  // commit wrote into shared folders stays for the next read of their feeds).
  std::optional<store::FeedCursor> cursor;
  if (req.cursor) {
    cursor = req.cursor->empty() ? std::optional<store::FeedCursor>(store::FeedCursor{})
                                 : decode_cursor(*req.cursor, ctx.user.home_namespace_id);
  }
  std::optional<store::RequestKey> request;
  if (!req.request_id.empty()) request = store::RequestKey{req.request_id, fingerprint(req)};
  store::FeedSpan span;
  CAIRN_ASSIGN_OR_RETURN(auto results, metadata_.commit(actor, ops, cursor ? &span : nullptr,
                                                        request ? &*request : nullptr));
  protocol::CommitResponse out;
  out.results.reserve(results.size());
  for (auto& r : results) out.results.push_back(to_wire(std::move(r)));
  if (cursor) {
    auto home = cursor->find(0);
    const int64_t at = home == cursor->end() ? 0 : home->second;
    if (at == span.before) {
      (*cursor)[0] = span.after;
      out.cursor = encode_cursor(*cursor);
    }
  }
  return out;
}

Result<Bytes> FileService::manifest(const RequestContext& ctx, std::string_view hex) {
  CAIRN_ASSIGN_OR_RETURN(const Digest digest, parse_digest(hex));
  return metadata_.get_manifest(ctx.user.user_id, digest, ctx.user.scope.path);
}

Result<protocol::ManifestsResponse> FileService::manifests(const RequestContext& ctx,
                                                           const protocol::ManifestsRequest& req) {
  if (req.manifests.size() > config_.max_batch) {
    return make_error(ErrorCode::kTooLarge,
                      "at most " + std::to_string(config_.max_batch) + " manifests per request");
  }
  protocol::ManifestsResponse out;
  CAIRN_ASSIGN_OR_RETURN(
      out.manifests, metadata_.get_manifests(ctx.user.user_id, req.manifests, ctx.user.scope.path));
  return out;
}

Result<void> FileService::check_time(const RequestContext& ctx, int64_t at_ms) const {
  auto when = [](int64_t ms) { return utc_text(ms); };
  CAIRN_ASSIGN_OR_RETURN(auto since, metadata_.setting("history_since_ms"));
  if (since) {
    auto first = parse_int(*since);
    if (first && at_ms < *first) {
      return make_error(ErrorCode::kInvalidArgument, "this server's history starts at " +
                                                         when(*first) +
                                                         " (when it was upgraded to record it); " +
                                                         when(at_ms) + " is before that");
    }
  }
  CAIRN_ASSIGN_OR_RETURN(auto days, metadata_.setting("retention_days"));
  if (days) {
    auto keep = parse_int(*days);
    if (keep && *keep >= 0 && at_ms < (ctx.now - *keep * 86400) * 1000) {
      return make_error(ErrorCode::kInvalidArgument,
                        when(at_ms) + " is older than this server keeps history (" +
                            std::to_string(*keep) + " days, cairnd retention): what was there " +
                            "then may be forgotten");
    }
  }
  return {};
}

Result<protocol::ListResponse> FileService::list(const RequestContext& ctx, std::string_view path,
                                                 bool recursive, std::optional<int64_t> at_ms) {
  CAIRN_ASSIGN_OR_RETURN(std::string canonical, normalize_remote_path(path));
  CAIRN_RETURN_IF_ERROR(in_scope(ctx, canonical));
  if (at_ms) {
    CAIRN_RETURN_IF_ERROR(check_time(ctx, *at_ms));
    CAIRN_ASSIGN_OR_RETURN(auto then, metadata_.list_at(ctx.actor(), canonical, *at_ms, recursive));
    return to_wire(std::move(then));
  }
  CAIRN_ASSIGN_OR_RETURN(auto listing, recursive ? metadata_.list_tree(ctx.actor(), canonical)
                                                 : metadata_.list(ctx.actor(), canonical));
  return to_wire(std::move(listing));
}

Result<protocol::LogResponse> FileService::log(const RequestContext& ctx, std::string_view path,
                                               const store::LogQuery& query) {
  CAIRN_ASSIGN_OR_RETURN(std::string canonical, normalize_remote_path(path));
  CAIRN_RETURN_IF_ERROR(in_scope(ctx, canonical));
  CAIRN_ASSIGN_OR_RETURN(auto page, metadata_.log(ctx.actor(), canonical, query));
  protocol::LogResponse out;
  out.next_before = page.next_before;
  const std::string& scope = ctx.user.scope.path;
  for (auto& e : page.entries) {
    // A token limited to a folder learns nothing of paths outside it, not even where something
    // was moved in from.
    if (!is_within(e.path, scope)) continue;
    if (!is_within(e.from, scope)) e.from.clear();
    protocol::LogEntry w;
    w.seq = e.seq;
    w.at_ms = e.at_ms;
    w.op = std::move(e.op);
    w.path = std::move(e.path);
    w.from = std::move(e.from);
    w.kind = e.kind;
    w.version = e.version;
    w.author = std::move(e.author);
    w.device = std::move(e.device);
    out.entries.push_back(std::move(w));
  }
  return out;
}

Result<protocol::HistoryResponse> FileService::history(const RequestContext& ctx,
                                                       std::string_view path, int64_t node_id) {
  std::string canonical;
  if (node_id == 0) {
    if (path.empty()) return make_error(ErrorCode::kInvalidArgument, "history needs a path");
    CAIRN_ASSIGN_OR_RETURN(canonical, normalize_remote_path(path));
  }
  if (node_id == 0) CAIRN_RETURN_IF_ERROR(in_scope(ctx, canonical));
  CAIRN_ASSIGN_OR_RETURN(auto out, metadata_.history(ctx.actor(), canonical, node_id));
  if (!is_within(out.path, ctx.user.scope.path)) {
    return make_error(ErrorCode::kNotFound, "no file with id " + std::to_string(node_id));
  }
  return to_wire(std::move(out));
}

Result<protocol::TrashResponse> FileService::trash(const RequestContext& ctx) {
  CAIRN_ASSIGN_OR_RETURN(auto items, metadata_.trash(ctx.user.home_namespace_id));
  std::erase_if(items, [&](const auto& e) { return !is_within(e.path, ctx.user.scope.path); });
  return to_wire(std::move(items));
}

Result<protocol::EmptyTrashResponse> FileService::empty_trash(const RequestContext& ctx) {
  CAIRN_RETURN_IF_ERROR(may_write(ctx, {"/"}));
  CAIRN_ASSIGN_OR_RETURN(auto purged,
                         metadata_.empty_trash(ctx.user.home_namespace_id, std::nullopt, ctx.now));
  return to_wire(purged);
}

Result<protocol::QuotaResponse> FileService::quota(const RequestContext& ctx) {
  CAIRN_ASSIGN_OR_RETURN(auto usage, metadata_.quota(ctx.user.user_id));
  return to_wire(usage);
}

Result<protocol::ChangesResponse> FileService::changes(const RequestContext& ctx,
                                                       std::string_view cursor, int limit) {
  limit = std::clamp(limit, 1, 5000);
  protocol::ChangesResponse out;
  store::FeedCursor after;
  if (!cursor.empty()) {
    auto decoded = decode_cursor(cursor, ctx.user.home_namespace_id);
    if (decoded) {
      after = std::move(*decoded);
    } else {
      out.reset = true;  // Never implies deletes: the client lists again and keeps what it has.
    }
  }
  CAIRN_ASSIGN_OR_RETURN(auto page, metadata_.changes(ctx.actor(), after, limit));
  out.reset = out.reset || page.reset;
  out.changes = to_wire(std::move(page.entries));
  std::erase_if(out.changes,
                [&](const auto& e) { return !is_within(e.path, ctx.user.scope.path); });
  out.has_more = page.has_more;
  out.cursor = encode_cursor(page.cursor);
  return out;
}

}  // namespace cairn::service
