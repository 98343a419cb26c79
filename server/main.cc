// ablate-server: flags -> ServerOptions -> Server::Start; SIGTERM/SIGINT drain and exit 0.
#include <signal.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <string>

#include "server/server.h"

namespace {

// Writes the bound port to `path` atomically (scripts and tests wait for the file).
bool WritePortFile(const std::string& path, int port) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp);
    if (!(out << port << "\n")) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  ablate::server::ServerOptions options;
  std::string client_token_file, worker_token_file, port_file, http_port_file;
  std::string sync = "full", log_level = "info";
  int64_t max_lease_wait_ms = options.max_lease_wait.count();
  int64_t shutdown_grace_ms = options.shutdown_grace.count();
  options.listen = "127.0.0.1:7070";

  CLI::App app{"ablate-server: job queue and gRPC API for attention-head ablation sweeps"};
  app.add_option("--listen", options.listen, "host:port to listen on (port 0 = any free port)")
      ->capture_default_str();
  app.add_option("--db", options.db_path, "SQLite database file (created if missing)")
      ->required();
  app.add_option("--client-token-file", client_token_file, "File holding the client token");
  app.add_option("--worker-token-file", worker_token_file, "File holding the worker token");
  app.add_option("--tls-cert", options.tls_cert_file, "PEM certificate chain (enables TLS)");
  app.add_option("--tls-key", options.tls_key_file, "PEM private key");
  app.add_option("--lease-ttl-ms", options.store.lease_ttl_ms, "Lease time-to-live")
      ->capture_default_str()->check(CLI::Range(int64_t{100}, int64_t{3600000}));
  app.add_option("--max-attempts", options.store.limits.default_max_attempts,
                 "Attempts per task before its job fails (jobs may set their own)")
      ->capture_default_str()->check(CLI::Range(1, 100));
  app.add_option("--worker-backoff-ms", options.store.backoff_base_ms,
                 "A worker whose task of a job fails gets none of that job's tasks for this long,"
                 " doubling per further failure (0 = off)")
      ->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{86400000}));
  app.add_option("--worker-backoff-max-ms", options.store.backoff_max_ms,
                 "Longest worker backoff from one job")
      ->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{86400000}));
  app.add_option("--masks-per-task", options.store.limits.default_masks_per_task,
                 "Masks per task when a job does not say (0 = sized by cost)")
      ->capture_default_str()->check(CLI::Range(0, 1024));
  app.add_option("--target-task-seconds", options.store.limits.task_sizing.target_task_seconds,
                 "Cost-based sizing: seconds one task should take on the slowest worker")
      ->capture_default_str();
  app.add_option("--slowest-worker-gflops",
                 options.store.limits.task_sizing.slowest_worker_gflops,
                 "Cost-based sizing: GFLOP/s of the slowest worker")->capture_default_str();
  app.add_option("--artifact-dir", options.artifact_dir,
                 "Uploaded artifacts (default: <db>.artifacts)");
  app.add_option("--max-artifact-bytes", options.max_artifact_bytes, "Largest artifact")
      ->capture_default_str();
  app.add_option("--max-artifact-total-bytes", options.max_artifact_total_bytes,
                 "All artifacts together (0 = no limit)")->capture_default_str();
  app.add_option("--max-dataset-bytes", options.store.limits.max_dataset_bytes,
                 "Largest dataset text accepted")->capture_default_str();
  app.add_option("--max-pending-jobs", options.store.max_pending_jobs,
                 "Queued + running jobs before SubmitJob is RESOURCE_EXHAUSTED")
      ->capture_default_str();
  app.add_option("--max-lease-wait-ms", max_lease_wait_ms, "Longest LeaseTask long poll")
      ->capture_default_str();
  app.add_option("--shutdown-grace-ms", shutdown_grace_ms, "How long SIGTERM waits for calls")
      ->capture_default_str();
  app.add_option("--sync", sync, "SQLite synchronous mode: full (power-loss safe) or normal")
      ->capture_default_str()->check(CLI::IsMember({"full", "normal"}));
  // Hardening (issue 10): transport bounds, TLS, operator priorities, disk.
  std::string operator_token_file;
  int64_t retain_finished_hours = 0, collect_after_hours = 24;
  app.add_flag("--allow-insecure", options.allow_insecure,
               "Listen off loopback without TLS (tokens travel in clear text)");
  app.add_option("--tls-worker-ca", options.tls_worker_ca_file,
                 "PEM CA: worker calls need a client certificate it signed (mTLS)");
  app.add_option("--operator-token-file", operator_token_file,
                 "Token that may also submit the reserved top priorities");
  app.add_option("--max-client-priority", options.store.limits.max_client_priority,
                 "Priorities above this (up to 1000) need the operator token")
      ->capture_default_str()->check(CLI::Range(-1000, 1000));
  app.add_option("--max-inline-text-bytes", options.transport.max_inline_text_bytes,
                 "Largest dataset text sent inline; larger ones go up as text artifacts")
      ->capture_default_str()->check(CLI::Range(int64_t{1024}, int64_t{64} << 20));
  app.add_option("--max-threads", options.transport.max_threads,
                 "Handler threads (a long poll or watch holds one); more calls are refused")
      ->capture_default_str()->check(CLI::Range(16, 100000));
  app.add_option("--memory-quota-bytes", options.transport.memory_quota_bytes,
                 "gRPC buffer memory quota, bytes")->capture_default_str();
  app.add_option("--max-concurrent-uploads", options.transport.max_concurrent_uploads,
                 "Upload streams at once")->capture_default_str()->check(CLI::Range(1, 10000));
  app.add_option("--retain-finished-hours", retain_finished_hours,
                 "Delete finished jobs this many hours after they finished (0 = keep)")
      ->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{24} * 365 * 10));
  app.add_option("--collect-unreferenced-hours", collect_after_hours,
                 "Delete artifacts no job names once this old (0 = keep)")
      ->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{24} * 365 * 10));
  app.add_option("--partial-upload-ttl-hours", options.partial_upload_ttl_hours,
                 "Drop unfinished uploads untouched this long")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{24} * 30));
  app.add_option("--min-free-disk-bytes", options.min_free_disk_bytes,
                 "Refuse submits and uploads while less is free (0 = no check)")
      ->capture_default_str();
  app.add_option("--port-file", port_file, "Write the bound port here once listening");
  app.add_option("--http-listen", options.http_listen,
                 "host:port of the read-only web dashboard and JSON API (off by default;"
                 " same tokens and TLS certificate as the gRPC API)");
  app.add_option("--http-port-file", http_port_file,
                 "Write the dashboard's bound port here once listening");
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  spdlog::set_level(spdlog::level::from_str(log_level));
  options.store.synchronous_full = sync == "full";
  options.max_lease_wait = std::chrono::milliseconds(max_lease_wait_ms);
  options.shutdown_grace = std::chrono::milliseconds(shutdown_grace_ms);
  options.retain_finished = std::chrono::hours(retain_finished_hours);
  options.collect_unreferenced_after = std::chrono::hours(collect_after_hours);
  for (auto [file, token] : {std::pair{&client_token_file, &options.client_token},
                             std::pair{&worker_token_file, &options.worker_token},
                             std::pair{&operator_token_file, &options.operator_token}}) {
    if (file->empty()) continue;
    absl::StatusOr<std::string> read = ablate::server::ReadTokenFile(*file);
    if (!read.ok()) {
      spdlog::error("{}", read.status().ToString());
      return 2;
    }
    *token = *read;
  }

  // Block the stop signals in every thread; this thread takes them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  absl::StatusOr<std::unique_ptr<ablate::server::Server>> server =
      ablate::server::Server::Start(options);
  if (!server.ok()) {
    spdlog::error("cannot start: {}", server.status().ToString());
    return server.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
  }
  if (!port_file.empty() && !WritePortFile(port_file, (*server)->port())) {
    spdlog::error("cannot write port file {}", port_file);
    return 1;
  }
  if (!http_port_file.empty() && !WritePortFile(http_port_file, (*server)->http_port())) {
    spdlog::error("cannot write port file {}", http_port_file);
    return 1;
  }
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  spdlog::info("received {}", signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  (*server)->Shutdown();
  return 0;
}
