// Garbage collection, damaged copies and the metadata check.

#include "daemon/store/sql/metadata_internal.h"

namespace cairn::store::sqlstore {

Result<std::vector<Digest>> SqlMetadataStore::gc_candidates(int64_t cutoff) {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<Digest>> {
    std::unordered_set<Digest> keep;
    CAIRN_RETURN_IF_ERROR(chunks_of_manifests(
        s,
        "SELECT manifest_hash FROM versions WHERE manifest_hash IS NOT NULL UNION "
        "SELECT manifest_hash FROM uploads WHERE manifest_hash IS NOT NULL",
        {}, keep));
    // A copy stored since the cutoff may belong to a push that has not staged its files yet.
    CAIRN_ASSIGN_OR_RETURN(auto young,
                           s.query("SELECT hash FROM chunks WHERE created_at >= ?1 UNION "
                                   "SELECT pc.hash FROM pack_chunks pc JOIN packs p ON "
                                   "p.pack_hash = pc.pack_hash WHERE p.created_at >= ?1",
                                   cutoff));
    collect_digests(young, 0, keep);
    CAIRN_ASSIGN_OR_RETURN(auto stored,
                           s.query("SELECT hash FROM chunks UNION SELECT hash FROM pack_chunks"));
    std::vector<Digest> out;
    for (size_t i = 0; i < stored.size(); ++i) {
      auto d = Digest::from_bytes(stored[i].get_blob(0));
      if (d && keep.count(*d) == 0) out.push_back(*d);
    }
    return out;
  });
}

Result<GcSwept> SqlMetadataStore::gc_sweep(const std::vector<Digest>& candidates,
                                           int64_t recent_since, int64_t cutoff) {
  if (candidates.empty()) return GcSwept{};
  return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<GcSwept> {
    GcSwept out;
    // What commits and uploads made since the candidates were chosen still protects them.
    std::unordered_set<Digest> keep;
    CAIRN_RETURN_IF_ERROR(chunks_of_manifests(
        s,
        "SELECT manifest_hash FROM versions WHERE manifest_hash IS NOT NULL AND created_at >= "
        "?1 UNION SELECT manifest_hash FROM uploads WHERE manifest_hash IS NOT NULL",
        {sql::to_value(recent_since)}, keep));
    auto checked = in_batches(
        candidates, {sql::to_value(cutoff)},
        [&](const std::string& in, const std::vector<sql::Value>& args) -> Result<void> {
          CAIRN_ASSIGN_OR_RETURN(
              auto young,
              s.run("SELECT hash FROM chunks WHERE created_at >= ?1 AND hash IN (" + in +
                        ") UNION SELECT pc.hash FROM pack_chunks pc JOIN packs p ON "
                        "p.pack_hash = pc.pack_hash WHERE p.created_at >= ?1 AND pc.hash IN (" +
                        in + ")",
                    args));
          collect_digests(young, 0, keep);
          return {};
        });
    if (!checked) return std::move(checked).error();
    std::vector<Digest> doomed;
    for (const auto& d : candidates) {
      if (keep.count(d) == 0) doomed.push_back(d);
    }
    auto deleted = in_batches(
        doomed, {},
        [&](const std::string& in, const std::vector<sql::Value>& args) -> Result<void> {
          CAIRN_RETURN_IF_ERROR(s.run("DELETE FROM user_chunks WHERE hash IN (" + in + ")", args));
          // Objects of their own are doomed, not forgotten: gc_delete_chunks removes each one
          // under its row, unless an upload brought it back meanwhile.
          std::vector<sql::Value> doom = args;
          doom.push_back(sql::to_value(cutoff));
          CAIRN_ASSIGN_OR_RETURN(
              auto whole, s.run("UPDATE chunks SET doomed_at = ?" + std::to_string(doom.size()) +
                                    " WHERE hash IN (" + in + ") RETURNING hash",
                                doom));
          for (size_t i = 0; i < whole.size(); ++i) {
            if (auto d = Digest::from_bytes(whole[i].get_blob(0))) out.standalone.push_back(*d);
          }
          CAIRN_RETURN_IF_ERROR(s.run("DELETE FROM pack_chunks WHERE hash IN (" + in + ")", args));
          return {};
        });
    if (!deleted) return std::move(deleted).error();
    out.chunks = static_cast<int64_t>(doomed.size());
    return out;
  });
}

