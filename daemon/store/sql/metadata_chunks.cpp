// Chunks and packs: who holds what, where copies are, upload sessions and manifests.

#include "daemon/store/sql/metadata_internal.h"

namespace cairn::store::sqlstore {

Result<std::vector<bool>> SqlMetadataStore::user_has_chunks(int64_t user_id,
                                                            const std::vector<Digest>& digests) {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<bool>> {
    CAIRN_ASSIGN_OR_RETURN(auto held, Tx(s).held_chunks(user_id, digests));
    std::vector<bool> out;
    out.reserve(digests.size());
    for (const auto& d : digests) out.push_back(held.count(d) != 0);
    return out;
  });
}

Result<void> SqlMetadataStore::record_chunk(int64_t user_id, const Digest& digest, uint64_t size,
                                            int64_t now,
                                            const std::function<Result<void>()>& publish,
                                            int64_t token_id) {
  return db_->transact(TxMode::kWrite, [&](Session& s) -> Result<void> {
    CAIRN_RETURN_IF_ERROR(token_still_valid(s, user_id, token_id, now));
    // Takes the row (a doomed one comes back to life) before the object is published: gc's
    // deletion takes it too, so the two are ordered (see gc_delete_chunks).
    CAIRN_RETURN_IF_ERROR(
        s.query("INSERT INTO chunks(hash, size, created_at) VALUES (?1, ?2, ?3) "
                "ON CONFLICT (hash) DO UPDATE SET created_at = excluded.created_at, "
                "doomed_at = NULL",
                digest.bytes(), size, now));
    if (publish) CAIRN_RETURN_IF_ERROR(publish());
    CAIRN_RETURN_IF_ERROR(
        s.query("INSERT INTO user_chunks(user_id, hash) VALUES "
                "(?1, ?2) ON CONFLICT DO NOTHING",
                user_id, digest.bytes()));
    // Sound bytes again: a chunk that was lost is repaired.
    return Tx(s).forget_damage({digest});
  });
}

Result<void> SqlMetadataStore::record_pack(int64_t user_id, const Digest& pack, uint64_t size,
                                           bool verified, const std::vector<PackEntry>& entries,
                                           int64_t now, int64_t token_id) {
  return db_->transact(TxMode::kWrite, [&](Session& s) -> Result<void> {
    CAIRN_RETURN_IF_ERROR(token_still_valid(s, user_id, token_id, now));
    CAIRN_RETURN_IF_ERROR(
        s.query("INSERT INTO packs(pack_hash, size, chunk_count, uploader_id, verified, "
                "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
                pack.bytes(), size, static_cast<int64_t>(entries.size()), user_id, verified, now));
    CAIRN_ASSIGN_OR_RETURN(
        auto known, s.query("SELECT retired_at FROM packs WHERE pack_hash=?1", pack.bytes()));
    if (!known.empty() && !known[0].is_null(0)) {
      // Its object is being deleted: recording chunks in it now could outlive the bytes.
      return make_error(ErrorCode::kConflict, "pack " + pack.hex() +
                                                  " was emptied and is being deleted; build a new "
                                                  "pack (a fresh nonce gives it another name)");
    }
    const int64_t reader = verified ? 0 : user_id;
    CAIRN_RETURN_IF_ERROR(insert_pack_chunks(s, pack, reader, entries));
    // A pack nobody verified proves nothing: its chunks are this user's claims alone (the
    // rows just inserted), not chunks they hold.
    if (!verified) return {};
    // The uploader holds every chunk of its verified pack.
    std::vector<Digest> digests;
    digests.reserve(entries.size());
    for (const auto& e : entries) digests.push_back(e.hash);
    CAIRN_RETURN_IF_ERROR(Tx(s).forget_damage(digests));
    std::vector<std::vector<sql::Value>> rows;
    rows.reserve(digests.size());
    for (const auto& d : digests)
      rows.push_back({sql::to_value(user_id), sql::to_value(d.bytes())});
    return insert_rows(s, "INSERT INTO user_chunks(user_id, hash)", rows,
                       " ON CONFLICT DO NOTHING");
  });
}

