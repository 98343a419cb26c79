# The dashboard (--http-listen) is part of ablate_server: cpp-httplib (Debian
# libcpp-httplib-dev, found with pkg-config; built with OpenSSL support, so HTTPS works) and
# the assets compiled in. assets.cc is generated at build time by embed_assets.cmake from
# server/http/assets/* and the Definitions section of README.md.
find_package(PkgConfig REQUIRED)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
set(ABLATE_HTTP_DIR ${CMAKE_CURRENT_SOURCE_DIR}/http)
file(GLOB ABLATE_HTTP_ASSETS CONFIGURE_DEPENDS ${ABLATE_HTTP_DIR}/assets/*)
add_custom_command(
  OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/http_assets.cc
  COMMAND ${CMAKE_COMMAND} -DOUT=${CMAKE_CURRENT_BINARY_DIR}/http_assets.cc
          -DASSET_DIR=${ABLATE_HTTP_DIR}/assets -DREADME=${PROJECT_SOURCE_DIR}/README.md
          -P ${ABLATE_HTTP_DIR}/embed_assets.cmake
  DEPENDS ${ABLATE_HTTP_DIR}/embed_assets.cmake ${ABLATE_HTTP_ASSETS}
          ${PROJECT_SOURCE_DIR}/README.md
  COMMENT "Embedding the dashboard's assets")
target_sources(ablate_server PRIVATE
  ${ABLATE_HTTP_DIR}/api.cc
  ${ABLATE_HTTP_DIR}/dashboard.cc
  ${CMAKE_CURRENT_BINARY_DIR}/http_assets.cc)
target_link_libraries(ablate_server PUBLIC ablate_views PRIVATE PkgConfig::HTTPLIB)
