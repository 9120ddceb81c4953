#include "daemon/api/handlers.h"

#include <atomic>
#include <charconv>

#include "common/protocol/protocol.h"
#include "daemon/api/rate_limit.h"
#include "daemon/service/services.h"

namespace cairn::api {
namespace {

using service::RequestContext;
using service::Services;

// Request counters for /metrics. Relaxed atomics: they are statistics, not synchronisation.
struct Metrics {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> errors{0};
  std::atomic<uint64_t> chunks_received{0};
  std::atomic<uint64_t> chunk_bytes_received{0};
  std::atomic<uint64_t> chunks_rejected{0};
  std::atomic<uint64_t> chunks_served{0};
  std::atomic<uint64_t> packs_received{0};
  std::atomic<uint64_t> packs_rejected{0};
  std::atomic<uint64_t> pack_reads{0};
  std::atomic<uint64_t> commits{0};
  std::atomic<uint64_t> rate_limited{0};
};

Metrics& metrics() {
  static Metrics m;
  return m;
}

HttpResponse fail(const Error& e) {
  metrics().errors.fetch_add(1, std::memory_order_relaxed);
  return HttpResponse::error(e);
}

template <typename T>
HttpResponse ok_json(const Result<T>& r) {
  if (!r) return fail(r.error());
  return HttpResponse::json(200, protocol::encode_json(*r));
}

// Authenticates and runs `body` with the request's context.
template <typename F>
HttpResponse authed(Services& services, RateLimiter* limiter, const HttpRequest& req, F&& body) {
  metrics().requests.fetch_add(1, std::memory_order_relaxed);
  auto user = services.authenticate(req.authorization);
  if (!user) return fail(user.error());
  if (limiter != nullptr && user->token_hash) {
    if (const int64_t wait = limiter->take(*user->token_hash); wait > 0) {
      metrics().rate_limited.fetch_add(1, std::memory_order_relaxed);
      HttpResponse r = HttpResponse::json(
          429, protocol::encode_json(protocol::ErrorBody{
                   "rate_limited",
                   "too many requests with this token; retry in " + std::to_string(wait) + " s"}));
      r.headers.emplace_back("Retry-After", std::to_string(wait));
      return r;
    }
  }
  RequestContext ctx{std::move(*user), req.device.substr(0, 128), services.now()};
  return body(ctx);
}

template <typename T>
Result<T> decode(const HttpRequest& req) {
  return protocol::decode_json<T>(req.body);
}

std::string query_or(const HttpRequest& req, const char* key, std::string fallback) {
  auto it = req.query.find(key);
  return it == req.query.end() ? fallback : it->second;
}

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
    auto done = services_.finish_chunk_put(grant_, *writer_);
    if (!done) {
      if (done.error().code() == ErrorCode::kCorrupt) {
        metrics().chunks_rejected.fetch_add(1, std::memory_order_relaxed);
      }
      discard();
      return fail(done.error());
    }
    metrics().chunks_received.fetch_add(1, std::memory_order_relaxed);
    metrics().chunk_bytes_received.fetch_add(grant_.size, std::memory_order_relaxed);
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
        metrics().packs_rejected.fetch_add(1, std::memory_order_relaxed);
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
        metrics().packs_rejected.fetch_add(1, std::memory_order_relaxed);
      }
      receiver_.reset();
      return fail(stored.error());
    }
    metrics().packs_received.fetch_add(1, std::memory_order_relaxed);
    metrics().chunks_received.fetch_add(stored->chunks, std::memory_order_relaxed);
    return HttpResponse::json(201, protocol::encode_json(*stored));
  }

 private:
  std::unique_ptr<service::PackReceiver> receiver_;
};