Result<int64_t> SqlMetadataStore::gc_delete_chunks(
    const std::vector<Digest>& doomed, const std::function<Result<void>(const Digest&)>& remove) {
  // Small transactions: each holds its rows (on SQLite, the writer) while objects are removed.
  constexpr size_t kPerTransaction = 64;
  int64_t removed = 0;
  for (size_t begin = 0; begin < doomed.size(); begin += kPerTransaction) {
    const std::vector<Digest> batch(doomed.begin() + static_cast<std::ptrdiff_t>(begin),
                                    doomed.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                         doomed.size(), begin + kPerTransaction)));
    auto n = sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<int64_t> {
      int64_t count = 0;
      auto done = in_batches(
          batch, {},
          [&](const std::string& in, const std::vector<sql::Value>& args) -> Result<void> {
            // Takes the rows still doomed; an upload since the sweep cleared the others
            // (see record_chunk), and their objects stay.
            CAIRN_ASSIGN_OR_RETURN(auto still,
                                   s.run("UPDATE chunks SET doomed_at = doomed_at WHERE "
                                         "doomed_at IS NOT NULL AND hash IN (" +
                                             in + ") RETURNING hash",
                                         args));
            for (size_t i = 0; i < still.size(); ++i) {
              auto d = Digest::from_bytes(still[i].get_blob(0));
              if (!d) continue;
              CAIRN_RETURN_IF_ERROR(remove(*d));
              CAIRN_RETURN_IF_ERROR(s.query(
                  "DELETE FROM chunks WHERE hash = ?1 AND doomed_at IS NOT NULL", d->bytes()));
              ++count;
            }
            return {};
          });
      if (!done) return std::move(done).error();
      return count;
    });
    if (!n) return std::move(n).error();
    removed += *n;
  }
  return removed;
}

Result<std::vector<PackUsage>> SqlMetadataStore::gc_pack_usage() {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<PackUsage>> {
    CAIRN_ASSIGN_OR_RETURN(
        auto r, s.query("SELECT p.pack_hash, p.size, p.created_at, p.retired_at, "
                        "COALESCE(SUM(pc.stored_size), 0), COUNT(pc.hash), p.chunk_count FROM "
                        "packs p LEFT JOIN pack_chunks pc ON pc.pack_hash = p.pack_hash "
                        "GROUP BY p.pack_hash, p.size, p.created_at, p.retired_at, "
                        "p.chunk_count ORDER BY p.created_at, p.pack_hash"));
    std::vector<PackUsage> out;
    for (size_t i = 0; i < r.size(); ++i) {
      auto d = Digest::from_bytes(r[i].get_blob(0));
      if (!d) continue;
      PackUsage u;
      u.pack = *d;
      u.size = static_cast<uint64_t>(r[i].get_int(1));
      u.created_at = r[i].get_int(2);
      u.retired_at = r[i].get_optional_int(3);
      u.live_bytes = static_cast<uint64_t>(r[i].get_int(4));
      u.live_chunks = r[i].get_int(5);
      u.chunk_count = r[i].get_int(6);
      out.push_back(u);
    }
    return out;
  });
}

