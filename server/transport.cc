#include "server/transport.h"

#include <grpc/grpc.h>
#include <grpcpp/resource_quota.h>

#include <algorithm>
#include <climits>

namespace ablate::server {

int ReceiveLimit(const TransportOptions& options) {
  if (options.max_receive_message_bytes > 0) return options.max_receive_message_bytes;
  return static_cast<int>(
      std::min<int64_t>(INT_MAX, options.max_inline_text_bytes + (int64_t{1} << 20)));
}

void ApplyTransportLimits(const TransportOptions& options, int max_send_message_bytes,
                          grpc::ServerBuilder* builder) {
  builder->SetMaxReceiveMessageSize(ReceiveLimit(options));
  builder->SetMaxSendMessageSize(max_send_message_bytes);
  grpc::ResourceQuota quota("ablate-server");
  quota.Resize(static_cast<size_t>(options.memory_quota_bytes));
  quota.SetMaxThreads(options.max_threads);
  builder->SetResourceQuota(quota);
  builder->AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, options.max_concurrent_streams);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                              static_cast<int>(options.keepalive_time.count()));
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                              static_cast<int>(options.keepalive_timeout.count()));
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // Clients may ping at most every 10 s without data; a flood closes the connection.
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  builder->AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                              static_cast<int>(options.max_connection_idle.count()));
  // Headers are read before authentication too: keep them small.
  builder->AddChannelArgument(GRPC_ARG_MAX_METADATA_SIZE, 16 << 10);
}

}  // namespace ablate::server
