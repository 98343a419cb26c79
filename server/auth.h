// Bearer-token authentication of the two roles that call the server.
//
// Clients (AblationService, and the client side of other services) present the client
// token, workers (WorkerService) the worker token, as `authorization: Bearer <token>`
// metadata. A missing or unknown token is UNAUTHENTICATED; the other role's token is
// PERMISSION_DENIED.
//
// The token rule (issue 10): both tokens or neither. With neither, both roles are open and
// the server trusts every user of its machine, so it listens on loopback only. One token
// alone is refused at start (Server::Start), so a token never leaves the other role open.
// On top of the worker token, each registered worker gets a secret (RegisterResponse) that
// its later calls carry: one worker cannot heartbeat, complete or fail another's lease.
// With require_worker_cert (mTLS), worker calls must also come over a connection whose
// client certificate the server's worker CA verified.
//
// Why not an AuthMetadataProcessor or an interceptor: gRPC C++ (1.51) only runs an
// AuthMetadataProcessor on secure credentials (it aborts on insecure ones), and server
// interceptors cannot reject a call before the handler runs. So every handler starts with
// Authenticator::Check, through the one helper of server/rpc.h, and a test calls every method
// of every service without a token.
//
// Thread-safety: immutable after construction; Check is safe from any thread.
#ifndef ABLATE_SERVER_AUTH_H_
#define ABLATE_SERVER_AUTH_H_

#include <grpcpp/server_context.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ablate::server {

enum class Role { kClient, kWorker };

absl::string_view RoleName(Role role);

class Authenticator {
 public:
  Authenticator(std::string client_token, std::string worker_token,
                bool require_worker_cert = false)
      : client_token_(std::move(client_token)),
        worker_token_(std::move(worker_token)),
        require_worker_cert_(require_worker_cert) {}

  // OK, UNAUTHENTICATED or PERMISSION_DENIED for a call that needs `role`.
  absl::Status Check(const grpc::ServerContext& context, Role role) const;
  // The same, from the value of the authorization header (nullptr when absent).
  absl::Status CheckHeader(const std::string* authorization, Role role) const;

  bool open(Role role) const { return TokenFor(role).empty(); }

  // The operator token (optional; set before serving): accepted wherever the client token
  // is, and the only one that may submit priorities above SpecLimits::max_client_priority.
  void set_operator_token(std::string token) { operator_token_ = std::move(token); }
  // True when the call carries the operator token.
  bool IsOperator(const grpc::ServerContext& context) const;

 private:
  const std::string& TokenFor(Role role) const {
    return role == Role::kClient ? client_token_ : worker_token_;
  }

  const std::string client_token_;
  const std::string worker_token_;
  const bool require_worker_cert_;
  std::string operator_token_;
};

// Reads a token file: its first line with surrounding whitespace removed. Errors name the
// file; an empty token is INVALID_ARGUMENT.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

// True for listen addresses only this machine can reach: 127.0.0.0/8, localhost, [::1],
// and unix sockets.
bool IsLoopbackAddress(absl::string_view address);

}  // namespace ablate::server

#endif  // ABLATE_SERVER_AUTH_H_
