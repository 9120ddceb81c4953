// The web page's routes (web_routes.h): sessions, folders, files, downloads, history, trash.

#include "daemon/web/web_routes.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>

#include "common/paths.h"
#include "common/remote_path.h"
#include "daemon/service/services.h"
#include "daemon/web/assets.h"
#include "daemon/web/html.h"
#include "daemon/web/pages.h"
#include "daemon/web/web_http.h"
#include "daemon/web/web_upload.h"

namespace cairn::web {
namespace {

using api::HttpRequest;
using api::HttpResponse;
using service::RequestContext;
using service::Services;

constexpr uint64_t kTextPreviewBytes = 256 * 1024;
constexpr uint64_t kImagePreviewBytes = 16 * 1024 * 1024;
constexpr size_t kSearchResults = 500;
constexpr uint64_t kFormBytes = 4096;  // What a form of the page is, at most.

// What a file's name says it is, when the page may show it inline: only plain text and raster
// images, never anything a browser would run (HTML, SVG, PDF).
enum class Inline { kNo, kText, kImage };
struct InlineType {
  Inline kind = Inline::kNo;
  std::string_view content_type;
};

InlineType inline_type(std::string_view name) {
  const size_t dot = name.rfind('.');
  std::string ext =
      dot == std::string_view::npos ? std::string() : std::string(name.substr(dot + 1));
  for (auto& c : ext) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  static constexpr std::string_view kText[] = {
      "txt",  "md",  "log", "csv", "tsv", "json",  "yaml", "yml",   "toml", "ini", "cfg",
      "conf", "xml", "c",   "h",   "cc",  "cpp",   "hpp",  "py",    "rs",   "go",  "java",
      "js",   "ts",  "sh",  "css", "sql", "cmake", "diff", "patch", "rst",  "tex"};
  if (std::find(std::begin(kText), std::end(kText), ext) != std::end(kText)) {
    return {Inline::kText, "text/plain; charset=utf-8"};
  }
  if (ext == "png") return {Inline::kImage, "image/png"};
  if (ext == "jpg" || ext == "jpeg") return {Inline::kImage, "image/jpeg"};
  if (ext == "gif") return {Inline::kImage, "image/gif"};
  if (ext == "webp") return {Inline::kImage, "image/webp"};
  return {};
}

bool valid_utf8(std::string_view s, bool may_be_cut) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80           ? 1
                     : (c >> 5) == 0x6  ? 2
                     : (c >> 4) == 0xE  ? 3
                     : (c >> 3) == 0x1E ? 4
                                        : 0;
    if (n == 0) return false;
    if (i + n > s.size()) return may_be_cut;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
  return s;
}

std::string name_of(std::string_view path) { return std::string(path.substr(path.rfind('/') + 1)); }

class WebRoutes {
 public:
  WebRoutes(Services& services, WebOptions options) : s_(services), options_(options) {}

  // Registers the routes, each holding `self` (this object) for as long as the router lives.
  static void add(api::Router& router, const std::shared_ptr<WebRoutes>& self) {
    auto bind = [self](auto method) {
      return [self, method](const HttpRequest& req, const std::string& tail) {
        return (self.get()->*method)(req, tail);
      };
    };
    router.add("GET", "/",
               [](const HttpRequest&, const std::string&) { return redirect("/web/"); });
    router.add("GET", "/web/", bind(&WebRoutes::home));
    router.add("GET", "/web/static/*", bind(&WebRoutes::asset));
    router.add("GET", "/web/signin", bind(&WebRoutes::signin_form));
    router.add("POST", "/web/signin", bind(&WebRoutes::signin));
    router.add("POST", "/web/signout", bind(&WebRoutes::signout));
    router.add("GET", "/web/files/", bind(&WebRoutes::files));
    router.add("GET", "/web/files/*", bind(&WebRoutes::files));
    router.add("GET", "/web/download/", bind(&WebRoutes::download));
    router.add("GET", "/web/download/*", bind(&WebRoutes::download));
    router.add("GET", "/web/view/*", bind(&WebRoutes::view));
    router.add("GET", "/web/trash", bind(&WebRoutes::trash));
    router.add("POST", "/web/restore", bind(&WebRoutes::restore));
    router.add("POST", "/web/delete", bind(&WebRoutes::remove));
    router.add("POST", "/web/undelete", bind(&WebRoutes::undelete));
    router.add("GET", "/web/links", bind(&WebRoutes::links));
    router.add("POST", "/web/links", bind(&WebRoutes::make_link));
    router.add("POST", "/web/links/revoke", bind(&WebRoutes::revoke_link));
    // A link: no session, the URL is the authority.
    router.add("GET", "/l/*", bind(&WebRoutes::link));
    // A body is read for a live session; without one, only a form's worth: the sign-in form,
    // or a form from a page whose session has ended, answered with a page that says so.
    router.set_gate("/web/", [self](const HttpRequest& req) -> Result<void> {
      const auto secret = cookie_value(req.cookie, kSessionCookie);
      if (secret && self->s_.identity().web_session_user(*secret)) return {};
      if (req.content_length && *req.content_length <= kFormBytes) return {};
      if (req.path == "/web/signin") {
        return make_error(ErrorCode::kTooLarge, "a sign-in form is a few hundred bytes");
      }
      return make_error(ErrorCode::kUnauthenticated, "sign in first");
    });
  }

