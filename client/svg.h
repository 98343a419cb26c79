// A small SVG writer and the scales the figures share (nice ticks, log ticks, a diverging
// colour map). Pure functions and a value-type builder; thread-compatible.
#ifndef ABLATE_CLIENT_SVG_H_
#define ABLATE_CLIENT_SVG_H_

#include <string>
#include <utility>
#include <vector>

namespace ablate::client {

// &, <, >, " and ' escaped for text and attribute values.
std::string XmlEscape(const std::string& s);

// Number for coordinates: at most 2 decimals, no trailing zeros.
std::string Coord(double v);

using Attrs = std::vector<std::pair<std::string, std::string>>;

// Builds one standalone SVG document (white background, sans-serif text).
class Svg {
 public:
  Svg(double width, double height);

  // <name attrs/> or <name attrs>escaped text</name>. `title` adds a <title> child (tooltip).
  void Element(const std::string& name, const Attrs& attrs, const std::string& text = "",
               const std::string& title = "");
  void Rect(double x, double y, double w, double h, const Attrs& attrs,
            const std::string& title = "");
  void Line(double x1, double y1, double x2, double y2, const Attrs& attrs);
  // Text anchored per `anchor` ("start" | "middle" | "end"); `rotate` degrees about (x, y).
  void Text(double x, double y, const std::string& text, const std::string& anchor = "start",
            double size = 12, const Attrs& extra = {}, double rotate = 0);
  void Raw(const std::string& xml);  // Caller guarantees well-formed XML.
  // Title centred at the top, optional subtitle below it.
  void Title(const std::string& title, const std::string& subtitle);

  std::string Finish() const;  // The document, "<?xml ...?><svg ...>...</svg>\n".

  double width() const { return width_; }
  double height() const { return height_; }

 private:
  double width_, height_;
  std::string body_;
};

// About `target` round ticks (1, 2, 2.5, 5 x 10^k steps) covering [lo, hi], ascending.
std::vector<double> NiceTicks(double lo, double hi, int target = 6);

// Ticks for a log axis over [lo, hi] (lo > 0): powers of ten beyond 3.5 decades, 1-2-5 per
// decade for wide ranges, round linear steps under ~5x; at most ~12.
std::vector<double> LogTicks(double lo, double hi);

// Compact tick label: "0.5", "2", "1.5", "10000"; exponent style ("1e+06") beyond 1e6.
std::string TickLabel(double v);

// Symmetric log scale of v into [-1, 1]: sign(v) * log1p(|v|/lin) / log1p(vmax/lin).
double SymLog(double v, double vmax, double lin);

// Diverging colour (blue - near white - red) for s in [-1, 1], "#rrggbb".
std::string DivergingColor(double s);

// Whether a colour (as from DivergingColor) needs white text on it.
bool IsDark(const std::string& hex);

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_SVG_H_
