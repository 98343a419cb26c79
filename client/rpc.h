// The client's side of AblationService: how calls are made (token metadata, deadlines), how
// gRPC statuses become absl::Status, and how statuses become exit codes.
#ifndef ABLATE_CLIENT_RPC_H_
#define ABLATE_CLIENT_RPC_H_

#include <chrono>
#include <memory>
#include <string>

#include "ablate/v1/ablate.grpc.pb.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace ablate::client {

// Exit codes of the `ablate` command.
enum ExitCode {
  kExitOk = 0,
  kExitOther = 1,
  kExitUsage = 2,        // Bad flags, bad files, INVALID_ARGUMENT / OUT_OF_RANGE from the server.
  kExitNotFound = 3,     // NOT_FOUND.
  kExitUnreachable = 4,  // UNAVAILABLE, DEADLINE_EXCEEDED, UNAUTHENTICATED, PERMISSION_DENIED.
};

int ExitCodeFor(const absl::Status& status);

// One line for stderr: "ablate: <what went wrong>" without newlines.
std::string ErrorLine(const absl::Status& status);

// grpc::Status -> absl::Status (same code numbers); the message names the RPC.
absl::Status FromGrpc(const grpc::Status& status, const char* rpc);

// What every command needs to talk to the server. Thread-compatible: one command at a time.
struct Session {
  v1::AblationService::StubInterface* stub = nullptr;
  v1::ArtifactService::StubInterface* artifacts = nullptr;  // Same channel; uploads.
  std::string server;  // For messages only.
  std::string token;   // Sent as "authorization: Bearer <token>" when not empty.
  std::chrono::milliseconds timeout{30000};  // Per unary call.

  // A context with the token and a deadline `timeout` from now (streams: no deadline).
  std::unique_ptr<grpc::ClientContext> Context(bool stream = false) const;
};

// A channel and stub for ADDR with optional TLS (root CA file). Owns what a Session points to.
class Connection {
 public:
  // Reads the token file (first line, trimmed) when `token_file` is not empty.
  // Errors: unreadable or empty token / CA file (InvalidArgument).
  static absl::StatusOr<std::unique_ptr<Connection>> Create(const std::string& server,
                                                            const std::string& token_file,
                                                            const std::string& tls_ca_file);
  Session session() const;

 private:
  Connection() = default;
  std::string server_;
  std::string token_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::AblationService::Stub> stub_;
  std::unique_ptr<v1::ArtifactService::Stub> artifact_stub_;
};

// Whole file as a string. Errors: InvalidArgument naming `what` and the path.
absl::StatusOr<std::string> ReadFile(const std::string& path, const std::string& what);

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_RPC_H_
