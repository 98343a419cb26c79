// JSON views and enum names (declared in views.h).
#include <ctime>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/views.h"

namespace ablate::client {
namespace {

using nlohmann::json;

json HeadRefJson(const v1::HeadRef& h) { return {{"layer", h.layer()}, {"head", h.head()}}; }

// Name table for one enum: value <-> lower-case name.
template <typename E>
struct EnumNames {
  std::vector<std::pair<E, const char*>> entries;

  std::string Name(E v) const {
    for (const auto& [e, n] : entries) {
      if (e == v) return n;
    }
    return absl::StrCat("unknown(", static_cast<int>(v), ")");
  }

  absl::StatusOr<E> Parse(const std::string& field, const std::string& name) const {
    std::vector<std::string> choices;
    for (const auto& [e, n] : entries) {
      if (name == n) return e;
      choices.push_back(n);
    }
    return absl::InvalidArgumentError(absl::StrCat(field, " must be one of ",
                                                   absl::StrJoin(choices, ", "), "; got '",
                                                   name, "'"));
  }
};

const EnumNames<v1::JobState> kStates{{{v1::JOB_STATE_QUEUED, "queued"},
                                       {v1::JOB_STATE_RUNNING, "running"},
                                       {v1::JOB_STATE_SUCCEEDED, "succeeded"},
                                       {v1::JOB_STATE_FAILED, "failed"},
                                       {v1::JOB_STATE_CANCELLED, "cancelled"}}};
const EnumNames<v1::Method> kMethods{{{v1::METHOD_ZERO, "zero"},
                                      {v1::METHOD_ZERO_FOLDED, "zero_folded"},
                                      {v1::METHOD_MEAN, "mean"}}};
const EnumNames<v1::Sweep> kSweeps{{{v1::SWEEP_INDIVIDUAL, "individual"},
                                    {v1::SWEEP_CUMULATIVE, "cumulative"},
                                    {v1::SWEEP_FULL, "full"},
                                    {v1::SWEEP_ATTRIBUTION, "attribution"}}};
const EnumNames<v1::DType> kDTypes{{{v1::DTYPE_FP32, "fp32"},
                                    {v1::DTYPE_BF16, "bf16"},
                                    {v1::DTYPE_FP16, "fp16"},
                                    {v1::DTYPE_UNSPECIFIED, "fp32"}}};
const EnumNames<v1::DeviceKind> kDevices{{{v1::DEVICE_KIND_ANY, "any"},
                                          {v1::DEVICE_KIND_CPU, "cpu"},
                                          {v1::DEVICE_KIND_CUDA, "cuda"},
                                          {v1::DEVICE_KIND_MPS, "mps"}}};

}  // namespace

std::string StateName(v1::JobState s) { return kStates.Name(s); }
std::string MethodName(v1::Method m) { return kMethods.Name(m); }
std::string SweepName(v1::Sweep s) { return kSweeps.Name(s); }
std::string DTypeName(v1::DType d) { return kDTypes.Name(d); }
std::string DeviceKindName(v1::DeviceKind d) { return kDevices.Name(d); }

absl::StatusOr<v1::JobState> ParseState(const std::string& n) { return kStates.Parse("state", n); }
absl::StatusOr<v1::Method> ParseMethod(const std::string& n) { return kMethods.Parse("method", n); }
absl::StatusOr<v1::Sweep> ParseSweep(const std::string& n) { return kSweeps.Parse("sweep", n); }
absl::StatusOr<v1::DType> ParseDType(const std::string& n) { return kDTypes.Parse("dtype", n); }
absl::StatusOr<v1::DeviceKind> ParseDeviceKind(const std::string& n) {
  return kDevices.Parse("device_kind", n);
}

std::string TimeString(int64_t unix_ms) {
  if (unix_ms <= 0) return "-";
  const std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

namespace {

json IntervalJson(const v1::Interval& in) { return {in.lo(), in.hi()}; }

// "ci", "bootstrap", "seed" of a reply that carries intervals (ci > 0).
template <typename Reply>
void AddBootstrapSettings(const Reply& r, json* j) {
  if (r.ci() <= 0) return;
  (*j)["ci"] = r.ci();
  (*j)["bootstrap"] = r.bootstrap();
  (*j)["seed"] = r.seed();
}

}  // namespace

json HeadRowsJson(const std::vector<v1::HeadRow>& rows) {
  json out = json::array();
  for (const v1::HeadRow& r : rows) {
    json j = {{"layer", r.layer()}, {"head", r.head()}, {"ppl", r.ppl()}, {"delta", r.delta()}};
    if (r.has_delta_lo()) {
      j["delta_ci"] = {r.delta_lo(), r.delta_hi()};
      j["significant"] = r.significant();
      j["rank_ci"] = {r.rank_lo(), r.rank_hi()};
    }
    if (r.has_atp_delta()) {  // attribution: ppl / delta only for verified heads
      j["atp_delta"] = r.atp_delta();
      j["verified"] = r.exact();
      if (!r.exact()) j["ppl"] = j["delta"] = nullptr;
    }
    out.push_back(std::move(j));
  }
  return out;
}

json CurveJson(const v1::CumulativeCurve& curve) {
  json points = json::array();
  for (const v1::CurvePoint& p : curve.points()) {
    json j = {{"removed", p.removed()}, {"ppl", p.ppl()}, {"ratio", p.ratio()}};
    j["head"] = p.has_head() ? HeadRefJson(p.head()) : json(nullptr);
    if (p.has_ratio_lo()) j["ratio_ci"] = {p.ratio_lo(), p.ratio_hi()};
    points.push_back(std::move(j));
  }
  json out = {{"baseline_ppl", curve.baseline_ppl()}, {"points", std::move(points)}};
  AddBootstrapSettings(curve, &out);
  return out;
}

json ThresholdsJson(const v1::ThresholdTable& t) {
  json rows = json::array();
  for (const v1::ThresholdRow& r : t.rows()) {
    json j = {{"ratio", r.ratio()}, {"max_heads", r.max_heads()},
              {"ppl_at_max", r.ppl_at_max()}, {"fraction", r.fraction()}};
    if (r.has_max_heads_lo()) j["max_heads_ci"] = {r.max_heads_lo(), r.max_heads_hi()};
    rows.push_back(std::move(j));
  }
  json out = {{"baseline_ppl", t.baseline_ppl()}, {"rows", std::move(rows)}};
  AddBootstrapSettings(t, &out);
  return out;
}

json StatsJson(const v1::DistributionStats& s) {
  json out = {{"n_heads", s.n_heads()},
              {"under_1pct", s.under_1pct()},
              {"under_10pct", s.under_10pct()},
              {"improved", s.improved()},
              {"mean_delta", s.mean_delta()},
              {"median_delta", s.median_delta()},
              {"mean_abs_delta", s.mean_abs_delta()},
              {"max_delta", s.max_delta()},
              {"max_head", HeadRefJson(s.max_head())},
              {"zipf",
               {{"alpha", s.zipf().alpha()},
                {"c", s.zipf().c()},
                {"r2", s.zipf().r2()},
                {"n_points", s.zipf().n_points()}}}};
  if (s.has_n_significant()) {
    out["n_significant"] = s.n_significant();
    out["ci"] = s.ci();
  }
  if (s.has_under_1pct_ci()) out["under_1pct_ci"] = IntervalJson(s.under_1pct_ci());
  if (s.has_under_10pct_ci()) out["under_10pct_ci"] = IntervalJson(s.under_10pct_ci());
  if (s.has_improved_ci()) out["improved_ci"] = IntervalJson(s.improved_ci());
  if (s.has_mean_delta_ci()) out["mean_delta_ci"] = IntervalJson(s.mean_delta_ci());
  if (s.has_median_delta_ci()) out["median_delta_ci"] = IntervalJson(s.median_delta_ci());
  if (s.has_mean_abs_delta_ci()) out["mean_abs_delta_ci"] = IntervalJson(s.mean_abs_delta_ci());
  if (s.has_max_delta_ci()) out["max_delta_ci"] = IntervalJson(s.max_delta_ci());
  if (s.has_zipf_alpha_ci()) out["zipf_alpha_ci"] = IntervalJson(s.zipf_alpha_ci());
  if (s.bootstrap() > 0) {
    out["bootstrap"] = s.bootstrap();
    out["seed"] = s.seed();
  }
  return out;
}

json LayersJson(const v1::LayerTable& layers) {
  json rows = json::array();
  for (const v1::LayerRow& r : layers.rows()) {
    json j = {{"layer", r.layer()}, {"mean_delta", r.mean_delta()},
              {"max_delta", r.max_delta()}, {"max_head", r.max_head()}};
    if (r.has_mean_delta_ci()) j["mean_delta_ci"] = IntervalJson(r.mean_delta_ci());
    if (r.has_max_delta_ci()) j["max_delta_ci"] = IntervalJson(r.max_delta_ci());
    rows.push_back(std::move(j));
  }
  return rows;
}

json CorrelationJson(const v1::Correlation& c) {
  json j = {{"series_name", c.series_name()}, {"n", c.n()},
            {"pearson_r", c.pearson_r()},     {"pearson_p", c.pearson_p()},
            {"spearman_rho", c.spearman_rho()}, {"spearman_p", c.spearman_p()}};
  if (c.has_pearson_r_ci()) j["pearson_r_ci"] = IntervalJson(c.pearson_r_ci());
  if (c.has_spearman_rho_ci()) j["spearman_rho_ci"] = IntervalJson(c.spearman_rho_ci());
  AddBootstrapSettings(c, &j);
  return j;
}

namespace {

int KvHeads(const v1::ModelShape& s) { return s.n_kv_head() > 0 ? s.n_kv_head() : s.n_head(); }
int HeadDim(const v1::ModelShape& s) {
  return s.head_dim() > 0 ? s.head_dim() : (s.n_head() > 0 ? s.n_embd() / s.n_head() : 0);
}

}  // namespace

std::string ShapeText(const v1::ModelShape& s) {
  return absl::StrCat(s.n_layer(), " layers x ", s.n_head(), " heads (", KvHeads(s),
                      " kv heads), head_dim ", HeadDim(s), ", d_model ", s.n_embd(),
                      ", context ", s.n_positions(), ", vocab ", s.vocab_size());
}

std::string BosText(const v1::JobSpec& spec) {
  if (!spec.bos_per_chunk()) return "no";
  return absl::StrCat("yes (token ", spec.model().shape().bos_token_id(),
                      " in slot 0 of every chunk)");
}

json ModelJson(const v1::ModelRef& m) {
  const v1::ModelShape& s = m.shape();
  return {{"path", m.path()},
          {"artifact_digest", m.artifact_digest()},
          {"sha256", m.sha256()},
          {"tokenizer", m.tokenizer()},
          {"family", s.family().empty() ? "gpt2" : s.family()},
          {"n_layer", s.n_layer()},
          {"n_head", s.n_head()},
          {"n_kv_head", KvHeads(s)},
          {"head_dim", HeadDim(s)},
          {"n_embd", s.n_embd()},
          {"n_positions", s.n_positions()},
          {"vocab_size", s.vocab_size()},
          {"bos_token_id", s.bos_token_id()}};
}

json JobJson(const v1::Job& job) {
  const v1::JobSpec& s = job.spec();
  const v1::Progress& p = job.progress();
  return {{"id", job.id()},
          {"name", s.name()},
          {"state", StateName(job.state())},
          {"error", job.error()},
          {"request_id", job.request_id()},
          {"model", ModelJson(s.model())},
          {"bos_per_chunk", s.bos_per_chunk()},
          {"dataset", {{"name", s.dataset().name()}, {"sha256", s.dataset().sha256()},
                       {"bytes", job.dataset_bytes()}}},
          {"n_chunks", s.n_chunks()},
          {"seq_len", s.seq_len()},
          {"method", MethodName(s.method())},
          {"sweep", SweepName(s.sweep())},
          {"dtype", DTypeName(s.dtype())},
          {"device_kind", DeviceKindName(s.device_kind())},
          {"priority", s.priority()},
          {"progress", {{"masks_done", p.masks_done()}, {"masks_total", p.masks_total()},
                        {"tasks_done", p.tasks_done()}, {"tasks_total", p.tasks_total()},
                        {"tasks_running", p.tasks_running()},
                        {"workers_busy", p.workers_busy()},
                        {"masks_per_second", p.masks_per_second()}}},
          {"baseline_ppl", job.baseline_ppl()},
          {"n_tokens_scored", job.n_tokens_scored()},
          {"created_unix_ms", job.created_unix_ms()},
          {"started_unix_ms", job.started_unix_ms()},
          {"finished_unix_ms", job.finished_unix_ms()}};
}

json HeadTableJson(const v1::HeadTable& table, HeadSort sort, int top) {
  json j = {{"baseline_ppl", table.baseline_ppl()},
            {"n_tokens_scored", table.n_tokens_scored()},
            {"n_layer", table.n_layer()},
            {"n_head", table.n_head()},
            {"heads", HeadRowsJson(SortHeads(table, sort, top))},
            {"negative_heads", HeadRowsJson(NegativeHeads(table))}};
  AddBootstrapSettings(table, &j);
  if (IsAttribution(table)) {  // Agreement of estimate and exact on the verified heads.
    j["n_verified"] = table.n_verified();
    j["atp_spearman"] = table.has_atp_spearman() ? json(table.atp_spearman()) : json(nullptr);
    j["atp_recall"] = table.has_atp_recall() ? json(table.atp_recall()) : json(nullptr);
    j["recall_reference_job"] = table.recall_reference_job();
  }
  return j;
}

// masks/s over the worker's completed tasks; null (shown "-") before its first one, so an
// unknown rate is not mistaken for a stalled worker.
namespace {

json WorkerThroughputJson(const v1::WorkerInfo& w) {
  if (w.masks_done() == 0 || w.masks_per_second() <= 0) return nullptr;
  return w.masks_per_second();
}

}  // namespace

json WorkersJson(const v1::ListWorkersResponse& workers) {
  json list = json::array();
  for (const v1::WorkerInfo& w : workers.workers()) {
    std::vector<std::string> dtypes;
    for (int d : w.dtypes()) dtypes.push_back(DTypeName(static_cast<v1::DType>(d)));
    list.push_back({{"worker_id", w.worker_id()}, {"name", w.name()},
                    {"device_kind", DeviceKindName(w.device_kind())}, {"device", w.device()},
                    {"dtypes", dtypes}, {"memory_bytes", w.memory_bytes()},
                    {"state", w.state()}, {"last_seen_unix_ms", w.last_seen_unix_ms()},
                    {"masks_done", w.masks_done()},
                    {"masks_per_second", WorkerThroughputJson(w)}, {"version", w.version()},
                    {"current_task_id", w.current_task_id()},
                    {"jobs_backed_off", w.jobs_backed_off()}});
  }
  return list;
}

}  // namespace ablate::client
