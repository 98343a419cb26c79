#include "worker/engine/hf_components.h"

#include <unicode/bytestream.h>
#include <unicode/normalizer2.h>
#include <unicode/stringpiece.h>

#include <array>
#include <utility>

#include "absl/strings/str_replace.h"
#include "worker/engine/pretokenizer.h"

namespace ablate::engine {
namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// ReplaceAll of every regex match by content.
std::string ReplaceMatches(const HfRegex& re, std::string_view text,
                           std::string_view content) {
  std::string out;
  size_t prev = 0;
  re.ForEachMatch(text, [&](size_t begin, size_t end) {
    out.append(text.substr(prev, begin - prev));
    out.append(content);
    prev = end;
  });
  out.append(text.substr(prev));
  return out;
}

// ---- normalizers ----

class UnicodeNormalizer : public HfNormalizer {
 public:
  explicit UnicodeNormalizer(UnicodeForm form) {
    UErrorCode status = U_ZERO_ERROR;
    switch (form) {
      case UnicodeForm::kNfc: n_ = icu::Normalizer2::getNFCInstance(status); break;
      case UnicodeForm::kNfd: n_ = icu::Normalizer2::getNFDInstance(status); break;
      case UnicodeForm::kNfkc: n_ = icu::Normalizer2::getNFKCInstance(status); break;
      case UnicodeForm::kNfkd: n_ = icu::Normalizer2::getNFKDInstance(status); break;
    }
    if (U_FAILURE(status)) n_ = nullptr;
  }
  std::string Normalize(std::string_view text) const override {
    if (n_ == nullptr) return std::string(text);
    UErrorCode status = U_ZERO_ERROR;
    const icu::StringPiece piece(text.data(), static_cast<int32_t>(text.size()));
    if (n_->isNormalizedUTF8(piece, status) && U_SUCCESS(status))
      return std::string(text);
    status = U_ZERO_ERROR;
    std::string out;
    icu::StringByteSink<std::string> sink(&out);
    n_->normalizeUTF8(0, piece, sink, nullptr, status);
    return U_SUCCESS(status) ? out : std::string(text);
  }

 private:
  const icu::Normalizer2* n_ = nullptr;  // owned by ICU
};

class PrependNormalizer : public HfNormalizer {
 public:
  explicit PrependNormalizer(std::string prepend) : prepend_(std::move(prepend)) {}
  std::string Normalize(std::string_view text) const override {
    std::string out = prepend_;
    out.append(text);
    return out;
  }

 private:
  std::string prepend_;
};

class ReplaceNormalizer : public HfNormalizer {
 public:
  ReplaceNormalizer(std::unique_ptr<HfRegex> re, std::string content)
      : re_(std::move(re)), content_(std::move(content)) {}
  std::string Normalize(std::string_view text) const override {
    return ReplaceMatches(*re_, text, content_);
  }

 private:
  std::unique_ptr<HfRegex> re_;
  std::string content_;
};

class SequenceNormalizer : public HfNormalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<HfNormalizer>> parts)
      : parts_(std::move(parts)) {}
  std::string Normalize(std::string_view text) const override {
    std::string out(text);
    for (const auto& part : parts_) out = part->Normalize(out);
    return out;
  }

 private:
  std::vector<std::unique_ptr<HfNormalizer>> parts_;
};

// ---- pre-tokenizers ----

class ByteLevelPreTokenizer : public HfPreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}

  void PreTokenize(std::vector<std::string>* pieces, int) const override {
    std::vector<std::string> out;
    out.reserve(pieces->size());
    for (std::string& piece : *pieces) {
      if (add_prefix_space_ && !StartsWith(piece, " ")) piece.insert(0, " ");
      if (!use_regex_) {
        out.push_back(ToSymbols(piece));
        continue;
      }
      ForEachPreToken(piece, [&out](std::string_view sub) {
        out.push_back(ToSymbols(sub));
      });
    }
    *pieces = std::move(out);
  }

 private:
  static std::string ToSymbols(std::string_view bytes) {
    std::string out;
    out.reserve(bytes.size() * 2);
    for (char c : bytes) out += ByteSymbol(static_cast<unsigned char>(c));
    return out;
  }

  bool add_prefix_space_;
  bool use_regex_;
};

