#include "client/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ablate::client {
namespace {

struct Rgb {
  double r, g, b;
};

// RdBu-style stops at s = -1, -0.5, 0, 0.5, 1.
constexpr Rgb kStops[] = {{33, 102, 172}, {103, 169, 207}, {247, 247, 247},
                          {239, 138, 98}, {178, 24, 43}};

std::string AttrString(const Attrs& attrs) {
  std::string out;
  for (const auto& [k, v] : attrs) absl::StrAppend(&out, " ", k, "=\"", XmlEscape(v), "\"");
  return out;
}

}  // namespace

std::string XmlEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Coord(double v) {
  if (!std::isfinite(v)) return "0";
  std::string s = absl::StrFormat("%.2f", v);
  while (!s.empty() && s.back() == '0') s.pop_back();
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s == "-0" ? "0" : s;
}

Svg::Svg(double width, double height) : width_(width), height_(height) {}

void Svg::Element(const std::string& name, const Attrs& attrs, const std::string& text,
                  const std::string& title) {
  absl::StrAppend(&body_, "<", name, AttrString(attrs));
  if (text.empty() && title.empty()) {
    absl::StrAppend(&body_, "/>\n");
    return;
  }
  absl::StrAppend(&body_, ">");
  if (!title.empty()) absl::StrAppend(&body_, "<title>", XmlEscape(title), "</title>");
  absl::StrAppend(&body_, XmlEscape(text), "</", name, ">\n");
}

void Svg::Rect(double x, double y, double w, double h, const Attrs& attrs,
               const std::string& title) {
  Attrs all = {{"x", Coord(x)}, {"y", Coord(y)}, {"width", Coord(std::max(0.0, w))},
               {"height", Coord(std::max(0.0, h))}};
  all.insert(all.end(), attrs.begin(), attrs.end());
  Element("rect", all, "", title);
}

void Svg::Line(double x1, double y1, double x2, double y2, const Attrs& attrs) {
  Attrs all = {{"x1", Coord(x1)}, {"y1", Coord(y1)}, {"x2", Coord(x2)}, {"y2", Coord(y2)}};
  all.insert(all.end(), attrs.begin(), attrs.end());
  Element("line", all);
}

void Svg::Text(double x, double y, const std::string& text, const std::string& anchor,
               double size, const Attrs& extra, double rotate) {
  Attrs all = {{"x", Coord(x)}, {"y", Coord(y)}, {"font-size", Coord(size)},
               {"text-anchor", anchor}};
  if (rotate != 0) {
    all.push_back({"transform", absl::StrCat("rotate(", Coord(rotate), " ", Coord(x), " ",
                                             Coord(y), ")")});
  }
  all.insert(all.end(), extra.begin(), extra.end());
  Element("text", all, text.empty() ? " " : text);
}

void Svg::Raw(const std::string& xml) { body_ += xml; }

void Svg::Title(const std::string& title, const std::string& subtitle) {
  Text(width_ / 2, 28, title, "middle", 18, {{"font-weight", "bold"}, {"class", "title"}});
  if (!subtitle.empty()) Text(width_ / 2, 48, subtitle, "middle", 12, {{"fill", "#555"}});
}

std::string Svg::Finish() const {
  return absl::StrCat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n",
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"", Coord(width_), "\" height=\"",
      Coord(height_), "\" viewBox=\"0 0 ", Coord(width_), " ", Coord(height_),
      "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n",
      "<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"white\"/>\n", body_,
      "</svg>\n");
}

std::vector<double> NiceTicks(double lo, double hi, int target) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) return {};
  if (hi < lo) std::swap(lo, hi);
  if (hi == lo) return {lo};
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag * 10;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  }
  std::vector<double> ticks;
  const long long first = static_cast<long long>(std::ceil(lo / step - 1e-9));
  const long long last = static_cast<long long>(std::floor(hi / step + 1e-9));
  for (long long i = first; i <= last; ++i) ticks.push_back(i == 0 ? 0.0 : i * step);
  return ticks;
}

std::vector<double> LogTicks(double lo, double hi) {
  if (!(lo > 0) || !(hi > lo)) return {lo};
  const double span = std::log10(hi / lo);
  if (span < 0.7) {  // Under ~5x the axis is nearly linear: round linear steps read best.
    std::vector<double> ticks;
    for (double t : NiceTicks(lo, hi, 8)) {
      if (t > 0) ticks.push_back(t);
    }
    return ticks;
  }
  const std::vector<double> mults = span > 3.5   ? std::vector<double>{1}
                                    : span > 1.7 ? std::vector<double>{1, 2, 5}
                                                 : std::vector<double>{1, 1.5, 2, 3, 5, 7};
  std::vector<double> ticks;
  for (int e = static_cast<int>(std::floor(std::log10(lo))) - 1;
       e <= static_cast<int>(std::ceil(std::log10(hi))); ++e) {
    for (double m : mults) {
      const double t = m * std::pow(10.0, e);
      if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) ticks.push_back(t);
    }
  }
  while (ticks.size() > 12) {  // Thin evenly, keeping the first.
    std::vector<double> half;
    for (size_t i = 0; i < ticks.size(); i += 2) half.push_back(ticks[i]);
    ticks.swap(half);
  }
  return ticks;
}

std::string TickLabel(double v) {
  if (v != 0 && (std::fabs(v) >= 1e6 || std::fabs(v) < 1e-3)) return absl::StrFormat("%.0e", v);
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

double SymLog(double v, double vmax, double lin) {
  if (!(vmax > 0) || !(lin > 0) || !std::isfinite(v)) return 0.0;
  const double s = std::log1p(std::fabs(v) / lin) / std::log1p(vmax / lin);
  return std::clamp(v < 0 ? -s : s, -1.0, 1.0);
}

std::string DivergingColor(double s) {
  s = std::clamp(std::isfinite(s) ? s : 0.0, -1.0, 1.0);
  const double pos = (s + 1.0) * 2.0;  // 0..4 across the 5 stops.
  const int i = std::min(3, static_cast<int>(std::floor(pos)));
  const double f = pos - i;
  const Rgb& a = kStops[i];
  const Rgb& b = kStops[i + 1];
  auto mix = [f](double x, double y) { return static_cast<int>(std::lround(x + (y - x) * f)); };
  return absl::StrFormat("#%02x%02x%02x", mix(a.r, b.r), mix(a.g, b.g), mix(a.b, b.b));
}

bool IsDark(const std::string& hex) {
  if (hex.size() != 7 || hex[0] != '#') return false;
  const long v = std::strtol(hex.c_str() + 1, nullptr, 16);
  const double lum = 0.299 * ((v >> 16) & 255) + 0.587 * ((v >> 8) & 255) + 0.114 * (v & 255);
  return lum < 140;
}

}  // namespace ablate::client
