#pragma once

// The web page's HTML, rendered on the server from what the services return: plain functions of
// their inputs, so that tests can check what a page shows. Every piece of user content goes
// through escape() or url_path() (html.h).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/protocol/protocol.h"

namespace cairn::web {

// Who is looking, for the header and every form.
struct Viewer {
  std::string user;  // Empty: nobody signed in.
  std::string csrf;  // The session's CSRF token, in every form that changes something.
};

// A whole page around `body`.
std::string layout(const Viewer& viewer, std::string_view title, std::string_view body);

// The sign-in form.
struct SignInView {
  std::string error;
  std::string code;       // A sign-in link's code: the form confirms it (as `code_user`).
  std::string code_user;  //
  std::string next;       // The page to go to once signed in (safe_return_path), or "".
};
std::string signin_body(const SignInView& view);

// Links to each folder on the way to `path`.
std::string breadcrumb(std::string_view path);

struct FolderView {
  protocol::ListResponse listing;
  std::string sort = "name";  // name, size, modified
  bool descending = false;
  std::string search;  // The search's words; the listing holds what matched, everywhere below.
  bool writable = false;
  // For the upload script of a writable folder: how this server cuts files into chunks, and how
  // many chunks one check may name.
  ChunkerParams chunking;
  size_t max_batch = 0;
};
std::string folder_body(const Viewer& viewer, const FolderView& view);

struct FileView {
  protocol::Entry entry;
  protocol::HistoryResponse history;
  bool writable = false;
  enum class Preview { kNone, kText, kImage } preview = Preview::kNone;
  std::string text;  // kText: the start of the file, valid UTF-8.
  bool text_cut = false;
};
std::string file_body(const Viewer& viewer, const FileView& view);

// A form that makes a link to `path` (editors only).
std::string link_form(const Viewer& viewer, std::string_view path);

// The caller's links, with revoke. `created`, if not empty, is the URL of the link just made,
// shown once.
std::string links_body(const Viewer& viewer, const protocol::LinksResponse& links,
                       std::string_view created, bool writable);

// What someone who opens a link in a browser sees: the file or folder's name and size, a
// download button, and a folder's files each with its own download. `base` is "/l/TOKEN".
struct LinkedItem {
  std::string path;  // Relative to the linked folder; "" for a linked file.
  protocol::NodeKind kind = protocol::NodeKind::kFile;
  uint64_t size = 0;
};
// `expires_at`: when the link stops working (unix seconds), said on the page.
std::string link_landing_body(std::string_view base, std::string_view name, bool folder,
                              const std::vector<LinkedItem>& items,
                              std::optional<int64_t> expires_at = std::nullopt);

std::string trash_body(const Viewer& viewer, const protocol::TrashResponse& trash, bool writable);

std::string error_body(int status, std::string_view message);

}  // namespace cairn::web
