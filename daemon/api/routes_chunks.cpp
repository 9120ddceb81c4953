// Chunk and pack routes: negotiation (check, confirm, locate) and the bytes themselves, which
// travel on signed URLs and are verified as they stream in and out.

#include <memory>
#include <string>
#include <utility>

#include "daemon/api/handlers.h"
#include "daemon/api/route_kit.h"

namespace cairn::api::routes {
namespace {

// A stored object's bytes, verified as they are sent: a chunk that fails ends the response
// early, so the client never sees a clean 200 with damaged bytes.
class VerifiedSource final : public BodySource {
 public:
  explicit VerifiedSource(std::shared_ptr<service::VerifiedRead> read) : read_(std::move(read)) {}
  Result<ByteView> next() override { return read_->next(); }

 private:
  std::shared_ptr<service::VerifiedRead> read_;
};

HttpResponse streamed(std::shared_ptr<service::VerifiedRead> read) {
  HttpResponse r;
  r.content_type = "application/octet-stream";
  r.source_size = read->size();
  r.source = std::make_shared<VerifiedSource>(std::move(read));
  return r;
}

// Streams a chunk upload into the blob store; finish() verifies and records it.
class ChunkSink final : public BodySink {
 public:
  ChunkSink(Services& services, service::ChunkPutGrant grant,
            std::unique_ptr<store::BlobWriter> writer)
      : services_(services), grant_(grant), writer_(std::move(writer)) {}

  Result<void> write(ByteView bytes) override {
    auto written = writer_->write(bytes);
    if (!written) discard();
    return written;
  }

  HttpResponse finish() override {
    auto done = services_.chunks().finish_chunk_put(grant_, *writer_);
    if (!done) {
      if (done.error().code() == ErrorCode::kCorrupt) {
        count(metrics().chunks_rejected);
      }
      discard();
      return fail(done.error());
    }
    count(metrics().chunks_received);
    count(metrics().chunk_bytes_received, grant_.size);
    return HttpResponse::json(201, R"({"stored":true})");
  }

 private:
  // Drops the temporary file now, before the error goes out, not when the connection lets go
  // of this sink. Later writes go nowhere.
  void discard() { writer_ = std::make_unique<NullWriter>(); }

  // Stands in for a discarded writer: the server stops at the first error, but never crashes.
  class NullWriter final : public store::BlobWriter {
   public:
    Result<void> write(ByteView) override {
      return make_error(ErrorCode::kInvalidArgument, "upload already refused");
    }
    Result<void> seal() override {
      return make_error(ErrorCode::kInvalidArgument, "upload already refused");
    }
    Result<void> commit() override {
      return make_error(ErrorCode::kInvalidArgument, "upload already refused");
    }
  };

  Services& services_;
  service::ChunkPutGrant grant_;
  std::unique_ptr<store::BlobWriter> writer_;
};

// Streams a pack upload into the blob store, verifying every chunk as it arrives; finish()
// stores and records the pack only if all of them hash right.
class PackSink final : public BodySink {
 public:
  explicit PackSink(std::unique_ptr<service::PackReceiver> receiver)
      : receiver_(std::move(receiver)) {}

  Result<void> write(ByteView bytes) override {
    if (!receiver_) return make_error(ErrorCode::kInvalidArgument, "upload already refused");
    auto written = receiver_->write(bytes);
    if (!written) {
      if (written.error().code() == ErrorCode::kCorrupt) {
        count(metrics().packs_rejected);
      }
      receiver_.reset();  // Its temporary file goes now, before the error is sent.
    }
    return written;
  }

  HttpResponse finish() override {
    if (!receiver_) return fail(Error(ErrorCode::kInvalidArgument, "upload already refused"));
    auto stored = receiver_->finish();
    if (!stored) {
      if (stored.error().code() == ErrorCode::kCorrupt) {
        count(metrics().packs_rejected);
      }
      receiver_.reset();
      return fail(stored.error());
    }
    count(metrics().packs_received);
    count(metrics().chunks_received, stored->chunks);
    return HttpResponse::json(201, protocol::encode_json(*stored));
  }

