// Copyright: the ablate authors.
#include "worker/offline.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "proto/analysis/cumulative_order.h"
#include "proto/analysis/tables.h"
#include "proto/artifact/digest.h"
#include "worker/chunks.h"
#include "worker/engine/text_tokenizer.h"
#include "worker/model_check.h"
#include "worker/model_cache.h"
#include "worker/offline_attribution.h"
#include "worker/offline_intervals.h"

namespace ablate::worker {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// Prints "eval: done/total masks, s, masks/s" on stderr at most every 2 s, and at the end.
class ProgressLine {
 public:
  ProgressLine(bool enabled, int64_t total) : enabled_(enabled), total_(total) {}
  void Update(int64_t done, bool force = false) {
    auto now = Clock::now();
    if (!enabled_ || (!force && now - last_ < std::chrono::seconds(2))) return;
    last_ = now;
    double s = std::chrono::duration<double>(now - start_).count();
    std::fprintf(stderr, "eval: %lld/%lld masks, %.1f s, %.2f masks/s\n",
                 static_cast<long long>(done), static_cast<long long>(total_), s,
                 s > 0 ? done / s : 0.0);
  }

 private:
  bool enabled_;
  int64_t total_;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_ = Clock::now();
};

int EffectiveBlockTokens(const EvalOptions& o) {
  return o.block_tokens != 0 ? o.block_tokens : std::max(1, std::min(64, o.seq_len - 1));
}

std::vector<int64_t> Blocks(const EvalOptions& o) {
  return analysis::BlockSizes(o.n_chunks, o.seq_len, EffectiveBlockTokens(o));
}

std::optional<analysis::BootstrapOptions> Bootstrap(const EvalOptions& o) {
  absl::StatusOr<std::optional<analysis::BootstrapOptions>> b =
      analysis::ResolveBootstrap(o.ci, o.bootstrap, o.seed);
  return b.ok() ? *b : std::nullopt;  // Checked by RunEval before any work.
}

// Evaluates `masks` in consecutive groups of `per_batch` (0 = all in one call), the way the
// server splits a phase into tasks, so that the same grouping gives bit-identical NLLs.
absl::StatusOr<std::vector<analysis::MaskNll>> Evaluate(const LoadedModel& model,
                                                        const torch::Tensor& chunks,
                                                        const std::vector<engine::HeadMask>& masks,
                                                        const EvalOptions& options,
                                                        ProgressLine* progress, int64_t* done) {
  const size_t n = masks.size();
  const size_t per_batch = options.masks_per_batch > 0 ? options.masks_per_batch : n;
  std::vector<analysis::MaskNll> out;
  for (size_t begin = 0; begin < n; begin += per_batch) {
    const int64_t before = *done;
    engine::ProgressFn fn = [&](int64_t finished, int64_t) {
      *done = before + finished;
      progress->Update(*done);
    };
    const size_t size = std::min(per_batch, n - begin);
    auto nll = model.engine->Evaluate(chunks, absl::MakeConstSpan(masks).subspan(begin, size),
                                      options.method,
                                      engine::EvalOptions{EffectiveBlockTokens(options), fn});
    if (!nll.ok()) return nll.status();
    *done = before + static_cast<int64_t>(size);
    for (engine::MaskNll& m : *nll) {
      out.push_back({m.nll_sum, m.n_tokens, std::move(m.block_nll)});
    }
  }
  return out;
}

json ModelJson(const ModelFingerprint& f) {
  const engine::ModelConfig& c = f.config;
  return {{"path", f.path},
          {"sha256", f.sha256},
          {"family", ModelFamilyOf(c)},
          {"tokenizer", f.tokenizer},
          {"n_layer", c.n_layer},
          {"n_head", c.n_head},
          {"n_kv_head", c.kv_heads()},
          {"head_dim", c.d_head()},
          {"n_embd", c.n_embd},
          {"n_positions", c.n_positions},
          {"vocab_size", c.vocab_size},
          {"bos_token_id", ModelConfigBosId(c)}};
}

// Baseline + every head alone; fills "heads" and *baseline_nll, returns the per-head deltas
// in flat order.
absl::StatusOr<std::vector<double>> IndividualPhase(const LoadedModel& model,
                                                    const torch::Tensor& chunks,
                                                    const EvalOptions& options,
                                                    ProgressLine* progress, int64_t* done,
                                                    analysis::MaskNll* baseline_nll, json* out) {
  const engine::ModelConfig& c = model.fingerprint.config;
  std::vector<engine::HeadMask> masks(1);
  for (int h = 0; h < c.n_heads_total(); ++h) masks.push_back({h});
  auto nll = Evaluate(model, chunks, masks, options, progress, done);
  if (!nll.ok()) return nll.status();
  *baseline_nll = nll->front();
  auto table = analysis::BuildHeadTable(nll->front(), absl::MakeConstSpan(*nll).subspan(1),
                                        c.n_layer, c.n_head);
  if (!table.ok()) return table.status();
  auto baseline = analysis::Perplexity(nll->front());
  if (!baseline.ok()) return baseline.status();
  (*out)["baseline_ppl"] = *baseline;
  (*out)["n_tokens_scored"] = nll->front().n_tokens;
  std::vector<double> deltas;
  for (const analysis::HeadResult& r : *table) {
    (*out)["heads"].push_back({{"layer", r.layer}, {"head", r.head}, {"ppl", r.ppl},
                               {"delta", r.delta}});
    deltas.push_back(r.delta);
  }
  absl::Status s = AddHeadIntervals(Blocks(options), *nll, Bootstrap(options), out);
  if (!s.ok()) return s;
  return deltas;
}

// Curve points k = 0..L*H for `order`; fills "cumulative" (and the baseline if not yet set).
// With a measured baseline (full sweep) k = 0 is that baseline, as on the server, and only
// k = 1..L*H are evaluated.
absl::Status CumulativePhase(const LoadedModel& model, const torch::Tensor& chunks,
                             const std::vector<int>& order, const EvalOptions& options,
                             const analysis::MaskNll* baseline_nll, ProgressLine* progress,
                             int64_t* done, json* out) {
  std::vector<engine::HeadMask> masks(1);
  for (int head : order) {
    engine::HeadMask next = masks.back();
    next.push_back(head);
    masks.push_back(std::move(next));
  }
  if (baseline_nll != nullptr) masks.erase(masks.begin());
  auto nll = Evaluate(model, chunks, masks, options, progress, done);
  if (!nll.ok()) return nll.status();
  if (baseline_nll != nullptr) nll->insert(nll->begin(), *baseline_nll);
  if (!out->contains("baseline_ppl")) {
    auto baseline = analysis::Perplexity(nll->front());
    if (!baseline.ok()) return baseline.status();
    (*out)["baseline_ppl"] = *baseline;
    (*out)["n_tokens_scored"] = nll->front().n_tokens;
  }
  auto curve = analysis::BuildCurve((*out)["baseline_ppl"].get<double>(), *nll);
  if (!curve.ok()) return curve.status();
  const int n_head = model.fingerprint.config.n_head;
  (*out)["cumulative"] = json::array();
  for (const analysis::CurveResult& p : *curve) {
    json head = p.removed == 0 ? json(nullptr)
                               : json::array({order[p.removed - 1] / n_head,
                                              order[p.removed - 1] % n_head});
    (*out)["cumulative"].push_back({{"removed", p.removed}, {"ppl", p.ppl}, {"head", head}});
  }
  return AddCurveIntervals(Blocks(options), *nll, Bootstrap(options), out);
}

absl::StatusOr<int> OrderEntry(const json& e, const engine::ModelConfig& c) {
  if (e.is_number_integer()) return e.get<int>();
  if (e.is_array() && e.size() == 2 && e[0].is_number_integer() && e[1].is_number_integer()) {
    int layer = e[0].get<int>(), head = e[1].get<int>();
    if (layer < 0 || layer >= c.n_layer || head < 0 || head >= c.n_head) return -1;
    return layer * c.n_head + head;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("entry ", e.dump(), " is neither [layer, head] nor a flat index"));
}

}  // namespace