 private:
  // A signed-in request: who, and what the page needs to act for them.
  struct Signed {
    RequestContext ctx;
    Viewer viewer;
  };

  HttpResponse page(int status, const Viewer& viewer, std::string_view title,
                    std::string_view body) const {
    HttpResponse res;
    res.status = status;
    res.content_type = "text/html; charset=utf-8";
    res.body = layout(viewer, title, body);
    add_security_headers(res);
    return res;
  }

  HttpResponse error_page(const Viewer& viewer, const Error& e) const {
    const int status = api::http_status_for(e.code());
    return page(status, viewer, "Error", error_body(status, e.message()));
  }

  // The session behind the request's cookie; for a request that changes something, also the
  // page's own origin and the session's CSRF token in the form. Otherwise the answer: back to
  // the sign-in page (a page), or a 401/403 (an action).
  std::variant<Signed, HttpResponse> signed_in(const HttpRequest& req,
                                               const std::map<std::string, std::string>* form) {
    const auto secret = cookie_value(req.cookie, kSessionCookie);
    auto user = secret ? s_.identity().web_session_user(*secret)
                       : Result<store::User>(make_error(ErrorCode::kUnauthenticated, "signed out"));
    if (!user) {
      if (form == nullptr) {
        // Back here once signed in: the page asked for, when the sign-in page may go there.
        const bool back = req.method == "GET" && safe_return_path(req.target);
        return redirect(back ? "/web/signin?next=" + url_query_value(req.target) : "/web/signin");
      }
      return error_page({}, Error(ErrorCode::kUnauthenticated,
                                  "Your session has ended. Sign in again, then retry."));
    }
    req.caller = user->name;
    Signed out{RequestContext{std::move(*user), "web", s_.now(), s_.now_ms()},
               Viewer{"", csrf_token(*secret)}};
    out.viewer.user = out.ctx.user.name;
    if (form != nullptr) {
      auto presented = form->find("csrf");
      if (!same_origin(req) || presented == form->end() ||
          !csrf_token_ok(*secret, presented->second)) {
        return error_page(out.viewer, Error(ErrorCode::kPermissionDenied,
                                            "This form came from elsewhere, or is too old. Reload "
                                            "the page and try again."));
      }
    }
    return out;
  }

  template <typename Body>
  HttpResponse for_page(const HttpRequest& req, Body&& body) {
    auto who = signed_in(req, nullptr);
    if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
    return body(std::get<Signed>(who));
  }

  template <typename Body>
  HttpResponse for_action(const HttpRequest& req, Body&& body) {
    const auto form = parse_form(req.body);
    auto who = signed_in(req, &form);
    if (auto* refused = std::get_if<HttpResponse>(&who)) return std::move(*refused);
    return body(std::get<Signed>(who), form);
  }

  HttpResponse home(const HttpRequest& req, const std::string&) {
    const auto secret = cookie_value(req.cookie, kSessionCookie);
    const bool in = secret && s_.identity().web_session_user(*secret).has_value();
    return redirect(in ? "/web/files/" : "/web/signin");
  }

  HttpResponse asset(const HttpRequest&, const std::string& name) {
    HttpResponse res;
    if (name == "app.css") {
      res.content_type = "text/css; charset=utf-8";
      res.body = std::string(kAppCss);
    } else if (name == "app.js" || name == "upload.js") {
      res.content_type = "text/javascript; charset=utf-8";
      res.body = std::string(name == "app.js" ? kAppJs : kUploadJs);
    } else {
      return page(404, {}, "Not found", error_body(404, "No such file."));
    }
    add_security_headers(res);
    return res;
  }

