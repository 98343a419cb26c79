// The GPT-2 pre-tokenizer: splits text into the pieces that byte-level BPE
// encodes one by one.
//
// The reference (OpenAI's encoder, npm gpt-3-encoder 1.1.4) applies the
// JavaScript regex
//   /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+|
//   ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu
// to the text. This is a hand-written matcher for exactly that regex over UTF-8
// code points. Bytes that are not well-formed UTF-8 (stray continuation bytes,
// truncated or overlong sequences, surrogates, values above U+10FFFF) are each
// one symbol of class kOther, so they join punctuation runs, and every byte of
// the input lands in exactly one piece. (Node would have replaced them by
// U+FFFD when reading a file, also class kOther.)
//
// Thread-safety: pure functions.
#ifndef ABLATE_WORKER_ENGINE_PRETOKENIZER_H_
#define ABLATE_WORKER_ENGINE_PRETOKENIZER_H_

#include <cstddef>
#include <string_view>
#include <vector>

namespace ablate::engine {

// How the pre-tokenizer regex sees one code point.
enum class CharClass : unsigned char {
  kLetter,  // \p{L}
  kNumber,  // \p{N}
  kSpace,   // JavaScript \s
  kOther,   // everything else: [^\s\p{L}\p{N}]
};

// Classifies a code point. JavaScript \s is exactly U+0009..U+000D, U+0020,
// U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 and
// U+FEFF (not U+0085 nor U+001C..U+001F, unlike Python's \s). L and N come from
// unicode_tables.h.
CharClass ClassifyCodePoint(char32_t cp);

// One unit of UTF-8 input: a code point, or a single byte that is not
// well-formed UTF-8.
struct Utf8Unit {
  char32_t code_point;  // for an invalid byte: the byte value
  int length;           // bytes consumed, 1..4
  bool valid;
};

// Decodes the unit starting at text[pos]; requires pos < text.size(). Strict
// RFC 3629.
Utf8Unit DecodeUtf8(std::string_view text, size_t pos);

// The length in bytes (> 0) of the piece that starts at text[pos]; requires pos
// < text.size().
size_t PreTokenLength(std::string_view text, size_t pos);

// Calls fn(std::string_view piece) for each piece of text in order; the pieces
// concatenate to text.
template <typename Fn>
void ForEachPreToken(std::string_view text, Fn&& fn) {
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t n = PreTokenLength(text, pos);
    fn(text.substr(pos, n));
    pos += n;
  }
}

// The pieces of text, in order (views into text).
std::vector<std::string_view> PreTokenize(std::string_view text);

}  // namespace ablate::engine

#endif  // ABLATE_WORKER_ENGINE_PRETOKENIZER_H_
