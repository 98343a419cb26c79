// Transport bounds of the server (issue 10): what one connection, stream or message may cost
// the server before and after the caller is authenticated.
//
// gRPC receives and parses a whole request before any handler (and so the token check)
// runs, so the receive limit is what an unauthenticated caller can make the server hold per
// stream. It is small: the largest request with bulk data is an UploadChunk (1 MiB of data)
// or an inline text (max_inline_text_bytes); larger texts go up as text artifacts. On top:
// a memory quota for all of gRPC's buffers and a thread cap (calls past it are
// RESOURCE_EXHAUSTED), a cap on concurrent streams per connection, keepalive (dead peers
// are dropped, ping floods refused), and idle connections closed.
//
// Thread-safety: plain values and a stateless function.
#ifndef ABLATE_SERVER_TRANSPORT_H_
#define ABLATE_SERVER_TRANSPORT_H_

#include <grpcpp/server_builder.h>

#include <chrono>
#include <cstdint>

namespace ablate::server {

struct TransportOptions {
  // Largest inline Dataset.text a SubmitJob may carry; more is RESOURCE_EXHAUSTED naming
  // spec.dataset.text (upload it: ablate upload FILE, or submit uploads it by itself).
  int64_t max_inline_text_bytes = int64_t{1} << 20;
  // Largest message received; 0 = max_inline_text_bytes + 1 MiB (for the request around it,
  // and for an upload chunk with its framing).
  int max_receive_message_bytes = 0;
  int64_t memory_quota_bytes = int64_t{64} << 20;  // All of gRPC's buffers.
  int max_threads = 512;  // Handler threads; a long poll or watch stream holds one.
  int max_concurrent_streams = 64;  // Per connection.
  std::chrono::milliseconds keepalive_time{60000};
  std::chrono::milliseconds keepalive_timeout{20000};
  std::chrono::milliseconds max_connection_idle{600000};  // No call for this long: closed.
  int max_concurrent_uploads = 16;  // More Upload streams at once: RESOURCE_EXHAUSTED.
  // An Upload stream that sends nothing for this long is cancelled (the bytes are kept).
  std::chrono::milliseconds upload_idle_timeout{60000};
};

// The receive limit in effect.
int ReceiveLimit(const TransportOptions& options);

// Applies the limits above, and `max_send_message_bytes`, to `builder`.
void ApplyTransportLimits(const TransportOptions& options, int max_send_message_bytes,
                          grpc::ServerBuilder* builder);

}  // namespace ablate::server

#endif  // ABLATE_SERVER_TRANSPORT_H_
