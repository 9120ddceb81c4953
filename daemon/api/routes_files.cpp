// File routes: staging and committing, manifests, listings and changes, history, trash, quota.

#include <limits>
#include <string>

#include "daemon/api/route_kit.h"

namespace cairn::api::routes {

void add_file_routes(Routes& routes) {
  // Upload sessions: `cairn` commits files whole once their chunks are confirmed and does not
  // stage; this route serves clients that want one call to say what a set of files still
  // lacks (docs/protocol.md, "POST /v1/uploads").
  routes.json<protocol::InitUploadsRequest>("POST", "/v1/uploads", &FileService::init_uploads);
  routes.json<protocol::CommitRequest>(
      "POST", "/v1/commit",
      [](Services& s, const RequestContext& ctx, const protocol::CommitRequest& req) {
        count(metrics().commits);
        return s.files().commit(ctx, req);
      });

  routes.query(
      "GET", "/v1/manifests/*",
      [](Services& s, const RequestContext& ctx, const HttpRequest&, const std::string& hex) {
        auto body = s.files().manifest(ctx, hex);
        if (!body) return fail(body.error());
        HttpResponse r;
        r.content_type = "application/octet-stream";
        r.body.assign(reinterpret_cast<const char*>(body->data()), body->size());
        return r;
      });
  routes.json<protocol::ManifestsRequest>("POST", "/v1/manifests", &FileService::manifests);

  routes.query(
      "GET", "/v1/list",
      [](Services& s, const RequestContext& ctx, const HttpRequest& req, const std::string&) {
        const std::string recursive = query_or(req, "recursive", "0");
        if (recursive != "0" && recursive != "1") {
          return fail(Error(ErrorCode::kInvalidArgument, "recursive is 0 or 1"));
        }
        // `at`: milliseconds since the epoch, to list the folder as it was then.
        std::optional<int64_t> at;
        if (req.query.count("at") != 0) {
          auto ms = query_number(req, "at", 0, 0, std::numeric_limits<int64_t>::max());
          if (!ms) return fail(ms.error());
          at = *ms;
        }
        return answer(s.files().list(ctx, query_or(req, "path", "/"), recursive == "1", at));
      });
  routes.query(
      "GET", "/v1/log",
      [](Services& s, const RequestContext& ctx, const HttpRequest& req, const std::string&) {
        store::LogQuery q;
        auto before = query_number(req, "before", 0, 0, std::numeric_limits<int64_t>::max());
        auto since = query_number(req, "since", 0, 0, std::numeric_limits<int64_t>::max());
        auto limit = query_number(req, "limit", 100, 1, 1000);
        if (!before) return fail(before.error());
        if (!since) return fail(since.error());
        if (!limit) return fail(limit.error());
        q.before_seq = *before;
        q.since_ms = *since;
        q.limit = static_cast<int>(*limit);
        return answer(s.files().log(ctx, query_or(req, "path", "/"), q));
      });
  routes.query(
      "GET", "/v1/changes",
      [](Services& s, const RequestContext& ctx, const HttpRequest& req, const std::string&) {
        auto limit = query_number(req, "limit", 1000, std::numeric_limits<int>::min(),
                                  std::numeric_limits<int>::max());
        if (!limit) return fail(limit.error());
        return answer(
            s.files().changes(ctx, query_or(req, "cursor", ""), static_cast<int>(*limit)));
      });
  routes.query(
      "GET", "/v1/history",
      [](Services& s, const RequestContext& ctx, const HttpRequest& req, const std::string&) {
        auto node_id = query_number(req, "node_id", 0);
        if (!node_id) return fail(node_id.error());
        return answer(s.files().history(ctx, query_or(req, "path", ""), *node_id));
      });

  routes.query("GET", "/v1/trash", &FileService::trash);
  routes.query("POST", "/v1/trash/empty", &FileService::empty_trash);
  routes.query("GET", "/v1/repairs", &ChunkService::repairs);
  routes.query("GET", "/v1/quota", &FileService::quota);
}

}  // namespace cairn::api::routes
