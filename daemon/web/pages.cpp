#include "daemon/web/pages.h"

#include <algorithm>

#include "common/remote_path.h"
#include "daemon/web/html.h"

namespace cairn::web {
namespace {

using protocol::Entry;
using protocol::NodeKind;

// Who wrote a version: a version always names its device, and its author's name is gone only
// when the user was deleted since.
std::string author_name(std::string_view author, std::string_view device) {
  if (author.empty() && !device.empty()) return "(deleted user)";
  return std::string(author);
}

std::string name_of(std::string_view path) {
  const size_t slash = path.rfind('/');
  return std::string(slash == std::string_view::npos ? path : path.substr(slash + 1));
}

std::string files_url(std::string_view path) {
  return "/web/files" + url_path(path == "/" ? std::string_view() : path) +
         (path == "/" ? "/" : "");
}

// A form that POSTs one action with hidden fields; `confirm`, if given, is asked first (app.js).
std::string action_form(const Viewer& viewer, std::string_view action, std::string_view label,
                        const std::vector<std::pair<std::string, std::string>>& fields,
                        std::string_view confirm = {}) {
  std::string out = "<form class=\"inline\" method=\"post\" action=\"" + escape(action) + "\"";
  if (!confirm.empty()) out += " data-confirm=\"" + escape(confirm) + "\"";
  out += "><input type=\"hidden\" name=\"csrf\" value=\"" + escape(viewer.csrf) + "\">";
  for (const auto& [name, value] : fields) {
    out += "<input type=\"hidden\" name=\"" + escape(name) + "\" value=\"" + escape(value) + "\">";
  }
  return out + "<button type=\"submit\">" + escape(label) + "</button></form>";
}

std::string sort_link(const FolderView& view, std::string_view key, std::string_view label) {
  const bool current = view.sort == key;
  const bool descending = current && !view.descending;
  std::string out = "<a href=\"?sort=" + std::string(key) + (descending ? "&amp;order=desc" : "") +
                    "\"" + (current ? " class=\"sorted\"" : "") + ">" + escape(label);
  if (current) out += view.descending ? " \u2193" : " \u2191";
  return out + "</a>";
}

std::vector<size_t> sorted_order(const FolderView& view) {
  const auto& entries = view.listing.entries;
  std::vector<size_t> order(entries.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto key_less = [&](size_t a, size_t b) {
    const Entry& x = entries[a];
    const Entry& y = entries[b];
    // Folders first whatever the order, as every file manager does.
    const bool fx = x.kind == NodeKind::kFolder, fy = y.kind == NodeKind::kFolder;
    if (fx != fy) return fx;
    if (view.sort == "size" && x.size != y.size)
      return view.descending ? x.size > y.size : x.size < y.size;
    if (view.sort == "modified" && x.modified_at != y.modified_at) {
      return view.descending ? x.modified_at > y.modified_at : x.modified_at < y.modified_at;
    }
    return view.descending && view.sort == "name" ? x.path > y.path : x.path < y.path;
  };
  std::stable_sort(order.begin(), order.end(), key_less);
  return order;
}

std::string entry_row(const FolderView& view, size_t i) {
  const Entry& e = view.listing.entries[i];
  const bool folder = e.kind == NodeKind::kFolder;
  const std::string shown = view.search.empty() ? name_of(e.path) : e.path;
  std::string out = "<tr";
  if (e.kind == NodeKind::kFile && view.search.empty()) {
    // What the upload script needs to make a dropped file of the same name its next version.
    out += " data-name=\"" + escape(name_of(e.path)) + "\" data-node=\"" +
           std::to_string(e.node_id) + "\" data-version=\"" + std::to_string(e.version) +
           "\" data-size=\"" + std::to_string(e.size) + "\"";
  }
  out += "><td class=\"name\"><a class=\"" + std::string(folder ? "folder" : "file") +
         "\" href=\"" + files_url(e.path) + (folder ? "/" : "") + "\">" + escape(shown) +
         (folder ? "/" : "") + "</a>";
  if (!e.shared_by.empty()) {
    out += " <span class=\"tag\">shared by " + escape(e.shared_by) + ", " + escape(e.share_role) +
           "</span>";
  }
  out += "</td><td class=\"size\">" + (folder ? std::string() : human_size(e.size)) + "</td>";
  out += "<td class=\"when\">" + escape(format_time(e.modified_at)) + "</td><td class=\"by\">";
  if (view.listing.attributions.size() == view.listing.entries.size()) {
    const auto& a = view.listing.attributions[i];
    out += escape(author_name(a.author, a.device));
    if (!a.device.empty()) out += " <span class=\"device\">on " + escape(a.device) + "</span>";
  }
  return out + "</td></tr>";
}

// Where files are dropped or chosen: the script (upload.js) reads the folder, the session's
// CSRF token and the chunking from the data attributes.
std::string upload_panel(const Viewer& viewer, const FolderView& view) {
  const ChunkerParams& c = view.chunking;
  return "<section class=\"upload\" id=\"upload\" data-path=\"" + escape(view.listing.path) +
         "\" data-csrf=\"" + escape(viewer.csrf) + "\" data-min=\"" + std::to_string(c.min_size) +
         "\" data-avg=\"" + std::to_string(c.avg_size) + "\" data-max=\"" +
         std::to_string(c.max_size) + "\" data-batch=\"" + std::to_string(view.max_batch) +
         "\"><label class=\"button\">Upload files<input type=\"file\" id=\"upload-files\" "
         "multiple></label> <span class=\"hint\">or drop files on this page</span>"
         "<ul class=\"uploads\" id=\"uploads\"></ul></section>"
         "<script src=\"/web/static/upload.js\" defer></script>";
}

}  // namespace

std::string layout(const Viewer& viewer, std::string_view title, std::string_view body) {
  std::string out =
      "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>" +
      escape(title) +
      " \u2014 Cairn</title>"
      "<link rel=\"stylesheet\" href=\"/web/static/app.css\">"
      "<script src=\"/web/static/app.js\" defer></script></head><body><header>"
      "<a class=\"brand\" href=\"/web/files/\">Cairn</a>";
  if (!viewer.user.empty()) {
    out +=
        "<nav><a href=\"/web/files/\">Files</a><a href=\"/web/links\">Links</a>"
        "<a href=\"/web/trash\">Trash</a></nav>";
    out +=
        "<form class=\"signout\" method=\"post\" action=\"/web/signout\">"
        "<input type=\"hidden\" name=\"csrf\" value=\"" +
        escape(viewer.csrf) + "\"><span class=\"who\">" + escape(viewer.user) +
        "</span><button type=\"submit\">Sign out</button></form>";
  }
  out += "</header><main>";
  out += body;
  return out + "</main></body></html>\n";
}

std::string signin_body(const SignInView& view) {
  std::string out = "<h1>Sign in</h1>";
  if (!view.error.empty()) {
    out += "<p class=\"error\" role=\"alert\">" + escape(view.error) + "</p>";
  }
  out += "<form class=\"signin\" method=\"post\" action=\"/web/signin\">";
  if (!view.next.empty()) {
    out += "<input type=\"hidden\" name=\"next\" value=\"" + escape(view.next) + "\">";
  }
  if (!view.code.empty()) {
    out += "<p>This link signs you in as <strong>" + escape(view.code_user) +
           "</strong>. It works once.</p><input type=\"hidden\" name=\"code\" value=\"" +
           escape(view.code) + "\"><button type=\"submit\" id=\"continue\">Continue as " +
           escape(view.code_user) + "</button>";
  } else {
    out +=
        "<label for=\"token\">Access token</label>"
        "<input type=\"password\" id=\"token\" name=\"token\" autocomplete=\"off\" required "
        "placeholder=\"cairn_\u2026\"><button type=\"submit\" id=\"signin\">Sign in</button>"
        "<p class=\"hint\">A token from <code>cairnd token create</code>, or run "
        "<code>cairn web</code> for a one-time sign-in link.</p>";
  }
  return out + "</form>";
}

std::string breadcrumb(std::string_view path) {
  std::string out =
      "<nav class=\"crumbs\" aria-label=\"Folders\"><a href=\"/web/files/\">Files</a>";
  std::string so_far;
  for (const auto& part : split_remote_path(path)) {
    so_far += "/" + part;
    out += "<span>/</span><a href=\"" + files_url(so_far) + "/\">" + escape(part) + "</a>";
  }
  return out + "</nav>";
}

std::string folder_body(const Viewer& viewer, const FolderView& view) {
  const std::string& path = view.listing.path;
  std::string out = breadcrumb(path);
  out += "<div class=\"toolbar\"><form class=\"search\" method=\"get\" action=\"" +
         files_url(path) + (path == "/" ? "" : "/") +
         "\"><input type=\"search\" name=\"q\" placeholder=\"Search by name\" value=\"" +
         escape(view.search) + "\"><button type=\"submit\">Search</button></form>";
  const std::string download = "/web/download" + url_path(path == "/" ? "" : path) + "/";
  out += "<a class=\"button\" id=\"download-zip\" href=\"" + download +
         "?format=zip\">Download folder (zip)</a><a class=\"button\" id=\"download-tar\" href=\"" +
         download + "\">(tar)</a>";
  if (view.writable && path != "/") out += link_form(viewer, path);
  out += "</div>";
  if (view.writable) out += upload_panel(viewer, view);
  if (!view.search.empty()) {
    out += "<p class=\"note\">" + std::to_string(view.listing.entries.size()) +
           " found below this folder for \u201c" + escape(view.search) + "\u201d.</p>";
  }
  if (view.listing.entries.empty()) {
    out += "<p class=\"empty\">" +
           std::string(view.search.empty() ? "This folder is empty." : "Nothing found.") + "</p>";
    return out;
  }
  out += "<table class=\"listing\"><thead><tr><th>" + sort_link(view, "name", "Name") +
         "</th><th class=\"size\">" + sort_link(view, "size", "Size") + "</th><th>" +
         sort_link(view, "modified", "Modified") + "</th><th>Changed by</th></tr></thead><tbody>";
  for (size_t i : sorted_order(view)) out += entry_row(view, i);
  return out + "</tbody></table>";
}

std::string file_body(const Viewer& viewer, const FileView& view) {
  const Entry& e = view.entry;
  const std::string url = url_path(e.path);
  std::string out = breadcrumb(e.path.substr(0, e.path.rfind('/')));
  out += "<h1 class=\"filename\">" + escape(name_of(e.path)) + "</h1>";
  out += "<p class=\"facts\">" + human_size(e.size) + " \u00b7 version " +
         std::to_string(e.version) + " \u00b7 " + escape(format_time(e.modified_at)) + "</p>";
  out += "<div class=\"toolbar\"><a class=\"button primary\" id=\"download\" href=\"/web/download" +
         url + "\">Download</a>";
  if (view.preview != FileView::Preview::kNone) {
    out += "<a class=\"button\" href=\"/web/view" + url + "\">Open</a>";
  }
  if (view.writable) {
    out += link_form(viewer, e.path);
    out += action_form(viewer, "/web/delete", "Move to trash", {{"path", e.path}},
                       "Move " + name_of(e.path) + " to the trash?");
  }
  out += "</div>";
  if (view.preview == FileView::Preview::kText) {
    out += "<pre class=\"preview\">" + escape(view.text) + "</pre>";
    if (view.text_cut) out += "<p class=\"note\">Only the start of the file is shown.</p>";
  } else if (view.preview == FileView::Preview::kImage) {
    out += "<img class=\"preview\" alt=\"" + escape(name_of(e.path)) + "\" src=\"/web/view" + url +
           "\">";
  }
  out +=
      "<h2>History</h2><table class=\"history\"><thead><tr><th>Version</th><th>Size</th>"
      "<th>When</th><th>By</th><th></th></tr></thead><tbody>";
  for (const auto& v : view.history.versions) {
    const bool head = v.version == e.version;
    out += "<tr data-version=\"" + std::to_string(v.version) + "\"><td>" +
           std::to_string(v.version) + (head ? " <span class=\"tag\">current</span>" : "") +
           "</td><td class=\"size\">" + human_size(v.size) + "</td><td>" +
           escape(format_time(v.created_at)) + "</td><td>" +
           escape(author_name(v.author, v.device)) +
           (v.device.empty() ? "" : " <span class=\"device\">on " + escape(v.device) + "</span>") +
           "</td><td class=\"actions\"><a href=\"/web/download" + url +
           "?version=" + std::to_string(v.version) + "\">Download</a>";
    if (view.writable && !head) {
      out += action_form(viewer, "/web/restore", "Restore",
                         {{"path", e.path},
                          {"node_id", std::to_string(view.history.node_id)},
                          {"version", std::to_string(v.version)}});
    }
    out += "</td></tr>";
  }
  return out + "</tbody></table>";
}

std::string link_form(const Viewer& viewer, std::string_view path) {
  return "<form class=\"inline link-form\" method=\"post\" action=\"/web/links\">"
         "<input type=\"hidden\" name=\"csrf\" value=\"" +
         escape(viewer.csrf) + "\"><input type=\"hidden\" name=\"path\" value=\"" + escape(path) +
         "\"><select name=\"expires\" aria-label=\"Link lifetime\">"
         "<option value=\"86400\">1 day</option><option value=\"604800\" selected>7 days</option>"
         "<option value=\"2592000\">30 days</option><option value=\"\">until revoked</option>"
         "</select><button type=\"submit\">Make a link</button></form>";
}

std::string links_body(const Viewer& viewer, const protocol::LinksResponse& links,
                       std::string_view created, bool writable) {
  std::string out = "<h1>Links</h1>";
  if (!created.empty()) {
    out +=
        "<div class=\"created\"><p>Anyone with this URL can download it. It is shown only "
        "now:</p><div class=\"copy-line\"><input type=\"text\" id=\"new-link\" readonly "
        "aria-label=\"The new link\" value=\"" +
        escape(created) +
        "\"><button type=\"button\" class=\"copy\" data-copy=\"new-link\" hidden>Copy</button>"
        "</div></div>";
  }
  std::vector<const protocol::LinkInfo*> live;
  for (const auto& l : links.links) {
    if (!l.revoked) live.push_back(&l);
  }
  if (live.empty()) {
    return out + "<p class=\"empty\">No links. Open a file or folder to make one.</p>";
  }
  out +=
      "<table class=\"listing links\"><thead><tr><th>To</th><th>Made</th><th>Expires</th>"
      "<th>By</th><th></th></tr></thead><tbody>";
  for (const auto* l : live) {
    out +=
        "<tr data-link=\"" + std::to_string(l->link_id) + "\"><td class=\"name\">" +
        (l->path.empty() ? std::string("(gone)")
                         : "<a href=\"" + files_url(l->path) + "\">" + escape(l->path) + "</a>") +
        "</td><td>" + escape(format_time(l->created_at)) + "</td><td>" +
        escape(l->expires_at ? format_time(*l->expires_at) : "never") + "</td><td>" +
        escape(l->created_by) + "</td><td class=\"actions\">";
    if (writable) {
      out += action_form(viewer, "/web/links/revoke", "Revoke",
                         {{"id", std::to_string(l->link_id)}}, "Stop this link from working?");
    }
    out += "</td></tr>";
  }
  return out + "</tbody></table>";
}

std::string link_landing_body(std::string_view base, std::string_view name, bool folder,
                              const std::vector<LinkedItem>& items,
                              std::optional<int64_t> expires_at) {
  uint64_t total = 0;
  size_t files = 0;
  for (const auto& item : items) {
    if (item.kind != NodeKind::kFile) continue;
    total += item.size;
    ++files;
  }
  std::string out = "<h1 class=\"filename\">" + escape(name) + (folder ? "/" : "") + "</h1>";
  out += "<p class=\"facts\">" + human_size(total) +
         (folder ? " in " + std::to_string(files) + (files == 1 ? " file" : " files") : "") +
         (expires_at ? " \u00b7 <span class=\"expires\">available until " +
                           escape(format_time(*expires_at)) + "</span>"
                     : std::string()) +
         "</p><div class=\"toolbar\"><a class=\"button primary\" id=\"download\" href=\"" +
         std::string(base) + "?download=1" + (folder ? "&amp;format=zip" : "") + "\">" +
         (folder ? "Download all (zip)" : "Download") + "</a>";
  if (folder) {
    out += "<a class=\"button\" id=\"download-tar\" href=\"" + std::string(base) +
           "?download=1\">(tar)</a>";
  }
  out += "</div>";
  if (!folder) return out;
  out +=
      "<table class=\"listing\"><thead><tr><th>Name</th><th class=\"size\">Size</th></tr>"
      "</thead><tbody>";
  for (const auto& item : items) {
    if (item.kind != NodeKind::kFile) continue;
    out += "<tr><td class=\"name\"><a class=\"file\" href=\"" + std::string(base) + "/" +
           url_path(item.path) + "?download=1\">" + escape(item.path) +
           "</a></td><td class=\"size\">" + human_size(item.size) + "</td></tr>";
  }
  return out + "</tbody></table>";
}

std::string trash_body(const Viewer& viewer, const protocol::TrashResponse& trash, bool writable) {
  std::string out = "<h1>Trash</h1>";
  if (trash.entries.empty()) return out + "<p class=\"empty\">The trash is empty.</p>";
  out +=
      "<table class=\"listing trash\"><thead><tr><th>Name</th><th>Was in</th><th "
      "class=\"size\">Size</th><th>Deleted</th><th></th></tr></thead><tbody>";
  for (const auto& t : trash.entries) {
    const std::string where = t.path.substr(0, t.path.rfind('/'));
    out += "<tr><td class=\"name\">" + escape(name_of(t.path)) +
           (t.kind == NodeKind::kFolder ? "/" : "") + "</td><td>" +
           escape(where.empty() ? "/" : where) + "</td><td class=\"size\">" + human_size(t.size) +
           "</td><td>" + escape(format_time(t.deleted_at)) + "</td><td class=\"actions\">";
    if (writable) {
      out +=
          action_form(viewer, "/web/undelete", "Restore", {{"node_id", std::to_string(t.node_id)}});
    }
    out += "</td></tr>";
  }
  return out + "</tbody></table>";
}

std::string error_body(int status, std::string_view message) {
  return "<h1>" +
         std::string(status == 403   ? "Not allowed"
                     : status == 404 ? "Not found"
                     : status == 401 ? "Signed out"
                                     : "Something went wrong") +
         "</h1><p class=\"error\" role=\"alert\">" + escape(message) +
         "</p><p><a href=\"/web/files/\">Back to your files</a></p>";
}

}  // namespace cairn::web
