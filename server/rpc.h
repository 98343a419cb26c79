// The one wrapper every RPC handler of the server runs through: authenticate the caller's
// role, run the body (absl::Status inside), log failures, translate to grpc::Status.
//
// Thread-safety: stateless; safe from any thread.
#ifndef ABLATE_SERVER_RPC_H_
#define ABLATE_SERVER_RPC_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include <exception>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "proto/grpc_status.h"
#include "server/auth.h"

namespace ablate::server {

// Logs a failed call: client mistakes at debug level, server-side trouble as warnings.
void LogRpcFailure(absl::string_view method, const std::string& peer, const absl::Status& status);

template <typename Body>
grpc::Status HandleRpc(const Authenticator& auth, grpc::ServerContext* context, Role role,
                       absl::string_view method, Body&& body) {
  absl::Status status = auth.Check(*context, role);
  if (status.ok()) {
    try {
      status = body();
    } catch (const std::exception& e) {
      status = absl::InternalError(absl::StrCat(method, ": ", e.what()));
    }
  }
  if (!status.ok()) LogRpcFailure(method, context->peer(), status);
  return proto::ToGrpcStatus(status);
}

}  // namespace ablate::server

#endif  // ABLATE_SERVER_RPC_H_
