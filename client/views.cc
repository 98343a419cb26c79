#include "client/views.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include "absl/strings/str_cat.h"

namespace ablate::client {
namespace {

bool LayerHeadLess(const v1::HeadRow& a, const v1::HeadRow& b) {
  return a.layer() != b.layer() ? a.layer() < b.layer() : a.head() < b.head();
}

Table KeyValue() {
  Table t;
  t.keys = {"statistic", "value"};
  t.titles = {"statistic", "value"};
  return t;
}

void AddKv(Table* t, const std::string& key, Cell value) {
  t->AddRow({TextCell(key), std::move(value)});
}

// Columns: a bracketed interval in Markdown, its bounds as two numbers in CSV.
void AddIntervalColumns(Table* t, const std::string& title, const std::string& lo_key,
                        const std::string& hi_key) {
  t->show.resize(t->keys.size(), Show::kBoth);
  t->keys.insert(t->keys.end(), {lo_key + "_" + hi_key, lo_key, hi_key});
  t->titles.insert(t->titles.end(), {title, lo_key, hi_key});
  t->show.insert(t->show.end(), {Show::kMarkdown, Show::kCsv, Show::kCsv});
}

// The three cells of AddIntervalColumns; `text` formats a bound for Markdown.
std::vector<Cell> IntervalCells(Cell lo, Cell hi) {
  Cell both = TextCell(absl::StrCat("[", lo.text, ", ", hi.text, "]"));
  both.numeric = true;
  return {both, lo, hi};
}

// Appends an interval's three cells (AddIntervalColumns), each bound formatted by `format`, or
// three blank cells when `in` is null (a row without an interval in a table with them).
void AppendInterval(std::vector<Cell>* row, const v1::Interval* in,
                    const std::function<Cell(double)>& format) {
  if (in == nullptr) {
    row->insert(row->end(), {TextCell(""), TextCell(""), TextCell("")});
    return;
  }
  for (Cell& c : IntervalCells(format(in->lo()), format(in->hi()))) row->push_back(std::move(c));
}

std::string CiTitle(double ci, const std::string& what) {
  if (ci <= 0) return absl::StrCat(what, " CI");
  return absl::StrCat(what, " ", ExactNumber(100 * ci), "% CI");
}

}  // namespace

absl::StatusOr<HeadSort> ParseHeadSort(const std::string& name) {
  if (name == "delta") return HeadSort::kDelta;
  if (name == "abs") return HeadSort::kAbs;
  if (name == "layer") return HeadSort::kLayer;
  return absl::InvalidArgumentError(
      absl::StrCat("--sort must be delta, abs or layer, got '", name, "'"));
}

std::string HeadName(int layer, int head) { return absl::StrCat("L", layer, "H", head); }

bool IsAttribution(const v1::HeadTable& table) {
  return table.rows_size() > 0 && table.rows(0).has_atp_delta();
}

std::vector<v1::HeadRow> SortHeads(const v1::HeadTable& table, HeadSort sort, int top) {
  std::vector<v1::HeadRow> rows(table.rows().begin(), table.rows().end());
  std::stable_sort(rows.begin(), rows.end(), LayerHeadLess);
  // Attribution tables rank by the estimate (every head has one).
  const bool atp = IsAttribution(table);
  auto key = [atp](const v1::HeadRow& r) { return atp ? r.atp_delta() : r.delta(); };
  if (sort == HeadSort::kDelta) {
    std::stable_sort(rows.begin(), rows.end(), [&](const v1::HeadRow& a, const v1::HeadRow& b) {
      return key(a) > key(b);
    });
  } else if (sort == HeadSort::kAbs) {
    std::stable_sort(rows.begin(), rows.end(), [&](const v1::HeadRow& a, const v1::HeadRow& b) {
      return std::fabs(key(a)) > std::fabs(key(b));
    });
  }
  if (top > 0 && static_cast<size_t>(top) < rows.size()) rows.resize(top);
  return rows;
}

std::vector<v1::HeadRow> NegativeHeads(const v1::HeadTable& table) {
  std::vector<v1::HeadRow> rows;
  for (const v1::HeadRow& r : table.rows()) {
    if (r.delta() < 0) rows.push_back(r);
  }
  std::stable_sort(rows.begin(), rows.end(), LayerHeadLess);
  std::stable_sort(rows.begin(), rows.end(), [](const v1::HeadRow& a, const v1::HeadRow& b) {
    return a.delta() < b.delta();
  });
  return rows;
}

Table HeadsTable(const std::vector<v1::HeadRow>& rows, double ci) {
  if (!rows.empty() && rows[0].has_atp_delta()) return AttributionHeadsTable(rows);
  Table t;
  t.keys = {"rank", "layer", "head", "ppl", "delta"};
  t.titles = {"#", "layer", "head", "PPL", "dPPL"};
  const bool intervals = !rows.empty() && rows[0].has_delta_lo();
  if (intervals) {
    AddIntervalColumns(&t, CiTitle(ci, "dPPL"), "delta_lo", "delta_hi");
    t.keys.push_back("significant");
    t.titles.push_back("excludes 0");
    AddIntervalColumns(&t, "rank range", "rank_lo", "rank_hi");
  }
  int rank = 0;
  for (const v1::HeadRow& r : rows) {
    std::vector<Cell> row = {IntCell(++rank), IntCell(r.layer()), IntCell(r.head()),
                             NumCell(r.ppl(), 2), PercentCell(r.delta(), 2)};
    if (intervals) {
      for (Cell& c : IntervalCells(PercentCell(r.delta_lo(), 2), PercentCell(r.delta_hi(), 2))) {
        row.push_back(std::move(c));
      }
      Cell sig = TextCell(r.significant() ? "yes" : "no");
      sig.raw = r.significant() ? "true" : "false";
      row.push_back(sig);
      for (Cell& c : IntervalCells(IntCell(r.rank_lo()), IntCell(r.rank_hi()))) {
        row.push_back(std::move(c));
      }
    }
    t.AddRow(std::move(row));
  }
  return t;
}

Table AttributionHeadsTable(const std::vector<v1::HeadRow>& rows) {
  Table t;
  t.keys = {"rank", "layer", "head", "atp_delta", "verified", "ppl", "delta"};
  t.titles = {"#", "layer", "head", "est. dPPL", "verified", "PPL", "dPPL"};
  int rank = 0;
  for (const v1::HeadRow& r : rows) {
    const Cell none = TextCell("-");
    t.AddRow({IntCell(++rank), IntCell(r.layer()), IntCell(r.head()),
              PercentCell(r.atp_delta(), 2), TextCell(r.exact() ? "yes" : "no"),
              r.exact() ? NumCell(r.ppl(), 2) : none, r.exact() ? PercentCell(r.delta(), 2) : none});
  }
  return t;
}

Table CurveTable(const v1::CumulativeCurve& curve, const std::vector<int>& only_k) {
  Table t;
  t.keys = {"removed", "layer", "head", "ppl", "ratio"};
  t.titles = {"heads removed", "layer added", "head added", "PPL", "x baseline"};
  const bool band = curve.points_size() > 0 && curve.points(0).has_ratio_lo();
  if (band) AddIntervalColumns(&t, CiTitle(curve.ci(), "x baseline"), "ratio_lo", "ratio_hi");
  for (const v1::CurvePoint& p : curve.points()) {
    if (!only_k.empty() && std::find(only_k.begin(), only_k.end(), p.removed()) == only_k.end()) {
      continue;
    }
    const bool h = p.has_head();
    std::vector<Cell> row = {IntCell(p.removed()), h ? IntCell(p.head().layer()) : TextCell(""),
                             h ? IntCell(p.head().head()) : TextCell(""), NumCell(p.ppl(), 2),
                             NumCell(p.ratio(), 3)};
    if (band) {
      for (Cell& c : IntervalCells(NumCell(p.ratio_lo(), 3), NumCell(p.ratio_hi(), 3))) {
        row.push_back(std::move(c));
      }
    }
    t.AddRow(std::move(row));
  }
  return t;
}

Table ThresholdsTable(const v1::ThresholdTable& thresholds, int n_heads_total) {
  Table t;
  t.keys = {"ratio", "max_heads", "fraction", "ppl_at_max"};
  t.titles = {"PPL limit (x baseline)", "max heads removable", "of all heads", "PPL at max"};
  const bool intervals = thresholds.rows_size() > 0 && thresholds.rows(0).has_max_heads_lo();
  if (intervals) {
    AddIntervalColumns(&t, CiTitle(thresholds.ci(), "max heads"), "max_heads_lo",
                       "max_heads_hi");
  }
  for (const v1::ThresholdRow& r : thresholds.rows()) {
    Cell frac = NumCell(r.fraction(), 4);
    frac.text = absl::StrCat(Fixed(100 * r.fraction(), 1), "%");
    if (n_heads_total > 0) absl::StrAppend(&frac.text, " of ", n_heads_total);
    std::vector<Cell> row = {NumCell(r.ratio(), 2), IntCell(r.max_heads()), frac,
                             NumCell(r.ppl_at_max(), 2)};
    if (intervals) {
      for (Cell& c : IntervalCells(IntCell(r.max_heads_lo()), IntCell(r.max_heads_hi()))) {
        row.push_back(std::move(c));
      }
    }
    t.AddRow(std::move(row));
  }
  return t;
}

Table StatsTable(const v1::DistributionStats& s) {
  Table t = KeyValue();
  const bool intervals = s.has_mean_delta_ci();
  if (intervals) AddIntervalColumns(&t, CiTitle(s.ci(), "value"), "lo", "hi");
  const double n = std::max(1, s.n_heads());
  auto count = [&](int c) {
    Cell cell = IntCell(c);
    cell.text = absl::StrCat(c, " (", Fixed(100.0 * c / n, 1), "%)");
    return cell;
  };
  // A row; with intervals, `in` (if set) in the interval columns, formatted like the value.
  auto add = [&](const std::string& key, Cell value, const v1::Interval* in,
                 const std::function<Cell(double)>& format) {
    std::vector<Cell> row = {TextCell(key), std::move(value)};
    if (intervals) AppendInterval(&row, in, format);
    t.AddRow(std::move(row));
  };
  auto ci_of = [](bool has, const v1::Interval& in) { return has ? &in : nullptr; };
  auto integer = [](double v) { return IntCell(static_cast<int64_t>(v)); };
  auto percent = [](double v) { return PercentCell(v, 2); };
  auto number = [](double v) { return NumCell(v, 3); };
  add("n_heads", IntCell(s.n_heads()), nullptr, integer);
  add("under_1pct", count(s.under_1pct()), ci_of(s.has_under_1pct_ci(), s.under_1pct_ci()),
      integer);
  add("under_10pct", count(s.under_10pct()), ci_of(s.has_under_10pct_ci(), s.under_10pct_ci()),
      integer);
  add("improved", count(s.improved()), ci_of(s.has_improved_ci(), s.improved_ci()), integer);
  if (s.has_n_significant()) {
    Cell sig = count(s.n_significant());
    absl::StrAppend(&sig.text, ", ", ExactNumber(100 * s.ci()), "% CI excludes 0");
    add("n_significant", sig, nullptr, integer);
  }
  add("mean_delta", PercentCell(s.mean_delta(), 2),
      ci_of(s.has_mean_delta_ci(), s.mean_delta_ci()), percent);
  add("median_delta", PercentCell(s.median_delta(), 2),
      ci_of(s.has_median_delta_ci(), s.median_delta_ci()), percent);
  Cell mean_abs = PercentCell(s.mean_abs_delta(), 2);
  mean_abs.text = absl::StrCat(Fixed(100 * s.mean_abs_delta(), 2), "%");
  add("mean_abs_delta", mean_abs, ci_of(s.has_mean_abs_delta_ci(), s.mean_abs_delta_ci()),
      percent);
  add("max_delta", PercentCell(s.max_delta(), 2), ci_of(s.has_max_delta_ci(), s.max_delta_ci()),
      percent);
  add("max_head", TextCell(HeadName(s.max_head().layer(), s.max_head().head())), nullptr,
      integer);
  const bool fit = s.zipf().n_points() >= 2;  // Fewer nonzero deltas: no fit.
  add("zipf_alpha", fit ? NumCell(s.zipf().alpha(), 3) : TextCell("n/a"),
      ci_of(fit && s.has_zipf_alpha_ci(), s.zipf_alpha_ci()), number);
  add("zipf_c", fit ? NumCell(s.zipf().c(), 3) : TextCell("n/a"), nullptr, number);
  add("zipf_r2", fit ? NumCell(s.zipf().r2(), 3) : TextCell("n/a"), nullptr, number);
  add("zipf_n", IntCell(s.zipf().n_points()), nullptr, integer);
  return t;
}

Table LayersTable(const v1::LayerTable& layers, const std::vector<double>* series,
                  const std::string& series_name) {
  Table t;
  t.keys = {"layer", "mean_delta", "max_delta", "max_head"};
  t.titles = {"layer", "mean dPPL", "max dPPL", "max head"};
  const bool intervals = layers.rows_size() > 0 && layers.rows(0).has_mean_delta_ci();
  if (intervals) {
    AddIntervalColumns(&t, CiTitle(layers.ci(), "mean"), "mean_delta_lo", "mean_delta_hi");
    AddIntervalColumns(&t, CiTitle(layers.ci(), "max"), "max_delta_lo", "max_delta_hi");
  }
  if (series != nullptr) {
    t.keys.push_back("series");
    t.titles.push_back(series_name.empty() ? "series" : series_name);
    if (!t.show.empty()) t.show.push_back(Show::kBoth);
  }
  for (int i = 0; i < layers.rows_size(); ++i) {
    const v1::LayerRow& r = layers.rows(i);
    std::vector<Cell> row = {IntCell(r.layer()), PercentCell(r.mean_delta(), 2),
                             PercentCell(r.max_delta(), 2), IntCell(r.max_head())};
    if (intervals) {
      auto percent = [](double v) { return PercentCell(v, 2); };
      AppendInterval(&row, &r.mean_delta_ci(), percent);
      AppendInterval(&row, &r.max_delta_ci(), percent);
    }
    if (series != nullptr && static_cast<size_t>(i) < series->size()) {
      Cell v = NumCell((*series)[i], 4);
      v.text = v.raw;
      row.push_back(v);
    }
    t.AddRow(std::move(row));
  }
  return t;
}

Table CorrelationTable(const v1::Correlation& c) {
  Table t;
  t.keys = {"test", "coefficient", "p_value", "n"};
  t.titles = {"test", "coefficient", "p (two-sided)", "n"};
  const bool intervals = c.has_pearson_r_ci() || c.has_spearman_rho_ci();
  if (intervals) AddIntervalColumns(&t, CiTitle(c.ci(), "coefficient"), "lo", "hi");
  auto row = [&](const char* test, double v, double p, bool has, const v1::Interval& in) {
    std::vector<Cell> cells = {TextCell(test), NumCell(v, 3), NumCell(p, 4), IntCell(c.n())};
    if (intervals) {
      AppendInterval(&cells, has ? &in : nullptr, [](double x) { return NumCell(x, 3); });
    }
    t.AddRow(std::move(cells));
  };
  row("Pearson r", c.pearson_r(), c.pearson_p(), c.has_pearson_r_ci(), c.pearson_r_ci());
  row("Spearman rho", c.spearman_rho(), c.spearman_p(), c.has_spearman_rho_ci(),
      c.spearman_rho_ci());
  return t;
}

Table JobTable(const v1::Job& job) {
  Table t = KeyValue();
  const v1::JobSpec& s = job.spec();
  const v1::Progress& p = job.progress();
  AddKv(&t, "id", TextCell(job.id()));
  AddKv(&t, "name", TextCell(s.name()));
  AddKv(&t, "state", TextCell(StateName(job.state())));
  if (!job.error().empty()) AddKv(&t, "error", TextCell(job.error()));
  AddKv(&t, "model", TextCell(s.model().path()));
  if (!s.model().artifact_digest().empty()) {
    AddKv(&t, "model_artifact", TextCell(s.model().artifact_digest()));
  }
  AddKv(&t, "model_sha256", TextCell(s.model().sha256()));
  AddKv(&t, "family", TextCell(s.model().shape().family().empty() ? "gpt2"
                                                                    : s.model().shape().family()));
  AddKv(&t, "shape", TextCell(ShapeText(s.model().shape())));
  AddKv(&t, "bos", TextCell(BosText(s)));
  AddKv(&t, "dataset", TextCell(s.dataset().name()));
  AddKv(&t, "dataset_sha256", TextCell(s.dataset().sha256()));
  AddKv(&t, "method", TextCell(MethodName(s.method())));
  AddKv(&t, "sweep", TextCell(SweepName(s.sweep())));
  AddKv(&t, "dtype", TextCell(DTypeName(s.dtype())));
  AddKv(&t, "n_chunks", IntCell(s.n_chunks()));
  AddKv(&t, "seq_len", IntCell(s.seq_len()));
  AddKv(&t, "priority", IntCell(s.priority()));
  AddKv(&t, "masks_done", IntCell(p.masks_done()));
  AddKv(&t, "masks_total", IntCell(p.masks_total()));
  AddKv(&t, "tasks", TextCell(absl::StrCat(p.tasks_done(), "/", p.tasks_total(), " done, ",
                                           p.tasks_running(), " running")));
  AddKv(&t, "workers_busy", IntCell(p.workers_busy()));
  AddKv(&t, "masks_per_second", NumCell(p.masks_per_second(), 2));
  AddKv(&t, "baseline_ppl", NumCell(job.baseline_ppl(), 3));
  AddKv(&t, "created", TextCell(TimeString(job.created_unix_ms())));
  AddKv(&t, "started", TextCell(TimeString(job.started_unix_ms())));
  AddKv(&t, "finished", TextCell(TimeString(job.finished_unix_ms())));
  return t;
}

Table JobsTable(const std::vector<v1::Job>& jobs) {
  Table t;
  t.keys = {"id", "state", "name", "sweep", "method", "masks_done", "masks_total", "baseline_ppl",
            "created"};
  t.titles = {"id", "state", "name", "sweep", "method", "done", "total", "baseline PPL",
              "created"};
  for (const v1::Job& j : jobs) {
    t.AddRow({TextCell(j.id()), TextCell(StateName(j.state())), TextCell(j.spec().name()),
              TextCell(SweepName(j.spec().sweep())), TextCell(MethodName(j.spec().method())),
              IntCell(j.progress().masks_done()), IntCell(j.progress().masks_total()),
              NumCell(j.baseline_ppl(), 2), TextCell(TimeString(j.created_unix_ms()))});
  }
  return t;
}

}  // namespace ablate::client
