#include "tests/client/fake_service.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "proto/analysis/compare.h"
#include "proto/analysis/correlation.h"
#include "proto/analysis/cumulative_order.h"
#include "proto/analysis/distribution.h"
#include "proto/analysis/tables.h"

namespace ablate::client::testing {
namespace {

constexpr int kLayers = 3, kHeads = 4;

v1::Job MakeJob(const std::string& id, v1::JobState state, v1::Sweep sweep) {
  v1::Job job;
  job.set_id(id);
  job.set_state(state);
  v1::JobSpec* s = job.mutable_spec();
  s->set_name(id == "job-1" ? "tiny study" : "");
  s->mutable_model()->set_path("/models/tiny");
  s->mutable_model()->set_sha256(std::string(64, 'a'));
  v1::ModelShape* sh = s->mutable_model()->mutable_shape();
  sh->set_n_layer(kLayers);
  sh->set_n_head(kHeads);
  sh->set_n_embd(64);
  sh->set_n_positions(128);
  sh->set_vocab_size(50257);
  s->mutable_dataset()->set_name("brown.txt");
  s->mutable_dataset()->set_sha256(std::string(64, 'b'));
  s->set_n_chunks(2);
  s->set_seq_len(64);
  s->set_method(v1::METHOD_ZERO);
  s->set_sweep(sweep);
  s->set_dtype(v1::DTYPE_FP32);
  v1::Progress* p = job.mutable_progress();
  p->set_masks_total(sweep == v1::SWEEP_FULL ? 26 : 13);
  p->set_masks_done(state == v1::JOB_STATE_SUCCEEDED ? p->masks_total() : 0);
  p->set_tasks_total(4);
  p->set_tasks_done(state == v1::JOB_STATE_SUCCEEDED ? 4 : 0);
  job.set_created_unix_ms(1700000000000);
  job.set_started_unix_ms(1700000002000);
  if (state != v1::JOB_STATE_RUNNING) job.set_finished_unix_ms(1700000015000);
  job.set_dataset_bytes(12345);
  job.set_baseline_ppl(kBaseline);
  job.set_n_tokens_scored(126);
  job.set_request_id("req-" + id);
  return job;
}

std::vector<analysis::HeadResult> Heads() {
  std::vector<analysis::HeadResult> rows;
  for (int i = 0; i < kLayers * kHeads; ++i) {
    rows.push_back({i / kHeads, i % kHeads, kBaseline * (1 + kDeltas[i]), kDeltas[i]});
  }
  return rows;
}

std::vector<double> CurvePpl() {
  std::vector<double> ppl;
  for (double r : kCurveRatios) ppl.push_back(kBaseline * r);
  return ppl;
}

grpc::Status Invalid(const absl::Status& s) {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, std::string(s.message()));
}

}  // namespace

FakeAblationService::FakeAblationService() {
  jobs_["job-1"] = MakeJob("job-1", v1::JOB_STATE_SUCCEEDED, v1::SWEEP_FULL);
  jobs_["job-ind"] = MakeJob("job-ind", v1::JOB_STATE_SUCCEEDED, v1::SWEEP_INDIVIDUAL);
  jobs_["job-fail"] = MakeJob("job-fail", v1::JOB_STATE_FAILED, v1::SWEEP_FULL);
  jobs_["job-fail"].set_error("task 3 failed 3 times: out of memory");
  jobs_["job-run"] = MakeJob("job-run", v1::JOB_STATE_RUNNING, v1::SWEEP_FULL);
}

v1::SubmitJobRequest FakeAblationService::last_submit() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_submit_;
}

grpc::Status FakeAblationService::Check(grpc::ServerContext* ctx) const {
  if (token_.empty()) return grpc::Status::OK;
  auto it = ctx->client_metadata().find("authorization");
  if (it == ctx->client_metadata().end()) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "missing token");
  }
  if (std::string(it->second.data(), it->second.size()) != "Bearer " + token_) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "wrong token");
  }
  return grpc::Status::OK;
}

grpc::Status FakeAblationService::Find(const std::string& id, v1::Job* job) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "job " + id + " not found");
  *job = it->second;
  return grpc::Status::OK;
}