  // The page a sign-in goes on to, if the request names one it may go to.
  static std::string return_path(const std::map<std::string, std::string>& fields) {
    auto next = fields.find("next");
    return next != fields.end() && safe_return_path(next->second) ? next->second : "";
  }

  HttpResponse signin_form(const HttpRequest& req, const std::string&) {
    SignInView view;
    view.next = return_path(req.query);
    auto code = req.query.find("code");
    if (code == req.query.end()) return page(200, {}, "Sign in", signin_body(view));
    auto user = s_.identity().signin_code_user(code->second);
    if (!user) {
      view.error =
          "This sign-in link has expired or was used already. Run cairn web again, or sign in "
          "with a token.";
      return page(401, {}, "Sign in", signin_body(view));
    }
    view.code = code->second;
    view.code_user = user->name;
    return page(200, {}, "Sign in", signin_body(view));
  }

  HttpResponse signin(const HttpRequest& req, const std::string&) {
    const auto form = parse_form(req.body);
    SignInView view;
    view.next = return_path(form);
    if (!same_origin(req)) {
      view.error = "This form came from elsewhere.";
      return page(403, {}, "Sign in", signin_body(view));
    }
    auto field = form.find("code");
    if (field == form.end()) field = form.find("token");
    if (field == form.end() || field->second.empty()) {
      view.error = "Enter an access token.";
      return page(400, {}, "Sign in", signin_body(view));
    }
    auto session = s_.identity().start_web_session(field->second);
    if (!session) {
      view.error = session.error().code() == ErrorCode::kUnauthenticated
                       ? "That token or link is not valid: it may be mistyped, revoked, expired "
                         "or used already."
                       : session.error().message();
      return page(401, {}, "Sign in", signin_body(view));
    }
    HttpResponse res = redirect(view.next.empty() ? "/web/files/" : view.next);
    res.headers.emplace_back("Set-Cookie",
                             session_cookie(session->secret, session->expires_at - s_.now(),
                                            over_tls(req, options_.tls)));
    return res;
  }

  HttpResponse signout(const HttpRequest& req, const std::string&) {
    return for_action(req, [&](const Signed& who, const auto&) {
      if (auto ended = s_.identity().end_web_session(who.ctx.user); !ended) {
        return error_page(who.viewer, ended.error());
      }
      HttpResponse res = redirect("/web/signin");
      res.headers.emplace_back("Set-Cookie", session_cookie("", 0, over_tls(req, options_.tls)));
      return res;
    });
  }

  // The remote path a URL's tail names ("a/b%20c/" is "/a/b c"), or the 400 that refuses it.
  static Result<std::string> path_of(std::string_view tail) {
    auto decoded = api::url_decode(tail, false);
    if (!decoded) return make_error(ErrorCode::kInvalidArgument, "a malformed path in the URL");
    while (!decoded->empty() && decoded->back() == '/') decoded->pop_back();
    return normalize_remote_path("/" + *decoded);
  }

  // Whether the caller may change things at `path`: a token that is not read-only, outside any
  // folder shared with them as a viewer. The services check again when they act.
  bool writable(const RequestContext& ctx, std::string_view path) {
    if (ctx.user.scope.read_only) return false;
    auto shares = s_.sharing().shares(ctx, "");
    if (!shares) return false;
    for (const auto& share : shares->shares) {
      if (share.user == ctx.user.name && is_within(path, share.path)) return share.role == "editor";
    }
    return true;
  }

  HttpResponse files(const HttpRequest& req, const std::string& tail) {
    return for_page(req, [&](const Signed& who) {
      auto path = path_of(tail);
      if (!path) return error_page(who.viewer, path.error());
      auto search = req.query.find("q");
      const bool searching = search != req.query.end() && !search->second.empty();
      auto listing = searching ? tree_below(who.ctx, *path) : s_.files().list(who.ctx, *path);
      if (!listing) return error_page(who.viewer, listing.error());
      if (listing->entries.size() == 1 && listing->entries[0].path == *path &&
          listing->entries[0].kind != protocol::NodeKind::kFolder) {
        return file_page(who, listing->entries[0]);
      }
      FolderView view;
      view.listing = std::move(*listing);
      view.writable = writable(who.ctx, *path);
      view.chunking = s_.config().chunking;
      view.max_batch = s_.config().max_batch;
      if (auto sort = req.query.find("sort");
          sort != req.query.end() && (sort->second == "size" || sort->second == "modified")) {
        view.sort = sort->second;
      }
      auto order = req.query.find("order");
      view.descending = order != req.query.end() && order->second == "desc";
      if (searching) filter(view, search->second);
      const std::string title = *path == "/" ? "Files" : name_of(*path);
      return page(200, who.viewer, title, folder_body(who.viewer, view));
    });
  }

