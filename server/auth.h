// Bearer-token authentication of the two roles that call the server.
//
// Clients (AblationService, and the client side of other services) present the client
// token, workers (WorkerService) the worker token, as `authorization: Bearer <token>`
// metadata. A role whose token is empty is open (the loopback default). A missing or unknown
// token is UNAUTHENTICATED; the other role's token is PERMISSION_DENIED.
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
  Authenticator(std::string client_token, std::string worker_token)
      : client_token_(std::move(client_token)), worker_token_(std::move(worker_token)) {}

  // OK, UNAUTHENTICATED or PERMISSION_DENIED for a call that needs `role`.
  absl::Status Check(const grpc::ServerContext& context, Role role) const;
  // The same, from the value of the authorization header (nullptr when absent).
  absl::Status CheckHeader(const std::string* authorization, Role role) const;

  bool open(Role role) const { return TokenFor(role).empty(); }

 private:
  const std::string& TokenFor(Role role) const {
    return role == Role::kClient ? client_token_ : worker_token_;
  }

  const std::string client_token_;
  const std::string worker_token_;
};

// Reads a token file: its first line with surrounding whitespace removed. Errors name the
// file; an empty token is INVALID_ARGUMENT.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

// True for listen addresses only this machine can reach: 127.0.0.0/8, localhost, [::1],
// and unix sockets.
bool IsLoopbackAddress(absl::string_view address);

}  // namespace ablate::server

#endif  // ABLATE_SERVER_AUTH_H_