Result<std::vector<ChunkLocation>> SqlMetadataStore::gc_pack_chunks(const Digest& pack) {
  return pack_chunks_in(pack, 0, static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
}

Result<std::vector<ChunkLocation>> SqlMetadataStore::pack_chunks_in(const Digest& pack,
                                                                    uint64_t offset,
                                                                    uint64_t length) {
  constexpr uint64_t kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  const uint64_t first = std::min(offset, kMax);
  const uint64_t last = length > kMax - first ? kMax : first + length;  // Exclusive.
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<ChunkLocation>> {
    // By the (pack, offset) index: a read of a quarter of a pack looks at that quarter's rows.
    CAIRN_ASSIGN_OR_RETURN(
        auto r, s.query("SELECT hash, pack_offset, stored_size, size, codec, stored_xxh3 "
                        "FROM pack_chunks WHERE pack_hash = ?1 AND "
                        "pack_offset >= ?2 AND pack_offset < ?3 ORDER BY "
                        "pack_offset",
                        pack.bytes(), static_cast<int64_t>(first), static_cast<int64_t>(last)));
    std::vector<ChunkLocation> out;
    for (size_t i = 0; i < r.size(); ++i) {
      auto d = Digest::from_bytes(r[i].get_blob(0));
      if (d && (out.empty() || out.back().hash != *d)) {
        out.push_back(location_from_row(r[i], 1, *d, pack));
      }
    }
    return out;
  });
}

Result<int64_t> SqlMetadataStore::gc_replace_packs(const std::vector<Digest>& old_packs,
                                                   const Digest& new_pack, uint64_t new_size,
                                                   const std::vector<PackEntry>& entries,
                                                   int64_t now) {
  return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<int64_t> {
    // Only chunks an old pack still holds move: a sweep may have forgotten some meanwhile.
    std::unordered_set<Digest> held;
    std::vector<std::pair<Digest, int64_t>> claims;  // (chunk, claimant) of unverified packs
    for (const auto& old_pack : old_packs) {
      CAIRN_ASSIGN_OR_RETURN(auto still,
                             s.query("SELECT hash, reader_id FROM pack_chunks WHERE pack_hash = ?1",
                                     old_pack.bytes()));
      for (size_t i = 0; i < still.size(); ++i) {
        auto d = Digest::from_bytes(still[i].get_blob(0));
        if (!d) continue;
        held.insert(*d);
        if (still[i].get_int(1) != 0) claims.emplace_back(*d, still[i].get_int(1));
      }
    }
    std::vector<PackEntry> moving;
    std::unordered_set<Digest> moved;
    for (const auto& e : entries) {
      if (held.count(e.hash) != 0 && moved.insert(e.hash).second) moving.push_back(e);
    }
    // The daemon verified every chunk it copies: a claim its uploader made (a pack the daemon
    // never saw) proved true, and the claimant now holds the chunk.
    for (const auto& [d, reader] : claims) {
      if (moved.count(d) == 0) continue;
      CAIRN_RETURN_IF_ERROR(
          s.query("INSERT INTO user_chunks(user_id, hash) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                  reader, d.bytes()));
    }
    CAIRN_RETURN_IF_ERROR(
        s.query("INSERT INTO packs(pack_hash, size, chunk_count, uploader_id, verified, "
                "created_at, retired_at) VALUES (?1, ?2, ?3, 0, 1, ?4, ?5) "
                "ON CONFLICT DO NOTHING",
                new_pack.bytes(), new_size, static_cast<int64_t>(entries.size()), now,
                moving.empty() ? std::optional<int64_t>(now) : std::optional<int64_t>()));
    CAIRN_RETURN_IF_ERROR(insert_pack_chunks(s, new_pack, 0, moving));
    for (const auto& old_pack : old_packs) {
      if (old_pack == new_pack) continue;
      CAIRN_RETURN_IF_ERROR(
          s.query("DELETE FROM pack_chunks WHERE pack_hash = ?1", old_pack.bytes()));
      CAIRN_RETURN_IF_ERROR(
          s.query("UPDATE packs SET retired_at = ?2 WHERE pack_hash = ?1", old_pack.bytes(), now));
    }
    return static_cast<int64_t>(moving.size());
  });
}

Result<bool> SqlMetadataStore::gc_retire_pack(const Digest& pack, int64_t now) {
  return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<bool> {
    CAIRN_ASSIGN_OR_RETURN(
        auto retired,
        s.query("UPDATE packs SET retired_at = ?2 WHERE pack_hash = ?1 AND retired_at IS NULL "
                "AND NOT EXISTS (SELECT 1 FROM pack_chunks pc WHERE pc.pack_hash = ?1)",
                pack.bytes(), now));
    return retired.affected > 0;
  });
}