  // Keeps what a search finds: entries whose name holds the words, case aside.
  static void filter(FolderView& view, const std::string& words) {
    view.search = words.substr(0, 200);
    const std::string needle = lower(view.search);
    protocol::ListResponse found;
    found.path = view.listing.path;
    for (auto& e : view.listing.entries) {
      if (found.entries.size() >= kSearchResults) break;
      if (lower(name_of(e.path)).find(needle) != std::string::npos) {
        found.entries.push_back(std::move(e));
      }
    }
    view.listing = std::move(found);
  }

  HttpResponse file_page(const Signed& who, const protocol::Entry& entry) {
    FileView view;
    view.entry = entry;
    view.writable = writable(who.ctx, entry.path);
    auto history = s_.files().history(who.ctx, entry.path, 0);
    if (!history) return error_page(who.viewer, history.error());
    view.history = std::move(*history);
    const InlineType type = inline_type(entry.path);
    if (type.kind == Inline::kImage && entry.size <= kImagePreviewBytes) {
      view.preview = FileView::Preview::kImage;
    } else if (type.kind == Inline::kText) {
      const uint64_t want = std::min(entry.size, kTextPreviewBytes);
      auto text = read_all(who.ctx, target_of(entry), {0, want});
      if (text && valid_utf8(*text, want < entry.size)) {
        view.preview = FileView::Preview::kText;
        view.text = std::move(*text);
        view.text_cut = want < entry.size;
      }
    }
    return page(200, who.viewer, name_of(entry.path), file_body(who.viewer, view));
  }

  // Everything below `path` that the caller may read, what others share with them included: a
  // shared folder is listed from its owner's tree, after the listing that holds it (as `cairn
  // get` does). One deleted by its owner in between is passed over.
  Result<protocol::ListResponse> tree_below(const RequestContext& ctx, const std::string& path) {
    CAIRN_ASSIGN_OR_RETURN(auto tree, s_.files().list(ctx, path, true));
    std::vector<std::string> mounts;
    for (const auto& e : tree.entries) {
      if (e.kind == protocol::NodeKind::kFolder && !e.share_role.empty()) mounts.push_back(e.path);
    }
    for (const auto& mount : mounts) {
      auto inside = s_.files().list(ctx, mount, true);
      if (!inside && inside.error().code() == ErrorCode::kNotFound) continue;
      if (!inside) return std::move(inside).error();
      for (auto& e : inside->entries) tree.entries.push_back(std::move(e));
    }
    return tree;
  }

  // A listed entry as a stream reads it, at `relative` inside what is sent ("" for a file alone).
  static store::LinkedEntry linked(const protocol::Entry& e, std::string relative) {
    return {std::move(relative), e.kind, e.size, e.mode, e.mtime_ns, e.manifest, e.symlink_target};
  }

  static store::LinkTarget target_of(const protocol::Entry& e) {
    store::LinkTarget t;
    t.name = name_of(e.path);
    t.kind = e.kind;
    t.entries.push_back(linked(e, ""));
    return t;
  }

  Result<std::string> read_all(const RequestContext& ctx, store::LinkTarget target,
                               std::pair<uint64_t, uint64_t> range) {
    CAIRN_ASSIGN_OR_RETURN(auto stream, s_.sharing().stream(ctx, std::move(target), range));
    std::string out;
    while (true) {
      CAIRN_ASSIGN_OR_RETURN(ByteView piece, stream->next());
      if (piece.empty()) return out;
      out.append(reinterpret_cast<const char*>(piece.data()), piece.size());
    }
  }

