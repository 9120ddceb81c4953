#include "daemon/commands/data_folder.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/bytes.h"
#include "daemon/commands/commands.h"
#include "daemon/store/sql/postgres_database.h"
#include "daemon/store/sql_metadata_store.h"

namespace cairn::admin {

namespace {

std::string conf_path(const std::string& data) { return data + "/cairnd.conf"; }

Backends default_backends(const std::string& data) {
  return {data + "/metadata.db", data + "/blobs"};
}

Result<std::optional<Backends>> read_conf(const std::string& data) {
  std::ifstream in(conf_path(data));
  if (!in) return std::optional<Backends>();
  Backends b = default_backends(data);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    const size_t eq = line.find(" = ");
    const std::string key = line.substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : line.substr(eq + 3);
    if (key == "metadata") {
      b.metadata = value;
    } else if (key == "blobs") {
      b.blobs = value;
    } else {
      return make_error(ErrorCode::kCorrupt, conf_path(data) + ":" + std::to_string(number) +
                                                 ": expected 'metadata = ...' or 'blobs = ...'");
    }
  }
  return std::optional<Backends>(b);
}

// Written 0600: a metadata URL may carry a password.
Result<void> write_conf(const std::string& data, const Backends& b) {
  const std::string tmp = conf_path(data) + ".tmp";
  {
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return make_error(ErrorCode::kIo, "create " + tmp + ": " + std::strerror(errno));
    const std::string text =
        "# Written by cairnd init. Every daemon sharing these backends serves the same files.\n"
        "metadata = " +
        b.metadata + "\nblobs = " + b.blobs + "\n";
    const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                    ::fsync(fd) == 0;
    ::close(fd);
    if (!ok) return make_error(ErrorCode::kIo, "write " + tmp + ": " + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), conf_path(data).c_str()) != 0) {
    return make_error(ErrorCode::kIo, "rename " + tmp + ": " + std::strerror(errno));
  }
  return {};
}

Result<uint32_t> setting_u32(store::MetadataStore& m, const char* key, uint32_t initial) {
  CAIRN_ASSIGN_OR_RETURN(std::string text, m.get_or_init_setting(key, std::to_string(initial)));
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size()) {
    return make_error(ErrorCode::kCorrupt, std::string("bad setting ") + key + "=" + text);
  }
  return v;
}

// `path` made absolute against the working folder, without following symlinks.
std::string absolute_path(const std::string& path) {
  std::error_code ec;
  auto abs = std::filesystem::absolute(path, ec);
  if (ec) return path;
  std::string out = abs.lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

}  // namespace

std::string describe_metadata(const std::string& location) {
  if (store::sql::is_postgres_url(location)) return store::sql::redact_postgres_url(location);
  return "sqlite " + location;
}

Result<std::unique_ptr<Daemon>> open_daemon(const std::string& data, bool init,
                                            const Backends& wanted, const ChunkerParams& chunking) {
  namespace fs = std::filesystem;
  std::error_code ec;
  CAIRN_ASSIGN_OR_RETURN(auto conf, read_conf(data));
  Backends backends = conf ? *conf : default_backends(data);
  if (init) {
    fs::create_directories(data, ec);
    if (ec) return make_error(ErrorCode::kIo, "create " + data + ": " + ec.message());
    // The data folder holds the URL-signing key (in metadata.db) and every user's bytes: its
    // owner's alone, even if it existed before (files made later are private by the umask).
    if (::chmod(data.c_str(), 0700) != 0) {
      return make_error(ErrorCode::kIo, "make " + data + " private: " + std::strerror(errno));
    }
    // Absolute paths: cron and systemd run later commands from other folders.
    Backends chosen = default_backends(absolute_path(data));
    if (!wanted.metadata.empty()) {
      chosen.metadata = store::sql::is_postgres_url(wanted.metadata)
                            ? wanted.metadata
                            : absolute_path(wanted.metadata);
    }
    if (!wanted.blobs.empty()) {
      chosen.blobs = wanted.blobs.find("://") != std::string::npos ? wanted.blobs
                                                                   : absolute_path(wanted.blobs);
    }
    if (conf && (conf->metadata != chosen.metadata || conf->blobs != chosen.blobs)) {
      return make_error(ErrorCode::kAlreadyExists, data + " is already set up for metadata " +
                                                       describe_metadata(conf->metadata) +
                                                       " and blobs " + conf->blobs + " (see " +
                                                       conf_path(data) + ")");
    }
    backends = chosen;
  } else if (!conf && !fs::exists(backends.metadata, ec)) {
    return make_error(ErrorCode::kNotFound,
                      data + " is not a cairnd data folder (run: cairnd init --data " + data + ")");
  }
  auto d = std::make_unique<Daemon>();
  d->backends = backends;
  auto metadata = store::open_metadata_store(backends.metadata, init);
  if (!metadata) {
    return std::move(metadata).error().with_context("metadata " +
                                                    describe_metadata(backends.metadata));
  }
  d->metadata = std::move(*metadata);
  auto blobs = store::open_blob_store(backends.blobs);
  if (!blobs) return std::move(blobs).error().with_context("blobs " + backends.blobs);
  d->blobs = std::move(*blobs);
  if (init && !conf) CAIRN_RETURN_IF_ERROR(write_conf(data, backends));

  // The server owns the chunking parameters: they are fixed at init and handed to every client,
  // so that all clients cut the same file at the same places.
  service::ServiceConfig config;
  config.version = kVersion;
  CAIRN_ASSIGN_OR_RETURN(config.chunking.min_size,
                         setting_u32(*d->metadata, "chunk_min_size", chunking.min_size));
  CAIRN_ASSIGN_OR_RETURN(config.chunking.avg_size,
                         setting_u32(*d->metadata, "chunk_avg_size", chunking.avg_size));
  CAIRN_ASSIGN_OR_RETURN(config.chunking.max_size,
                         setting_u32(*d->metadata, "chunk_max_size", chunking.max_size));
  CAIRN_RETURN_IF_ERROR(config.chunking.validate());
  // Chunks shorter than the minimum chunk size (whole small files and the tails of large ones)
  // travel in packs; larger chunks gain little from packing and stay objects of their own.
  CAIRN_ASSIGN_OR_RETURN(config.packs.chunk_limit,
                         setting_u32(*d->metadata, "pack_chunk_limit", config.chunking.min_size));
  CAIRN_ASSIGN_OR_RETURN(const uint32_t pack_target,
                         setting_u32(*d->metadata, "pack_target_size", 16 * 1024 * 1024));
  config.packs.target_size = pack_target;
  config.packs.max_size = std::max<uint64_t>(64 * 1024 * 1024, 2 * uint64_t{pack_target});
  CAIRN_ASSIGN_OR_RETURN(std::string key_hex, d->metadata->get_or_init_setting(
                                                  "url_signing_key", to_hex(secure_random(32))));
  auto key = from_hex(key_hex);
  if (!key || key->size() < 16) return make_error(ErrorCode::kCorrupt, "bad url_signing_key");
  d->services = std::make_unique<service::Services>(*d->metadata, *d->blobs, config,
                                                    std::move(*key), d->clock);
  return d;
}

}  // namespace cairn::admin