grpc::Status FakeAblationService::SubmitJob(grpc::ServerContext* ctx,
                                            const v1::SubmitJobRequest* req, v1::Job* resp) {
  if (grpc::Status s = Check(ctx); !s.ok()) return s;
  if (req->spec().n_chunks() > 1000) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "n_chunks: too many");
  }
  std::lock_guard<std::mutex> lock(mu_);
  last_submit_ = *req;
  *resp = MakeJob("job-new", v1::JOB_STATE_QUEUED, req->spec().sweep());
  *resp->mutable_spec() = req->spec();
  resp->mutable_spec()->mutable_dataset()->clear_text();
  resp->set_request_id(req->request_id());
  jobs_["job-new"] = *resp;
  jobs_["job-new"].set_state(v1::JOB_STATE_SUCCEEDED);  // Watch of it ends at once.
  return grpc::Status::OK;
}

grpc::Status FakeAblationService::GetJob(grpc::ServerContext* ctx, const v1::GetJobRequest* req,
                                         v1::Job* resp) {
  if (grpc::Status s = Check(ctx); !s.ok()) return s;
  return Find(req->job_id(), resp);
}

grpc::Status FakeAblationService::ListJobs(grpc::ServerContext* ctx,
                                           const v1::ListJobsRequest* req,
                                           v1::ListJobsResponse* resp) {
  if (grpc::Status s = Check(ctx); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  // Pages of 2, so clients must follow next_page_token.
  int skip = req->page_token().empty() ? 0 : std::stoi(req->page_token());
  int seen = 0;
  for (const auto& [id, job] : jobs_) {
    if (req->state() != v1::JOB_STATE_UNSPECIFIED && job.state() != req->state()) continue;
    if (seen++ < skip) continue;
    if (resp->jobs_size() == 2) {
      resp->set_next_page_token(std::to_string(skip + 2));
      break;
    }
    *resp->add_jobs() = job;
  }
  return grpc::Status::OK;
}

grpc::Status FakeAblationService::CancelJob(grpc::ServerContext* ctx,
                                            const v1::CancelJobRequest* req, v1::Job* resp) {
  if (grpc::Status s = Check(ctx); !s.ok()) return s;
  if (grpc::Status s = Find(req->job_id(), resp); !s.ok()) return s;
  if (resp->state() == v1::JOB_STATE_SUCCEEDED) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "job already finished");
  }
  resp->set_state(v1::JOB_STATE_CANCELLED);
  return grpc::Status::OK;
}

grpc::Status FakeAblationService::WatchJob(grpc::ServerContext* ctx,
                                           const v1::WatchJobRequest* req,
                                           grpc::ServerWriter<v1::JobEvent>* writer) {
  if (grpc::Status s = Check(ctx); !s.ok()) return s;
  ++watch_calls_;
  if (fail_watches_ > 0) {
    --fail_watches_;
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "server restarting");
  }
  v1::Job job;
  if (grpc::Status s = Find(req->job_id(), &job); !s.ok()) return s;
  v1::JobEvent ev;
  ev.set_kind(v1::JobEvent::KIND_SNAPSHOT);
  if (req->job_id() == "job-run") {
    for (int i = 0; i < watch_progress_; ++i) {
      job.mutable_progress()->set_masks_done(i * 5);
      job.mutable_progress()->set_workers_busy(2);
      job.mutable_progress()->set_masks_per_second(2.5);
      *ev.mutable_job() = job;
      writer->Write(ev);
      ev.set_kind(i == 1 ? v1::JobEvent::KIND_PHASE : v1::JobEvent::KIND_PROGRESS);
      ev.set_message(i == 1 ? "cumulative phase enqueued" : "");
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (!watch_end_) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "server shutting down");
    job.set_state(v1::JOB_STATE_SUCCEEDED);
    job.mutable_progress()->set_masks_done(job.progress().masks_total());
  }
  if (job.state() == v1::JOB_STATE_RUNNING || job.state() == v1::JOB_STATE_QUEUED) {
    *ev.mutable_job() = job;
    writer->Write(ev);  // Then hold the stream open until the client leaves.
    while (!ctx->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return grpc::Status::CANCELLED;
  }
  ev.set_kind(v1::JobEvent::KIND_FINISHED);
  ev.set_message("");
  *ev.mutable_job() = job;
  writer->Write(ev);
  return grpc::Status::OK;
}

