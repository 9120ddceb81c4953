# Writes OUTPUT, a C++ file defining cairn::web::kAppCss and kAppJs from CSS and JS, as raw
# string literals. Run by the build (daemon/CMakeLists.txt) whenever either file changes.
file(READ "${CSS}" css)
file(READ "${JS}" js)
foreach(text IN ITEMS "${css}" "${js}")
  string(FIND "${text}" ")cairn_asset\"" found)
  if(NOT found EQUAL -1)
    message(FATAL_ERROR "an asset contains the raw string delimiter")
  endif()
endforeach()
file(WRITE "${OUTPUT}.tmp" "// Generated from daemon/web/assets/ by embed_assets.cmake. Do not edit.\n"
  "#include \"daemon/web/assets.h\"\n\nnamespace cairn::web {\n\n"
  "const std::string_view kAppCss = R\"cairn_asset(${css})cairn_asset\";\n\n"
  "const std::string_view kAppJs = R\"cairn_asset(${js})cairn_asset\";\n\n"
  "}  // namespace cairn::web\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