std::string metrics_text(const service::Notifier* notifier) {
  const auto& m = metrics();
  std::string out;
  auto line = [&](const char* name, const char* help, uint64_t value,
                  const char* type = "counter") {
    out += "# HELP ";
    out += name;
    out += " ";
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += " ";
    out += type;
    out += "\n";
    out += name;
    out += " ";
    out += std::to_string(value);
    out += "\n";
  };
  line("cairnd_requests_total", "Authenticated API requests.", m.requests.load());
  line("cairnd_errors_total", "Requests answered with an error.", m.errors.load());
  line("cairnd_chunks_received_total", "Chunks verified and stored.", m.chunks_received.load());
  line("cairnd_chunk_bytes_received_total", "Bytes of chunks verified and stored.",
       m.chunk_bytes_received.load());
  line("cairnd_chunks_rejected_total", "Chunk uploads whose bytes did not match their hash.",
       m.chunks_rejected.load());
  line("cairnd_chunks_served_total", "Chunks sent to clients.", m.chunks_served.load());
  line("cairnd_packs_received_total", "Packs verified and stored.", m.packs_received.load());
  line("cairnd_packs_rejected_total", "Pack uploads with a chunk that did not match its hash.",
       m.packs_rejected.load());
  line("cairnd_pack_reads_total", "Ranges of packs sent to clients.", m.pack_reads.load());
  line("cairnd_commits_total", "Commit requests applied.", m.commits.load());
  line("cairnd_rate_limited_total", "Requests refused with 429: over their token's rate.",
       m.rate_limited.load());
  if (notifier != nullptr) {
    line("cairnd_notify_connections", "Open /v1/notify WebSocket connections.",
         notifier->connections(), "gauge");
    line("cairnd_notify_events_total", "Change events sent on /v1/notify connections.",
         notifier->events_sent());
  }
  return out;
}

}  // namespace

