// The dashboard's files, compiled into the binary by embed_assets.cmake (assets.cc is
// generated at build time from server/http/assets/ and the README's Definitions section).
#ifndef ABLATE_SERVER_HTTP_ASSETS_H_
#define ABLATE_SERVER_HTTP_ASSETS_H_

#include <cstddef>

namespace ablate::server::http {

struct Asset {
  const char* path;          // URL path, e.g. "/app.js"; "/" is index.html.
  const char* content_type;
  const unsigned char* data;
  size_t size;
};

// All assets; ends with an entry whose path is nullptr.
extern const Asset kAssets[];

}  // namespace ablate::server::http

#endif  // ABLATE_SERVER_HTTP_ASSETS_H_
