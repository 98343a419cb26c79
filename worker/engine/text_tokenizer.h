// The tokenizer interface the worker uses, and the factory that picks an
// implementation from the files in a checkpoint folder.
//
// Two implementations:
//   - Tokenizer (tokenizer.h): GPT-2 byte-level BPE from vocab.json +
//     merges.txt, ids exactly those of OpenAI's encoder (npm gpt-3-encoder).
//   - HfTokenizer (hf_tokenizer.h): a Hugging Face tokenizer.json (byte-level
//     BPE as in GPT-2 / GPT-NeoX / Llama 3 / Qwen2, or sentencepiece-style BPE
//     with byte fallback as in Llama 2 / Mistral), ids exactly those of
//     `tokenizer.encode(text, {add_special_tokens: false})` of the reference
//     JavaScript port (npm @huggingface/tokenizers).
//
// Thread-safety: implementations are immutable after loading; every method is
// const and may be called concurrently.
#ifndef ABLATE_WORKER_ENGINE_TEXT_TOKENIZER_H_
#define ABLATE_WORKER_ENGINE_TEXT_TOKENIZER_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace ablate::engine {

class TextTokenizer {
 public:
  virtual ~TextTokenizer() = default;

  // The token ids of text (any bytes; see each implementation for bytes that
  // are not UTF-8). No BOS/EOS is added.
  virtual std::vector<int> Encode(std::string_view text) const = 0;

  // The text of the tokens, concatenated. Ids that name no token contribute
  // nothing.
  virtual std::string Decode(absl::Span<const int> ids) const = 0;

  // One more than the largest token id.
  virtual int vocab_size() const = 0;

  // The id of a token in the vocabulary file's own spelling (e.g. "Ġthe",
  // "▁the", "<s>"), or -1.
  virtual int TokenId(std::string_view token) const = 0;

  // The id of "<|endoftext|>", or -1 if the vocabulary has none.
  virtual int eot_id() const = 0;
};

// Loads the tokenizer of a checkpoint folder: dir/tokenizer.json whenever it
// exists, else dir/vocab.json + dir/merges.txt. Errors name the file and what
// is wrong (NotFound when the files are missing).
absl::StatusOr<std::unique_ptr<TextTokenizer>> LoadTokenizer(
    const std::string& dir);

}  // namespace ablate::engine

#endif  // ABLATE_WORKER_ENGINE_TEXT_TOKENIZER_H_
