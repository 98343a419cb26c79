#include "client/figures.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/format.h"
#include "client/svg.h"
#include "client/views.h"

namespace ablate::client {
namespace {

constexpr char kAxis[] = "#333333";
constexpr char kGrid[] = "#e3e3e3";
constexpr const char* kThresholdColors[] = {"#1b9e77", "#d95f02", "#7570b3", "#e7298a",
                                            "#66a61e", "#e6ab02"};
constexpr double kLinearWithin = 0.01;  // Heatmap scale is linear within +-1%.

void HeatmapLegend(Svg* svg, double x, double top, double h, double vmax) {
  std::string grad = "<defs><linearGradient id=\"dppl-scale\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">";
  for (int i = 0; i <= 20; ++i) {
    absl::StrAppend(&grad, "<stop offset=\"", Coord(i / 20.0), "\" stop-color=\"",
                    DivergingColor(-1.0 + i / 10.0), "\"/>");
  }
  svg->Raw(absl::StrCat(grad, "</linearGradient></defs>\n"));
  svg->Text(x + 9, top - 10, "dPPL", "middle", 12, {{"font-weight", "bold"}});
  svg->Rect(x, top, 18, h, {{"fill", "url(#dppl-scale)"}, {"stroke", kAxis}});
  std::vector<double> values = {0.0, vmax, -vmax};
  for (double v = kLinearWithin; v < vmax * 0.8; v *= 10) {
    values.push_back(v);
    values.push_back(-v);
  }
  for (double v : values) {
    const double y = top + (1.0 - (SymLog(v, vmax, kLinearWithin) + 1.0) / 2.0) * h;
    svg->Line(x + 18, y, x + 23, y, {{"stroke", kAxis}});
    svg->Text(x + 26, y + 4, v == 0 ? "0%" : SignedPercent(v, std::fabs(v) < 0.1 ? 1 : 0),
              "start", 10);
  }
  svg->Text(x + 9, top + h + 18, "symlog", "middle", 9, {{"fill", "#777"}});
}

}  // namespace

std::string HeatmapSvg(const v1::HeadTable& table, const std::string& subtitle) {
  int n_layer = table.n_layer(), n_head = table.n_head();
  double vmax = kLinearWithin;
  for (const v1::HeadRow& r : table.rows()) {
    n_layer = std::max(n_layer, r.layer() + 1);
    n_head = std::max(n_head, r.head() + 1);
    if (std::isfinite(r.delta())) vmax = std::max(vmax, std::fabs(r.delta()));
  }
  n_layer = std::max(1, n_layer);
  n_head = std::max(1, n_head);
  const double cw = std::clamp(640.0 / n_head, 12.0, 56.0);
  const double ch = std::clamp(440.0 / n_layer, 10.0, 34.0);
  const double left = 80, top = 84, gw = cw * n_head, gh = ch * n_layer;
  const double legend_h = std::max(gh, 180.0);
  Svg svg(std::max(520.0, left + gw + 130), top + std::max(gh, legend_h) + 64);
  svg.Title("dPPL when each head is ablated alone", subtitle);
  for (int h = 0; h < n_head; ++h) {
    svg.Text(left + (h + 0.5) * cw, top - 8, absl::StrCat(h), "middle", 10);
  }
  svg.Text(left + gw / 2, top - 24, "head", "middle", 12);
  for (int l = 0; l < n_layer; ++l) {
    svg.Text(left - 8, top + (l + 0.5) * ch + 4, absl::StrCat(l), "end", 10);
  }
  svg.Text(left - 40, top + gh / 2, "layer", "middle", 12, {}, -90);
  const bool labels = cw >= 30 && ch >= 14;
  for (const v1::HeadRow& r : table.rows()) {
    const std::string fill = DivergingColor(SymLog(r.delta(), vmax, kLinearWithin));
    const double x = left + r.head() * cw, y = top + r.layer() * ch;
    svg.Rect(x, y, cw, ch, {{"class", "cell"}, {"fill", fill}, {"stroke", "white"},
                            {"stroke-width", "0.5"}},
             absl::StrCat(HeadName(r.layer(), r.head()), ": PPL ", Fixed(r.ppl(), 2), ", dPPL ",
                          SignedPercent(r.delta(), 2)));
    if (labels) {
      const double pct = 100 * r.delta();
      svg.Text(x + cw / 2, y + ch / 2 + 3.5, Fixed(pct, std::fabs(pct) >= 99.95 ? 0 : 1),
               "middle", std::min(10.0, ch * 0.6),
               {{"fill", IsDark(fill) ? "white" : "#222"}, {"pointer-events", "none"}});
    }
  }
  svg.Rect(left, top, gw, gh, {{"fill", "none"}, {"stroke", kAxis}});
  HeatmapLegend(&svg, left + gw + 30, top, legend_h, vmax);
  if (labels) {
    svg.Text(left, top + gh + 20, "cell values: dPPL in %", "start", 10, {{"fill", "#555"}});
  }
  return svg.Finish();
}

std::string CurveSvg(const v1::CumulativeCurve& curve, const v1::ThresholdTable& thresholds,
                     const std::string& subtitle) {
  Svg svg(900, 560);
  svg.Title("Cumulative ablation: PPL vs heads removed", subtitle);
  const double L = 90, R = 860, T = 70, B = 500;
  int n = 1;
  double lo = 1.0, hi = 1.0;
  for (const v1::CurvePoint& p : curve.points()) {
    n = std::max(n, p.removed());
    if (p.ratio() > 0 && std::isfinite(p.ratio())) {
      lo = std::min(lo, p.ratio());
      hi = std::max(hi, p.ratio());
    }
  }
  for (const v1::ThresholdRow& t : thresholds.rows()) hi = std::max(hi, t.ratio());
  lo /= 1.03;
  hi *= 1.08;
  auto X = [&](double k) { return L + (R - L) * k / n; };
  auto Y = [&](double r) {
    const double v = std::log10(std::max(r, lo)) - std::log10(lo);
    return B - (B - T) * std::min(1.0, v / (std::log10(hi) - std::log10(lo)));
  };
  for (double t : LogTicks(lo, hi)) {
    svg.Line(L, Y(t), R, Y(t), {{"stroke", kGrid}});
    svg.Text(L - 8, Y(t) + 4, TickLabel(t), "end", 11);
  }
  for (double k : NiceTicks(0, n, 10)) {
    if (k != std::floor(k)) continue;
    svg.Line(X(k), B, X(k), B + 5, {{"stroke", kAxis}});
    svg.Text(X(k), B + 19, TickLabel(k), "middle", 11);
  }
  svg.Line(L, B, R, B, {{"stroke", kAxis}});
  svg.Line(L, T, L, B, {{"stroke", kAxis}});
  svg.Text((L + R) / 2, B + 42, "heads removed (least important first)", "middle", 13);
  svg.Text(28, (T + B) / 2, "PPL / baseline PPL (log scale)", "middle", 13, {}, -90);
  svg.Line(L, Y(1.0), R, Y(1.0), {{"stroke", "#888"}, {"stroke-width", "1"}});
  svg.Text(R - 4, Y(1.0) + 14, "baseline", "end", 10, {{"fill", "#666"}});
  std::string points;
  for (const v1::CurvePoint& p : curve.points()) {
    absl::StrAppend(&points, points.empty() ? "" : " ", Coord(X(p.removed())), ",",
                    Coord(Y(p.ratio())));
  }
  svg.Element("polyline", {{"class", "curve"}, {"points", points}, {"fill", "none"},
                           {"stroke", "#1f4e9c"}, {"stroke-width", "1.8"}});
  for (const v1::CurvePoint& p : curve.points()) {
    const std::string head = p.has_head() ? HeadName(p.head().layer(), p.head().head()) : "none";
    svg.Element("circle", {{"class", "point"}, {"cx", Coord(X(p.removed()))},
                           {"cy", Coord(Y(p.ratio()))}, {"r", "2.2"}, {"fill", "#1f4e9c"}},
                "", absl::StrCat(p.removed(), " removed (last ", head, "): PPL ",
                                 Fixed(p.ppl(), 2), ", ", Fixed(p.ratio(), 3), "x"));
  }
  for (int i = 0; i < thresholds.rows_size(); ++i) {
    const v1::ThresholdRow& t = thresholds.rows(i);
    const std::string color = kThresholdColors[i % 6];
    svg.Line(L, Y(t.ratio()), R, Y(t.ratio()),
             {{"class", "threshold"}, {"stroke", color}, {"stroke-dasharray", "6 4"}});
    svg.Line(X(t.max_heads()), B, X(t.max_heads()), Y(t.ratio()),
             {{"stroke", color}, {"stroke-dasharray", "2 3"}});
    svg.Text(X(t.max_heads()) + 3, B - 6 - 14 * i, absl::StrCat(t.max_heads()), "start", 11,
             {{"fill", color}, {"font-weight", "bold"}});
    const double ly = T + 16 + 18 * i;
    svg.Line(L + 14, ly - 4, L + 40, ly - 4, {{"stroke", color}, {"stroke-dasharray", "6 4"},
                                              {"stroke-width", "2"}});
    svg.Text(L + 46, ly, absl::StrCat("PPL <= ", TickLabel(t.ratio()), "x baseline: ",
                                      t.max_heads(), " heads (", Fixed(100 * t.fraction(), 1),
                                      "%)"),
             "start", 12);
  }
  return svg.Finish();
}

std::string LayerBarsSvg(const v1::LayerTable& layers, const std::string& subtitle) {
  const int n = std::max(1, layers.rows_size());
  Svg svg(std::max(640.0, 120.0 + 56.0 * n), 500);
  svg.Title("Per-layer importance: dPPL when a head of the layer is ablated", subtitle);
  const double L = 80, R = svg.width() - 30, T = 96, B = 440;
  double lo = 0, hi = 0;
  for (const v1::LayerRow& r : layers.rows()) {
    lo = std::min({lo, 100 * r.mean_delta(), 100 * r.max_delta()});
    hi = std::max({hi, 100 * r.mean_delta(), 100 * r.max_delta()});
  }
  if (hi == lo) hi = lo + 1;
  std::vector<double> ticks = NiceTicks(lo, hi * 1.06, 6);
  lo = std::min(lo, ticks.front());
  hi = std::max(hi * 1.06, ticks.back());
  auto Y = [&](double v) { return B - (B - T) * (v - lo) / (hi - lo); };
  for (double t : ticks) {
    svg.Line(L, Y(t), R, Y(t), {{"stroke", t == 0 ? kAxis : kGrid}});
    svg.Text(L - 8, Y(t) + 4, absl::StrCat(TickLabel(t), "%"), "end", 11);
  }
  svg.Line(L, T, L, B, {{"stroke", kAxis}});
  svg.Line(L, B, R, B, {{"stroke", kAxis}});
  svg.Line(L, Y(0), R, Y(0), {{"stroke", kAxis}});
  const double slot = (R - L) / n;
  for (int i = 0; i < layers.rows_size(); ++i) {
    const v1::LayerRow& r = layers.rows(i);
    const double cx = L + (i + 0.5) * slot, bw = slot * 0.55;
    const double m = 100 * r.mean_delta(), mx = 100 * r.max_delta();
    const std::string tip = absl::StrCat("layer ", r.layer(), ": mean ",
                                         SignedPercent(r.mean_delta(), 2), ", max ",
                                         SignedPercent(r.max_delta(), 2), " (head ",
                                         r.max_head(), ")");
    svg.Rect(cx - bw / 2, std::min(Y(m), Y(0)), bw, std::fabs(Y(m) - Y(0)),
             {{"class", "bar"}, {"fill", m < 0 ? "#67a9cf" : "#4c72b0"}}, tip);
    const double my = Y(mx);
    svg.Element("polygon", {{"class", "max-marker"}, {"fill", "#dd8452"}, {"stroke", "#8a4a1c"},
                            {"points", absl::StrCat(Coord(cx), ",", Coord(my - 6), " ",
                                                    Coord(cx + 6), ",", Coord(my), " ", Coord(cx),
                                                    ",", Coord(my + 6), " ", Coord(cx - 6), ",",
                                                    Coord(my))}},
                "", tip);
    svg.Text(cx + 8, my + 4, absl::StrCat("H", r.max_head()), "start", 10, {{"fill", "#8a4a1c"}});
    svg.Text(cx, B + 18, absl::StrCat(r.layer()), "middle", 11);
  }
  svg.Text((L + R) / 2, B + 44, "layer", "middle", 13);
  svg.Text(26, (T + B) / 2, "dPPL (%)", "middle", 13, {}, -90);
  svg.Rect(R - 250, 62, 14, 12, {{"fill", "#4c72b0"}});
  svg.Text(R - 230, 72, "mean over heads", "start", 11);
  svg.Element("polygon", {{"fill", "#dd8452"}, {"stroke", "#8a4a1c"},
                          {"points", absl::StrCat(Coord(R - 118), ",62 ", Coord(R - 112), ",68 ",
                                                  Coord(R - 118), ",74 ", Coord(R - 124), ",68")}});
  svg.Text(R - 104, 72, "max (label: head)", "start", 11);
  return svg.Finish();
}

}  // namespace ablate::client
