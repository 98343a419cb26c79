#include "client/format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ablate::client {
namespace {

// Display width of UTF-8 text: counts code points, not bytes.
size_t Width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string Pad(const std::string& s, size_t width, bool right) {
  const std::string fill(width > Width(s) ? width - Width(s) : 0, ' ');
  return right ? fill + s : s + fill;
}

std::string EscapeMarkdownCell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += "\\|";
    else if (c == '\n') out += ' ';
    else out += c;
  }
  return out;
}

std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

}  // namespace

absl::StatusOr<Format> ParseFormat(const std::string& name) {
  if (name == "table") return Format::kTable;
  if (name == "csv") return Format::kCsv;
  if (name == "json") return Format::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("--format must be table, csv or json, got '", name, "'"));
}

void Table::AddRow(std::vector<Cell> row) {
  row.resize(keys.size());
  rows.push_back(std::move(row));
}

Cell TextCell(const std::string& s) { return {s, s, false}; }
Cell IntCell(long long v) { return {absl::StrCat(v), absl::StrCat(v), true}; }
Cell NumCell(double v, int decimals) { return {Fixed(v, decimals), ExactNumber(v), true}; }
Cell PercentCell(double fraction, int decimals) {
  return {SignedPercent(fraction, decimals), ExactNumber(fraction), true};
}

std::string ExactNumber(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[40];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string Fixed(double v, int decimals) {
  if (!std::isfinite(v)) return ExactNumber(v);
  std::string s = absl::StrFormat("%.*f", decimals, v);
  if (s.find_first_not_of("-0.") == std::string::npos && s[0] == '-') s.erase(0, 1);  // -0.00
  return s;
}

std::string SignedPercent(double fraction, int decimals) {
  if (!std::isfinite(fraction)) return ExactNumber(fraction);
  std::string s = Fixed(100.0 * fraction, decimals);
  if (s[0] != '-') s = "+" + s;
  return s + "%";
}

std::string Duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  if (seconds < 60) return absl::StrFormat("%.1fs", seconds);
  const long long s = std::llround(seconds);
  if (s < 3600) return absl::StrFormat("%dm%02ds", s / 60, s % 60);
  return absl::StrFormat("%dh%02dm%02ds", s / 3600, (s / 60) % 60, s % 60);
}

namespace {

// `table` without the columns whose Show is `drop`.
Table Without(const Table& table, Show drop) {
  if (table.show.empty()) return table;
  Table out;
  std::vector<size_t> keep;
  for (size_t c = 0; c < table.keys.size(); ++c) {
    if (c < table.show.size() && table.show[c] == drop) continue;
    keep.push_back(c);
    out.keys.push_back(table.keys[c]);
    if (c < table.titles.size()) out.titles.push_back(table.titles[c]);
  }
  for (const auto& row : table.rows) {
    std::vector<Cell> cells;
    for (size_t c : keep) cells.push_back(c < row.size() ? row[c] : Cell{});
    out.rows.push_back(std::move(cells));
  }
  return out;
}

}  // namespace

std::string RenderMarkdown(const Table& all) {
  const Table table = Without(all, Show::kCsv);
  const size_t n = table.keys.size();
  std::vector<size_t> width(n, 3);
  std::vector<bool> right(n, false);
  for (size_t c = 0; c < n; ++c) {
    const std::string& t = c < table.titles.size() ? table.titles[c] : table.keys[c];
    width[c] = std::max(width[c], Width(EscapeMarkdownCell(t)));
    for (const auto& row : table.rows) {
      width[c] = std::max(width[c], Width(EscapeMarkdownCell(row[c].text)));
      right[c] = right[c] || row[c].numeric;
    }
  }
  std::string out = "|";
  for (size_t c = 0; c < n; ++c) {
    const std::string& t = c < table.titles.size() ? table.titles[c] : table.keys[c];
    absl::StrAppend(&out, " ", Pad(EscapeMarkdownCell(t), width[c], right[c]), " |");
  }
  out += "\n|";
  for (size_t c = 0; c < n; ++c) {
    absl::StrAppend(&out, " ", std::string(width[c] - (right[c] ? 1 : 0), '-'),
                    right[c] ? ":" : "", " |");
  }
  out += "\n";
  for (const auto& row : table.rows) {
    out += "|";
    for (size_t c = 0; c < n; ++c) {
      absl::StrAppend(&out, " ", Pad(EscapeMarkdownCell(row[c].text), width[c], right[c]), " |");
    }
    out += "\n";
  }
  return out;
}

std::string RenderCsv(const Table& all) {
  const Table table = Without(all, Show::kMarkdown);
  std::string out;
  for (size_t c = 0; c < table.keys.size(); ++c) {
    absl::StrAppend(&out, c ? "," : "", CsvField(table.keys[c]));
  }
  out += "\n";
  for (const auto& row : table.rows) {
    for (size_t c = 0; c < row.size(); ++c) absl::StrAppend(&out, c ? "," : "", CsvField(row[c].raw));
    out += "\n";
  }
  return out;
}

}  // namespace ablate::client
