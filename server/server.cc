#include "server/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "storage/status_macros.h"

namespace ablate::server {
namespace {

namespace v1 = ::ablate::v1;

absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", what, " ", path));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

http::DashboardOptions DashboardOptionsOf(const ServerOptions& options) {
  http::DashboardOptions dashboard;
  dashboard.listen = options.http_listen;
  dashboard.tokens_configured = !options.client_token.empty();
  dashboard.allow_insecure = options.allow_insecure;  // The gRPC rule (issue 10).
  dashboard.tls_cert_file = options.tls_cert_file;
  dashboard.tls_key_file = options.tls_key_file;
  return dashboard;
}

absl::Status CheckOptions(const ServerOptions& options) {
  if (options.db_path.empty()) return absl::InvalidArgumentError("db path is empty");
  if (!options.client_token.empty() && options.client_token == options.worker_token) {
    return absl::InvalidArgumentError("the client and worker tokens must differ");
  }
  if (options.client_token.empty() != options.worker_token.empty()) {
    return absl::InvalidArgumentError(
        "give both a client token and a worker token, or neither (one token alone would "
        "leave the other role open)");
  }
  const bool loopback = IsLoopbackAddress(options.listen);
  if (!loopback && options.client_token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen address ", options.listen,
        " is not loopback: it needs both a client token and a worker token"));
  }
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs both a certificate and a key file");
  }
  if (!loopback && options.tls_cert_file.empty() && !options.allow_insecure) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen address ", options.listen, " is not loopback: it needs TLS (--tls-cert and "
        "--tls-key) so tokens do not travel in clear text, or --allow-insecure"));
  }
  if (!options.tls_worker_ca_file.empty() && options.tls_cert_file.empty()) {
    return absl::InvalidArgumentError("a worker CA (mTLS) needs TLS (--tls-cert, --tls-key)");
  }
  if (!options.http_listen.empty()) {
    ABLATE_RETURN_IF_ERROR(http::CheckDashboardOptions(DashboardOptionsOf(options)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ServerOptions options) {
  ABLATE_RETURN_IF_ERROR(CheckOptions(options));
  std::unique_ptr<Server> server(new Server(std::move(options)));
  ABLATE_RETURN_IF_ERROR(server->Init());
  return server;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Server::Credentials() const {
  if (options_.tls_cert_file.empty()) return grpc::InsecureServerCredentials();
  ABLATE_ASSIGN_OR_RETURN(std::string cert, ReadFile(options_.tls_cert_file, "TLS certificate"));
  ABLATE_ASSIGN_OR_RETURN(std::string key, ReadFile(options_.tls_key_file, "TLS key"));
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({key, cert});
  if (!options_.tls_worker_ca_file.empty()) {
    ABLATE_ASSIGN_OR_RETURN(ssl.pem_root_certs,
                            ReadFile(options_.tls_worker_ca_file, "worker CA"));
    // Clients may come without a certificate; one that is presented must verify, and
    // worker calls need one (Authenticator).
    ssl.client_certificate_request = GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

absl::Status Server::Init() {
  ABLATE_ASSIGN_OR_RETURN(store_, storage::Store::Open(options_.db_path, options_.store));
  storage::ArtifactStoreOptions artifact_options;
  artifact_options.root =
      options_.artifact_dir.empty() ? options_.db_path + ".artifacts" : options_.artifact_dir;
  artifact_options.max_artifact_bytes = options_.max_artifact_bytes;
  artifact_options.max_total_bytes = options_.max_artifact_total_bytes;
  artifact_options.partial_ttl = absl::Hours(options_.partial_upload_ttl_hours);
  artifact_options.min_free_bytes = options_.min_free_disk_bytes;
  ABLATE_ASSIGN_OR_RETURN(artifacts_, storage::ArtifactStore::Open(artifact_options));
  auth_ = std::make_unique<Authenticator>(options_.client_token, options_.worker_token,
                                          !options_.tls_worker_ca_file.empty());
  auth_->set_operator_token(options_.operator_token);
  uploads_ = std::make_unique<UploadGuard>(options_.transport.max_concurrent_uploads,
                                           options_.transport.upload_idle_timeout);
  ablation_ = std::make_unique<AblationServiceImpl>(store_.get(), artifacts_.get(), auth_.get(),
                                                    &stopping_, options_.watch);
  ablation_->set_max_inline_text_bytes(options_.transport.max_inline_text_bytes);
  artifact_service_ =
      std::make_unique<ArtifactServiceImpl>(artifacts_.get(), auth_.get(), uploads_.get());
  worker_ = std::make_unique<WorkerServiceImpl>(store_.get(), auth_.get(), &stopping_,
                                                options_.max_lease_wait);
  ABLATE_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ServerCredentials> credentials, Credentials());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options_.listen, credentials, &port_);
  builder.RegisterService(ablation_.get());
  builder.RegisterService(worker_.get());
  builder.RegisterService(artifact_service_.get());
  const int max_send =
      options_.max_message_bytes > 0
          ? options_.max_message_bytes
          : static_cast<int>(std::min<int64_t>(INT32_MAX, options_.store.limits.max_dataset_bytes +
                                                              (int64_t{1} << 20)));
  ApplyTransportLimits(options_.transport, max_send, &builder);
  grpc_ = builder.BuildAndStart();
  if (grpc_ == nullptr || port_ == 0) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options_.listen));
  }
  grpc_->GetHealthCheckService()->SetServingStatus(true);
  ABLATE_RETURN_IF_ERROR(StartDashboard());
  reaper_ = std::thread([this] { ReapLoop(); });
  spdlog::info("ablate-server listening on {} (port {}, TLS {}, client auth {}, worker auth {})",
               options_.listen, port_, options_.tls_cert_file.empty() ? "off" : "on",
               auth_->open(Role::kClient) ? "off" : "on",
               auth_->open(Role::kWorker) ? "off" : "on");
  return absl::OkStatus();
}