Result<std::vector<ChunkLocation>> SqlMetadataStore::locate_chunks(
    int64_t user_id, const std::vector<Digest>& digests, const std::vector<Digest>& manifests,
    const std::string& scope_path) {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<ChunkLocation>> {
    Tx tx(s);
    Copies copies;
    CAIRN_RETURN_IF_ERROR(tx.gather_copies(digests, {user_id}, copies));
    std::unordered_set<Digest> wanted;
    for (const auto& d : digests) {
      if (copies.of.count(d) == 0) wanted.insert(d);
    }
    if (manifests.empty() || wanted.empty()) return copies.choose(digests);
    // The rest through the files they are read for: from the copies the authors of those
    // files could read. Usually one author for all: one query per group of authors.
    CAIRN_ASSIGN_OR_RETURN(auto roots, tx.scope_roots(user_id, scope_path));
    CAIRN_ASSIGN_OR_RETURN(auto authors, tx.manifest_authors(user_id, manifests, roots));
    std::vector<Digest> readable;
    for (const auto& m : manifests) {
      if (authors.count(m) != 0) readable.push_back(m);
    }
    std::map<std::vector<int64_t>, std::vector<Digest>> by_authors;
    CAIRN_RETURN_IF_ERROR(in_batches(
        readable, {},
        [&](const std::string& in, const std::vector<sql::Value>& args) -> Result<void> {
          CAIRN_ASSIGN_OR_RETURN(auto r, s.run("SELECT manifest_hash, body FROM manifests WHERE "
                                               "manifest_hash IN (" +
                                                   in + ")",
                                               args));
          for (size_t i = 0; i < r.size() && !wanted.empty(); ++i) {
            auto digest = Digest::from_bytes(r[i].get_blob(0));
            auto decoded = Manifest::decode(r[i].get_blob(1));
            if (!digest || !decoded) continue;
            std::vector<int64_t> who = authors[*digest];
            std::sort(who.begin(), who.end());
            for (const auto& c : decoded->chunks()) {
              if (wanted.erase(c.hash) != 0) by_authors[who].push_back(c.hash);
            }
          }
          return {};
        }));
    for (const auto& [who, granted] : by_authors) {
      CAIRN_RETURN_IF_ERROR(tx.gather_copies(granted, who, copies));
    }
    return copies.choose(digests);
  });
}

Result<std::vector<ChunkRef>> SqlMetadataStore::missing_upload_chunks(
    int64_t user_id, const std::vector<std::string>& upload_ids, int64_t now) {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<ChunkRef>> {
    Tx tx(s);
    std::vector<ChunkRef> out;
    std::set<Digest> seen;
    for (const auto& id : upload_ids) {
      CAIRN_ASSIGN_OR_RETURN(
          auto r, s.query("SELECT m.body FROM uploads u JOIN manifests m ON m.manifest_hash = "
                          "u.manifest_hash WHERE u.upload_id=?1 AND u.user_id=?2 AND "
                          "u.expires_at >= ?3",
                          id, user_id, now));
      if (r.empty()) continue;
      auto manifest = Manifest::decode(r[0].get_blob(0));
      if (!manifest) return std::move(manifest).error();
      CAIRN_ASSIGN_OR_RETURN(auto held, tx.held_chunks(user_id, Tx::digests_of(*manifest)));
      for (const auto& c : manifest->chunks()) {
        if (held.count(c.hash) == 0 && seen.insert(c.hash).second) out.push_back(c);
      }
    }
    return out;
  });
}

Result<void> SqlMetadataStore::save_uploads(const std::vector<StagedUpload>& uploads) {
  return db_->transact(TxMode::kWrite, [&](Session& s) -> Result<void> {
    for (const auto& u : uploads) {
      std::optional<ByteView> manifest_hash;
      if (u.manifest_hash) {
        manifest_hash = u.manifest_hash->bytes();
        auto decoded = Manifest::decode(u.manifest);
        if (!decoded) return std::move(decoded).error();
        CAIRN_ASSIGN_OR_RETURN(
            auto m, s.query("INSERT INTO manifests(manifest_hash, body, size, chunk_count) "
                            "VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                            *manifest_hash, ByteView(u.manifest), u.size,
                            static_cast<int64_t>(decoded->chunks().size())));
      }
      CAIRN_ASSIGN_OR_RETURN(
          auto q,
          s.query("INSERT INTO uploads(upload_id, user_id, namespace_id, path, kind, "
                  "mode, mtime_ns, symlink_target, manifest_hash, size, base_seq, "
                  "created_at, expires_at, node_id, group_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, "
                  "?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                  u.upload_id, u.user_id, u.namespace_id, u.path, kind_code(u.kind), u.mode,
                  u.mtime_ns, u.symlink_target, manifest_hash, u.size, u.base_version, u.created_at,
                  u.expires_at, u.node_id,
                  u.group.empty() ? std::optional<std::string>() : std::optional(u.group)));
    }
    return {};
  });
}

