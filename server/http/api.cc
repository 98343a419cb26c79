#include "server/http/api.h"

#include <httplib.h>

#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "ablate/v1/ablate.grpc.pb.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "client/views.h"
#include "nlohmann/json.hpp"

namespace ablate::server::http {
namespace {

namespace v1 = ::ablate::v1;
using nlohmann::json;
using Stub = v1::AblationService::Stub;

constexpr std::chrono::seconds kDeadline{60};

int HttpStatusOf(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK: return 200;
    case grpc::StatusCode::UNAUTHENTICATED: return 401;
    case grpc::StatusCode::PERMISSION_DENIED: return 403;
    case grpc::StatusCode::NOT_FOUND: return 404;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE: return 400;
    case grpc::StatusCode::FAILED_PRECONDITION: return 409;
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return 429;
    case grpc::StatusCode::UNAVAILABLE: return 503;
    case grpc::StatusCode::DEADLINE_EXCEEDED: return 504;
    default: return 500;
  }
}

const char* CodeName(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
    case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::StatusCode::NOT_FOUND: return "NOT_FOUND";
    case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::StatusCode::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    default: return "INTERNAL";
  }
}

void ReplyJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_header("Cache-Control", "no-store");
  res.set_content(body.dump(), "application/json");
}

void ReplyError(httplib::Response& res, const grpc::Status& status) {
  ReplyJson(res, HttpStatusOf(status.error_code()),
            {{"error", status.error_message()}, {"code", CodeName(status.error_code())}});
}

grpc::Status BadParam(const std::string& name, const std::string& why) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, absl::StrCat(name, ": ", why));
}

// Calls `method` with the request's Authorization header as metadata.
template <typename Req, typename Resp, typename Method>
grpc::Status CallRpc(Stub& stub, Method method, const httplib::Request& http, const Req& req,
                     Resp* resp) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kDeadline);
  if (http.has_header("Authorization")) {
    const std::string value = http.get_header_value("Authorization");
    for (char c : value) {
      if (c < 0x20 || c > 0x7e) {
        return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                            "the Authorization header holds characters a token cannot have");
      }
    }
    context.AddMetadata("authorization", value);
  }
  return (stub.*method)(&context, req, resp);
}

// Optional integer parameter >= 0 (`fallback` when absent).
grpc::Status IntParam(const httplib::Request& req, const char* name, int fallback, int* out) {
  *out = fallback;
  if (!req.has_param(name)) return grpc::Status::OK;
  if (!absl::SimpleAtoi(req.get_param_value(name), out) || *out < 0) {
    return BadParam(name, absl::StrCat("'", req.get_param_value(name),
                                       "' is not a non-negative integer"));
  }
  return grpc::Status::OK;
}

// Optional comma-separated finite numbers.
grpc::Status NumbersParam(const httplib::Request& req, const char* name,
                          std::vector<double>* out) {
  if (!req.has_param(name)) return grpc::Status::OK;
  for (absl::string_view part :
       absl::StrSplit(req.get_param_value(name), ',', absl::SkipWhitespace())) {
    double v = 0;
    if (!absl::SimpleAtod(part, &v) || !std::isfinite(v)) {
      return BadParam(name, absl::StrCat("'", part, "' is not a number"));
    }
    out->push_back(v);
  }
  return grpc::Status::OK;
}

