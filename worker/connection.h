// Copyright: the ablate authors.
//
// Connection: the worker's gRPC channel to the server's WorkerService, with the bearer
// token (`authorization: Bearer <token>` metadata on every call) and optional TLS.
// Backoff and StopFlag: the retry pacing and the interruptible sleep the service loop uses.
//
// Thread-safety: Connection is immutable after Create and safe to share between threads
// (the gRPC stub is thread-safe). StopFlag is thread-safe. Backoff is not (one per loop).
#ifndef ABLATE_WORKER_CONNECTION_H_
#define ABLATE_WORKER_CONNECTION_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "ablate/v1/ablate.grpc.pb.h"
#include "absl/status/statusor.h"
#include "worker/artifact_source.h"

namespace ablate::worker {

struct ConnectionOptions {
  std::string address;      // host:port of the server.
  std::string token_file;   // One line: the worker token. Empty = no token.
  std::string tls_ca_file;  // PEM root certificates; non-empty = TLS.
  // Optional client certificate (mTLS, issue 10): PEM chain and key; both or neither.
  std::string tls_cert_file;
  std::string tls_key_file;
};

// Reads a token file: the first line, surrounding whitespace trimmed. Errors name the file.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

class Connection {
 public:
  // Errors: unreadable or empty token / CA file. Does not contact the server.
  static absl::StatusOr<std::unique_ptr<Connection>> Create(const ConnectionOptions& options);

  // Adds the auth metadata and a deadline `timeout` from now to a fresh context.
  void Prepare(grpc::ClientContext* context, std::chrono::milliseconds timeout) const;

  ablate::v1::WorkerService::Stub& stub() const { return *stub_; }
  // The same channel, for the other services workers call (ArtifactService).
  std::shared_ptr<grpc::Channel> channel() const { return channel_; }
  const std::string& address() const { return address_; }

 private:
  Connection() = default;
  std::string address_;
  std::string token_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<ablate::v1::WorkerService::Stub> stub_;
};

// An ArtifactSource over `connection`'s channel (auth metadata, 1 h deadline per fetch).
// `connection` must outlive it.
std::unique_ptr<ArtifactSource> MakeArtifactSource(const Connection* connection);

// Exponential backoff with +-20% jitter: initial, doubling, capped at max.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max);
  std::chrono::milliseconds Next();
  void Reset() { current_ = initial_; }

 private:
  std::chrono::milliseconds initial_, max_, current_;
  std::mt19937 rng_;
};

// A one-way flag with an interruptible wait.
class StopFlag {
 public:
  void Set();
  bool IsSet() const { return set_.load(); }
  // Sleeps up to `duration`; returns true at once if (or as soon as) the flag is set.
  bool WaitFor(std::chrono::milliseconds duration);

 private:
  std::atomic<bool> set_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace ablate::worker

#endif  // ABLATE_WORKER_CONNECTION_H_