 private:
  std::unique_ptr<service::PackReceiver> receiver_;
};

// The signed GET of a chunk: its bytes inline (small), streamed and verified, a redirect to the
// blob store, or a range of a local file.
HttpResponse chunk_answer(service::ChunkBody chunk) {
  count(metrics().chunks_served);
  HttpResponse r;
  r.content_type = "application/octet-stream";
  if (chunk.bytes) {
    r.body.assign(reinterpret_cast<const char*>(chunk.bytes->data()), chunk.bytes->size());
    return r;
  }
  if (chunk.stream) return streamed(std::move(chunk.stream));
  const auto& info = chunk.object;
  if (!info.redirect_url.empty()) {
    // The bytes come from the blob store; the client verifies them as always.
    r.status = 307;
    r.headers.emplace_back("Location", info.redirect_url);
    return r;
  }
  r.file_path = info.file_path;
  r.file_offset = info.offset;
  r.file_size = info.size;
  return r;
}

// A signed upload's Content-Length must be the size the URL was signed for.
Result<void> check_length(const HttpRequest& req, uint64_t signed_size, const char* what) {
  if (!req.content_length || *req.content_length != signed_size) {
    return make_error(ErrorCode::kInvalidArgument, std::string("Content-Length must equal the ") +
                                                       what + " size the upload was granted for (" +
                                                       std::to_string(signed_size) + ")");
  }
  return {};
}

}  // namespace

void add_chunk_routes(Routes& routes) {
  Services& services = routes.services();
  RateLimiter* limiter = routes.limiter();
  routes.json<protocol::CheckChunksRequest>("POST", "/v1/chunks/check",
                                            &ChunkService::check_chunks);
  routes.json<protocol::CheckChunksRequest>("POST", "/v1/chunks/confirm",
                                            &ChunkService::confirm_chunks);
  routes.json<protocol::CheckChunksRequest>("POST", "/v1/chunks/locate",
                                            &ChunkService::locate_chunks);
  routes.json<protocol::PackUploadRequest>("POST", "/v1/packs", &ChunkService::pack_upload);
  routes.json<protocol::ConfirmPackRequest>("POST", "/v1/packs/confirm",
                                            &ChunkService::confirm_pack);

  // Chunk bytes: authorised by the URL's signature, not a bearer token, exactly like an S3
  // pre-signed URL, so the client has one upload path for both backends.
  routes.router().add_streaming(
      "PUT", "/v1/chunks/*",
      [&services](const HttpRequest& req,
                  const std::string& hex) -> Result<std::unique_ptr<BodySink>> {
        CAIRN_ASSIGN_OR_RETURN(auto grant, services.chunks().authorize_chunk_put(hex, req.query));
        return begin_chunk_upload(services, req, grant);
      });

  routes.router().add("GET", "/v1/chunks/*",
                      [&services, limiter](const HttpRequest& req, const std::string& hex) {
                        // A read that a (metered) locate signed is not metered again: a
                        // download of large files is one locate and then a read per chunk.
                        RateLimiter* meter = req.query.count("s") != 0 ? nullptr : limiter;
                        return authed(services, meter, req, [&](const RequestContext& ctx) {
                          auto chunk = services.chunks().chunk_read(ctx, hex, req.query);
                          if (!chunk) return fail(chunk.error());
                          return chunk_answer(std::move(*chunk));
                        });
                      });

  // Pack bytes, both ways: authorised by the URL's signature, like chunk uploads.
  routes.router().add_streaming(
      "PUT", "/v1/packs/*",
      [&services](const HttpRequest& req,
                  const std::string& hex) -> Result<std::unique_ptr<BodySink>> {
        CAIRN_ASSIGN_OR_RETURN(auto grant, services.chunks().authorize_pack_put(hex, req.query));
        CAIRN_RETURN_IF_ERROR(check_length(req, grant.size, "pack"));
        CAIRN_ASSIGN_OR_RETURN(auto receiver, services.chunks().begin_pack_put(grant));
        return std::unique_ptr<BodySink>(new PackSink(std::move(receiver)));
      });

  routes.router().add("GET", "/v1/packs/*",
                      [&services](const HttpRequest& req, const std::string& hex) {
                        count(metrics().requests);
                        auto body = services.chunks().pack_range_read(hex, req.query);
                        if (!body) return fail(body.error());
                        count(metrics().pack_reads);
                        if (body->stream) return streamed(std::move(body->stream));
                        HttpResponse r;
                        r.content_type = "application/octet-stream";
                        r.file_path = body->object.file_path;
                        r.file_offset = body->object.offset;
                        r.file_size = body->object.size;
                        return r;
                      });
}

}  // namespace cairn::api::routes

namespace cairn::api {

Result<std::unique_ptr<BodySink>> begin_chunk_upload(service::Services& services,
                                                     const HttpRequest& req,
                                                     const service::ChunkPutGrant& grant) {
  CAIRN_RETURN_IF_ERROR(routes::check_length(req, grant.size, "chunk"));
  CAIRN_ASSIGN_OR_RETURN(auto writer, services.chunks().begin_chunk_put(grant));
  return std::unique_ptr<BodySink>(new routes::ChunkSink(services, grant, std::move(writer)));
}

}  // namespace cairn::api