class SplitPreTokenizer : public HfPreTokenizer {
 public:
  explicit SplitPreTokenizer(std::unique_ptr<HfRegex> re) : re_(std::move(re)) {}
  void PreTokenize(std::vector<std::string>* pieces, int) const override {
    std::vector<std::string> out;
    for (const std::string& piece : *pieces) {
      const std::string_view text(piece);
      size_t prev = 0;
      re_->ForEachMatch(text, [&](size_t begin, size_t end) {
        if (prev < begin) out.emplace_back(text.substr(prev, begin - prev));
        if (end > begin) out.emplace_back(text.substr(begin, end - begin));
        prev = end;
      });
      if (prev < text.size()) out.emplace_back(text.substr(prev));
    }
    *pieces = std::move(out);
  }

 private:
  std::unique_ptr<HfRegex> re_;
};

class MetaspacePreTokenizer : public HfPreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme)
      : replacement_(std::move(replacement)), scheme_(scheme) {}
  void PreTokenize(std::vector<std::string>* pieces,
                   int section_index) const override {
    for (std::string& piece : *pieces) {
      std::string normalized = absl::StrReplaceAll(piece, {{" ", replacement_}});
      const bool prepend =
          scheme_ == PrependScheme::kAlways ||
          (scheme_ == PrependScheme::kFirst && section_index == 0);
      if (prepend && !StartsWith(normalized, replacement_))
        normalized.insert(0, replacement_);
      piece = std::move(normalized);
    }
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
};

class SequencePreTokenizer : public HfPreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<HfPreTokenizer>> parts)
      : parts_(std::move(parts)) {}
  void PreTokenize(std::vector<std::string>* pieces,
                   int section_index) const override {
    for (const auto& part : parts_) part->PreTokenize(pieces, section_index);
  }

 private:
  std::vector<std::unique_ptr<HfPreTokenizer>> parts_;
};

}  // namespace

std::unique_ptr<HfNormalizer> MakeUnicodeNormalizer(UnicodeForm form) {
  return std::make_unique<UnicodeNormalizer>(form);
}
std::unique_ptr<HfNormalizer> MakePrependNormalizer(std::string prepend) {
  return std::make_unique<PrependNormalizer>(std::move(prepend));
}
std::unique_ptr<HfNormalizer> MakeReplaceNormalizer(
    std::unique_ptr<HfRegex> pattern, std::string content) {
  return std::make_unique<ReplaceNormalizer>(std::move(pattern), std::move(content));
}
std::unique_ptr<HfNormalizer> MakeSequenceNormalizer(
    std::vector<std::unique_ptr<HfNormalizer>> parts) {
  return std::make_unique<SequenceNormalizer>(std::move(parts));
}
std::unique_ptr<HfPreTokenizer> MakeByteLevelPreTokenizer(bool add_prefix_space,
                                                          bool use_regex) {
  return std::make_unique<ByteLevelPreTokenizer>(add_prefix_space, use_regex);
}
std::unique_ptr<HfPreTokenizer> MakeSplitPreTokenizer(
    std::unique_ptr<HfRegex> pattern) {
  return std::make_unique<SplitPreTokenizer>(std::move(pattern));
}
std::unique_ptr<HfPreTokenizer> MakeMetaspacePreTokenizer(std::string replacement,
                                                          PrependScheme scheme) {
  return std::make_unique<MetaspacePreTokenizer>(std::move(replacement), scheme);
}
std::unique_ptr<HfPreTokenizer> MakeSequencePreTokenizer(
    std::vector<std::unique_ptr<HfPreTokenizer>> parts) {
  return std::make_unique<SequencePreTokenizer>(std::move(parts));
}