Result<void> SqlMetadataStore::gc_forget_pack(const Digest& pack) {
  return db_->transact(TxMode::kWrite, [&](Session& s) -> Result<void> {
    CAIRN_RETURN_IF_ERROR(
        s.query("DELETE FROM packs WHERE pack_hash = ?1 AND retired_at IS NOT NULL AND NOT EXISTS "
                "(SELECT 1 FROM pack_chunks pc WHERE pc.pack_hash = ?1)",
                pack.bytes()));
    return {};
  });
}

Result<MetadataStore::CopyFate> SqlMetadataStore::forget_damaged_copy(
    const ChunkRef& chunk, const std::optional<Digest>& pack, int64_t now,
    const std::string& detail, const std::function<Result<bool>()>& confirm) {
  return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<CopyFate> {
    // Take the row first (an upload of the same chunk takes it before it publishes), then
    // look at the bytes again. A copy the index no longer records (gc took it) is nobody's
    // loss.
    CAIRN_ASSIGN_OR_RETURN(auto own, s.query("UPDATE chunks SET size = size WHERE hash = ?1 AND "
                                             "doomed_at IS NULL RETURNING hash",
                                             chunk.hash.bytes()));
    if (pack) {
      CAIRN_ASSIGN_OR_RETURN(auto placed, s.query("SELECT 1 FROM pack_chunks WHERE hash = ?1 AND "
                                                  "pack_hash = ?2",
                                                  chunk.hash.bytes(), pack->bytes()));
      if (placed.empty()) return CopyFate::kSound;
    } else if (own.empty()) {
      return CopyFate::kSound;
    }
    if (confirm) {
      CAIRN_ASSIGN_OR_RETURN(const bool damaged, confirm());
      if (!damaged) return CopyFate::kSound;
    }
    if (pack) {
      CAIRN_RETURN_IF_ERROR(s.query("DELETE FROM pack_chunks WHERE hash = ?1 AND pack_hash = ?2",
                                    chunk.hash.bytes(), pack->bytes()));
    } else {
      CAIRN_RETURN_IF_ERROR(s.query("DELETE FROM chunks WHERE hash = ?1", chunk.hash.bytes()));
    }
    CAIRN_ASSIGN_OR_RETURN(
        auto left, s.query("SELECT 1 FROM chunks WHERE hash = ?1 AND doomed_at IS NULL UNION "
                           "ALL SELECT 1 FROM pack_chunks WHERE hash = ?1",
                           chunk.hash.bytes()));
    if (!left.empty()) return CopyFate::kForgotten;
    CAIRN_RETURN_IF_ERROR(
        s.query("INSERT INTO damaged_chunks(hash, size, found_at, detail) VALUES (?1, ?2, ?3, "
                "?4) ON CONFLICT DO NOTHING",
                chunk.hash.bytes(), static_cast<int64_t>(chunk.length), now, detail));
    return CopyFate::kLost;
  });
}

