// A Hugging Face tokenizer.json BPE tokenizer whose Encode gives exactly the
// ids of `tokenizer.encode(text, {add_special_tokens: false}).ids` of the
// reference JavaScript port, npm @huggingface/tokenizers 0.2.0, constructed
// with the file and the folder's tokenizer_config.json.
//
// Encode, as the reference does it:
//   1. bytes that are not UTF-8 become U+FFFD (as Node reads a file);
//   2. added tokens (special or not) are split out of the text wherever they
//      appear literally, longest match first, left to right: first those with
//      normalized == false (or all, without a normalizer), then, after the
//      normalizer ran on each remaining section, those with normalized == true;
//      lstrip / rstrip trim JavaScript whitespace off the neighbouring
//      sections; single_word is ignored (as by the reference);
//   3. each remaining section: normalizer, pre-tokenizer, BPE model.
// BPE: merges by rank, ties to the leftmost pair; ignore_merges (a piece that
// is a vocabulary token is that token); a symbol not in the vocabulary becomes
// its UTF-8 bytes as "<0xHH>" tokens with byte_fallback, else unk_token (runs
// of unk fused with fuse_unk), else nothing.
// Decode: the file's decoder chain over the tokens' strings, bytes kept raw
// (no U+FFFD for a cut UTF-8 sequence, no clean_up_tokenization_spaces).
//
// Thread-safety: immutable after Load except for a mutex-guarded cache of
// encoded pieces; all methods may be called concurrently.
#ifndef ABLATE_WORKER_ENGINE_HF_TOKENIZER_H_
#define ABLATE_WORKER_ENGINE_HF_TOKENIZER_H_

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "worker/engine/hf_components.h"
#include "worker/engine/text_tokenizer.h"

namespace ablate::engine {

class HfTokenizer : public TextTokenizer {
 public:
  // Loads tokenizer_json_path and, when config_path names an existing file,
  // the tokenizer_config.json beside it. Every field this implementation does
  // not reproduce (another model type, normalizer, pre-tokenizer or decoder,
  // dropout, subword prefixes/suffixes, Split behaviours other than Isolated,
  // remove_space, ...) is an InvalidArgument error naming the file and field.
  static absl::StatusOr<std::unique_ptr<HfTokenizer>> Load(
      const std::string& tokenizer_json_path, const std::string& config_path);

  std::vector<int> Encode(std::string_view text) const override;
  std::string Decode(absl::Span<const int> ids) const override;
  int vocab_size() const override { return static_cast<int>(id_to_token_.size()); }
  int TokenId(std::string_view token) const override;
  int eot_id() const override { return eot_id_; }

 private:
  friend class HfTokenizerLoader;

  struct Merge {
    int rank;
    int merged;  // symbol
  };
  struct AddedToken {
    int id;
    bool lstrip;
    bool rstrip;
  };
  // Finds added tokens in text: at each position the longest content that
  // starts there (the reference's DictionarySplitter).
  class Splitter {
   public:
    void Add(std::string content);
    std::vector<std::string> Split(std::string_view text) const;

   private:
    std::array<std::vector<std::string>, 256> by_first_byte_;  // longest first
  };

  HfTokenizer() = default;

  static uint64_t PairKey(int left, int right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  int Symbol(std::string_view s) const;
  const AddedToken* FindAdded(std::string_view s) const;
  void StripAroundAdded(std::vector<std::string>* sections) const;
  void EncodeSection(std::string_view section, int section_index,
                     std::vector<int>* ids) const;
  // The model's ids of one pre-token (through the cache), unk not yet fused.
  void AppendPiece(std::string_view piece, std::vector<int>* ids) const;
  std::vector<int> EncodePiece(std::string_view piece) const;
  void AppendSymbolIds(int symbol, std::string_view text, std::vector<int>* ids) const;

  // Every string that is a vocabulary token, added token, merge part or merge
  // result -> its symbol.
  absl::flat_hash_map<std::string, int> symbol_of_;
  // symbol -> the reference's tokens_to_ids (vocab + added contents), or -1.
  std::vector<int> symbol_model_id_;
  // symbol -> the id the reference outputs for it (added tokens first), or -1.
  std::vector<int> symbol_out_id_;
  absl::flat_hash_map<uint64_t, Merge> merges_;
  std::array<int, 256> byte_ids_{};  // "<0xHH>" output ids, -1 if absent
  bool byte_fallback_ = false;
  bool ignore_merges_ = false;
  bool fuse_unk_ = false;
  bool has_unk_ = false;
  int unk_out_id_ = -1;
  int unk_model_id_ = -1;

  // Added token contents (and normalized contents) -> token.
  absl::flat_hash_map<std::string, AddedToken> added_;
  Splitter unnormalized_splitter_;
  Splitter normalized_splitter_;
  std::unique_ptr<HfNormalizer> normalizer_;
  std::unique_ptr<HfPreTokenizer> pre_tokenizer_;
  std::unique_ptr<HfDecoder> decoder_;

  std::vector<std::string> id_to_token_;  // "" where no token
  std::vector<bool> id_is_added_;
  int eot_id_ = -1;

  mutable std::mutex cache_mu_;
  mutable absl::flat_hash_map<std::string, std::vector<int>> cache_;  // guarded
};

}  // namespace ablate::engine

#endif  // ABLATE_WORKER_ENGINE_HF_TOKENIZER_H_
