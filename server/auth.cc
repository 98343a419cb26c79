#include "server/auth.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"

namespace ablate::server {
namespace {

// Compares in time independent of where the strings differ.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

absl::string_view RoleName(Role role) { return role == Role::kClient ? "client" : "worker"; }

absl::Status Authenticator::Check(const grpc::ServerContext& context, Role role) const {
  if (role == Role::kWorker && require_worker_cert_) {
    std::shared_ptr<const grpc::AuthContext> peer = context.auth_context();
    if (peer == nullptr || !peer->IsPeerAuthenticated()) {
      return absl::UnauthenticatedError(
          "worker calls need a client certificate signed by the server's worker CA");
    }
  }
  if (open(role)) return absl::OkStatus();
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return CheckHeader(nullptr, role);
  std::string value(it->second.data(), it->second.size());
  return CheckHeader(&value, role);
}

namespace {

// The token of a `Bearer <token>` header; empty when the header is absent or malformed.
absl::string_view BearerToken(absl::string_view value) {
  constexpr absl::string_view kScheme = "bearer ";
  if (value.size() < kScheme.size() ||
      !absl::EqualsIgnoreCase(value.substr(0, kScheme.size()), kScheme)) {
    return "";
  }
  return absl::StripAsciiWhitespace(value.substr(kScheme.size()));
}

}  // namespace

bool Authenticator::IsOperator(const grpc::ServerContext& context) const {
  if (operator_token_.empty()) return false;
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return false;
  return ConstantTimeEquals(
      BearerToken(absl::string_view(it->second.data(), it->second.size())), operator_token_);
}

absl::Status Authenticator::CheckHeader(const std::string* authorization, Role role) const {
  const std::string& expected = TokenFor(role);
  if (expected.empty()) return absl::OkStatus();
  if (authorization == nullptr) {
    return absl::UnauthenticatedError(absl::StrCat(
        "missing `authorization: Bearer <token>` metadata (", RoleName(role), " token)"));
  }
  absl::string_view value = *authorization;
  constexpr absl::string_view kScheme = "bearer ";
  if (value.size() < kScheme.size() ||
      !absl::EqualsIgnoreCase(value.substr(0, kScheme.size()), kScheme)) {
    return absl::UnauthenticatedError("authorization metadata is not `Bearer <token>`");
  }
  absl::string_view token = absl::StripAsciiWhitespace(value.substr(kScheme.size()));
  if (ConstantTimeEquals(token, expected)) return absl::OkStatus();
  if (role == Role::kClient && !operator_token_.empty() &&
      ConstantTimeEquals(token, operator_token_)) {
    return absl::OkStatus();
  }
  const Role other = role == Role::kClient ? Role::kWorker : Role::kClient;
  if (!TokenFor(other).empty() && ConstantTimeEquals(token, TokenFor(other))) {
    return absl::PermissionDeniedError(absl::StrCat("a ", RoleName(other),
                                                    " token cannot call this service (needs the ",
                                                    RoleName(role), " token)"));
  }
  return absl::UnauthenticatedError(absl::StrCat("invalid ", RoleName(role), " token"));
}

absl::StatusOr<std::string> ReadTokenFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read token file ", path));
  std::string line;
  std::getline(in, line);
  std::string token(absl::StripAsciiWhitespace(line));
  if (token.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("token file ", path, " is empty"));
  }
  return token;
}

bool IsLoopbackAddress(absl::string_view address) {
  if (absl::StartsWith(address, "unix:") || absl::StartsWith(address, "unix-abstract:")) {
    return true;
  }
  if (!absl::ConsumePrefix(&address, "ipv4:")) absl::ConsumePrefix(&address, "ipv6:");
  absl::string_view host = address;
  if (absl::StartsWith(host, "[")) {
    size_t end = host.find(']');
    if (end == absl::string_view::npos) return false;
    host = host.substr(1, end - 1);
  } else {
    size_t colon = host.rfind(':');
    if (colon != absl::string_view::npos) host = host.substr(0, colon);
  }
  if (absl::EqualsIgnoreCase(host, "localhost")) return true;
  const std::string text(host);
  in_addr v4{};
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

}  // namespace ablate::server
