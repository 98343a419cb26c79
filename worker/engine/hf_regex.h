// Regular expressions of a Hugging Face tokenizer.json ("pattern": {"Regex":
// ...} or {"String": ...}), matched the way the reference JavaScript port
// (npm @huggingface/tokenizers) matches them.
//
// The files are written for the Rust crate, whose regex engine is Oniguruma.
// The reference rewrites each pattern into a JavaScript RegExp with flags "gu";
// TranslateOniguruma rewrites it, construct by construct in the same way, into
// a PCRE2 pattern compiled with UTF and UCP (Unicode properties for \p{..}):
//   \s, \S      -> the Unicode White_Space set (not JS \s: U+0085 yes, U+FEFF
//                  no), and its complement
//   \d, \D      -> \p{Nd}, \P{Nd};  \h, \H -> [0-9A-Fa-f] and its complement
//   .           -> [^\n];  ^, $ -> line anchors that know only \n
//   \A \z \Z    -> absolute anchors;  \v \a \e \uHHHH -> the single characters
//   (?i:...)    -> ASCII-only case folding of the letters in it
//   (?>...)     -> a plain group;  X{n}+ and X{n}* -> (?:X{n})+ / (?:X{n})*;
//   a possessive '+' after a quantifier is dropped (as the reference does)
// Constructs the reference rewrites in ways not reproduced here (\w, \b, \G,
// POSIX brackets, nested classes, &&, back-references, letters in a class under
// (?i:), inline flags other than (?i:) are an InvalidArgument error naming the
// construct, so a file is never tokenized with a silently different pattern.
// Unicode data: PCRE2 (Debian 12: 10.42, Unicode 14) versus the reference's
// Node (Unicode 15+): classes differ only on code points assigned since.
//
// Thread-safety: a compiled HfRegex is immutable; ForEachMatch may be called
// concurrently (match data is per thread).
#ifndef ABLATE_WORKER_ENGINE_HF_REGEX_H_
#define ABLATE_WORKER_ENGINE_HF_REGEX_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace ablate::engine {

// The PCRE2 pattern for an Oniguruma pattern, or InvalidArgument naming the
// unsupported construct and its byte offset.
absl::StatusOr<std::string> TranslateOniguruma(std::string_view pattern);

class HfRegex {
 public:
  // A pattern of a tokenizer.json "Regex" (Oniguruma syntax).
  static absl::StatusOr<std::unique_ptr<HfRegex>> FromOniguruma(
      std::string_view pattern);
  // A literal string ("String" patterns); must not be empty.
  static absl::StatusOr<std::unique_ptr<HfRegex>> FromLiteral(
      std::string_view literal);

  ~HfRegex();
  HfRegex(const HfRegex&) = delete;
  HfRegex& operator=(const HfRegex&) = delete;

  // Calls fn(begin, end) with the byte range of each match in text, left to
  // right, as JavaScript's text.matchAll(re) with flags "gu": after an empty
  // match the search resumes one code point later. text must be valid UTF-8.
  // If the regex engine fails (resource limits), the rest of the text is
  // reported as one match and a warning goes to stderr.
  void ForEachMatch(std::string_view text,
                    const std::function<void(size_t, size_t)>& fn) const;

  // The PCRE2 pattern in use (for tests and error messages).
  const std::string& pcre2_pattern() const { return pattern_; }

 private:
  HfRegex() = default;
  static absl::StatusOr<std::unique_ptr<HfRegex>> Compile(std::string pattern,
                                                          std::string_view source);

  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8*
};

}  // namespace ablate::engine

#endif  // ABLATE_WORKER_ENGINE_HF_REGEX_H_