Result<int64_t> SqlMetadataStore::record_lost_chunks(const std::vector<ChunkRef>& chunks,
                                                     int64_t now, const std::string& detail) {
  return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<int64_t> {
    int64_t recorded = 0;
    for (const auto& c : chunks) {
      CAIRN_ASSIGN_OR_RETURN(
          auto copy, s.query("SELECT 1 FROM chunks WHERE hash = ?1 AND doomed_at IS NULL UNION "
                             "ALL SELECT 1 FROM pack_chunks WHERE hash = ?1",
                             c.hash.bytes()));
      if (!copy.empty()) continue;  // Stored since the snapshot that missed it.
      CAIRN_ASSIGN_OR_RETURN(
          auto r, s.query("INSERT INTO damaged_chunks(hash, size, found_at, detail) VALUES "
                          "(?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                          c.hash.bytes(), static_cast<int64_t>(c.length), now, detail));
      recorded += r.affected;
    }
    return recorded;
  });
}

Result<std::vector<DamagedChunk>> SqlMetadataStore::damaged_chunks() {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<DamagedChunk>> {
    CAIRN_ASSIGN_OR_RETURN(auto r, s.query("SELECT hash, size, found_at, detail FROM "
                                           "damaged_chunks ORDER BY found_at, hash"));
    std::vector<DamagedChunk> out;
    for (size_t i = 0; i < r.size(); ++i) {
      auto d = Digest::from_bytes(r[i].get_blob(0));
      if (!d) continue;
      out.push_back(
          {*d, static_cast<uint64_t>(r[i].get_int(1)), r[i].get_int(2), r[i].get_text(3)});
    }
    return out;
  });
}

Result<int64_t> SqlMetadataStore::index_damage() {
  // Read every manifest in one snapshot, then record what was found in a short write: a scan
  // of every manifest must not hold the writer. Manifests never change; one committed in
  // between that needs a damaged chunk could only be committed by someone who claims it.
  std::unordered_set<Digest> pending;
  std::vector<std::pair<Digest, Digest>> needs;  // (chunk, manifest)
  CAIRN_RETURN_IF_ERROR(sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<void> {
    pending.clear();
    needs.clear();
    CAIRN_ASSIGN_OR_RETURN(auto r, s.query("SELECT hash FROM damaged_chunks WHERE indexed = 0"));
    collect_digests(r, 0, pending);
    if (pending.empty()) return {};
    CAIRN_ASSIGN_OR_RETURN(auto m, s.query("SELECT manifest_hash, body FROM manifests"));
    for (size_t i = 0; i < m.size(); ++i) {
      auto digest = Digest::from_bytes(m[i].get_blob(0));
      auto decoded = Manifest::decode(m[i].get_blob(1));
      if (!digest || !decoded) continue;  // check_metadata reports unreadable manifests.
      std::unordered_set<Digest> seen;
      for (const auto& c : decoded->chunks()) {
        if (pending.count(c.hash) != 0 && seen.insert(c.hash).second) {
          needs.emplace_back(c.hash, *digest);
        }
      }
    }
    return {};
  }));
  if (pending.empty()) return 0;
  return sql::transact(*db_, TxMode::kWrite, [&](Session& s) -> Result<int64_t> {
    // Only for chunks still damaged: one repaired meanwhile needs nothing.
    CAIRN_ASSIGN_OR_RETURN(auto still, s.query("SELECT hash FROM damaged_chunks"));
    std::unordered_set<Digest> damaged;
    collect_digests(still, 0, damaged);
    for (const auto& [chunk, manifest] : needs) {
      if (damaged.count(chunk) == 0) continue;
      CAIRN_RETURN_IF_ERROR(
          s.query("INSERT INTO damaged_needs(hash, manifest_hash) VALUES (?1, ?2) ON CONFLICT "
                  "DO NOTHING",
                  chunk.bytes(), manifest.bytes()));
    }
    const std::vector<Digest> done(pending.begin(), pending.end());
    auto marked = in_batches(
        done, {}, [&](const std::string& in, const std::vector<sql::Value>& args) -> Result<void> {
          auto r = s.run("UPDATE damaged_chunks SET indexed = 1 WHERE hash IN (" + in + ")", args);
          if (!r) return std::move(r).error();
          return {};
        });
    if (!marked) return std::move(marked).error();
    return static_cast<int64_t>(done.size());
  });
}