absl::StatusOr<SweepKind> ParseSweepKind(const std::string& name) {
  if (name == "individual") return SweepKind::kIndividual;
  if (name == "cumulative") return SweepKind::kCumulative;
  if (name == "full") return SweepKind::kFull;
  if (name == "attribution") return SweepKind::kAttribution;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown sweep '", name, "' (expected individual, cumulative, full or attribution)"));
}

std::string SweepKindName(SweepKind sweep) {
  switch (sweep) {
    case SweepKind::kIndividual:
      return "individual";
    case SweepKind::kCumulative:
      return "cumulative";
    case SweepKind::kFull:
      return "full";
    case SweepKind::kAttribution:
      return "attribution";
  }
  return "unknown";
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat("error reading ", path));
  return out.str();
}

absl::Status WriteJsonFile(const std::string& path, const nlohmann::json& json) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", tmp));
    out << json.dump(2) << "\n";
    if (!out.flush()) return absl::DataLossError(absl::StrCat("error writing ", tmp));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("cannot rename ", tmp, " to ", path));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<int>> ReadOrderFile(const std::string& path,
                                               const engine::ModelConfig& config) {
  auto text = ReadFile(path);
  if (!text.ok()) return text.status();
  json doc = json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(path, ": not JSON"));
  json entries = json::array();
  if (doc.is_object() && doc.contains("cumulative") && doc["cumulative"].is_array()) {
    for (const json& p : doc["cumulative"]) {
      if (p.is_object() && p.contains("head") && !p["head"].is_null()) entries.push_back(p["head"]);
    }
  } else if (doc.is_array()) {
    entries = doc;
  } else {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": expected a JSON array of [layer, head] or an eval output with \"cumulative\""));
  }
  const int total = config.n_heads_total();
  std::vector<int> order;
  std::vector<bool> seen(total, false);
  for (const json& e : entries) {
    auto flat = OrderEntry(e, config);
    if (!flat.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", flat.status().message()));
    if (*flat < 0 || *flat >= total || seen[*flat]) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": entry ", e.dump(),
                                                     " is out of range or repeated"));
    }
    seen[*flat] = true;
    order.push_back(*flat);
  }
  if (static_cast<int>(order.size()) != total) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": names ", order.size(),
                                                   " heads, the model has ", total));
  }
  return order;
}

