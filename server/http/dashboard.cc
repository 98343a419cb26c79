#include "server/http/dashboard.h"

#include <httplib.h>
#include <sys/socket.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/auth.h"
#include "server/http/api.h"
#include "server/http/assets.h"

namespace ablate::server::http {
namespace {

// "host:port" or "[v6]:port" -> host (brackets removed) and port.
absl::Status SplitHostPort(const std::string& listen, std::string* host, int* port) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), port) ||
      *port < 0 || *port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--http-listen ", listen, " is not host:port"));
  }
  *host = listen.substr(0, colon);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  if (host->empty()) *host = "0.0.0.0";
  return absl::OkStatus();
}

bool Readable(const std::string& path) { return std::ifstream(path).good(); }

void ServeAssets(httplib::Server* server) {
  for (const Asset* a = kAssets; a->path != nullptr; ++a) {
    const Asset asset = *a;
    server->Get(asset.path, [asset](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-cache");
      res.set_header("X-Content-Type-Options", "nosniff");
      res.set_content(reinterpret_cast<const char*>(asset.data), asset.size,
                      asset.content_type);
    });
  }
}

}  // namespace

absl::Status CheckDashboardOptions(const DashboardOptions& options) {
  std::string host;
  int port = 0;
  if (absl::Status st = SplitHostPort(options.listen, &host, &port); !st.ok()) return st;
  if (options.tls_cert_file.empty() != options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("TLS needs both a certificate and a key file");
  }
  if (IsLoopbackAddress(options.listen)) return absl::OkStatus();
  if (!options.tokens_configured) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--http-listen ", options.listen,
        " is not loopback: the dashboard needs the server's client token there"));
  }
  if (options.tls_cert_file.empty() && !options.allow_insecure) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--http-listen ", options.listen, " is not loopback: it needs TLS (--tls-cert)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Dashboard>> Dashboard::Start(
    DashboardOptions options, std::shared_ptr<grpc::Channel> channel) {
  if (absl::Status st = CheckDashboardOptions(options); !st.ok()) return st;
  std::string host;
  int port = 0;
  if (absl::Status st = SplitHostPort(options.listen, &host, &port); !st.ok()) return st;
  std::unique_ptr<Dashboard> dashboard(new Dashboard());
  if (options.tls_cert_file.empty()) {
    dashboard->http_ = std::make_unique<httplib::Server>();
  } else {
    for (const std::string* f : {&options.tls_cert_file, &options.tls_key_file}) {
      if (!Readable(*f)) return absl::InvalidArgumentError(absl::StrCat("cannot read ", *f));
    }
    auto ssl = std::make_unique<httplib::SSLServer>(options.tls_cert_file.c_str(),
                                                    options.tls_key_file.c_str());
    if (!ssl->is_valid()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot use ", options.tls_cert_file, " / ", options.tls_key_file, " for HTTPS"));
    }
    dashboard->http_ = std::move(ssl);
  }
  httplib::Server* http = dashboard->http_.get();
  http->set_default_headers({{"X-Frame-Options", "DENY"}, {"Referrer-Policy", "no-referrer"}});
  // cpp-httplib's default adds SO_REUSEPORT, which lets a second server bind the same port
  // and take half its connections; keep only SO_REUSEADDR (restart while in TIME_WAIT).
  http->set_socket_options([](int sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  RegisterApi(http, std::move(channel));
  ServeAssets(http);
  dashboard->port_ = port == 0 ? http->bind_to_any_port(host) : port;
  if (dashboard->port_ <= 0 || (port != 0 && !http->bind_to_port(host, port))) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen, " (HTTP)"));
  }
  dashboard->thread_ = std::thread([http] { http->listen_after_bind(); });
  // stop() before the loop runs would be lost (and Stop would wait forever): wait for it.
  for (int i = 0; i < 500 && !http->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  spdlog::info("dashboard on {}://{}:{}", options.tls_cert_file.empty() ? "http" : "https",
               host, dashboard->port_);
  return dashboard;
}

void Dashboard::Stop() {
  if (http_ != nullptr) http_->stop();
  if (thread_.joinable()) thread_.join();
}

Dashboard::~Dashboard() { Stop(); }

}  // namespace ablate::server::http