Result<std::vector<DamagedVersion>> SqlMetadataStore::damaged_versions() {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<DamagedVersion>> {
    Tx tx(s);
    CAIRN_ASSIGN_OR_RETURN(
        auto r, s.query("SELECT dn.hash, v.namespace_id, v.node_id, v.seq, n.head_seq, "
                        "n.deleted_at, u.name FROM damaged_needs dn JOIN versions v ON "
                        "v.manifest_hash = dn.manifest_hash JOIN nodes n ON n.node_id = v.node_id "
                        "JOIN namespaces ns ON ns.namespace_id = v.namespace_id JOIN users u ON "
                        "u.user_id = ns.owner_id ORDER BY u.name, v.node_id, v.seq DESC"));
    std::vector<DamagedVersion> out;
    for (size_t i = 0; i < r.size(); ++i) {
      auto d = Digest::from_bytes(r[i].get_blob(0));
      if (!d) continue;
      DamagedVersion v;
      v.chunk = *d;
      v.node_id = r[i].get_int(2);
      v.version = r[i].get_int(3);
      v.head = r[i].get_int(4) == v.version;
      v.deleted = !r[i].is_null(5);
      v.owner = r[i].get_text(6);
      CAIRN_ASSIGN_OR_RETURN(v.path, tx.node_path(r[i].get_int(1), v.node_id));
      out.push_back(std::move(v));
    }
    return out;
  });
}

Result<std::vector<FileToRepair>> SqlMetadataStore::files_to_repair(int64_t user_id,
                                                                    const std::string& scope_path) {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<FileToRepair>> {
    Tx tx(s);
    std::vector<FileToRepair> out;
    CAIRN_ASSIGN_OR_RETURN(auto any, s.query("SELECT 1 FROM damaged_needs LIMIT 1"));
    if (any.empty()) return out;  // Nearly always: one cheap query per push.
    CAIRN_ASSIGN_OR_RETURN(
        auto u, s.query("SELECT home_namespace_id FROM users WHERE user_id=?1", user_id));
    if (u.empty()) return out;
    Actor a;
    a.user_id = user_id;
    a.namespace_id = u[0].get_int(0);
    // The namespaces of the user's view: their own, and those shared with them.
    std::vector<int64_t> spaces = {a.namespace_id};
    CAIRN_ASSIGN_OR_RETURN(const auto* all, tx.mounts(user_id));
    for (const auto& m : *all) spaces.push_back(m.ns);
    CAIRN_ASSIGN_OR_RETURN(
        auto r, s.query("SELECT dn.hash, d.size, v.namespace_id, v.node_id, v.seq FROM "
                        "damaged_needs dn JOIN damaged_chunks d ON d.hash = dn.hash JOIN "
                        "versions v ON v.manifest_hash = dn.manifest_hash JOIN nodes n ON "
                        "n.node_id = v.node_id AND n.head_seq = v.seq WHERE "
                        "n.deleted_at IS NULL AND v.namespace_id IN (" +
                        id_list(spaces) + ") ORDER BY v.node_id, dn.hash"));
    std::map<std::pair<int64_t, int64_t>, size_t> at;  // (namespace, node) -> out index
    for (size_t i = 0; i < r.size(); ++i) {
      auto d = Digest::from_bytes(r[i].get_blob(0));
      if (!d) continue;
      const int64_t ns = r[i].get_int(2);
      const int64_t node = r[i].get_int(3);
      auto it = at.find({ns, node});
      if (it == at.end()) {
        CAIRN_ASSIGN_OR_RETURN(std::string path, tx.link_path(a, ns, node));
        if (path.empty() || !is_within(path, scope_path)) continue;
        it = at.emplace(std::make_pair(ns, node), out.size()).first;
        out.push_back({std::move(path), node, r[i].get_int(4), {}});
      }
      out[it->second].chunks.push_back({*d, static_cast<uint32_t>(r[i].get_int(1))});
    }
    return out;
  });
}

