#include "storage/attribution_table.h"

#include <vector>

#include "proto/analysis/attribution.h"
#include "proto/analysis/tables.h"
#include "storage/status_macros.h"

namespace ablate::storage {
namespace {

namespace v1 = ::ablate::v1;

// Recall of the reference's true top K among the heads chosen for verification.
absl::Status FillRecall(const AttributionData& data, const std::vector<int>& chosen,
                        v1::HeadTable* table) {
  if (data.reference_job.empty() || chosen.empty() || data.reference.empty()) {
    return absl::OkStatus();
  }
  const v1::ModelShape& shape = data.spec.model().shape();
  ABLATE_ASSIGN_OR_RETURN(
      std::vector<analysis::HeadResult> ref,
      analysis::BuildHeadTable(data.reference[0], absl::MakeConstSpan(data.reference).subspan(1),
                               shape.n_layer(), shape.n_head()));
  std::vector<double> deltas;
  for (const analysis::HeadResult& r : ref) deltas.push_back(r.delta);
  if (std::optional<double> recall = analysis::TopKRecall(chosen, deltas)) {
    table->set_atp_recall(*recall);
    table->set_recall_reference_job(data.reference_job);
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::HeadTable> AttributionHeadTable(const AttributionData& data) {
  const v1::ModelShape& shape = data.spec.model().shape();
  ABLATE_ASSIGN_OR_RETURN(std::vector<double> atp,
                          analysis::AtpDeltas(data.estimates, data.clean.n_tokens));
  auto base_it = data.exact.find(0);
  ABLATE_ASSIGN_OR_RETURN(
      double base, analysis::Perplexity(base_it != data.exact.end() ? base_it->second : data.clean));
  v1::HeadTable table;
  table.set_baseline_ppl(base);
  table.set_n_tokens_scored(data.clean.n_tokens);
  table.set_n_layer(shape.n_layer());
  table.set_n_head(shape.n_head());
  std::vector<double> estimated, exact;
  for (int h = 0; h < static_cast<int>(atp.size()); ++h) {
    v1::HeadRow* row = table.add_rows();
    row->set_layer(h / shape.n_head());
    row->set_head(h % shape.n_head());
    row->set_atp_delta(atp[h]);
    auto it = data.exact.find(1 + h);
    if (it == data.exact.end()) continue;
    ABLATE_ASSIGN_OR_RETURN(double ppl, analysis::Perplexity(it->second));
    row->set_ppl(ppl);
    row->set_delta((ppl - base) / base);
    row->set_exact(true);
    estimated.push_back(atp[h]);
    exact.push_back(row->delta());
  }
  table.set_n_verified(static_cast<int>(exact.size()));
  if (std::optional<double> rho = analysis::AtpSpearman(estimated, exact)) {
    table.set_atp_spearman(*rho);
  }
  ABLATE_RETURN_IF_ERROR(
      FillRecall(data, analysis::TopK(atp, data.spec.verify_top_k()), &table));
  return table;
}

}  // namespace ablate::storage
