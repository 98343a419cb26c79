// GPT-2 byte-level BPE tokenizer, producing exactly the ids of the reference
// implementation (OpenAI's encoder as shipped in npm gpt-3-encoder 1.1.4,
// Encoder.js) for valid UTF-8 text.
//
// Encode: pre-tokenize (pretokenizer.h), map each piece's UTF-8 bytes to byte
// symbols, then apply merges.txt by rank. `<|endoftext|>` in the text is plain
// text, not id 50256 (the reference does not special-case it either). Bytes
// that are not valid UTF-8 are encoded as themselves (byte-level), so
// Decode(Encode(s)) == s for every byte string s.
//
// Reference quirks reproduced: the reference looks up the rank of a symbol pair
// (a, b) by the string a + "," + b, so a pair such as ('",', '"') takes the
// rank of the merge ('"', ',"') and merges into '","' (such a twin is skipped
// if its concatenation is not a token: the reference would emit `undefined`);
// and among pairs of equal rank it merges the content of the rightmost one
// first. Both are derived from merges.txt at load, not hard-coded. Checked
// against the reference on the whole Brown corpus (1.33M ids), 60,000 random
// multilingual strings, and synthetic vocabularies where the twins matter.
//
// Thread-safety: after Load, all methods are const and may be called
// concurrently. Encode keeps a cache of encoded pieces shared across calls,
// guarded by a mutex (cleared when it grows past a fixed number of entries).
#ifndef ABLATE_WORKER_ENGINE_TOKENIZER_H_
#define ABLATE_WORKER_ENGINE_TOKENIZER_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "worker/engine/text_tokenizer.h"

namespace ablate::engine {

class Tokenizer : public TextTokenizer {
 public:
  // The id of "<|endoftext|>" in GPT-2's vocabulary.
  static constexpr int kGpt2EndOfText = 50256;

  // Loads dir/vocab.json and dir/merges.txt.
  static absl::StatusOr<std::unique_ptr<Tokenizer>> Load(
      const std::string& dir);

  // vocab.json: a JSON object {token: id}, tokens in the byte-to-unicode
  // alphabet, ids unique and >= 0, covering all 256 byte symbols. merges.txt: a
  // "#version" first line, then one merge per line, "A B" (blank lines
  // ignored), both parts and their concatenation in the vocabulary. Errors name
  // the file and the line (or the token).
  static absl::StatusOr<std::unique_ptr<Tokenizer>> LoadFiles(
      const std::string& vocab_path, const std::string& merges_path);

  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  // The token ids of text (any bytes).
  std::vector<int> Encode(std::string_view text) const override;

  // The bytes of the tokens, concatenated. Ids that name no token contribute
  // nothing (the reference also drops them). A cut through a multi-byte
  // character gives those raw bytes.
  std::string Decode(absl::Span<const int> ids) const override;

  // One more than the largest id (50257 for GPT-2).
  int vocab_size() const override { return static_cast<int>(id_to_bytes_.size()); }

  // The id of "<|endoftext|>", or -1 if the vocabulary has none.
  int eot_id() const override { return eot_id_; }

  // The id of a token given in vocab.json's spelling (byte-to-unicode
  // alphabet), or -1.
  int TokenId(std::string_view token) const override;

 private:
  // What merging an adjacent pair of symbols gives, and when (lower rank
  // first).
  struct Merge {
    int rank;
    int merged_id;
  };

  Tokenizer() = default;

  static uint64_t PairKey(int left_id, int right_id) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left_id)) << 32) |
           static_cast<uint32_t>(right_id);
  }

  // Encodes one piece (a pre-token) by BPE, without the cache.
  std::vector<int> EncodePiece(std::string_view piece) const;
  // Appends the ids of one piece to ids, through the cache.
  void AppendPiece(std::string_view piece, std::vector<int>* ids) const;
  const Merge* FindMerge(int left_id, int right_id) const;

  friend class TokenizerLoader;

  // vocab.json spelling -> id.
  absl::flat_hash_map<std::string, int> token_to_id_;
  // id -> the raw bytes it stands for ("" for ids no token has).
  std::vector<std::string> id_to_bytes_;
  // byte value -> id of its byte symbol.
  std::vector<int> byte_to_id_ = std::vector<int>(256, -1);
  // PairKey(left_id, right_id) -> merge, including the comma-key twins.
  absl::flat_hash_map<uint64_t, Merge> merges_;
  int eot_id_ = -1;

  mutable std::mutex cache_mu_;
  // Piece bytes -> ids; guarded by cache_mu_.
  mutable absl::flat_hash_map<std::string, std::vector<int>> cache_;
};

}  // namespace ablate::engine

#endif  // ABLATE_WORKER_ENGINE_TOKENIZER_H_