  // What GET /web/download/PATH[?version=N] sends: a file (or one version of it) or a folder's
  // tree, as the caller may read them now.
  Result<store::LinkTarget> download_target(const RequestContext& ctx, const std::string& path,
                                            const HttpRequest& req) {
    CAIRN_ASSIGN_OR_RETURN(auto listing, s_.files().list(ctx, path));
    const bool file = listing.entries.size() == 1 && listing.entries[0].path == path &&
                      listing.entries[0].kind != protocol::NodeKind::kFolder;
    if (file) {
      store::LinkTarget t = target_of(listing.entries[0]);
      auto version = req.query.find("version");
      if (version == req.query.end()) return t;
      CAIRN_ASSIGN_OR_RETURN(auto history, s_.files().history(ctx, path, 0));
      for (const auto& v : history.versions) {
        if (std::to_string(v.version) != version->second) continue;
        auto manifest = Digest::from_hex(v.manifest);
        if (!manifest) break;
        t.entries[0].size = v.size;
        t.entries[0].mode = v.mode;
        t.entries[0].mtime_ns = v.mtime_ns;
        t.entries[0].manifest = *manifest;
        return t;
      }
      return make_error(ErrorCode::kNotFound, "this file has no such version");
    }
    CAIRN_ASSIGN_OR_RETURN(auto tree, tree_below(ctx, path));
    store::LinkTarget t;
    t.kind = protocol::NodeKind::kFolder;
    t.name = path == "/" ? std::string("files") : name_of(path);
    const std::string prefix = path == "/" ? "/" : path + "/";
    for (const auto& e : tree.entries) t.entries.push_back(linked(e, e.path.substr(prefix.size())));
    return t;
  }

  HttpResponse download(const HttpRequest& req, const std::string& tail) {
    return send(req, tail, false);
  }
  HttpResponse view(const HttpRequest& req, const std::string& tail) {
    return send(req, tail, true);
  }

  // A download (as an attachment) or, `show` inline, a text or image file in a sandbox.
  HttpResponse send(const HttpRequest& req, const std::string& tail, bool show) {
    return for_page(req, [&](const Signed& who) {
      auto path = path_of(tail);
      if (!path) return error_page(who.viewer, path.error());
      auto target = download_target(who.ctx, *path, req);
      if (!target) return error_page(who.viewer, target.error());
      Delivery what = delivery_of(*target);
      what.show = show && what.file && inline_type(target->name).kind != Inline::kNo;
      what.archive = archive_asked(req, what);
      return deliver(req, what, who.viewer, [&](std::optional<std::pair<uint64_t, uint64_t>> part) {
        return s_.sharing().stream(who.ctx, *target, part, what.archive);
      });
    });
  }

  // What a download sends, before it is opened.
  struct Delivery {
    std::string name;  // The file's, or the folder's (".tar" or ".zip" is added).
    bool file = true;
    uint64_t size = 0;  // A file's.
    bool show = false;  // Inline, in a sandbox; else an attachment.
    std::optional<Digest> etag;
    service::Archive archive = service::Archive::kTar;  // A folder's.
  };

  // How a folder is sent: a zip for ?format=zip, else a tar.
  static service::Archive archive_asked(const HttpRequest& req, const Delivery& what) {
    auto format = req.query.find("format");
    const bool zip = !what.file && format != req.query.end() && format->second == "zip";
    return zip ? service::Archive::kZip : service::Archive::kTar;
  }

  static Delivery delivery_of(const store::LinkTarget& target) {
    Delivery what;
    what.name = target.name;
    what.file = target.kind != protocol::NodeKind::kFolder;
    if (what.file) {
      what.size = target.entries.at(0).size;
      what.etag = target.entries.at(0).manifest;
    }
    return what;
  }

  // Sends what `open(range)` streams, honouring a Range header for a file.
  template <typename Open>
  HttpResponse deliver(const HttpRequest& req, const Delivery& what, const Viewer& viewer,
                       Open open) {
    RangeRequest range;
    if (what.file) range = parse_range(req.range, what.size);
    if (range.kind == RangeRequest::kUnsatisfiable) {
      HttpResponse res =
          page(416, viewer, "Error", error_body(416, "That range lies past the end of the file."));
      res.headers.emplace_back("Content-Range", "bytes */" + std::to_string(what.size));
      return res;
    }
    std::optional<std::pair<uint64_t, uint64_t>> part;
    if (range.kind == RangeRequest::kPart) part = std::make_pair(range.begin, range.end);
    auto stream = open(part);
    if (!stream) return error_page(viewer, stream.error());
    HttpResponse res = body_of(std::move(*stream));
    const bool zip = what.archive == service::Archive::kZip;
    res.content_type = what.show   ? std::string(inline_type(what.name).content_type)
                       : what.file ? "application/octet-stream"
                       : zip       ? "application/zip"
                                   : "application/x-tar";
    res.headers.emplace_back(
        "Content-Disposition",
        content_disposition(what.show ? "inline" : "attachment", what.name + (what.file ? ""
                                                                              : zip     ? ".zip"
                                                                                        : ".tar")));
    if (what.file) {
      res.headers.emplace_back("Accept-Ranges", "bytes");
      if (what.etag) res.headers.emplace_back("ETag", "\"" + what.etag->hex() + "\"");
    }
    if (part) {
      res.status = 206;
      res.headers.emplace_back("Content-Range", "bytes " + std::to_string(part->first) + "-" +
                                                    std::to_string(part->second - 1) + "/" +
                                                    std::to_string(what.size));
    }
    add_security_headers(res, /*sandbox=*/true);
    return res;
  }