grpc::Status FakeAblationService::GetHeadTable(grpc::ServerContext* ctx, const v1::JobQuery* q,
                                               v1::HeadTable* resp) {
  if (grpc::Status s = Check(ctx); !s.ok()) return s;
  v1::Job job;
  if (grpc::Status s = Find(q->job_id(), &job); !s.ok()) return s;
  if (job.state() != v1::JOB_STATE_SUCCEEDED) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "job has no results yet");
  }
  resp->set_baseline_ppl(kBaseline);
  resp->set_n_tokens_scored(126);
  resp->set_n_layer(kLayers);
  resp->set_n_head(kHeads);
  for (const analysis::HeadResult& h : Heads()) {
    v1::HeadRow* r = resp->add_rows();
    r->set_layer(h.layer);
    r->set_head(h.head);
    r->set_ppl(h.ppl);
    r->set_delta(h.delta);
  }
  return grpc::Status::OK;
}

grpc::Status FakeAblationService::CompareJobs(grpc::ServerContext* ctx,
                                              const v1::CompareRequest* req,
                                              v1::Comparison* resp) {
  if (grpc::Status s = Check(ctx); !s.ok()) return s;
  v1::Job a, b;
  if (grpc::Status s = Find(req->job_a(), &a); !s.ok()) return s;
  if (grpc::Status s = Find(req->job_b(), &b); !s.ok()) return s;
  if (req->job_a() == "job-fail" || req->job_b() == "job-fail") {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "jobs of different shapes cannot be compared");
  }
  auto deltas = [](const std::string& id) {
    std::vector<double> d = kDeltas;
    if (id == "job-ind") std::reverse(d.begin(), d.end());
    return d;
  };
  const std::vector<double> da = deltas(req->job_a()), db = deltas(req->job_b());
  auto rows = analysis::CompareDeltas(da, db);
  if (!rows.ok()) return Invalid(rows.status());
  resp->set_job_a(req->job_a());
  resp->set_job_b(req->job_b());
  resp->set_n_layer(kLayers);
  resp->set_n_head(kHeads);
  for (size_t i = 0; i < rows->size(); ++i) {
    v1::CompareRow* r = resp->add_rows();
    r->set_layer(static_cast<int>(i) / kHeads);
    r->set_head(static_cast<int>(i) % kHeads);
    r->set_delta_a((*rows)[i].delta_a);
    r->set_delta_b((*rows)[i].delta_b);
    r->set_rank_a((*rows)[i].rank_a);
    r->set_rank_b((*rows)[i].rank_b);
    r->set_rank_shift((*rows)[i].rank_shift);
  }
  auto pearson = analysis::Pearson(da, db);
  auto spearman = analysis::Spearman(da, db);
  if (pearson.ok() && spearman.ok()) {
    v1::Correlation* c = resp->mutable_correlation();
    c->set_n(pearson->n);
    c->set_pearson_r(pearson->coefficient);
    c->set_pearson_p(pearson->p_value);
    c->set_spearman_rho(spearman->coefficient);
    c->set_spearman_p(spearman->p_value);
  }
  return grpc::Status::OK;
}

grpc::Status FakeAblationService::GetCumulativeCurve(grpc::ServerContext* ctx,
                                                     const v1::JobQuery* q,
                                                     v1::CumulativeCurve* resp) {
  v1::HeadTable heads;
  if (grpc::Status s = GetHeadTable(ctx, q, &heads); !s.ok()) return s;
  if (q->job_id() == "job-ind") {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "job has no cumulative sweep");
  }
  const std::vector<int> order = *analysis::CumulativeOrder(kDeltas, kLayers, kHeads);
  resp->set_baseline_ppl(kBaseline);
  for (size_t k = 0; k < kCurveRatios.size(); ++k) {
    v1::CurvePoint* p = resp->add_points();
    p->set_removed(static_cast<int>(k));
    p->set_ppl(kBaseline * kCurveRatios[k]);
    p->set_ratio(kCurveRatios[k]);
    if (k > 0) {
      p->mutable_head()->set_layer(order[k - 1] / kHeads);
      p->mutable_head()->set_head(order[k - 1] % kHeads);
    }
  }
  return grpc::Status::OK;
}

