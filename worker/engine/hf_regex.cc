#include "worker/engine/hf_regex.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cstdio>
#include <regex>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "worker/engine/pretokenizer.h"

namespace ablate::engine {
namespace {

// Unicode White_Space, as the reference writes \s (\p{White_Space}).
constexpr char kWhiteSpace[] =
    "\\t\\n\\x{0B}\\f\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}"
    "\\x{2029}\\x{202F}\\x{205F}\\x{3000}";
constexpr char kHexDigits[] = "0-9A-Fa-f";
constexpr char kLineStart[] = "(?:(?<![\\s\\S])|(?<=\\n))";
constexpr char kLineEnd[] = "(?:(?=\\n)|(?![\\s\\S]))";

bool IsAsciiLetter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool IsAsciiAlnum(char c) { return IsAsciiLetter(c) || (c >= '0' && c <= '9'); }
bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}

// Rewrites one Oniguruma pattern; see hf_regex.h for the rules.
class Translator {
 public:
  explicit Translator(std::string_view in) : in_(in) {}

  absl::StatusOr<std::string> Run() {
    while (i_ < in_.size()) {
      if (absl::Status s = Step(); !s.ok()) return s;
    }
    if (!groups_.empty()) return Error("unclosed group");
    return out_;
  }

 private:
  absl::Status Error(const std::string& what) const {
    return absl::InvalidArgumentError(absl::StrFormat(
        "regex \"%s\": %s at offset %d is not supported", std::string(in_), what, i_));
  }

  void Atom(std::string_view text) {
    atom_start_ = out_.size();
    out_ += text;
    last_quantifier_ = false;
  }

  // The length of \x{H..}, \xHH or \uHHHH at i_ (0 if none) and its code point.
  size_t HexEscape(char32_t* cp) const {
    std::string_view rest = in_.substr(i_);
    size_t begin, end;
    bool braced = false;
    if (rest.size() >= 4 && rest[1] == 'x' && rest[2] == '{') {
      begin = 3, braced = true;
      end = rest.find('}');
      if (end == std::string_view::npos || end == begin || end > begin + 8)
        return 0;
    } else if (rest.size() >= 4 && rest[1] == 'x') {
      begin = 2, end = 4;
    } else if (rest.size() >= 6 && rest[1] == 'u') {
      begin = 2, end = 6;
    } else {
      return 0;
    }
    uint32_t value = 0;
    for (size_t k = begin; k < end; ++k) {
      if (!IsHex(rest[k])) return 0;
      value = value * 16 + (rest[k] <= '9'   ? rest[k] - '0'
                            : rest[k] <= 'F' ? rest[k] - 'A' + 10
                                             : rest[k] - 'a' + 10);
    }
    *cp = value;
    return braced ? end + 1 : end;
  }

  static std::string CodePoint(char32_t cp) {
    return absl::StrFormat("\\x{%X}", static_cast<uint32_t>(cp));
  }

  std::string Folded(char32_t cp) const {
    if (fold_ && cp < 128 && IsAsciiLetter(static_cast<char>(cp))) {
      const char c = static_cast<char>(cp | 0x20);
      return absl::StrCat("[", std::string(1, c), std::string(1, c - 32), "]");
    }
    return CodePoint(cp);
  }