grpc::Status FromAbsl(const absl::Status& s) {
  return s.ok() ? grpc::Status::OK
                : grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

// A handler computes `body` or fails with a gRPC status.
using Handler = std::function<grpc::Status(const httplib::Request&, Stub&, json*)>;

httplib::Server::Handler Wrap(std::shared_ptr<Stub> stub, Handler handler) {
  return [stub, handler](const httplib::Request& req, httplib::Response& res) {
    json body;
    grpc::Status status = handler(req, *stub, &body);
    if (!status.ok()) return ReplyError(res, status);
    ReplyJson(res, 200, body);
  };
}

// ?ci=0.9&bootstrap=2000&seed=7 (the fields of v1::Uncertainty; absent = server defaults,
// bootstrap=-1 = no intervals).
grpc::Status UncertaintyParams(const httplib::Request& req, v1::Uncertainty* out) {
  if (req.has_param("ci")) {
    double ci = 0;
    if (!absl::SimpleAtod(req.get_param_value("ci"), &ci) || !(ci > 0 && ci < 1)) {
      return BadParam("ci", "must be a number in (0, 1)");
    }
    out->set_ci(ci);
  }
  if (req.has_param("bootstrap")) {
    int n = 0;
    if (!absl::SimpleAtoi(req.get_param_value("bootstrap"), &n) || n < -1) {
      return BadParam("bootstrap", "must be an integer >= -1 (-1 = no intervals)");
    }
    out->set_bootstrap(n);
  }
  if (req.has_param("seed")) {
    uint64_t seed = 0;
    if (!absl::SimpleAtoi(req.get_param_value("seed"), &seed)) {
      return BadParam("seed", "must be a non-negative integer");
    }
    out->set_seed(seed);
  }
  return grpc::Status::OK;
}

// The job of the path with the request's uncertainty parameters.
grpc::Status Query(const httplib::Request& req, v1::JobQuery* q) {
  q->set_job_id(req.matches[1].str());
  q->mutable_uncertainty()->set_omit_blocks(true);  // The JSON views show no blocks.
  return UncertaintyParams(req, q->mutable_uncertainty());
}

grpc::Status Jobs(const httplib::Request& req, Stub& stub, json* body) {
  v1::ListJobsRequest list;
  if (req.has_param("state")) {
    absl::StatusOr<v1::JobState> state = client::ParseState(req.get_param_value("state"));
    if (!state.ok()) return FromAbsl(state.status());
    list.set_state(*state);
  }
  int limit = 0;
  if (grpc::Status st = IntParam(req, "limit", 0, &limit); !st.ok()) return st;
  list.set_page_size(limit > 0 && limit < 200 ? limit : 200);
  *body = json::array();
  for (;;) {
    v1::ListJobsResponse page;
    if (grpc::Status st = CallRpc(stub, &Stub::ListJobs, req, list, &page); !st.ok()) return st;
    for (const v1::Job& job : page.jobs()) {
      if (limit > 0 && static_cast<int>(body->size()) >= limit) return grpc::Status::OK;
      body->push_back(client::JobJson(job));
    }
    if (page.next_page_token().empty()) return grpc::Status::OK;
    list.set_page_token(page.next_page_token());
  }
}

grpc::Status Job(const httplib::Request& req, Stub& stub, json* body) {
  v1::GetJobRequest get;
  get.set_job_id(req.matches[1].str());
  v1::Job job;
  if (grpc::Status st = CallRpc(stub, &Stub::GetJob, req, get, &job); !st.ok()) return st;
  *body = client::JobJson(job);
  return grpc::Status::OK;
}

grpc::Status Heads(const httplib::Request& req, Stub& stub, json* body) {
  absl::StatusOr<client::HeadSort> sort =
      client::ParseHeadSort(req.has_param("sort") ? req.get_param_value("sort") : "delta");
  if (!sort.ok()) return FromAbsl(sort.status());
  int top = 0;
  if (grpc::Status st = IntParam(req, "top", 0, &top); !st.ok()) return st;
  v1::JobQuery query;
  if (grpc::Status st = Query(req, &query); !st.ok()) return st;
  v1::HeadTable table;
  if (grpc::Status st = CallRpc(stub, &Stub::GetHeadTable, req, query, &table); !st.ok()) {
    return st;
  }
  *body = client::HeadTableJson(table, *sort, top);
  return grpc::Status::OK;
}

grpc::Status Curve(const httplib::Request& req, Stub& stub, json* body) {
  v1::JobQuery query;
  if (grpc::Status st = Query(req, &query); !st.ok()) return st;
  v1::CumulativeCurve curve;
  if (grpc::Status st = CallRpc(stub, &Stub::GetCumulativeCurve, req, query, &curve);
      !st.ok()) {
    return st;
  }
  *body = client::CurveJson(curve);
  return grpc::Status::OK;
}

grpc::Status Thresholds(const httplib::Request& req, Stub& stub, json* body) {
  v1::ThresholdsRequest request;
  request.set_job_id(req.matches[1].str());
  std::vector<double> ratios;
  if (grpc::Status st = NumbersParam(req, "ratios", &ratios); !st.ok()) return st;
  for (double r : ratios) request.add_ratios(r);
  if (grpc::Status st = UncertaintyParams(req, request.mutable_uncertainty()); !st.ok()) {
    return st;
  }
  v1::ThresholdTable table;
  if (grpc::Status st = CallRpc(stub, &Stub::GetThresholds, req, request, &table); !st.ok()) {
    return st;
  }
  *body = client::ThresholdsJson(table);
  return grpc::Status::OK;
}

grpc::Status Stats(const httplib::Request& req, Stub& stub, json* body) {
  v1::JobQuery query;
  if (grpc::Status st = Query(req, &query); !st.ok()) return st;
  v1::DistributionStats stats;
  if (grpc::Status st = CallRpc(stub, &Stub::GetDistribution, req, query, &stats);
      !st.ok()) {
    return st;
  }
  *body = client::StatsJson(stats);
  return grpc::Status::OK;
}

// As `ablate layers --format json`; with ?series=1,2,3[&series_name=x] also the series and
// its correlation.
grpc::Status Layers(const httplib::Request& req, Stub& stub, json* body) {
  std::vector<double> series;
  if (grpc::Status st = NumbersParam(req, "series", &series); !st.ok()) return st;
  v1::JobQuery query;
  if (grpc::Status st = Query(req, &query); !st.ok()) return st;
  v1::LayerTable layers;
  if (grpc::Status st = CallRpc(stub, &Stub::GetLayerTable, req, query, &layers);
      !st.ok()) {
    return st;
  }
  *body = {{"layers", client::LayersJson(layers)}};
  if (series.empty()) return grpc::Status::OK;
  v1::CorrelationRequest request;
  request.set_job_id(req.matches[1].str());
  const std::string name =
      req.has_param("series_name") ? req.get_param_value("series_name") : "series";
  request.set_series_name(name);
  for (double v : series) request.add_series(v);
  *request.mutable_uncertainty() = query.uncertainty();
  v1::Correlation corr;
  if (grpc::Status st = CallRpc(stub, &Stub::GetCorrelation, req, request, &corr); !st.ok()) {
    return st;
  }
  (*body)["series"] = {{"name", name}, {"values", series}};
  (*body)["correlation"] = client::CorrelationJson(corr);
  return grpc::Status::OK;
}

grpc::Status Workers(const httplib::Request& req, Stub& stub, json* body) {
  v1::ListWorkersResponse workers;
  if (grpc::Status st =
          CallRpc(stub, &Stub::ListWorkers, req, v1::ListWorkersRequest(), &workers);
      !st.ok()) {
    return st;
  }
  *body = client::WorkersJson(workers);
  return grpc::Status::OK;
}

grpc::Status Compare(const httplib::Request& req, Stub& stub, json* body) {
  absl::StatusOr<client::CompareSort> sort =
      client::ParseCompareSort(req.has_param("sort") ? req.get_param_value("sort") : "shift");
  if (!sort.ok()) return FromAbsl(sort.status());
  int top = 0;
  if (grpc::Status st = IntParam(req, "top", 0, &top); !st.ok()) return st;
  v1::CompareRequest request;
  request.set_job_a(req.get_param_value("a"));
  request.set_job_b(req.get_param_value("b"));
  v1::Comparison cmp;
  if (grpc::Status st = CallRpc(stub, &Stub::CompareJobs, req, request, &cmp); !st.ok()) {
    return st;
  }
  *body = client::ComparisonJson(cmp, client::SortComparison(cmp, *sort, top));
  return grpc::Status::OK;
}

}  // namespace

void RegisterApi(httplib::Server* server, std::shared_ptr<grpc::Channel> channel) {
  std::shared_ptr<Stub> stub = v1::AblationService::NewStub(channel);
  const std::string job = "/api/jobs/([^/]+)";
  server->Get("/api/jobs", Wrap(stub, Jobs));
  server->Get(job, Wrap(stub, Job));
  server->Get(job + "/heads", Wrap(stub, Heads));
  server->Get(job + "/curve", Wrap(stub, Curve));
  server->Get(job + "/thresholds", Wrap(stub, Thresholds));
  server->Get(job + "/stats", Wrap(stub, Stats));
  server->Get(job + "/layers", Wrap(stub, Layers));
  server->Get("/api/workers", Wrap(stub, Workers));
  server->Get("/api/compare", Wrap(stub, Compare));
  server->Get("/api/.*", [](const httplib::Request& req, httplib::Response& res) {
    ReplyError(res, grpc::Status(grpc::StatusCode::NOT_FOUND,
                                 absl::StrCat("no API endpoint ", req.path)));
  });
}

}  // namespace ablate::server::http
