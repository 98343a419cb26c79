// Copyright: the ablate authors.
#include "worker/offline_attribution.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "proto/analysis/attribution.h"
#include "worker/offline.h"

namespace ablate::worker {
namespace {

using nlohmann::json;

json OrNull(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

// Exact ppl and delta of the verified heads: masks {baseline, each head}.
absl::Status Verify(const std::vector<int>& verified, const MaskEvaluator& evaluate,
                    std::vector<double>* exact_delta, json* out) {
  std::vector<engine::HeadMask> masks(1);
  for (int head : verified) masks.push_back({head});
  absl::StatusOr<std::vector<analysis::MaskNll>> nll = evaluate(masks);
  if (!nll.ok()) return nll.status();
  absl::StatusOr<double> base = analysis::Perplexity(nll->front());
  if (!base.ok()) return base.status();
  (*out)["baseline_ppl"] = *base;
  for (size_t i = 0; i < verified.size(); ++i) {
    absl::StatusOr<double> ppl = analysis::Perplexity((*nll)[i + 1]);
    if (!ppl.ok()) return ppl.status();
    json& row = (*out)["heads"][verified[i]];
    row["verified"] = true;
    row["ppl"] = *ppl;
    row["delta"] = (*ppl - *base) / *base;
    exact_delta->push_back(row["delta"].get<double>());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<double>> ReadReferenceDeltas(const std::string& path,
                                                        const json& describe, int n_heads) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  const json ref = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  auto bad = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("--reference ", path, ": ", why));
  };
  if (!ref.is_object()) return bad("not an eval output (JSON object)");
  const std::pair<const char*, json> same[] = {
      {"model sha256", describe["model"]["sha256"]},
      {"dataset_sha256", describe["dataset_sha256"]}, {"n_chunks", describe["n_chunks"]},
      {"seq_len", describe["seq_len"]},               {"bos", describe["bos"]},
      {"method", describe["method"]}};
  for (const auto& [name, want] : same) {
    const std::string key = name;
    json got = ref.value(key, json());
    if (key == "model sha256") {
      got = ref.contains("model") && ref["model"].is_object() ? ref["model"].value("sha256", json())
                                                              : json();
    }
    if (got != want) return bad(absl::StrCat(name, " is ", got.dump(), ", this run's is ", want.dump()));
  }
  const json heads = ref.value("heads", json::array());
  if (!heads.is_array() || static_cast<int>(heads.size()) != n_heads) {
    return bad(absl::StrCat("needs all ", n_heads, " heads of an individual or full sweep"));
  }
  std::vector<double> deltas;
  for (const json& h : heads) {
    if (!h.is_object() || !h.contains("delta") || !h["delta"].is_number() ||
        !h.value("verified", true)) {
      return bad("every head needs an exact \"delta\" (an individual or full sweep)");
    }
    deltas.push_back(h["delta"].get<double>());
  }
  return deltas;
}

absl::Status RunAttributionSweep(const engine::Model& model, const torch::Tensor& chunks,
                                 engine::Method method, const AttributionSweepOptions& options,
                                 const MaskEvaluator& evaluate, const json& describe, json* out) {
  const int n_heads = model.config().n_heads_total(), n_head = model.config().n_head;
  if (options.verify_top_k < 0 || options.verify_top_k > n_heads) {
    return absl::InvalidArgumentError(absl::StrCat("--verify-top must be in 0..", n_heads,
                                                   " (the model's heads), got ",
                                                   options.verify_top_k));
  }
  if (!options.reference_file.empty() && options.verify_top_k == 0) {
    return absl::InvalidArgumentError("--reference needs --verify-top K > 0 (recall of the top K)");
  }
  std::vector<double> reference;
  if (!options.reference_file.empty()) {
    absl::StatusOr<std::vector<double>> r =
        ReadReferenceDeltas(options.reference_file, describe, n_heads);
    if (!r.ok()) return r.status();
    reference = *std::move(r);
  }
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<engine::Attribution> att = model.Attribute(chunks, method);
  if (!att.ok()) return att.status();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  absl::StatusOr<std::vector<double>> atp =
      analysis::AtpDeltas(att->estimates, att->clean.n_tokens);
  if (!atp.ok()) return atp.status();
  absl::StatusOr<double> clean_ppl = analysis::Perplexity(att->clean.nll_sum, att->clean.n_tokens);
  if (!clean_ppl.ok()) return clean_ppl.status();
  (*out)["baseline_ppl"] = *clean_ppl;
  (*out)["n_tokens_scored"] = att->clean.n_tokens;
  (*out)["heads"] = json::array();
  for (int h = 0; h < n_heads; ++h) {
    (*out)["heads"].push_back({{"layer", h / n_head}, {"head", h % n_head},
                               {"atp_delta", (*atp)[h]}, {"estimate", att->estimates[h]},
                               {"verified", false}});
  }
  const std::vector<int> verified = analysis::TopK(*atp, options.verify_top_k);
  std::vector<double> exact, estimated;
  json verified_json = json::array();
  for (int h : verified) {
    estimated.push_back((*atp)[h]);
    verified_json.push_back({h / n_head, h % n_head});
  }
  if (!verified.empty()) {
    absl::Status s = Verify(verified, evaluate, &exact, out);
    if (!s.ok()) return s;
  }
  (*out)["attribution"] = {
      {"clean_nll", att->clean.nll_sum},
      {"clean_ppl", *clean_ppl},
      {"seconds", seconds},
      {"verify_top_k", options.verify_top_k},
      {"n_verified", verified.size()},
      {"verified", verified_json},
      {"spearman", OrNull(analysis::AtpSpearman(estimated, exact))},
      {"recall", reference.empty() ? json(nullptr)
                                   : OrNull(analysis::TopKRecall(verified, reference))},
      {"reference", options.reference_file.empty() ? json(nullptr)
                                                   : json(options.reference_file)}};
  return absl::OkStatus();
}

}  // namespace ablate::worker
