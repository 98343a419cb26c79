// The report's Markdown and metrics (declared in report.h).
#include "client/report.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/format.h"
#include "client/views.h"

namespace ablate::client {
namespace {

std::string MethodText(v1::Method m) {
  switch (m) {
    case v1::METHOD_ZERO: return "zero (z_h := 0; Hugging Face head_mask)";
    case v1::METHOD_ZERO_FOLDED: return "zero_folded (z_h := b_V,h; TransformerLens hook_z)";
    case v1::METHOD_MEAN: return "mean (z_h := its mean over the clean run)";
    default: return MethodName(m);
  }
}

double Seconds(int64_t from_ms, int64_t to_ms) {
  return from_ms > 0 && to_ms >= from_ms ? (to_ms - from_ms) / 1000.0 : -1.0;
}

void Setup(const ReportData& d, std::string* md) {
  const v1::JobSpec& s = d.job.spec();
  const v1::ModelShape& sh = s.model().shape();
  Table t;
  t.keys = {"item", "value"};
  t.titles = {"", ""};
  auto row = [&](const std::string& k, const std::string& v) {
    t.AddRow({TextCell(k), TextCell(v)});
  };
  row("job", absl::StrCat("`", d.job.id(), "`", s.name().empty() ? "" : " (" + s.name() + ")"));
  row("model", absl::StrCat("`", s.model().path().empty() ? s.model().artifact_digest()
                                                          : s.model().path(), "`"));
  row("model SHA-256", absl::StrCat("`", s.model().sha256(), "`"));
  row("family", sh.family().empty() ? "gpt2" : sh.family());
  row("shape", ShapeText(sh));
  row("tokenizer", s.model().tokenizer().empty() ? "(not recorded)" : s.model().tokenizer());
  row("BOS", BosText(s));
  row("dataset", absl::StrCat(s.dataset().name().empty() ? "(unnamed)" : s.dataset().name(),
                              ", ", d.job.dataset_bytes(), " bytes"));
  row("dataset SHA-256", absl::StrCat("`", s.dataset().sha256(), "`"));
  row("tokens", absl::StrCat(s.n_chunks(), " chunks x ", s.seq_len(), " tokens",
                             s.bos_per_chunk() ? " (BOS in slot 0)" : "", "; ",
                             d.job.n_tokens_scored(), " tokens scored per mask"));
  row("ablation", MethodText(s.method()));
  row("sweep", SweepName(s.sweep()));
  row("dtype", DTypeName(s.dtype()));
  absl::StrAppend(md, "## Setup\n\n", RenderMarkdown(t), "\n");
}

// What the intervals are, when the job has them.
std::string IntervalText(const ReportData& d) {
  const v1::HeadTable& h = d.heads;
  if (h.ci() <= 0) {
    return "No confidence intervals: the job's results carry no per-block NLL (workers older "
           "than per-block results).\n\n";
  }
  int significant = 0;
  for (const v1::HeadRow& r : h.rows()) significant += r.significant();
  return absl::StrCat(
      "Intervals: ", ExactNumber(100 * h.ci()), "% paired block bootstrap (", h.bootstrap(),
      " resamples of the scored tokens' blocks of ", d.job.spec().block_tokens(),
      ", the same draws for every head, seed ", h.seed(), "; README, Definitions). ",
      significant, " of ", h.rows_size(),
      " heads have an interval that excludes 0; the heatmap dots the others. The rank range "
      "is where the head's rank by dPPL falls across the resamples.\n\n");
}

void Individual(const ReportData& d, std::string* md) {
  absl::StrAppend(md, "## Baseline\n\nBaseline perplexity: **", Fixed(d.heads.baseline_ppl(), 3),
                  "** (", d.heads.n_tokens_scored(), " tokens scored).\n\n");
  absl::StrAppend(md, "## Individual head ablation\n\nEach of the ", d.heads.rows_size(),
                  " heads ablated alone; dPPL = (PPL - baseline) / baseline.\n\n",
                  IntervalText(d), "Top 10 heads by dPPL:\n\n",
                  RenderMarkdown(HeadsTable(SortHeads(d.heads, HeadSort::kDelta, 10),
                                            d.heads.ci())),
                  "\n");
  const std::vector<v1::HeadRow> neg = NegativeHeads(d.heads);
  absl::StrAppend(md, "Negative heads (removing one alone lowers PPL): ", neg.size(), "\n\n");
  if (!neg.empty()) absl::StrAppend(md, RenderMarkdown(HeadsTable(neg, d.heads.ci())), "\n");
  absl::StrAppend(md, "![dPPL heatmap](heatmap.svg)\n\n");
}

void Distribution(const ReportData& d, std::string* md) {
  const v1::ZipfFit& z = d.stats.zipf();
  absl::StrAppend(md, "## Distribution of effects\n\n", RenderMarkdown(StatsTable(d.stats)),
                  "\n");
  if (z.n_points() >= 2) {
    absl::StrAppend(md, "Zipf fit over the ", z.n_points(), " heads with dPPL != 0, ranked by ",
                    "|dPPL|: |dPPL|(rank) = ", Fixed(z.c(), 3), " x rank^-", Fixed(z.alpha(), 3),
                    " (R^2 = ", Fixed(z.r2(), 3), ").\n\n");
  } else {
    absl::StrAppend(md, "Zipf fit: too few heads with dPPL != 0.\n\n");
  }
}

void Cumulative(const ReportData& d, std::string* md) {
  absl::StrAppend(md, "## Cumulative ablation\n\n");
  if (!d.curve.has_value()) {
    absl::StrAppend(md, "Not available: ", d.missing.count("curve") ? d.missing.at("curve") : "",
                    "\n\n");
    return;
  }
  absl::StrAppend(md, "Heads removed together in ascending order of their individual dPPL ",
                  "(improving heads first)",
                  d.curve->ci() > 0
                      ? absl::StrCat("; the shaded band and the bracketed columns are ",
                                     ExactNumber(100 * d.curve->ci()),
                                     "% bootstrap intervals with the order held fixed")
                      : "",
                  ".\n\n![cumulative curve](curve.svg)\n\n",
                  RenderMarkdown(CurveTable(*d.curve, ReportCurveSteps(d))), "\n");
  if (d.thresholds.has_value()) {
    absl::StrAppend(md, "Maximum heads removable while PPL stays within a ratio of the ",
                    "baseline:\n\n",
                    RenderMarkdown(ThresholdsTable(*d.thresholds, d.heads.rows_size())), "\n");
  }
}

void Layers(const ReportData& d, std::string* md) {
  absl::StrAppend(md, "## Layers\n\n",
                  RenderMarkdown(LayersTable(d.layers, d.series ? &d.series->values : nullptr,
                                             d.series ? d.series->name : "")),
                  "\n![per-layer importance](layers.svg)\n\n");
  if (d.correlation.has_value()) {
    absl::StrAppend(md, "Correlation of per-layer mean dPPL with ", d.series->name, " (n = ",
                    d.correlation->n(), "):\n\n", RenderMarkdown(CorrelationTable(*d.correlation)),
                    "\n");
  } else if (d.missing.count("correlation")) {
    absl::StrAppend(md, "Correlation: ", d.missing.at("correlation"), "\n\n");
  }
}

void Criteria(const ReportData& d, std::string* md) {
  absl::StrAppend(md, "## Success criteria\n\n");
  if (d.criteria.empty()) {
    absl::StrAppend(md, "No criteria file given (`--criteria FILE`).\n\n");
    return;
  }
  const std::vector<CriterionResult> results = EvaluateCriteria(d.criteria, ReportMetrics(d));
  Table t;
  t.keys = {"criterion", "metric", "target", "measured", "result"};
  t.titles = t.keys;
  int met = 0;
  for (const CriterionResult& r : results) {
    met += r.met;
    t.AddRow({TextCell(r.criterion.name), TextCell(r.criterion.metric),
              TextCell(absl::StrCat(r.criterion.op, " ", ExactNumber(r.criterion.value))),
              TextCell(r.measured ? absl::StrFormat("%.6g", *r.measured) : "n/a"),
              TextCell(r.met ? "PASS" : "FAIL")});
  }
  absl::StrAppend(md, RenderMarkdown(t), "\n", met, " of ", results.size(), " criteria met.\n\n");
}

void Runtime(const ReportData& d, std::string* md) {
  const v1::Job& j = d.job;
  absl::StrAppend(md, "## Runtime\n\n");
  Table t;
  t.keys = {"item", "value"};
  t.titles = {"", ""};
  auto row = [&](const std::string& k, const std::string& v) {
    t.AddRow({TextCell(k), TextCell(v)});
  };
  row("state", StateName(j.state()) + (j.error().empty() ? "" : ": " + j.error()));
  row("submitted", TimeString(j.created_unix_ms()));
  row("started", TimeString(j.started_unix_ms()));
  row("finished", TimeString(j.finished_unix_ms()));
  row("queued for", Duration(Seconds(j.created_unix_ms(), j.started_unix_ms())));
  row("ran for", Duration(Seconds(j.started_unix_ms(), j.finished_unix_ms())));
  row("masks evaluated", absl::StrCat(j.progress().masks_done(), " of ", j.progress().masks_total(),
                                      " in ", j.progress().tasks_total(), " tasks"));
  const double secs = Seconds(j.started_unix_ms(), j.finished_unix_ms());
  if (secs > 0) row("masks per second", Fixed(j.progress().masks_done() / secs, 2));
  absl::StrAppend(md, RenderMarkdown(t), "\n");
}

}  // namespace

std::map<std::string, double> ReportMetrics(const ReportData& d) {
  std::map<std::string, double> m;
  const v1::DistributionStats& s = d.stats;
  m["baseline_ppl"] = d.heads.baseline_ppl();
  m["n_heads"] = s.n_heads();
  m["under_1pct"] = s.under_1pct();
  m["under_10pct"] = s.under_10pct();
  m["improved"] = s.improved();
  m["mean_delta"] = s.mean_delta();
  m["median_delta"] = s.median_delta();
  m["mean_abs_delta"] = s.mean_abs_delta();
  m["max_delta"] = s.max_delta();
  if (s.zipf().n_points() >= 2) {
    m["zipf_alpha"] = s.zipf().alpha();
    m["zipf_c"] = s.zipf().c();
    m["zipf_r2"] = s.zipf().r2();
  }
  m["zipf_n"] = s.zipf().n_points();
  if (d.curve.has_value() && d.curve->points_size() > 0) {
    m["final_ratio"] = d.curve->points(d.curve->points_size() - 1).ratio();
  }
  if (d.thresholds.has_value()) {
    for (const v1::ThresholdRow& r : d.thresholds->rows()) {
      m["max_heads@" + RatioKey(r.ratio())] = r.max_heads();
      m["fraction@" + RatioKey(r.ratio())] = r.fraction();
      m["ppl_at_max@" + RatioKey(r.ratio())] = r.ppl_at_max();
    }
  }
  if (d.correlation.has_value()) {
    m["pearson_r"] = d.correlation->pearson_r();
    m["pearson_p"] = d.correlation->pearson_p();
    m["spearman_rho"] = d.correlation->spearman_rho();
    m["spearman_p"] = d.correlation->spearman_p();
  }
  const double secs = Seconds(d.job.started_unix_ms(), d.job.finished_unix_ms());
  if (secs >= 0) m["runtime_s"] = secs;
  if (secs > 0) m["masks_per_second"] = d.job.progress().masks_done() / secs;
  return m;
}

std::vector<int> ReportCurveSteps(const ReportData& d) {
  if (!d.curve.has_value() || d.curve->points_size() == 0) return {};
  const int n = d.curve->points(d.curve->points_size() - 1).removed();
  const int step = std::max(1, (n + 19) / 20);
  std::vector<int> ks;
  for (int k = 0; k <= n; k += step) ks.push_back(k);
  ks.push_back(n);
  if (d.thresholds.has_value()) {
    for (const v1::ThresholdRow& r : d.thresholds->rows()) {
      ks.push_back(r.max_heads());
      if (r.max_heads() < n) ks.push_back(r.max_heads() + 1);
    }
  }
  std::sort(ks.begin(), ks.end());
  ks.erase(std::unique(ks.begin(), ks.end()), ks.end());
  return ks;
}

std::string ReportMarkdown(const ReportData& d) {
  std::string md = absl::StrCat("# Attention-head ablation: ",
                                d.job.spec().name().empty() ? d.job.id() : d.job.spec().name(),
                                "\n\n",
                                "Every quantity below (perplexity, the ablation conventions, dPPL, the "
                                "cumulative order, thresholds, the Zipf fit, the layer statistics and "
                                "correlations) is defined in the \"Definitions\" section of the ablate "
                                "README.md.\n\n");
  Setup(d, &md);
  Individual(d, &md);
  Distribution(d, &md);
  Cumulative(d, &md);
  Layers(d, &md);
  Criteria(d, &md);
  Runtime(d, &md);
  return md;
}

}  // namespace ablate::client