std::string SanitizeUtf8(std::string_view text) {
  static constexpr char kReplacement[] = "\xEF\xBF\xBD";
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const unsigned char b0 = static_cast<unsigned char>(text[pos]);
    if (b0 < 0x80) {
      out += static_cast<char>(b0);
      ++pos;
      continue;
    }
    int need = 0;
    unsigned char lower = 0x80, upper = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) need = 1;
    else if (b0 == 0xE0) need = 2, lower = 0xA0;
    else if (b0 == 0xED) need = 2, upper = 0x9F;
    else if (b0 >= 0xE1 && b0 <= 0xEF) need = 2;
    else if (b0 == 0xF0) need = 3, lower = 0x90;
    else if (b0 == 0xF4) need = 3, upper = 0x8F;
    else if (b0 >= 0xF1 && b0 <= 0xF3) need = 3;
    int k = 1;  // bytes of a well-formed prefix
    for (int j = 1; need > 0 && j <= need && pos + j < text.size(); ++j) {
      const unsigned char b = static_cast<unsigned char>(text[pos + j]);
      if (b < (j == 1 ? lower : 0x80) || b > (j == 1 ? upper : 0xBF)) break;
      ++k;
    }
    if (need > 0 && k == need + 1) {
      out.append(text.substr(pos, k));
    } else {
      out += kReplacement;
    }
    pos += k;
  }
  return out;
}

std::string_view TrimJsStart(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    const Utf8Unit u = DecodeUtf8(text, pos);
    if (!u.valid || ClassifyCodePoint(u.code_point) != CharClass::kSpace) break;
    pos += u.length;
  }
  return text.substr(pos);
}

std::string_view TrimJsEnd(std::string_view text) {
  size_t end = text.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80)
      --start;
    const Utf8Unit u = DecodeUtf8(text, start);
    if (!u.valid || start + u.length != end ||
        ClassifyCodePoint(u.code_point) != CharClass::kSpace)
      break;
    end = start;
  }
  return text.substr(0, end);
}

namespace {

std::array<char32_t, 256> ByteToCodePointTable() {
  std::array<char32_t, 256> table{};
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable =
        (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    table[b] = printable ? static_cast<char32_t>(b) : next++;
  }
  return table;
}

}  // namespace

const std::string& ByteSymbol(unsigned char b) {
  static const std::array<std::string, 256>* symbols = [] {
    auto* table = new std::array<std::string, 256>();
    const std::array<char32_t, 256> cps = ByteToCodePointTable();
    for (int i = 0; i < 256; ++i) {
      const char32_t cp = cps[i];
      std::string& s = (*table)[i];
      if (cp < 0x80) {
        s += static_cast<char>(cp);
      } else {
        s += static_cast<char>(0xC0 | (cp >> 6));
        s += static_cast<char>(0x80 | (cp & 0x3F));
      }
    }
    return table;
  }();
  return (*symbols)[b];
}

void AppendByteLevelBytes(std::string_view symbols, std::string* out) {
  static const std::array<int, 324>* to_byte = [] {
    auto* table = new std::array<int, 324>();
    table->fill(-1);
    const std::array<char32_t, 256> cps = ByteToCodePointTable();
    for (int b = 0; b < 256; ++b) (*table)[cps[b]] = b;
    return table;
  }();
  for (size_t pos = 0; pos < symbols.size();) {
    const Utf8Unit u = DecodeUtf8(symbols, pos);
    if (u.valid && u.code_point < 324 && (*to_byte)[u.code_point] >= 0) {
      *out += static_cast<char>((*to_byte)[u.code_point]);
    } else {
      out->append(symbols.substr(pos, u.length));
    }
    pos += u.length;
  }
}

}  // namespace ablate::engine