void register_routes(Router& router, Services& services, RateLimiter* limiter,
                     service::Notifier* notifier) {
  router.add("GET", "/healthz", [](const HttpRequest&, const std::string&) {
    HttpResponse r;
    r.content_type = "text/plain";
    r.body = "ok\n";
    return r;
  });

  router.add("GET", "/metrics", [notifier](const HttpRequest&, const std::string&) {
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = metrics_text(notifier);
    return r;
  });

  // Change notifications: the token is checked here and then twice a second for as long as the
  // connection stays open (the notifier closes it once the token is no longer valid).
  if (notifier != nullptr) {
    router.add_socket(
        "/v1/notify",
        [&services, notifier, limiter](const HttpRequest& req) -> Result<Router::SocketAttach> {
          CAIRN_ASSIGN_OR_RETURN(auto user, services.authenticate(req.authorization));
          metrics().requests.fetch_add(1, std::memory_order_relaxed);
          // An upgrade counts against the token's rate like any request, and each user has a
          // bounded number of sockets open: each holds a descriptor and a little memory.
          if (limiter != nullptr && user.token_hash && limiter->take(*user.token_hash) > 0) {
            metrics().rate_limited.fetch_add(1, std::memory_order_relaxed);
            return make_error(ErrorCode::kUnavailable,
                              "too many requests with this token; retry shortly");
          }
          auto place = notifier->reserve(user);
          if (!place) {
            return make_error(ErrorCode::kUnavailable, "too many notification sockets open for " +
                                                           user.name + "; close one first");
          }
          return Router::SocketAttach(
              [notifier, place = std::move(place)](std::weak_ptr<Router::SocketPeer> peer) {
                notifier->subscribe(place, std::move(peer));
                return place;
              });
        });
  }

  // Every request to a handler route that carries a body is a /v1 call made with a token: check
  // the token before reading the body (then the handler checks it again, with the rate limit).
  router.set_gate([&services](const HttpRequest& req) -> Result<void> {
    auto user = services.authenticate(req.authorization);
    if (!user) {
      metrics().errors.fetch_add(1, std::memory_order_relaxed);
      return std::move(user).error();
    }
    return {};
  });

  // Authenticated like everything under /v1, so that a client's first call proves its token.
  router.add("GET", "/v1/config", [&services, limiter](const HttpRequest& req, const std::string&) {
    return authed(services, limiter, req, [&](const RequestContext&) {
      return HttpResponse::json(200, protocol::encode_json(services.server_config()));
    });
  });

  router.add("GET", "/v1/whoami", [&services, limiter](const HttpRequest& req, const std::string&) {
    return authed(services, limiter, req, [&](const RequestContext& ctx) {
      return HttpResponse::json(
          200, protocol::encode_json(protocol::WhoAmI{ctx.user.name, ctx.user.user_id}));
    });
  });

  router.add("POST", "/v1/chunks/check",
             [&services, limiter](const HttpRequest& req, const std::string&) {
               return authed(services, limiter, req, [&](const RequestContext& ctx) {
                 auto body = decode<protocol::CheckChunksRequest>(req);
                 if (!body) return fail(body.error());
                 return ok_json(services.check_chunks(ctx, *body));
               });
             });

  router.add("POST", "/v1/chunks/confirm",
             [&services, limiter](const HttpRequest& req, const std::string&) {
               return authed(services, limiter, req, [&](const RequestContext& ctx) {
                 auto body = decode<protocol::CheckChunksRequest>(req);
                 if (!body) return fail(body.error());
                 return ok_json(services.confirm_chunks(ctx, *body));
               });
             });

  // Chunk bytes: authorised by the URL's signature, not a bearer token, exactly like an S3
  // pre-signed URL, so the client has one upload path for both backends.
  router.add_streaming(
      "PUT", "/v1/chunks/*",
      [&services, limiter](const HttpRequest& req,
                           const std::string& hex) -> Result<std::unique_ptr<BodySink>> {
        CAIRN_ASSIGN_OR_RETURN(auto grant, services.authorize_chunk_put(hex, req.query));
        if (!req.content_length || *req.content_length != grant.size) {
          return make_error(ErrorCode::kInvalidArgument,
                            "Content-Length must equal the chunk size the URL was signed for (" +
                                std::to_string(grant.size) + ")");
        }
        CAIRN_ASSIGN_OR_RETURN(auto writer, services.begin_chunk_put(grant));
        return std::unique_ptr<BodySink>(new ChunkSink(services, grant, std::move(writer)));
      });

  router.add("GET", "/v1/chunks/*",
             [&services, limiter](const HttpRequest& req, const std::string& hex) {
               // A read that a (metered) locate signed is not metered again: a download of
               // large files is one locate and then a read per chunk.
               RateLimiter* meter = req.query.count("s") != 0 ? nullptr : limiter;
               return authed(services, meter, req, [&](const RequestContext& ctx) {
                 auto chunk = services.chunk_read(ctx, hex, req.query);
                 if (!chunk) return fail(chunk.error());
                 metrics().chunks_served.fetch_add(1, std::memory_order_relaxed);
                 HttpResponse r;
                 r.content_type = "application/octet-stream";
                 if (chunk->bytes) {
                   r.body.assign(reinterpret_cast<const char*>(chunk->bytes->data()),
                                 chunk->bytes->size());
                   return r;
                 }
                 if (chunk->stream) return streamed(std::move(chunk->stream));
                 const auto& info = chunk->object;
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
               });
             });

  router.add("POST", "/v1/chunks/locate",
             [&services, limiter](const HttpRequest& req, const std::string&) {
               return authed(services, limiter, req, [&](const RequestContext& ctx) {
                 auto body = decode<protocol::CheckChunksRequest>(req);
                 if (!body) return fail(body.error());
                 return ok_json(services.locate_chunks(ctx, *body));
               });
             });

  router.add("POST", "/v1/packs", [&services, limiter](const HttpRequest& req, const std::string&) {
    return authed(services, limiter, req, [&](const RequestContext& ctx) {
      auto body = decode<protocol::PackUploadRequest>(req);
      if (!body) return fail(body.error());
      return ok_json(services.pack_upload(ctx, *body));
    });
  });

  router.add("POST", "/v1/packs/confirm",
             [&services, limiter](const HttpRequest& req, const std::string&) {
               return authed(services, limiter, req, [&](const RequestContext& ctx) {
                 auto body = decode<protocol::ConfirmPackRequest>(req);
                 if (!body) return fail(body.error());
                 return ok_json(services.confirm_pack(ctx, *body));
               });
             });

  // Pack bytes, both ways: authorised by the URL's signature, like chunk uploads.
  router.add_streaming(
      "PUT", "/v1/packs/*",
      [&services, limiter](const HttpRequest& req,
                           const std::string& hex) -> Result<std::unique_ptr<BodySink>> {
        CAIRN_ASSIGN_OR_RETURN(auto grant, services.authorize_pack_put(hex, req.query));
        if (!req.content_length || *req.content_length != grant.size) {
          return make_error(ErrorCode::kInvalidArgument,
                            "Content-Length must equal the pack size the URL was signed for (" +
                                std::to_string(grant.size) + ")");
        }
        CAIRN_ASSIGN_OR_RETURN(auto receiver, services.begin_pack_put(grant));
        return std::unique_ptr<BodySink>(new PackSink(std::move(receiver)));
      });

  router.add("GET", "/v1/packs/*",
             [&services, limiter](const HttpRequest& req, const std::string& hex) {
               metrics().requests.fetch_add(1, std::memory_order_relaxed);
               auto body = services.pack_range_read(hex, req.query);
               if (!body) return fail(body.error());
               metrics().pack_reads.fetch_add(1, std::memory_order_relaxed);
               if (body->stream) return streamed(std::move(body->stream));
               HttpResponse r;
               r.content_type = "application/octet-stream";
               r.file_path = body->object.file_path;
               r.file_offset = body->object.offset;
               r.file_size = body->object.size;
               return r;
             });

  router.add("POST", "/v1/uploads",
             [&services, limiter](const HttpRequest& req, const std::string&) {
               return authed(services, limiter, req, [&](const RequestContext& ctx) {
                 auto body = decode<protocol::InitUploadsRequest>(req);
                 if (!body) return fail(body.error());
                 return ok_json(services.init_uploads(ctx, *body));
               });
             });

  router.add("POST", "/v1/commit",
             [&services, limiter](const HttpRequest& req, const std::string&) {
               return authed(services, limiter, req, [&](const RequestContext& ctx) {
                 auto body = decode<protocol::CommitRequest>(req);
                 if (!body) return fail(body.error());
                 metrics().commits.fetch_add(1, std::memory_order_relaxed);
                 return ok_json(services.commit(ctx, *body));
               });
             });

  router.add("GET", "/v1/manifests/*",
             [&services, limiter](const HttpRequest& req, const std::string& hex) {
               return authed(services, limiter, req, [&](const RequestContext& ctx) {
                 auto body = services.manifest(ctx, hex);
                 if (!body) return fail(body.error());
                 HttpResponse r;
                 r.content_type = "application/octet-stream";
                 r.body.assign(reinterpret_cast<const char*>(body->data()), body->size());
                 return r;
               });
             });

  router.add("POST", "/v1/manifests",
             [&services, limiter](const HttpRequest& req, const std::string&) {
               return authed(services, limiter, req, [&](const RequestContext& ctx) {
                 auto body = decode<protocol::ManifestsRequest>(req);
                 if (!body) return fail(body.error());
                 return ok_json(services.manifests(ctx, *body));
               });
             });

  router.add("GET", "/v1/list", [&services, limiter](const HttpRequest& req, const std::string&) {
    return authed(services, limiter, req, [&](const RequestContext& ctx) {
      return ok_json(services.list(ctx, query_or(req, "path", "/")));
    });
  });

  router.add("GET", "/v1/changes",
             [&services, limiter](const HttpRequest& req, const std::string&) {
               return authed(services, limiter, req, [&](const RequestContext& ctx) {
                 int limit = 1000;
                 const std::string text = query_or(req, "limit", "1000");
                 auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), limit);
                 if (ec != std::errc() || p != text.data() + text.size()) {
                   return fail(Error(ErrorCode::kInvalidArgument, "limit must be a number"));
                 }
                 return ok_json(services.changes(ctx, query_or(req, "cursor", ""), limit));
               });
             });

  router.add("GET", "/v1/history",
             [&services, limiter](const HttpRequest& req, const std::string&) {
               return authed(services, limiter, req, [&](const RequestContext& ctx) {
                 int64_t node_id = 0;
                 const std::string text = query_or(req, "node_id", "0");
                 auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), node_id);
                 if (ec != std::errc() || p != text.data() + text.size() || node_id < 0) {
                   return fail(Error(ErrorCode::kInvalidArgument, "node_id must be a number"));
                 }
                 return ok_json(services.history(ctx, query_or(req, "path", ""), node_id));
               });
             });

  router.add("GET", "/v1/trash", [&services, limiter](const HttpRequest& req, const std::string&) {
    return authed(services, limiter, req,
                  [&](const RequestContext& ctx) { return ok_json(services.trash(ctx)); });
  });

  router.add("POST", "/v1/trash/empty",
             [&services, limiter](const HttpRequest& req, const std::string&) {
               return authed(services, limiter, req, [&](const RequestContext& ctx) {
                 return ok_json(services.empty_trash(ctx));
               });
             });

  router.add("POST", "/v1/shares",
             [&services, limiter](const HttpRequest& req, const std::string&) {
               return authed(services, limiter, req, [&](const RequestContext& ctx) {
                 auto body = decode<protocol::ShareRequest>(req);
                 if (!body) return fail(body.error());
                 return ok_json(services.share(ctx, *body));
               });
             });

  router.add(
      "DELETE", "/v1/shares", [&services, limiter](const HttpRequest& req, const std::string&) {
        return authed(services, limiter, req, [&](const RequestContext& ctx) {
          auto done = services.unshare(ctx, query_or(req, "path", ""), query_or(req, "user", ""));
          if (!done) return fail(done.error());
          return HttpResponse::json(200, "{}");
        });
      });

  router.add("GET", "/v1/shares", [&services, limiter](const HttpRequest& req, const std::string&) {
    return authed(services, limiter, req, [&](const RequestContext& ctx) {
      return ok_json(services.shares(ctx, query_or(req, "path", "")));
    });
  });

  router.add("POST", "/v1/links", [&services, limiter](const HttpRequest& req, const std::string&) {
    return authed(services, limiter, req, [&](const RequestContext& ctx) {
      auto body = decode<protocol::LinkRequest>(req);
      if (!body) return fail(body.error());
      return ok_json(services.create_link(ctx, *body));
    });
  });

  router.add("GET", "/v1/links", [&services, limiter](const HttpRequest& req, const std::string&) {
    return authed(services, limiter, req,
                  [&](const RequestContext& ctx) { return ok_json(services.links(ctx)); });
  });

  router.add("DELETE", "/v1/links",
             [&services, limiter](const HttpRequest& req, const std::string&) {
               return authed(services, limiter, req, [&](const RequestContext& ctx) {
                 int64_t id = 0;
                 const std::string text = query_or(req, "id", "0");
                 auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
                 if (ec != std::errc() || p != text.data() + text.size() || id < 0) {
                   return fail(Error(ErrorCode::kInvalidArgument, "id must be a number"));
                 }
                 auto done = services.revoke_link(ctx, id, query_or(req, "token", ""));
                 if (!done) return fail(done.error());
                 return HttpResponse::json(200, "{}");
               });
             });

  // A link: no token, the URL is the authority. Nothing but "not found" for a dead one.
  router.add("GET", "/l/*", [&services](const HttpRequest&, const std::string& token) {
    metrics().requests.fetch_add(1, std::memory_order_relaxed);
    auto stream = services.open_link(token);
    if (!stream) return fail(stream.error());
    HttpResponse r;
    r.content_type = (*stream)->is_tar() ? "application/x-tar" : "application/octet-stream";
    std::string name = (*stream)->filename();
    for (auto& c : name) {
      if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20) c = '_';
    }
    r.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + name + "\"");
    r.source_size = (*stream)->size();
    struct Source final : BodySource {
      explicit Source(std::unique_ptr<service::LinkStream> s) : stream(std::move(s)) {}
      Result<ByteView> next() override { return stream->next(); }
      std::unique_ptr<service::LinkStream> stream;
    };
    r.source = std::make_shared<Source>(std::move(*stream));
    return r;
  });

  router.add(
      "GET", "/v1/repairs", [&services, limiter](const HttpRequest& req, const std::string&) {
        return authed(services, limiter, req,
                      [&](const RequestContext& ctx) { return ok_json(services.repairs(ctx)); });
      });

  router.add("GET", "/v1/quota", [&services, limiter](const HttpRequest& req, const std::string&) {
    return authed(services, limiter, req,
                  [&](const RequestContext& ctx) { return ok_json(services.quota(ctx)); });
  });
}

}  // namespace cairn::api