absl::Status Server::StartDashboard() {
  if (options_.http_listen.empty()) return absl::OkStatus();
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);  // Per-block results make large tables.
  ABLATE_ASSIGN_OR_RETURN(http_, http::Dashboard::Start(DashboardOptionsOf(options_),
                                                        grpc_->InProcessChannel(args)));
  return absl::OkStatus();
}

int Server::http_port() const { return http_ == nullptr ? 0 : http_->port(); }

std::string Server::dial_address() const {
  std::string host = options_.listen.substr(0, options_.listen.rfind(':'));
  if (host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::") host = "127.0.0.1";
  return absl::StrCat(host, ":", port_);
}

void Server::ReapLoop() {
  std::chrono::milliseconds interval = options_.reap_interval;
  if (interval.count() <= 0) {
    interval = std::chrono::milliseconds(
        std::clamp<int64_t>(options_.store.lease_ttl_ms / 4, 10, 1000));
  }
  auto next_collect = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_.load()) {
    lock.unlock();
    absl::StatusOr<storage::ReclaimStats> stats = store_->ReclaimExpiredLeases();
    if (!stats.ok()) spdlog::warn("lease reaper: {}", stats.status().ToString());
    uploads_->CancelIdle();
    if (std::chrono::steady_clock::now() >= next_collect) {
      Collect();
      next_collect = std::chrono::steady_clock::now() + options_.collect_interval;
    }
    lock.lock();
    cv_.wait_for(lock, interval, [this] { return stopping_.load(); });
  }
}

void Server::Collect() {
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  if (options_.retain_finished.count() > 0) {
    const int64_t cutoff =
        now_ms - std::chrono::duration_cast<std::chrono::milliseconds>(options_.retain_finished)
                     .count();
    absl::StatusOr<int> deleted = store_->DeleteFinishedBefore(cutoff, 100);
    if (!deleted.ok()) spdlog::warn("retention: {}", deleted.status().ToString());
  }
  if (int dropped = artifacts_->CollectStalePartials(); dropped > 0) {
    spdlog::info("collected {} stale partial uploads", dropped);
  }
  if (options_.collect_unreferenced_after.count() <= 0) return;
  // Listed before the references are read: an artifact a job starts naming in between is
  // younger than the grace period in practice (upload, then submit).
  absl::StatusOr<std::vector<v1::ArtifactInfo>> stored = artifacts_->List();
  absl::StatusOr<absl::flat_hash_set<std::string>> used = store_->ReferencedDigests();
  if (!stored.ok() || !used.ok()) {
    spdlog::warn("artifact collection: {} {}", stored.status().ToString(),
                 used.status().ToString());
    return;
  }
  const int64_t cutoff =
      now_ms - std::chrono::duration_cast<std::chrono::milliseconds>(
                   options_.collect_unreferenced_after).count();
  for (const v1::ArtifactInfo& info : *stored) {
    if (info.created_unix_ms() >= cutoff || used->contains(info.digest())) continue;
    absl::Status deleted = artifacts_->Delete(info.digest());
    spdlog::info("artifact {} ({} bytes) no job names it: {}", info.digest(), info.size(),
                 deleted.ok() ? "deleted" : deleted.ToString());
  }
}

void Server::Shutdown() {
  if (stopping_.exchange(true)) {
    Wait();  // Another caller drains; return when it is done.
    return;
  }
  spdlog::info("ablate-server shutting down: draining calls in flight");
  cv_.notify_all();
  if (grpc_ != nullptr) {
    grpc_->GetHealthCheckService()->SetServingStatus(false);
    if (http_ != nullptr) http_->Stop();
    store_->notifier().Shutdown();  // Long polls and watch streams return now.
    grpc_->Shutdown(std::chrono::system_clock::now() + options_.shutdown_grace);
  }
  if (reaper_.joinable()) reaper_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    shut_down_ = true;
  }
  cv_.notify_all();
  spdlog::info("ablate-server stopped");
}

void Server::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return shut_down_; });
}

Server::~Server() { Shutdown(); }

}  // namespace ablate::server