Result<std::vector<std::string>> SqlMetadataStore::group_uploads(int64_t user_id,
                                                                 const std::string& group,
                                                                 int64_t now) {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<std::string>> {
    CAIRN_ASSIGN_OR_RETURN(auto r, s.query("SELECT upload_id FROM uploads WHERE user_id=?1 AND "
                                           "group_id=?2 AND expires_at >= ?3",
                                           user_id, group, now));
    std::vector<std::string> out;
    for (size_t i = 0; i < r.size(); ++i) out.push_back(r[i].get_text(0));
    return out;
  });
}

Result<int64_t> SqlMetadataStore::expire_uploads(int64_t now) {
  return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<int64_t> {
    CAIRN_ASSIGN_OR_RETURN(auto r, s.query("DELETE FROM uploads WHERE expires_at < ?1", now));
    return r.affected;
  });
}

Result<Bytes> SqlMetadataStore::get_manifest(int64_t user_id, const Digest& digest,
                                             const std::string& scope_path) {
  CAIRN_ASSIGN_OR_RETURN(auto found, get_manifests(user_id, {digest}, scope_path));
  if (found.empty()) return make_error(ErrorCode::kNotFound, "manifest " + digest.hex());
  return std::move(found[0].second);
}

Result<std::vector<std::pair<Digest, Bytes>>> SqlMetadataStore::get_manifests(
    int64_t user_id, const std::vector<Digest>& digests, const std::string& scope_path) {
  using Found = std::vector<std::pair<Digest, Bytes>>;
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<Found> {
    Tx tx(s);
    std::vector<Digest> unique;
    std::unordered_set<Digest> seen;
    for (const auto& d : digests) {
      if (seen.insert(d).second) unique.push_back(d);
    }
    CAIRN_ASSIGN_OR_RETURN(auto roots, tx.scope_roots(user_id, scope_path));
    CAIRN_ASSIGN_OR_RETURN(auto authors, tx.manifest_authors(user_id, unique, roots));
    std::unordered_set<Digest> readable;
    std::vector<Digest> uncommitted;
    for (const auto& d : unique) {
      if (authors.count(d) != 0) {
        readable.insert(d);
      } else {
        uncommitted.push_back(d);
      }
    }
    // Otherwise one of the user's own upload sessions (its paths are of the user's view).
    const std::string scope = scope_path == "/" ? "" : scope_path;
    CAIRN_RETURN_IF_ERROR(in_batches(
        uncommitted, {sql::to_value(user_id)},
        [&](const std::string& in, const std::vector<sql::Value>& args) -> Result<void> {
          CAIRN_ASSIGN_OR_RETURN(auto r, s.run("SELECT manifest_hash, path FROM uploads WHERE "
                                               "user_id=?1 AND manifest_hash IN (" +
                                                   in + ")",
                                               args));
          for (size_t i = 0; i < r.size(); ++i) {
            auto d = Digest::from_bytes(r[i].get_blob(0));
            if (d && is_within(r[i].get_text(1), scope)) readable.insert(*d);
          }
          return {};
        }));
    std::vector<Digest> wanted;
    for (const auto& d : unique) {
      if (readable.count(d) != 0) wanted.push_back(d);
    }
    std::unordered_map<Digest, Bytes> bodies;
    CAIRN_RETURN_IF_ERROR(in_batches(
        wanted, {},
        [&](const std::string& in, const std::vector<sql::Value>& args) -> Result<void> {
          CAIRN_ASSIGN_OR_RETURN(
              auto r,
              s.run("SELECT manifest_hash, body FROM manifests WHERE manifest_hash IN (" + in + ")",
                    args));
          for (size_t i = 0; i < r.size(); ++i) {
            if (auto d = Digest::from_bytes(r[i].get_blob(0))) bodies[*d] = r[i].get_blob(1);
          }
          return {};
        }));
    Found out;
    out.reserve(bodies.size());
    for (const auto& d : wanted) {
      auto it = bodies.find(d);
      if (it != bodies.end()) out.emplace_back(d, std::move(it->second));
    }
    return out;
  });
}

Result<bool> SqlMetadataStore::user_can_read_chunk(int64_t user_id, const Digest& digest) {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<bool> {
    return Tx(s).user_has_chunk(user_id, digest);
  });
}

Result<bool> SqlMetadataStore::pack_recorded_by(int64_t user_id, const Digest& pack,
                                                uint64_t size) {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<bool> {
    CAIRN_ASSIGN_OR_RETURN(auto r, s.query("SELECT 1 FROM packs WHERE pack_hash=?1 AND "
                                           "uploader_id=?2 AND size=?3 AND retired_at IS NULL",
                                           pack.bytes(), user_id, static_cast<int64_t>(size)));
    return !r.empty();
  });
}

}  // namespace cairn::store::sqlstore
