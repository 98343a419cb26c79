// Server: the ablate gRPC server as a library (ablate-server's main only parses flags).
//
// Start() opens the Store, checks the options (token rule of server/auth.h: both tokens or
// neither, neither only on loopback, they must differ; off loopback TLS unless
// allow_insecure), binds (port 0 picks a free port: port()),
// and serves AblationService, WorkerService, ArtifactService (content-addressed uploads in
// artifact_dir), grpc.health.v1.Health and server reflection.
// A background thread returns expired leases to the queue.
//
// Shutdown() is the drain path (SIGTERM): health turns NOT_SERVING, long polls and watch
// streams end at once, new calls are refused, calls in flight finish (each commits before it
// answers) within shutdown_grace, then the reaper stops. Idempotent; the destructor calls it.
//
// Thread-safety: Start/Shutdown/Wait may be called from any thread; port() and store() are
// safe after Start.
#ifndef ABLATE_SERVER_SERVER_H_
#define ABLATE_SERVER_SERVER_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "server/ablation_service.h"
#include "server/artifact_service.h"
#include "server/auth.h"
#include "server/http/dashboard.h"
#include "server/transport.h"
#include "server/worker_service.h"
#include "storage/store.h"

namespace ablate::server {

struct ServerOptions {
  std::string listen = "127.0.0.1:0";  // host:port; port 0 = any free port.
  std::string db_path;                 // SQLite file (created if missing).
  std::string client_token;            // Empty = AblationService open (loopback only).
  std::string worker_token;            // Empty = WorkerService open (loopback only).
  std::string tls_cert_file;           // PEM; with tls_key_file enables TLS.
  std::string tls_key_file;
  storage::StoreOptions store;
  std::string artifact_dir;                      // Empty = "<db_path>.artifacts".
  int64_t max_artifact_bytes = int64_t{16} << 30;        // One uploaded artifact.
  int64_t max_artifact_total_bytes = int64_t{64} << 30;  // All artifacts; 0 = no limit.
  std::chrono::milliseconds max_lease_wait{20000};  // Cap of LeaseTaskRequest.wait_ms.
  std::chrono::milliseconds reap_interval{0};       // 0 = lease_ttl / 4, at most 1 s.
  std::chrono::milliseconds shutdown_grace{5000};
  WatchOptions watch;
  // Largest message the server sends (GetDataset answers carry whole texts). 0 = the
  // dataset limit + 1 MiB.
  int max_message_bytes = 0;
  // Issue 10, transport bounds (server/transport.h): receive limits, memory quota, streams,
  // keepalive, concurrent and idle uploads.
  TransportOptions transport;
  // Off loopback the server needs TLS (tls_cert_file + tls_key_file) unless this is set.
  bool allow_insecure = false;
  // PEM CA bundle: worker calls must present a client certificate it signed (mTLS). Clients
  // may still connect without one. Needs TLS.
  std::string tls_worker_ca_file;
  // host:port of the read-only web dashboard and JSON API (server/http/dashboard.h);
  // empty = none. Same tokens and certificate as the gRPC API.
  std::string http_listen;
  // Optional third token: accepted as a client token, and the only one that may submit
  // priorities above store.limits.max_client_priority.
  std::string operator_token;
  // Disk (issue 10). Finished jobs are deleted this long after they finished (0 = kept).
  std::chrono::hours retain_finished{0};
  // Artifacts no job names, older than this, are deleted (0 = kept). The grace lets a
  // client upload and then submit.
  std::chrono::hours collect_unreferenced_after{24};
  std::chrono::milliseconds collect_interval{60000};  // How often collection runs.
  int64_t partial_upload_ttl_hours = 6;
  int64_t min_free_disk_bytes = int64_t{1} << 30;  // Submits and uploads refused below.
};

class Server {
 public:
  // Errors: INVALID_ARGUMENT for bad options (non-loopback without tokens, equal tokens,
  // half a TLS pair, unreadable TLS files), the Store's errors, UNAVAILABLE when the address
  // cannot be bound.
  static absl::StatusOr<std::unique_ptr<Server>> Start(ServerOptions options);
  ~Server();

  int port() const { return port_; }
  // The dashboard's bound port; 0 without http_listen.
  int http_port() const;
  // host:port a client on this machine can dial ("127.0.0.1:<port>" for a wildcard address).
  std::string dial_address() const;
  storage::Store& store() { return *store_; }
  storage::ArtifactStore& artifacts() { return *artifacts_; }

  void Shutdown();
  // Blocks until Shutdown() has finished (from another thread).
  void Wait();

 private:
  explicit Server(ServerOptions options) : options_(std::move(options)) {}
  absl::Status Init();
  absl::Status StartDashboard();
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials() const;
  void ReapLoop();
  // Retention, stale partial uploads, unreferenced artifacts (every collect_interval).
  void Collect();

  const ServerOptions options_;
  std::unique_ptr<storage::Store> store_;
  std::unique_ptr<storage::ArtifactStore> artifacts_;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<UploadGuard> uploads_;
  std::atomic<bool> stopping_{false};
  std::unique_ptr<AblationServiceImpl> ablation_;
  std::unique_ptr<WorkerServiceImpl> worker_;
  std::unique_ptr<ArtifactServiceImpl> artifact_service_;
  std::unique_ptr<grpc::Server> grpc_;
  std::unique_ptr<http::Dashboard> http_;
  int port_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  bool shut_down_ = false;  // Guarded by mu_.
  std::thread reaper_;
};

}  // namespace ablate::server

#endif  // ABLATE_SERVER_SERVER_H_
