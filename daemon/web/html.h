#pragma once

// Building the web page's HTML: every piece of user content (names, paths, device names, file
// text) goes through escape() or url_path() before it is written into markup, so that a file
// called "<script>…" is shown as text and never runs.

#include <cstdint>
#include <string>
#include <string_view>

namespace cairn::web {

// Text for an element's content or a quoted attribute value: & < > " ' are written as entities,
// and control characters (which no name holds, but file text may) as U+FFFD.
std::string escape(std::string_view text);

// A remote path as the path part of a URL: every byte but unreserved ones and '/' percent-encoded
// (then also safe inside a quoted attribute).
std::string url_path(std::string_view remote_path);

// A value for a query string: every byte but unreserved ones percent-encoded.
std::string url_query_value(std::string_view value);

// "0 B", "999 B", "1.5 KiB", "12 MiB": for people, not for parsing.
std::string human_size(uint64_t bytes);

// Unix seconds as "2026-12-06 14:03 UTC"; "" for 0.
std::string format_time(int64_t unix_seconds);

}  // namespace cairn::web