  absl::Status Escape() {
    char32_t cp;
    if (size_t n = HexEscape(&cp); n > 0) {
      Atom(Folded(cp));
      i_ += n;
      return absl::OkStatus();
    }
    if (i_ + 1 >= in_.size()) return Error("a trailing backslash");
    const char c = in_[i_ + 1];
    if (c == 'p' || c == 'P') return Property();
    std::string rewrite;
    switch (c) {
      case 'n': rewrite = "\\n"; break;
      case 'r': rewrite = "\\r"; break;
      case 't': rewrite = "\\t"; break;
      case 'f': rewrite = "\\f"; break;
      case 'v': rewrite = "\\x{0B}"; break;
      case 'a': rewrite = "\\x{07}"; break;
      case 'e': rewrite = "\\x{1B}"; break;
      case 's': rewrite = absl::StrCat("[", kWhiteSpace, "]"); break;
      case 'S': rewrite = absl::StrCat("[^", kWhiteSpace, "]"); break;
      case 'd': rewrite = "\\p{Nd}"; break;
      case 'D': rewrite = "\\P{Nd}"; break;
      case 'h': rewrite = absl::StrCat("[", kHexDigits, "]"); break;
      case 'H': rewrite = absl::StrCat("[^", kHexDigits, "]"); break;
      case 'A': rewrite = "(?<![\\s\\S])"; break;
      case 'z': rewrite = "(?![\\s\\S])"; break;
      case 'Z': rewrite = "(?=\\n?(?![\\s\\S]))"; break;
      default:
        if (IsAsciiAlnum(c)) return Error(absl::StrCat("escape \\", std::string(1, c)));
        if (static_cast<unsigned char>(c) >= 0x80) return Error("escaped non-ASCII");
        rewrite = absl::StrCat("\\", std::string(1, c));
    }
    Atom(rewrite);
    i_ += 2;
    return absl::OkStatus();
  }

  // \p{..} / \P{..} at i_, passed through (PCRE2 knows categories and scripts).
  absl::Status Property() {
    const size_t close = in_.find('}', i_);
    if (i_ + 2 >= in_.size() || in_[i_ + 2] != '{' || close == std::string_view::npos)
      return Error("\\p without {name}");
    const std::string_view name = in_.substr(i_ + 3, close - i_ - 3);
    for (char c : name) {
      if (!IsAsciiAlnum(c) && c != '_') return Error("this \\p{} name");
    }
    if (name == "Word") return Error("\\p{Word}");
    std::string text(in_.substr(i_, close + 1 - i_));
    if (in_class_) {
      out_ += text;
    } else {
      Atom(text);
    }
    i_ = close + 1;
    return absl::OkStatus();
  }

  absl::Status ClassEscape() {
    char32_t cp;
    if (size_t n = HexEscape(&cp); n > 0) {
      out_ += CodePoint(cp);
      i_ += n;
      return absl::OkStatus();
    }
    if (i_ + 1 >= in_.size()) return Error("a trailing backslash");
    const char c = in_[i_ + 1];
    if (c == 'p' || c == 'P') return Property();
    switch (c) {
      case 'n': out_ += "\\n"; break;
      case 'r': out_ += "\\r"; break;
      case 't': out_ += "\\t"; break;
      case 'f': out_ += "\\f"; break;
      case 'v': out_ += "\\x{0B}"; break;
      case 'a': out_ += "\\x{07}"; break;
      case 'e': out_ += "\\x{1B}"; break;
      case 's': out_ += kWhiteSpace; break;
      case 'd': out_ += "\\p{Nd}"; break;
      case 'D': out_ += "\\P{Nd}"; break;
      case 'h': out_ += kHexDigits; break;
      default:
        if (IsAsciiAlnum(c))
          return Error(absl::StrCat("escape \\", std::string(1, c), " in a class"));
        if (static_cast<unsigned char>(c) >= 0x80) return Error("escaped non-ASCII");
        out_ += absl::StrCat("\\", std::string(1, c));
    }
    i_ += 2;
    return absl::OkStatus();
  }

  absl::Status Class() {
    const size_t start = out_.size();
    in_class_ = true;
    out_ += '[';
    ++i_;
    if (i_ < in_.size() && in_[i_] == '^') {
      out_ += '^';
      ++i_;
    }
    bool first = true;
    while (true) {
      if (i_ >= in_.size()) return Error("an unclosed class");
      const char c = in_[i_];
      if (c == ']' && !first) break;
      first = false;
      if (c == '\\') {
        if (absl::Status s = ClassEscape(); !s.ok()) return s;
        continue;
      }
      if (c == '[') return Error("a nested class or POSIX bracket");
      if (c == '&' && i_ + 1 < in_.size() && in_[i_ + 1] == '&')
        return Error("a class intersection");
      if (fold_ && IsAsciiLetter(c)) return Error("a letter in a class under (?i:");
      if (c == ']') {
        out_ += "\\]";
      } else {
        out_ += c;
      }
      ++i_;
    }
    ++i_;
    out_ += ']';
    in_class_ = false;
    atom_start_ = start;
    last_quantifier_ = false;
    return absl::OkStatus();
  }

