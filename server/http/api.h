// The JSON API of the dashboard: each route calls one AblationService RPC over `channel`
// (forwarding the request's Authorization header) and renders the answer with ablate_views.
// Thread-safe (the stub is).
#ifndef ABLATE_SERVER_HTTP_API_H_
#define ABLATE_SERVER_HTTP_API_H_

#include <grpcpp/grpcpp.h>

#include <memory>

namespace httplib {
class Server;
}

namespace ablate::server::http {

// Registers GET /api/... on `server`.
void RegisterApi(httplib::Server* server, std::shared_ptr<grpc::Channel> channel);

}  // namespace ablate::server::http

#endif  // ABLATE_SERVER_HTTP_API_H_
