#pragma once

// The page's style sheet and script, compiled into cairnd from daemon/web/assets/ (the build
// writes assets.cpp from them): nothing to install, nothing fetched from elsewhere.

#include <string_view>

namespace cairn::web {

extern const std::string_view kAppCss;
extern const std::string_view kAppJs;
extern const std::string_view kUploadJs;  // Only on pages that offer uploads.

}  // namespace cairn::web
