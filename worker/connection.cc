// Copyright: the ablate authors.
#include "worker/connection.h"

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace ablate::worker {
namespace {

constexpr int kMaxMessageBytes = 256 << 20;  // Datasets travel in one GetDataset reply.

absl::StatusOr<std::string> ReadWholeFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", what, " file ", path));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadWholeFile(path, "token");
  if (!text.ok()) return text.status();
  std::string line = text->substr(0, text->find('\n'));
  std::string token(absl::StripAsciiWhitespace(line));
  if (token.empty()) return absl::InvalidArgumentError(absl::StrCat("token file ", path, " is empty"));
  return token;
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Create(const ConnectionOptions& options) {
  if (options.address.empty()) return absl::InvalidArgumentError("server address is empty");
  std::unique_ptr<Connection> conn(new Connection());
  conn->address_ = options.address;
  if (!options.token_file.empty()) {
    absl::StatusOr<std::string> token = ReadTokenFile(options.token_file);
    if (!token.ok()) return token.status();
    conn->token_ = *token;
  }
  std::shared_ptr<grpc::ChannelCredentials> creds = grpc::InsecureChannelCredentials();
  if (!options.tls_ca_file.empty()) {
    absl::StatusOr<std::string> ca = ReadWholeFile(options.tls_ca_file, "TLS CA");
    if (!ca.ok()) return ca.status();
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = *ca;
    if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
      return absl::InvalidArgumentError("a client certificate needs both --tls-cert and --tls-key");
    }
    if (!options.tls_cert_file.empty()) {
      absl::StatusOr<std::string> cert = ReadWholeFile(options.tls_cert_file, "TLS certificate");
      if (!cert.ok()) return cert.status();
      absl::StatusOr<std::string> key = ReadWholeFile(options.tls_key_file, "TLS key");
      if (!key.ok()) return key.status();
      ssl.pem_cert_chain = *cert;
      ssl.pem_private_key = *key;
    }
    creds = grpc::SslCredentials(ssl);
  } else if (!options.tls_cert_file.empty()) {
    return absl::InvalidArgumentError("a client certificate (--tls-cert) needs --tls-ca");
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  // Reconnect quickly after a server restart instead of waiting out gRPC's long default.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  conn->channel_ = grpc::CreateCustomChannel(options.address, creds, args);
  conn->stub_ = ablate::v1::WorkerService::NewStub(conn->channel_);
  return conn;
}

void Connection::Prepare(grpc::ClientContext* context, std::chrono::milliseconds timeout) const {
  if (!token_.empty()) context->AddMetadata("authorization", absl::StrCat("Bearer ", token_));
  context->set_deadline(std::chrono::system_clock::now() + timeout);
}

std::unique_ptr<ArtifactSource> MakeArtifactSource(const Connection* connection) {
  std::shared_ptr<ablate::v1::ArtifactService::StubInterface> stub =
      ablate::v1::ArtifactService::NewStub(connection->channel());
  return std::make_unique<GrpcArtifactSource>(
      std::move(stub), [connection](grpc::ClientContext* context) {
        connection->Prepare(context, std::chrono::hours(1));
      });
}

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max)
    : initial_(initial), max_(max), current_(initial), rng_(std::random_device{}()) {}

std::chrono::milliseconds Backoff::Next() {
  std::uniform_real_distribution<double> jitter(0.8, 1.2);
  auto wait = std::chrono::milliseconds(static_cast<int64_t>(current_.count() * jitter(rng_)));
  current_ = std::min(max_, current_ * 2);
  return wait;
}

void StopFlag::Set() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    set_.store(true);
  }
  cv_.notify_all();
}

bool StopFlag::WaitFor(std::chrono::milliseconds duration) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, duration, [this] { return set_.load(); });
}

}  // namespace ablate::worker
