#pragma once

// The page's style sheet and script, compiled into cairnd from daemon/web/assets/ (the build
// writes assets.cpp from them): nothing to install, nothing fetched from elsewhere.

#include <string_view>

namespace cairn::web {

extern const std::string_view kAppCss;
extern const std::string_view kAppJs;

}  // namespace cairn::web
