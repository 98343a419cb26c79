#include "client/rpc.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace ablate::client {

int ExitCodeFor(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return kExitUsage;
    case absl::StatusCode::kNotFound:
      return kExitNotFound;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
      return kExitUnreachable;
    default:
      return kExitOther;
  }
}

std::string ErrorLine(const absl::Status& status) {
  std::string msg(status.message());
  if (msg.empty()) msg = absl::StatusCodeToString(status.code());
  return absl::StrCat("ablate: ", absl::StrReplaceAll(msg, {{"\r", " "}, {"\n", " "}}));
}

absl::Status FromGrpc(const grpc::Status& status, const char* rpc) {
  if (status.ok()) return absl::OkStatus();
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  std::string msg = status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      msg = absl::StrCat("server unreachable (", msg, ")");
      break;
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      msg = absl::StrCat("server refused the token (", msg, "); check --token-file");
      break;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      msg = absl::StrCat("server did not answer in time (", msg, ")");
      break;
    default:
      break;
  }
  return absl::Status(code, absl::StrCat(rpc, ": ", msg));
}

std::unique_ptr<grpc::ClientContext> Session::Context(bool stream) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  if (!token.empty()) ctx->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  if (!stream) ctx->set_deadline(std::chrono::system_clock::now() + timeout);
  return ctx;
}

absl::StatusOr<std::string> ReadFile(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", what, " ", path));
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return absl::InvalidArgumentError(absl::StrCat("error reading ", what, " ", path));
  return out.str();
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Create(const std::string& server,
                                                               const std::string& token_file,
                                                               const std::string& tls_ca_file) {
  if (server.empty()) return absl::InvalidArgumentError("--server is empty");
  std::unique_ptr<Connection> c(new Connection());
  c->server_ = server;
  if (!token_file.empty()) {
    absl::StatusOr<std::string> text = ReadFile(token_file, "token file");
    if (!text.ok()) return text.status();
    c->token_ = std::string(absl::StripAsciiWhitespace(text->substr(0, text->find('\n'))));
    if (c->token_.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("token file ", token_file, " is empty"));
    }
  }
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (!tls_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadFile(tls_ca_file, "TLS CA file");
    if (!ca.ok()) return ca.status();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = *ca;
    creds = grpc::SslCredentials(ssl);
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  args.SetMaxSendMessageSize(256 << 20);
  // Find a restarted server quickly (watch reconnects).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  c->channel_ = grpc::CreateCustomChannel(server, creds, args);
  c->stub_ = v1::AblationService::NewStub(c->channel_);
  c->artifact_stub_ = v1::ArtifactService::NewStub(c->channel_);
  return c;
}

Session Connection::session() const {
  Session s;
  s.stub = stub_.get();
  s.artifacts = artifact_stub_.get();
  s.server = server_;
  s.token = token_;
  return s;
}

}  // namespace ablate::client