absl::StatusOr<std::vector<int>> TokenizeFile(const std::string& model_dir,
                                              const std::string& text_file) {
  auto tokenizer = engine::LoadTokenizer(model_dir);
  if (!tokenizer.ok()) return tokenizer.status();
  auto text = ReadFile(text_file);
  if (!text.ok()) return text.status();
  return (*tokenizer)->Encode(*text);
}

namespace {

// Attribution, then the exact verification of the top K (offline_attribution.h). `out`
// already holds the run's description.
absl::Status AttributionPhases(const LoadedModel& m, const torch::Tensor& chunks,
                               const EvalOptions& options, json* out) {
  const int k = options.verify_top_k;
  ProgressLine progress(options.progress, k > 0 ? k + 1 : 0);
  int64_t done = 0;
  MaskEvaluator evaluate = [&](const std::vector<engine::HeadMask>& masks) {
    return Evaluate(m, chunks, masks, options, &progress, &done);
  };
  AttributionSweepOptions a{k, options.reference_file};
  absl::Status s =
      RunAttributionSweep(*m.engine, chunks, options.method, a, evaluate, json(*out), out);
  if (s.ok() && k > 0) progress.Update(done, /*force=*/true);
  return s;
}

// The phases the sweep asks for; fills `out`. `order` is the given cumulative order (used
// only for kCumulative).
absl::Status RunPhases(const LoadedModel& m, const torch::Tensor& chunks,
                       const EvalOptions& options, std::vector<int> order, json* out) {
  const engine::ModelConfig& c = m.fingerprint.config;
  const int total = c.n_heads_total();
  if (options.sweep == SweepKind::kAttribution) return AttributionPhases(m, chunks, options, out);
  const bool individual = options.sweep != SweepKind::kCumulative;
  const bool cumulative = options.sweep != SweepKind::kIndividual;
  ProgressLine progress(options.progress,
                        (individual ? total + 1 : 0) + (cumulative ? total + !individual : 0));
  int64_t done = 0;
  analysis::MaskNll baseline_nll;
  if (individual) {
    auto deltas = IndividualPhase(m, chunks, options, &progress, &done, &baseline_nll, out);
    if (!deltas.ok()) return deltas.status();
    if (cumulative) {
      auto derived = analysis::CumulativeOrder(*deltas, c.n_layer, c.n_head);
      if (!derived.ok()) return derived.status();
      order = *std::move(derived);
    }
  }
  if (cumulative) {
    absl::Status s = CumulativePhase(m, chunks, order, options,
                                     individual ? &baseline_nll : nullptr, &progress, &done, out);
    if (!s.ok()) return s;
  }
  progress.Update(done, /*force=*/true);
  return absl::OkStatus();
}

void DescribeRun(const EvalOptions& options, const LoadedModel& m, const std::string& text,
                 int bos_id, json* out) {
  (*out)["model"] = ModelJson(m.fingerprint);
  (*out)["bos_token_id"] = options.bos ? json(bos_id) : json(nullptr);
  (*out)["method"] = engine::MethodName(options.method);
  (*out)["sweep"] = SweepKindName(options.sweep);
  (*out)["n_chunks"] = options.n_chunks;
  (*out)["seq_len"] = options.seq_len;
  (*out)["bos"] = options.bos;
  (*out)["masks_per_batch"] = options.masks_per_batch;
  (*out)["device"] = options.engine.device;
  (*out)["dtype"] = engine::DTypeName(options.engine.dtype);
  (*out)["dataset_sha256"] = artifact::Sha256Hex(text);
  if (std::optional<analysis::BootstrapOptions> b = Bootstrap(options); b.has_value()) {
    (*out)["ci"] = b->ci;
    (*out)["bootstrap"] = b->resamples;
    (*out)["seed"] = b->seed;
  }
}

// Flag checks that need no model: block size and bootstrap settings.
absl::Status CheckIntervalFlags(const EvalOptions& options) {
  const int block = EffectiveBlockTokens(options);
  if (block < 1 || (options.seq_len >= 2 && block > options.seq_len - 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--block must be in 1..seq_len - 1 = ", options.seq_len - 1, ", got ", block));
  }
  absl::StatusOr<std::optional<analysis::BootstrapOptions>> b =
      analysis::ResolveBootstrap(options.ci, options.bootstrap, options.seed);
  if (!b.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--ci/--bootstrap: ", b.status().message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<nlohmann::json> RunEval(const EvalOptions& options) {
  const auto start = Clock::now();
  if ((options.sweep == SweepKind::kCumulative) == options.order_file.empty()) {
    return absl::InvalidArgumentError(options.order_file.empty()
                                          ? "--order is required for --sweep cumulative"
                                          : "--order is only used with --sweep cumulative");
  }
  if (absl::Status s = CheckIntervalFlags(options); !s.ok()) return s;
  if (options.sweep != SweepKind::kAttribution &&
      (options.verify_top_k != 0 || !options.reference_file.empty())) {
    return absl::InvalidArgumentError(
        "--verify-top and --reference are only used with --sweep attribution");
  }
  auto model = LoadModel(options.model_dir, "", options.engine);
  if (!model.ok()) return model.status();
  const LoadedModel& m = **model;
  auto text = ReadFile(options.text_file);
  if (!text.ok()) return text.status();
  int bos_id = -1;
  if (options.bos) {
    absl::StatusOr<int> id =
        ModelBosId(m.fingerprint.config, m.tokenizer->eot_id(), options.model_dir);
    if (!id.ok()) return id.status();
    bos_id = *id;
  }
  auto chunks = MakeChunks(m.tokenizer->Encode(*text), options.n_chunks, options.seq_len,
                           options.bos, bos_id);
  if (!chunks.ok()) return chunks.status();
  std::vector<int> order;
  if (options.sweep == SweepKind::kCumulative) {
    auto read = ReadOrderFile(options.order_file, m.fingerprint.config);
    if (!read.ok()) return read.status();
    order = *std::move(read);
  }
  json out = {{"heads", json::array()}};
  DescribeRun(options, m, *text, bos_id, &out);
  absl::Status run = RunPhases(m, *chunks, options, std::move(order), &out);
  if (!run.ok()) return run;
  out["seconds"] = std::chrono::duration<double>(Clock::now() - start).count();
  return out;
}

}  // namespace ablate::worker