  absl::Status Group() {
    const std::string_view rest = in_.substr(i_);
    std::string_view prefix = "(";
    std::string_view emit = "(";
    bool fold = fold_;
    for (std::string_view p : {"(?:", "(?=", "(?!", "(?<=", "(?<!"}) {
      if (rest.substr(0, p.size()) == p) prefix = emit = p;
    }
    if (rest.substr(0, 4) == "(?i:") {
      prefix = "(?i:", emit = "(?:", fold = true;
    } else if (rest.substr(0, 3) == "(?>") {
      prefix = "(?>", emit = "(?:";
    } else if (prefix == "(" && rest.size() > 1 && rest[1] == '?') {
      return Error("this group kind or inline flag");
    }
    groups_.push_back({out_.size(), fold_});
    fold_ = fold;
    out_ += emit;
    last_quantifier_ = false;
    i_ += prefix.size();
    return absl::OkStatus();
  }

  absl::Status Brace() {
    static const std::regex kQuantifier(R"(^\{(\d+(?:,\d*)?|,\d+)\})");
    const std::string rest(in_.substr(i_, 32));
    std::smatch m;
    if (!std::regex_search(rest, m, kQuantifier) || atom_start_ == std::string::npos) {
      Atom("\\{");
      ++i_;
      return absl::OkStatus();
    }
    std::string body = m[1].str();
    if (body[0] == ',') body = "0" + body;
    i_ += m[0].length();
    if (i_ < in_.size() && (in_[i_] == '+' || in_[i_] == '*')) {
      out_ = absl::StrCat(out_.substr(0, atom_start_), "(?:",
                          out_.substr(atom_start_), "{", body, "})",
                          std::string(1, in_[i_]));
      ++i_;
    } else {
      out_ += absl::StrCat("{", body, "}");
    }
    last_quantifier_ = true;
    return absl::OkStatus();
  }

  absl::Status Step() {
    const char c = in_[i_];
    switch (c) {
      case '\\': return Escape();
      case '[': return Class();
      case ']': Atom("\\]"); ++i_; return absl::OkStatus();
      case '.': Atom("[^\\n]"); ++i_; return absl::OkStatus();
      case '^': Atom(kLineStart); ++i_; return absl::OkStatus();
      case '$': Atom(kLineEnd); ++i_; return absl::OkStatus();
      case '(': return Group();
      case ')':
        if (groups_.empty()) return Error("an unmatched ')'");
        out_ += ')';
        atom_start_ = groups_.back().first;
        fold_ = groups_.back().second;
        groups_.pop_back();
        last_quantifier_ = false;
        ++i_;
        return absl::OkStatus();
      case '|':
        out_ += '|';
        atom_start_ = std::string::npos;
        last_quantifier_ = false;
        ++i_;
        return absl::OkStatus();
      case '{': return Brace();
      case '}': Atom("\\}"); ++i_; return absl::OkStatus();
      case '+':
        if (!last_quantifier_) out_ += '+';
        last_quantifier_ = true;
        ++i_;
        return absl::OkStatus();
      case '*':
      case '?':
        out_ += c;
        last_quantifier_ = true;
        ++i_;
        return absl::OkStatus();
      default: {
        const Utf8Unit u = DecodeUtf8(in_, i_);
        if (!u.valid) return Error("a byte that is not UTF-8");
        Atom(u.code_point < 128 && !fold_ && IsAsciiAlnum(c)
                 ? std::string(1, c)
                 : Folded(u.code_point));
        i_ += u.length;
        return absl::OkStatus();
      }
    }
  }

