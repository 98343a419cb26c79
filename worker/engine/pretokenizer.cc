#include "worker/engine/pretokenizer.h"

#include <algorithm>
#include <array>

#include "worker/engine/unicode_tables.h"

namespace ablate::engine {
namespace {

bool InRanges(char32_t cp, const CodePointRange* ranges, size_t size) {
  const CodePointRange* end = ranges + size;
  const CodePointRange* it = std::upper_bound(
      ranges, end, cp,
      [](char32_t c, const CodePointRange& r) { return c < r.first; });
  return it != ranges && cp <= (it - 1)->last;
}

bool IsJsSpace(char32_t cp) {
  if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
  if (cp < 0xA0) return false;
  return cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000 || cp == 0xFEFF;
}

CharClass ClassifySlow(char32_t cp) {
  if (IsJsSpace(cp)) return CharClass::kSpace;
  if (InRanges(cp, kLetterRanges, kLetterRangesSize)) return CharClass::kLetter;
  if (InRanges(cp, kNumberRanges, kNumberRangesSize)) return CharClass::kNumber;
  return CharClass::kOther;
}

// Classes of the ASCII code points, computed once.
const std::array<CharClass, 128>& AsciiClasses() {
  static const std::array<CharClass, 128> table = [] {
    std::array<CharClass, 128> t{};
    for (char32_t cp = 0; cp < 128; ++cp) t[cp] = ClassifySlow(cp);
    return t;
  }();
  return table;
}

struct Unit {
  CharClass cls;
  size_t length;
};

Unit UnitAt(std::string_view text, size_t pos) {
  const unsigned char b = static_cast<unsigned char>(text[pos]);
  if (b < 0x80) return {AsciiClasses()[b], 1};
  const Utf8Unit u = DecodeUtf8(text, pos);
  return {u.valid ? ClassifySlow(u.code_point) : CharClass::kOther,
          static_cast<size_t>(u.length)};
}

// The end of the maximal run of units of class cls starting at pos.
size_t RunEnd(std::string_view text, size_t pos, CharClass cls) {
  while (pos < text.size()) {
    const Unit u = UnitAt(text, pos);
    if (u.cls != cls) break;
    pos += u.length;
  }
  return pos;
}

// 's|'t|'re|'ve|'m|'ll|'d (case-sensitive): the match length, or 0.
size_t ContractionLength(std::string_view text, size_t pos) {
  if (text[pos] != '\'') return 0;
  static constexpr std::string_view kSuffixes[] = {"s", "t",  "re", "ve",
                                                   "m", "ll", "d"};
  const std::string_view rest = text.substr(pos + 1);
  for (std::string_view suffix : kSuffixes) {
    if (rest.substr(0, suffix.size()) == suffix) return 1 + suffix.size();
  }
  return 0;
}

// \s+(?!\S)|\s+ at a whitespace unit: the whole run if it ends the text or is
// one unit long, otherwise the run without its last unit (which then prefixes
// the next piece or stands alone).
size_t WhitespaceLength(std::string_view text, size_t pos) {
  size_t end = pos;
  size_t last = pos;
  while (end < text.size()) {
    const Unit u = UnitAt(text, end);
    if (u.cls != CharClass::kSpace) break;
    last = end;
    end += u.length;
  }
  if (end == text.size() || last == pos) return end - pos;
  return last - pos;
}

}  // namespace

CharClass ClassifyCodePoint(char32_t cp) {
  return cp < 128 ? AsciiClasses()[cp] : ClassifySlow(cp);
}

Utf8Unit DecodeUtf8(std::string_view text, size_t pos) {
  const unsigned char b0 = static_cast<unsigned char>(text[pos]);
  const Utf8Unit invalid{b0, 1, false};
  if (b0 < 0x80) return {b0, 1, true};
  int length;
  char32_t cp;
  char32_t min;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    length = 3, cp = b0 & 0x0F, min = 0x800;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return invalid;
  }
  if (pos + length > text.size()) return invalid;
  for (int i = 1; i < length; ++i) {
    const unsigned char b = static_cast<unsigned char>(text[pos + i]);
    if ((b & 0xC0) != 0x80) return invalid;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return invalid;
  return {cp, length, true};
}

size_t PreTokenLength(std::string_view text, size_t pos) {
  if (const size_t n = ContractionLength(text, pos); n > 0) return n;
  // " ?X+" for X in {\p{L}, \p{N}, [^\s\p{L}\p{N}]}: an ASCII space joins the
  // run after it.
  if (text[pos] == ' ' && pos + 1 < text.size()) {
    const CharClass next = UnitAt(text, pos + 1).cls;
    if (next != CharClass::kSpace) return RunEnd(text, pos + 1, next) - pos;
  }
  const Unit first = UnitAt(text, pos);
  if (first.cls != CharClass::kSpace) return RunEnd(text, pos, first.cls) - pos;
  return WhitespaceLength(text, pos);
}

std::vector<std::string_view> PreTokenize(std::string_view text) {
  std::vector<std::string_view> pieces;
  ForEachPreToken(
      text, [&pieces](std::string_view piece) { pieces.push_back(piece); });
  return pieces;
}

}  // namespace ablate::engine
