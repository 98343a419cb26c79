// Dashboard: the read-only web dashboard and JSON API of ablate-server (--http-listen).
//
// Every JSON endpoint is answered by calling the server's own AblationService over an
// in-process gRPC channel, with the request's `Authorization` header forwarded as call
// metadata: the tables are computed by the same handlers and query code as for the gRPC API,
// and a request is authenticated by the same Authenticator under the same rule. Responses are
// rendered with ablate_views, the functions behind the CLI's `--format json`, so the field
// names are the CLI's. The pages (HTML, JS, CSS) and the README's Definitions section are
// compiled into the binary (assets.h); nothing is fetched from elsewhere.
//
// Endpoints (GET; README "Dashboard and JSON API"): /api/jobs, /api/jobs/{id},
// /api/jobs/{id}/{heads,curve,thresholds,stats,layers}, /api/workers, /api/compare.
// Errors answer {"error": message, "code": "NOT_FOUND" ...} with the HTTP status of the gRPC
// code (401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 NOT_FOUND, 400 INVALID_ARGUMENT,
// 409 FAILED_PRECONDITION, 503 UNAVAILABLE, 500 otherwise).
//
// Thread-safety: Start/Stop from one thread; requests are served on cpp-httplib's pool.
#ifndef ABLATE_SERVER_HTTP_DASHBOARD_H_
#define ABLATE_SERVER_HTTP_DASHBOARD_H_

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace ablate::server::http {

struct DashboardOptions {
  std::string listen;          // host:port; port 0 = any free port.
  bool tokens_configured = false;  // The server has client tokens: non-loopback is allowed.
  bool allow_insecure = false;     // Non-loopback without TLS (mirrors the gRPC rule).
  std::string tls_cert_file;   // PEM; with tls_key_file: HTTPS.
  std::string tls_key_file;
};

// INVALID_ARGUMENT when `options` break the listen rule: a non-loopback address needs the
// server's tokens, and TLS unless allow_insecure.
absl::Status CheckDashboardOptions(const DashboardOptions& options);

class Dashboard {
 public:
  // Binds options.listen and starts serving; `channel` reaches the AblationService
  // (in-process). Errors: CheckDashboardOptions's, INVALID_ARGUMENT for an unreadable
  // certificate or key, UNAVAILABLE when the address cannot be bound.
  static absl::StatusOr<std::unique_ptr<Dashboard>> Start(DashboardOptions options,
                                                          std::shared_ptr<grpc::Channel> channel);
  ~Dashboard();

  int port() const { return port_; }
  // Stops accepting and waits for the serving thread. Idempotent.
  void Stop();

 private:
  Dashboard() = default;

  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace ablate::server::http

#endif  // ABLATE_SERVER_HTTP_DASHBOARD_H_