grpc::Status FakeAblationService::GetThresholds(grpc::ServerContext* ctx,
                                                const v1::ThresholdsRequest* req,
                                                v1::ThresholdTable* resp) {
  v1::JobQuery q;
  q.set_job_id(req->job_id());
  v1::CumulativeCurve curve;
  if (grpc::Status s = GetCumulativeCurve(ctx, &q, &curve); !s.ok()) return s;
  std::vector<double> ratios(req->ratios().begin(), req->ratios().end());
  auto rows = analysis::ComputeThresholds(CurvePpl(), kBaseline, ratios);
  if (!rows.ok()) return Invalid(rows.status());
  resp->set_baseline_ppl(kBaseline);
  for (const analysis::Threshold& t : *rows) {
    v1::ThresholdRow* r = resp->add_rows();
    r->set_ratio(t.ratio);
    r->set_max_heads(t.max_heads);
    r->set_ppl_at_max(t.ppl_at_max);
    r->set_fraction(t.fraction);
  }
  return grpc::Status::OK;
}

grpc::Status FakeAblationService::GetDistribution(grpc::ServerContext* ctx, const v1::JobQuery* q,
                                                  v1::DistributionStats* resp) {
  v1::HeadTable heads;
  if (grpc::Status s = GetHeadTable(ctx, q, &heads); !s.ok()) return s;
  const analysis::DistributionStats st = *analysis::ComputeDistribution(Heads());
  resp->set_n_heads(st.n_heads);
  resp->set_under_1pct(st.under_1pct);
  resp->set_under_10pct(st.under_10pct);
  resp->set_improved(st.improved);
  resp->set_mean_delta(st.mean_delta);
  resp->set_median_delta(st.median_delta);
  resp->set_max_delta(st.max_delta);
  resp->mutable_max_head()->set_layer(st.max_layer);
  resp->mutable_max_head()->set_head(st.max_head);
  resp->set_mean_abs_delta(st.mean_abs_delta);
  resp->mutable_zipf()->set_alpha(st.zipf->alpha);
  resp->mutable_zipf()->set_c(st.zipf->c);
  resp->mutable_zipf()->set_r2(st.zipf->r2);
  resp->mutable_zipf()->set_n_points(st.zipf->n_points);
  return grpc::Status::OK;
}

grpc::Status FakeAblationService::GetLayerTable(grpc::ServerContext* ctx, const v1::JobQuery* q,
                                                v1::LayerTable* resp) {
  v1::HeadTable heads;
  if (grpc::Status s = GetHeadTable(ctx, q, &heads); !s.ok()) return s;
  const std::vector<analysis::LayerStats> stats = *analysis::ComputeLayerStats(Heads(), kLayers);
  for (const analysis::LayerStats& l : stats) {
    v1::LayerRow* r = resp->add_rows();
    r->set_layer(l.layer);
    r->set_mean_delta(l.mean_delta);
    r->set_max_delta(l.max_delta);
    r->set_max_head(l.max_head);
  }
  return grpc::Status::OK;
}

grpc::Status FakeAblationService::GetCorrelation(grpc::ServerContext* ctx,
                                                 const v1::CorrelationRequest* req,
                                                 v1::Correlation* resp) {
  v1::JobQuery q;
  q.set_job_id(req->job_id());
  v1::LayerTable layers;
  if (grpc::Status s = GetLayerTable(ctx, &q, &layers); !s.ok()) return s;
  std::vector<double> means;
  for (const v1::LayerRow& r : layers.rows()) means.push_back(r.mean_delta());
  std::vector<double> series(req->series().begin(), req->series().end());
  auto p = analysis::Pearson(means, series);
  auto sp = analysis::Spearman(means, series);
  if (!p.ok()) return Invalid(p.status());
  if (!sp.ok()) return Invalid(sp.status());
  resp->set_n(p->n);
  resp->set_pearson_r(p->coefficient);
  resp->set_pearson_p(p->p_value);
  resp->set_spearman_rho(sp->coefficient);
  resp->set_spearman_p(sp->p_value);
  resp->set_series_name(req->series_name());
  return grpc::Status::OK;
}

void FakeServer::Start(int port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(port), grpc::InsecureServerCredentials(),
                           &port_);
  builder.RegisterService(service_);
  server_ = builder.BuildAndStart();
}

void FakeServer::Stop() {
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
    server_->Wait();
    server_.reset();
  }
}

}  // namespace ablate::client::testing
