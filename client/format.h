// Text output of the client: aligned Markdown tables, CSV, and number formatting.
// Pure functions and plain values; thread-safe.
#ifndef ABLATE_CLIENT_FORMAT_H_
#define ABLATE_CLIENT_FORMAT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ablate::client {

// --format of the query commands.
enum class Format { kTable, kCsv, kJson };

// "table" | "csv" | "json". Errors: anything else (InvalidArgument).
absl::StatusOr<Format> ParseFormat(const std::string& name);

// One cell: `text` is what a Markdown table shows; `raw` is what CSV carries (full precision,
// fractions not percentages). Numeric cells are right-aligned in Markdown.
struct Cell {
  std::string text;
  std::string raw;
  bool numeric = false;
};

// Where a column appears: both renderings, only the Markdown table (e.g. a bracketed
// interval), or only the CSV (e.g. its two bounds as separate numbers).
enum class Show { kBoth, kMarkdown, kCsv };

// A table with machine keys (CSV header) and human titles (Markdown header).
struct Table {
  std::vector<std::string> keys;
  std::vector<std::string> titles;
  std::vector<std::vector<Cell>> rows;
  std::vector<Show> show;  // Per column; missing entries = kBoth.

  // Appends a row; cells beyond keys.size() are dropped, missing ones are empty.
  void AddRow(std::vector<Cell> row);
};

Cell TextCell(const std::string& s);
Cell IntCell(long long v);
// `text` shows `decimals` fixed decimals; `raw` is the shortest exact round trip.
Cell NumCell(double v, int decimals);
// A fraction shown as a signed percentage ("+12.34%"); raw keeps the fraction.
Cell PercentCell(double fraction, int decimals);

// Shortest decimal that parses back to exactly `v` ("0.1", "24.27", "1e-05"); "nan"/"inf".
std::string ExactNumber(double v);
// Fixed decimals ("24.27").
std::string Fixed(double v, int decimals);
// Signed percentage of a fraction: 0.1234 -> "+12.34%", -0.005 -> "-0.50%".
std::string SignedPercent(double fraction, int decimals);
// Seconds as "1h02m03s", "4m05s", "12.3s".
std::string Duration(double seconds);

// Markdown pipe table with columns padded to equal width; numeric columns right-aligned
// (`---:` in the separator row).
std::string RenderMarkdown(const Table& table);
// RFC 4180 CSV: header of keys, raw values, fields with , " or newlines quoted.
std::string RenderCsv(const Table& table);

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_FORMAT_H_
