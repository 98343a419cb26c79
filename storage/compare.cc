#include "storage/compare.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "proto/analysis/compare.h"
#include "proto/analysis/correlation.h"
#include "storage/queries.h"
#include "storage/status_macros.h"

namespace ablate::storage {
namespace {

namespace v1 = ::ablate::v1;

absl::StatusOr<v1::HeadTable> LoadTable(Store& store, absl::string_view field,
                                        const std::string& job_id) {
  if (job_id.empty()) return absl::InvalidArgumentError(absl::StrCat(field, " is empty"));
  v1::Uncertainty no_intervals;  // Only the deltas are compared: skip the bootstrap.
  no_intervals.set_bootstrap(-1);
  absl::StatusOr<v1::HeadTable> table = QueryHeadTable(store, job_id, no_intervals);
  if (!table.ok()) {
    return absl::Status(table.status().code(),
                        absl::StrCat(field, " ", job_id, ": ", table.status().message()));
  }
  return table;
}

std::vector<double> Deltas(const v1::HeadTable& table) {
  std::vector<double> out;
  for (const v1::HeadRow& row : table.rows()) out.push_back(row.delta());
  return out;
}

// Pearson and Spearman of the two delta columns; unset when either is undefined.
void FillCorrelation(const std::vector<double>& a, const std::vector<double>& b,
                     v1::Comparison* out) {
  absl::StatusOr<analysis::CorrelationResult> pearson = analysis::Pearson(a, b);
  absl::StatusOr<analysis::CorrelationResult> spearman = analysis::Spearman(a, b);
  if (!pearson.ok() || !spearman.ok()) return;
  v1::Correlation* c = out->mutable_correlation();
  c->set_n(pearson->n);
  c->set_pearson_r(pearson->coefficient);
  c->set_pearson_p(pearson->p_value);
  c->set_spearman_rho(spearman->coefficient);
  c->set_spearman_p(spearman->p_value);
  c->set_series_name(out->job_b());
}

}  // namespace

absl::StatusOr<v1::Comparison> QueryComparison(Store& store, const v1::CompareRequest& request) {
  ABLATE_ASSIGN_OR_RETURN(v1::HeadTable a, LoadTable(store, "job_a", request.job_a()));
  ABLATE_ASSIGN_OR_RETURN(v1::HeadTable b, LoadTable(store, "job_b", request.job_b()));
  if (a.n_layer() != b.n_layer() || a.n_head() != b.n_head()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "jobs of different shapes cannot be compared: ", request.job_a(), " has ", a.n_layer(),
        " layers x ", a.n_head(), " heads, ", request.job_b(), " has ", b.n_layer(),
        " layers x ", b.n_head(), " heads"));
  }
  const std::vector<double> delta_a = Deltas(a), delta_b = Deltas(b);
  ABLATE_ASSIGN_OR_RETURN(std::vector<analysis::HeadComparison> heads,
                          analysis::CompareDeltas(delta_a, delta_b));
  v1::Comparison out;
  out.set_job_a(request.job_a());
  out.set_job_b(request.job_b());
  out.set_n_layer(a.n_layer());
  out.set_n_head(a.n_head());
  for (int i = 0; i < a.rows_size(); ++i) {
    v1::CompareRow* row = out.add_rows();
    row->set_layer(a.rows(i).layer());
    row->set_head(a.rows(i).head());
    row->set_delta_a(heads[i].delta_a);
    row->set_delta_b(heads[i].delta_b);
    row->set_rank_a(heads[i].rank_a);
    row->set_rank_b(heads[i].rank_b);
    row->set_rank_shift(heads[i].rank_shift);
  }
  FillCorrelation(delta_a, delta_b, &out);
  return out;
}

}  // namespace ablate::storage