Result<MetadataCheck> SqlMetadataStore::check_metadata() {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<MetadataCheck> {
    Tx tx(s);
    MetadataCheck out;
    auto problem = [&](std::string text) { out.problems.push_back(std::move(text)); };
    auto where = [&](int64_t ns, int64_t node) -> std::string {
      auto path = tx.node_path(ns, node);
      return "node " + std::to_string(node) + (path ? " (" + *path + ")" : std::string());
    };

    // Every version's manifest is stored; every chunk it needs has a copy.
    CAIRN_ASSIGN_OR_RETURN(auto count, s.query("SELECT COUNT(*) FROM versions"));
    out.versions = count.empty() ? 0 : count[0].get_int(0);
    CAIRN_ASSIGN_OR_RETURN(
        auto orphans,
        s.query("SELECT v.namespace_id, v.node_id, v.seq FROM versions v WHERE "
                "v.manifest_hash IS NOT NULL AND NOT EXISTS (SELECT 1 FROM manifests m WHERE "
                "m.manifest_hash = v.manifest_hash) ORDER BY v.node_id, v.seq"));
    for (size_t i = 0; i < orphans.size(); ++i) {
      problem("version " + std::to_string(orphans[i].get_int(2)) + " of " +
              where(orphans[i].get_int(0), orphans[i].get_int(1)) +
              " names a manifest that is not stored");
    }
    CAIRN_ASSIGN_OR_RETURN(
        auto bodies, s.query("SELECT manifest_hash, body FROM manifests WHERE manifest_hash IN "
                             "(SELECT manifest_hash FROM versions WHERE manifest_hash IS NOT "
                             "NULL)"));
    out.manifests = static_cast<int64_t>(bodies.size());
    std::unordered_map<Digest, uint32_t> needed;
    for (size_t i = 0; i < bodies.size(); ++i) {
      auto m = Manifest::decode(bodies[i].get_blob(1));
      if (!m) {
        auto d = Digest::from_bytes(bodies[i].get_blob(0));
        problem("manifest " + (d ? d->hex() : std::string("?")) +
                " does not decode: " + m.error().message());
        continue;
      }
      for (const auto& c : m->chunks()) needed.emplace(c.hash, c.length);
    }
    out.chunks = static_cast<int64_t>(needed.size());
    CAIRN_ASSIGN_OR_RETURN(auto located,
                           s.query("SELECT hash FROM chunks WHERE doomed_at IS NULL UNION SELECT "
                                   "hash FROM pack_chunks UNION SELECT hash FROM damaged_chunks"));
    for (size_t i = 0; i < located.size(); ++i) {
      if (auto d = Digest::from_bytes(located[i].get_blob(0))) needed.erase(*d);
    }
    for (const auto& [hash, length] : needed) out.unlocated.push_back({hash, length});
    std::sort(out.unlocated.begin(), out.unlocated.end(),
              [](const ChunkRef& x, const ChunkRef& y) { return x.hash < y.hash; });

    // The closure: every node is its own descendant at depth 0, and its parent's at depth 1.
    CAIRN_ASSIGN_OR_RETURN(
        auto unclosed,
        s.query("SELECT n.namespace_id, n.node_id FROM nodes n WHERE NOT EXISTS (SELECT 1 FROM "
                "closure c WHERE c.ancestor = n.node_id AND c.descendant = n.node_id AND "
                "c.depth = 0) OR (n.parent_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                "closure c WHERE c.ancestor = n.parent_id AND c.descendant = n.node_id AND "
                "c.depth = 1)) ORDER BY n.node_id"));
    for (size_t i = 0; i < unclosed.size(); ++i) {
      problem(where(unclosed[i].get_int(0), unclosed[i].get_int(1)) +
              ": the closure table does not match its parent");
    }

    // Quotas: what each user is charged is the size of their files' heads, trash included.
    CAIRN_ASSIGN_OR_RETURN(
        auto quotas,
        s.query("SELECT u.name, q.used_bytes, COALESCE((SELECT SUM(v.size) FROM nodes n JOIN "
                "namespaces ns ON ns.namespace_id = n.namespace_id JOIN versions v ON "
                "v.node_id = n.node_id AND v.seq = n.head_seq WHERE ns.owner_id = u.user_id "
                "AND n.kind = 0 AND n.purged_at IS NULL), 0) FROM users u JOIN quotas q ON "
                "q.user_id = u.user_id ORDER BY u.name"));
    for (size_t i = 0; i < quotas.size(); ++i) {
      if (quotas[i].get_int(1) != quotas[i].get_int(2)) {
        problem("user " + quotas[i].get_text(0) + " is charged " +
                std::to_string(quotas[i].get_int(1)) + " bytes, but their files hold " +
                std::to_string(quotas[i].get_int(2)));
      }
    }

    // Journals: no change is numbered past its namespace's last sequence number.
    CAIRN_ASSIGN_OR_RETURN(
        auto ahead, s.query("SELECT ns.namespace_id, ns.last_seq, MAX(j.seq) FROM namespaces "
                            "ns JOIN journal j ON j.namespace_id = ns.namespace_id GROUP BY "
                            "ns.namespace_id, ns.last_seq HAVING MAX(j.seq) > ns.last_seq"));
    for (size_t i = 0; i < ahead.size(); ++i) {
      problem("namespace " + std::to_string(ahead[i].get_int(0)) + " is at change " +
              std::to_string(ahead[i].get_int(1)) + " but its journal reaches " +
              std::to_string(ahead[i].get_int(2)));
    }

    // Packs and their index: every indexed chunk lies inside a live pack that exists.
    CAIRN_ASSIGN_OR_RETURN(
        auto astray,
        s.query("SELECT pc.hash, pc.pack_hash, p.size, p.retired_at, pc.pack_offset, "
                "pc.stored_size FROM pack_chunks pc LEFT JOIN packs p ON p.pack_hash = "
                "pc.pack_hash WHERE p.pack_hash IS NULL OR p.retired_at IS NOT NULL OR "
                "pc.pack_offset < 0 OR pc.pack_offset + pc.stored_size > p.size"));
    for (size_t i = 0; i < astray.size(); ++i) {
      auto chunk = Digest::from_bytes(astray[i].get_blob(0));
      auto pack = Digest::from_bytes(astray[i].get_blob(1));
      const std::string what =
          "chunk " + (chunk ? chunk->hex() : "?") + " in pack " + (pack ? pack->hex() : "?");
      if (astray[i].is_null(2)) {
        problem(what + ": the pack is not recorded");
      } else if (!astray[i].is_null(3)) {
        problem(what + ": the pack is retired");
      } else {
        problem(what + ": its place lies outside the pack");
      }
    }
    return out;
  });
}

Result<std::vector<ChunkRef>> SqlMetadataStore::stored_chunks() {
  return sql::transact(*db_, TxMode::kRead, [&](Session& s) -> Result<std::vector<ChunkRef>> {
    CAIRN_ASSIGN_OR_RETURN(
        auto r, s.query("SELECT hash, size FROM chunks WHERE doomed_at IS NULL ORDER BY hash"));
    std::vector<ChunkRef> out;
    out.reserve(r.size());
    for (size_t i = 0; i < r.size(); ++i) {
      if (auto d = Digest::from_bytes(r[i].get_blob(0))) {
        out.push_back({*d, static_cast<uint32_t>(r[i].get_int(1))});
      }
    }
    return out;
  });
}

}  // namespace cairn::store::sqlstore
