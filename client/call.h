// One unary AblationService call with the session's token and deadline, as absl::Status.
#ifndef ABLATE_CLIENT_CALL_H_
#define ABLATE_CLIENT_CALL_H_

#include "client/rpc.h"

namespace ablate::client {

template <typename Req, typename Resp, typename Method>
absl::Status Call(const Session& s, Method method, const Req& req, Resp* resp, const char* rpc) {
  std::unique_ptr<grpc::ClientContext> ctx = s.Context();
  return FromGrpc((s.stub->*method)(ctx.get(), req, resp), rpc);
}

using Stub = v1::AblationService::StubInterface;

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_CALL_H_