  static bool wants_html(const HttpRequest& req) {
    return req.accept.find("text/html") != std::string::npos;
  }

  // GET /l/TOKEN[/PATH]: a browser gets a landing page (name, size, download buttons); curl,
  // scripts and the buttons (?download=1) get the bytes; PATH is one file of a linked folder.
  HttpResponse link(const HttpRequest& req, const std::string& tail) {
    const std::string token = tail.substr(0, 64);
    std::string inner;
    if (tail.size() > 64) {
      auto decoded = api::url_decode(std::string_view(tail).substr(65), false);
      if (tail[64] != '/' || !decoded || decoded->empty()) return link_missing(req);
      inner = std::move(*decoded);
    }
    auto target = s_.sharing().link_target(token);
    if (!target) return link_missing(req);
    const bool folder = target->kind == protocol::NodeKind::kFolder;
    if (inner.empty() && wants_html(req) && req.query.count("download") == 0) {
      std::vector<LinkedItem> items;
      for (const auto& e : target->entries) items.push_back({e.path, e.kind, e.size});
      return page(
          200, {}, target->name,
          link_landing_body("/l/" + token, target->name, folder, items, target->expires_at));
    }
    Delivery what = delivery_of(*target);
    if (!inner.empty()) {
      auto found = std::find_if(target->entries.begin(), target->entries.end(), [&](auto& e) {
        return folder && e.path == inner && e.kind == protocol::NodeKind::kFile;
      });
      if (found == target->entries.end()) return link_missing(req);
      what = Delivery{name_of(inner), true, found->size, false, found->manifest};
    }
    what.archive = archive_asked(req, what);
    return deliver(req, what, {}, [&](std::optional<std::pair<uint64_t, uint64_t>> part) {
      return s_.sharing().open_link(token, inner, part, what.archive);
    });
  }

  // A link that is not there: the same 404 whatever the reason, as a page for a browser.
  HttpResponse link_missing(const HttpRequest& req) const {
    const Error gone(ErrorCode::kNotFound, "no such link (it may have expired or been revoked)");
    if (!wants_html(req)) return HttpResponse::error(gone);
    return page(404, {}, "Not found",
                error_body(404, "This link does not exist, has expired or was revoked."));
  }

  HttpResponse links(const HttpRequest& req, const std::string&) {
    return for_page(req, [&](const Signed& who) { return links_page(who, ""); });
  }

  HttpResponse links_page(const Signed& who, const std::string& created) {
    auto listed = s_.sharing().links(who.ctx);
    if (!listed) return error_page(who.viewer, listed.error());
    return page(200, who.viewer, "Links",
                links_body(who.viewer, *listed, created, !who.ctx.user.scope.read_only));
  }

  HttpResponse make_link(const HttpRequest& req, const std::string&) {
    return for_action(req, [&](const Signed& who, const auto& form) {
      protocol::LinkRequest request;
      request.path = form_text(form, "path");
      request.expires_in = form_number(form, "expires");
      auto made = s_.sharing().create_link(who.ctx, request);
      if (!made) return error_page(who.viewer, made.error());
      // Shown once, as a whole URL to copy: this page is the only place it ever appears.
      const std::string scheme = over_tls(req, options_.tls) ? "https://" : "http://";
      return links_page(who, scheme + req.host + made->url);
    });
  }

