# Writes OUTPUT, a C++ file defining cairn::web::kAppCss, kAppJs and kUploadJs from the files
# CSS, JS and UPLOAD_JS, as raw string literals. Run by the build (daemon/CMakeLists.txt)
# whenever one of them changes.
set(body "")
foreach(pair IN ITEMS "kAppCss=${CSS}" "kAppJs=${JS}" "kUploadJs=${UPLOAD_JS}")
  string(FIND "${pair}" "=" eq)
  string(SUBSTRING "${pair}" 0 ${eq} name)
  math(EXPR from "${eq} + 1")
  string(SUBSTRING "${pair}" ${from} -1 file)
  file(READ "${file}" text)
  string(FIND "${text}" ")cairn_asset\"" found)
  if(NOT found EQUAL -1)
    message(FATAL_ERROR "${file} contains the raw string delimiter")
  endif()
  string(APPEND body "const std::string_view ${name} = R\"cairn_asset(${text})cairn_asset\";\n\n")
endforeach()
file(WRITE "${OUTPUT}.tmp" "// Generated from daemon/web/assets/ by embed_assets.cmake. Do not edit.\n"
  "#include \"daemon/web/assets.h\"\n\nnamespace cairn::web {\n\n${body}"
  "}  // namespace cairn::web\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