  std::string_view in_;
  size_t i_ = 0;
  std::string out_;
  size_t atom_start_ = std::string::npos;
  bool last_quantifier_ = false;
  bool fold_ = false;
  bool in_class_ = false;
  std::vector<std::pair<size_t, bool>> groups_;  // (output start, outer fold)
};

// Per-thread match data and JIT stack.
struct MatchScratch {
  MatchScratch() {
    data = pcre2_match_data_create(1, nullptr);
    stack = pcre2_jit_stack_create(32 * 1024, 64 * 1024 * 1024, nullptr);
    context = pcre2_match_context_create(nullptr);
    pcre2_jit_stack_assign(context, nullptr, stack);
  }
  ~MatchScratch() {
    pcre2_match_context_free(context);
    pcre2_jit_stack_free(stack);
    pcre2_match_data_free(data);
  }
  pcre2_match_data* data;
  pcre2_jit_stack* stack;
  pcre2_match_context* context;
};

}  // namespace

absl::StatusOr<std::string> TranslateOniguruma(std::string_view pattern) {
  return Translator(pattern).Run();
}

absl::StatusOr<std::unique_ptr<HfRegex>> HfRegex::Compile(
    std::string pattern, std::string_view source) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(
      reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
      PCRE2_UTF | PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C, &error, &offset, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(error, message, sizeof(message));
    return absl::InvalidArgumentError(absl::StrFormat(
        "regex \"%s\": PCRE2 rejects its translation \"%s\" at offset %d: %s",
        std::string(source), pattern, offset, reinterpret_cast<const char*>(message)));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to interpreting
  std::unique_ptr<HfRegex> re(new HfRegex());
  re->pattern_ = std::move(pattern);
  re->code_ = code;
  return re;
}

absl::StatusOr<std::unique_ptr<HfRegex>> HfRegex::FromOniguruma(
    std::string_view pattern) {
  absl::StatusOr<std::string> translated = TranslateOniguruma(pattern);
  if (!translated.ok()) return translated.status();
  return Compile(*std::move(translated), pattern);
}

absl::StatusOr<std::unique_ptr<HfRegex>> HfRegex::FromLiteral(
    std::string_view literal) {
  if (literal.empty()) {
    return absl::InvalidArgumentError("an empty String pattern is not supported");
  }
  std::string quoted;
  for (char c : literal) {
    if (IsAsciiAlnum(c) || static_cast<unsigned char>(c) >= 0x80) {
      quoted += c;
    } else {
      quoted += absl::StrFormat("\\x{%X}", static_cast<unsigned char>(c));
    }
  }
  return Compile(std::move(quoted), literal);
}

HfRegex::~HfRegex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

void HfRegex::ForEachMatch(std::string_view text,
                           const std::function<void(size_t, size_t)>& fn) const {
  thread_local MatchScratch scratch;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  while (pos <= text.size()) {
    const int rc = pcre2_match(static_cast<pcre2_code*>(code_), subject,
                               text.size(), pos, PCRE2_NO_UTF_CHECK,
                               scratch.data, scratch.context);
    if (rc == PCRE2_ERROR_NOMATCH) return;
    if (rc < 0) {
      std::fprintf(stderr,
                   "warning: regex \"%s\" failed (PCRE2 error %d) at byte %zu; "
                   "the rest of the text is one piece\n",
                   pattern_.c_str(), rc, pos);
      if (pos < text.size()) fn(pos, text.size());
      return;
    }
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(scratch.data);
    const size_t begin = ovector[0];
    const size_t end = ovector[1];
    fn(begin, end);
    if (end > begin) {
      pos = end;
    } else if (end >= text.size()) {
      return;
    } else {
      pos = end + DecodeUtf8(text, end).length;
    }
  }
}

}  // namespace ablate::engine
