// The pieces of a Hugging Face tokenizer.json pipeline that this engine
// implements, each behaving as its counterpart in the reference JavaScript
// port (npm @huggingface/tokenizers). Strings are UTF-8 and, on input, valid
// (HfTokenizer replaces bytes that are not UTF-8 first).
//
//   normalizers:    NFC NFD NFKC NFKD (ICU), Prepend, Replace, Sequence
//   pre-tokenizers: ByteLevel, Split, Metaspace, Sequence
//   decoders:       ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip,
//                   Sequence
// Loading (hf_tokenizer_load.cc) turns any other type, and any option whose
// effect is not implemented, into an error naming the field.
//
// Thread-safety: immutable after construction.
#ifndef ABLATE_WORKER_ENGINE_HF_COMPONENTS_H_
#define ABLATE_WORKER_ENGINE_HF_COMPONENTS_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "worker/engine/hf_regex.h"

namespace ablate::engine {

// ---- normalizers: text -> text ----
class HfNormalizer {
 public:
  virtual ~HfNormalizer() = default;
  virtual std::string Normalize(std::string_view text) const = 0;
};

enum class UnicodeForm { kNfc, kNfd, kNfkc, kNfkd };
std::unique_ptr<HfNormalizer> MakeUnicodeNormalizer(UnicodeForm form);
// prepend + text.
std::unique_ptr<HfNormalizer> MakePrependNormalizer(std::string prepend);
// Every match of pattern replaced by content (no '$' substitutions).
std::unique_ptr<HfNormalizer> MakeReplaceNormalizer(
    std::unique_ptr<HfRegex> pattern, std::string content);
std::unique_ptr<HfNormalizer> MakeSequenceNormalizer(
    std::vector<std::unique_ptr<HfNormalizer>> parts);

// ---- pre-tokenizers: pieces -> pieces ----
class HfPreTokenizer {
 public:
  virtual ~HfPreTokenizer() = default;
  // Replaces *pieces by the pieces each one splits into, in order.
  // section_index: the index of the text's section after splitting out added
  // tokens (Metaspace's prepend_scheme "first" prepends in section 0 only).
  virtual void PreTokenize(std::vector<std::string>* pieces,
                           int section_index) const = 0;
};

// GPT-2's regex split (when use_regex) and the bytes-to-unicode alphabet;
// add_prefix_space puts a space before a piece that does not start with one.
std::unique_ptr<HfPreTokenizer> MakeByteLevelPreTokenizer(bool add_prefix_space,
                                                          bool use_regex);
// behavior "Isolated", invert false: matches and the text between them.
std::unique_ptr<HfPreTokenizer> MakeSplitPreTokenizer(
    std::unique_ptr<HfRegex> pattern);
enum class PrependScheme { kAlways, kFirst, kNever };
// Spaces become `replacement`, which is also prepended per the scheme unless
// the piece starts with it; the piece is not split (the reference ignores
// Metaspace's "split").
std::unique_ptr<HfPreTokenizer> MakeMetaspacePreTokenizer(
    std::string replacement, PrependScheme scheme);
std::unique_ptr<HfPreTokenizer> MakeSequencePreTokenizer(
    std::vector<std::unique_ptr<HfPreTokenizer>> parts);

// ---- decoders: token strings -> strings ----
class HfDecoder {
 public:
  virtual ~HfDecoder() = default;
  // `added[i]` says whether tokens[i] is an added token (ByteLevel leaves
  // those as they are).
  virtual std::vector<std::string> DecodeChain(std::vector<std::string> tokens,
                                               const std::vector<bool>& added) const = 0;
};

// Byte-alphabet characters to their bytes (raw: a cut UTF-8 sequence stays).
std::unique_ptr<HfDecoder> MakeByteLevelDecoder();
// `replacement` -> ' ', and one leading space of the first token dropped.
std::unique_ptr<HfDecoder> MakeMetaspaceDecoder(std::string replacement);
std::unique_ptr<HfDecoder> MakeReplaceDecoder(std::unique_ptr<HfRegex> pattern,
                                              std::string content);
// Runs of "<0xHH>" tokens become their raw bytes.
std::unique_ptr<HfDecoder> MakeByteFallbackDecoder();
std::unique_ptr<HfDecoder> MakeFuseDecoder();
// Up to `start` leading and `stop` trailing `content` characters removed.
std::unique_ptr<HfDecoder> MakeStripDecoder(std::string content, int start, int stop);
std::unique_ptr<HfDecoder> MakeSequenceDecoder(
    std::vector<std::unique_ptr<HfDecoder>> parts);

// ---- shared helpers ----
// text with every maximal ill-formed UTF-8 subpart replaced by U+FFFD, as
// Node's TextDecoder / Buffer.toString('utf8') do.
std::string SanitizeUtf8(std::string_view text);
// JavaScript trimStart / trimEnd (JS \s: WhiteSpace and LineTerminator).
std::string_view TrimJsStart(std::string_view text);
std::string_view TrimJsEnd(std::string_view text);
// GPT-2's bytes_to_unicode alphabet: the UTF-8 of byte b's character.
const std::string& ByteSymbol(unsigned char b);
// Appends the raw bytes a byte-alphabet string stands for (characters outside
// the alphabet are kept as their UTF-8).
void AppendByteLevelBytes(std::string_view symbols, std::string* out);

}  // namespace ablate::engine

#endif  // ABLATE_WORKER_ENGINE_HF_COMPONENTS_H_