  HttpResponse revoke_link(const HttpRequest& req, const std::string&) {
    return for_action(req, [&](const Signed& who, const auto& form) {
      auto id = form_number(form, "id");
      if (!id) return error_page(who.viewer, Error(ErrorCode::kInvalidArgument, "which link?"));
      if (auto revoked = s_.sharing().revoke_link(who.ctx, *id); !revoked) {
        return error_page(who.viewer, revoked.error());
      }
      return redirect("/web/links");
    });
  }

  static HttpResponse body_of(std::unique_ptr<service::LinkStream> stream) {
    struct Source final : api::BodySource {
      explicit Source(std::unique_ptr<service::LinkStream> s) : stream(std::move(s)) {}
      Result<ByteView> next() override { return stream->next(); }
      std::unique_ptr<service::LinkStream> stream;
    };
    HttpResponse res;
    res.source_size = stream->size();
    res.source = std::make_shared<Source>(std::move(stream));
    return res;
  }

  HttpResponse trash(const HttpRequest& req, const std::string&) {
    return for_page(req, [&](const Signed& who) {
      auto listed = s_.files().trash(who.ctx);
      if (!listed) return error_page(who.viewer, listed.error());
      return page(200, who.viewer, "Trash",
                  trash_body(who.viewer, *listed, !who.ctx.user.scope.read_only));
    });
  }

  // Applies one commit op; an op the store refused is an error with its code.
  Result<protocol::CommitResult> commit(const RequestContext& ctx, protocol::CommitOp op) {
    protocol::CommitRequest request;
    request.device = "web";
    request.request_id = to_hex(secure_random(16));
    request.ops.push_back(std::move(op));
    CAIRN_ASSIGN_OR_RETURN(auto answer, s_.files().commit(ctx, request));
    if (answer.results.size() != 1) return make_error(ErrorCode::kInternal, "no commit result");
    auto& result = answer.results[0];
    if (result.status == protocol::OpStatus::kError ||
        result.status == protocol::OpStatus::kConflict) {
      return make_error(error_code_from_name(result.error_code), result.message);
    }
    return std::move(result);
  }

  static std::optional<int64_t> form_number(const std::map<std::string, std::string>& form,
                                            const char* key) {
    auto it = form.find(key);
    if (it == form.end()) return std::nullopt;
    int64_t n = 0;
    auto [p, ec] = std::from_chars(it->second.data(), it->second.data() + it->second.size(), n);
    if (ec != std::errc() || p != it->second.data() + it->second.size() || n <= 0) {
      return std::nullopt;
    }
    return n;
  }

  static std::string form_text(const std::map<std::string, std::string>& form, const char* key) {
    auto it = form.find(key);
    return it == form.end() ? std::string() : it->second;
  }

  HttpResponse restore(const HttpRequest& req, const std::string&) {
    return for_action(req, [&](const Signed& who, const auto& form) {
      protocol::CommitOp op;
      op.kind = protocol::OpKind::kRestore;
      op.path = form_text(form, "path");
      op.node_id = form_number(form, "node_id").value_or(0);
      op.version = form_number(form, "version").value_or(0);
      if (op.version == 0) {
        return error_page(who.viewer, Error(ErrorCode::kInvalidArgument, "which version?"));
      }
      auto done = commit(who.ctx, op);
      if (!done) return error_page(who.viewer, done.error());
      return redirect("/web/files" + url_path(done->path));
    });
  }

  HttpResponse remove(const HttpRequest& req, const std::string&) {
    return for_action(req, [&](const Signed& who, const auto& form) {
      protocol::CommitOp op;
      op.kind = protocol::OpKind::kDelete;
      op.path = form_text(form, "path");
      auto done = commit(who.ctx, op);
      if (!done) return error_page(who.viewer, done.error());
      const std::string parent = op.path.substr(0, op.path.rfind('/'));
      return redirect("/web/files" + url_path(parent) + "/");
    });
  }

  HttpResponse undelete(const HttpRequest& req, const std::string&) {
    return for_action(req, [&](const Signed& who, const auto& form) {
      protocol::CommitOp op;
      op.kind = protocol::OpKind::kUndelete;
      op.node_id = form_number(form, "node_id").value_or(0);
      auto done = commit(who.ctx, op);
      if (!done) return error_page(who.viewer, done.error());
      return redirect("/web/trash");
    });
  }

  Services& s_;
  WebOptions options_;
};

}  // namespace

void add_web_routes(api::Router& router, service::Services& services, WebOptions options) {
  WebRoutes::add(router, std::make_shared<WebRoutes>(services, options));
  add_upload_routes(router, services);
}

}  // namespace cairn::web
