#include "worker/engine/tokenizer.h"

#include <algorithm>
#include <queue>
#include <utility>

#include "absl/strings/string_view.h"
#include "worker/engine/pretokenizer.h"

namespace ablate::engine {
namespace {

// Pieces longer than this are not cached; the cache is cleared when it reaches
// kMaxCacheSize.
constexpr size_t kMaxCachedPieceBytes = 256;
constexpr size_t kMaxCacheSize = 1 << 18;

// A possible merge of the symbol at `left` with its right neighbour, as it was
// when queued.
struct Candidate {
  int rank;
  int left;
  int left_id;
  int right_id;
  int merged_id;
};

struct LaterRank {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank > b.rank;
  }
};

// Byte-pair encoding of one piece with a priority queue of candidate merges,
// O(n log n). Same result as the reference's loop: take the lowest rank among
// adjacent pairs, choose the pair content at the rightmost such position, merge
// its occurrences left to right, repeat. Lookup(left_id, right_id) returns a
// pointer to {rank, merged_id} or nullptr.
template <typename Lookup>
class BpeWord {
 public:
  BpeWord(const std::vector<int>& ids, Lookup lookup)
      : lookup_(std::move(lookup)) {
    const int n = static_cast<int>(ids.size());
    symbols_.reserve(n);
    for (int i = 0; i < n; ++i)
      symbols_.push_back({ids[i], i - 1, i + 1 < n ? i + 1 : -1});
  }

  std::vector<int> Run() {
    for (int i = 0; i + 1 < static_cast<int>(symbols_.size()); ++i) Push(i);
    while (!queue_.empty()) {
      std::vector<Candidate> batch = PopLowestRank();
      if (batch.empty()) continue;
      const Candidate& pick =
          *std::max_element(batch.begin(), batch.end(),
                            [](const Candidate& a, const Candidate& b) {
                              return a.left < b.left;
                            });
      const std::pair<int, int> content(pick.left_id, pick.right_id);
      std::sort(batch.begin(), batch.end(),
                [](const Candidate& a, const Candidate& b) {
                  return a.left < b.left;
                });
      for (const Candidate& c : batch) {
        if (std::make_pair(c.left_id, c.right_id) != content) {
          queue_.push(
              c);  // same rank, other content (a comma-key twin): a later pass
        } else if (Valid(c)) {
          Apply(c);
        }
      }
    }
    std::vector<int> out;
    for (int i = symbols_.empty() ? -1 : 0; i >= 0; i = symbols_[i].next) {
      out.push_back(symbols_[i].id);
    }
    return out;
  }

 private:
  struct Symbol {
    int id;  // -1 once merged into its left neighbour
    int prev;
    int next;
  };

  void Push(int left) {
    const int right = symbols_[left].next;
    if (right < 0) return;
    const auto* merge = lookup_(symbols_[left].id, symbols_[right].id);
    if (merge == nullptr) return;
    queue_.push({merge->rank, left, symbols_[left].id, symbols_[right].id,
                 merge->merged_id});
  }

  // Still adjacent and unchanged: a symbol's id only changes by merging, and
  // ids grow.
  bool Valid(const Candidate& c) const {
    const Symbol& left = symbols_[c.left];
    return left.id == c.left_id && left.next >= 0 &&
           symbols_[left.next].id == c.right_id;
  }

  // The valid candidates of the lowest rank in the queue (possibly none).
  std::vector<Candidate> PopLowestRank() {
    std::vector<Candidate> batch;
    const int rank = queue_.top().rank;
    while (!queue_.empty() && queue_.top().rank == rank) {
      if (Valid(queue_.top())) batch.push_back(queue_.top());
      queue_.pop();
    }
    return batch;
  }

  void Apply(const Candidate& c) {
    Symbol& left = symbols_[c.left];
    Symbol& right = symbols_[left.next];
    left.id = c.merged_id;
    left.next = right.next;
    if (right.next >= 0) symbols_[right.next].prev = c.left;
    right.id = -1;
    if (left.prev >= 0) Push(left.prev);
    Push(c.left);
  }

  Lookup lookup_;
  std::vector<Symbol> symbols_;
  std::priority_queue<Candidate, std::vector<Candidate>, LaterRank> queue_;
};

}  // namespace

const Tokenizer::Merge* Tokenizer::FindMerge(int left_id, int right_id) const {
  const auto it = merges_.find(PairKey(left_id, right_id));
  return it == merges_.end() ? nullptr : &it->second;
}

std::vector<int> Tokenizer::EncodePiece(std::string_view piece) const {
  std::vector<int> ids;
  ids.reserve(piece.size());
  for (char c : piece)
    ids.push_back(byte_to_id_[static_cast<unsigned char>(c)]);
  auto lookup = [this](int left_id, int right_id) {
    return FindMerge(left_id, right_id);
  };
  return BpeWord<decltype(lookup)>(ids, lookup).Run();
}

void Tokenizer::AppendPiece(std::string_view piece,
                            std::vector<int>* ids) const {
  if (piece.size() == 1) {
    ids->push_back(byte_to_id_[static_cast<unsigned char>(piece[0])]);
    return;
  }
  const bool cacheable = piece.size() <= kMaxCachedPieceBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    const auto it = cache_.find(absl::string_view(piece.data(), piece.size()));
    if (it != cache_.end()) {
      ids->insert(ids->end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<int> encoded = EncodePiece(piece);
  ids->insert(ids->end(), encoded.begin(), encoded.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (cache_.size() >= kMaxCacheSize) cache_.clear();
    cache_.emplace(std::string(piece), std::move(encoded));
  }
}

std::vector<int> Tokenizer::Encode(std::string_view text) const {
  std::vector<int> ids;
  ids.reserve(text.size() / 3 + 1);
  ForEachPreToken(
      text, [this, &ids](std::string_view piece) { AppendPiece(piece, &ids); });
  return ids;
}

std::string Tokenizer::Decode(absl::Span<const int> ids) const {
  std::string out;
  for (int id : ids) {
    if (id >= 0 && id < vocab_size()) out += id_to_bytes_[id];
  }
  return out;
}

int Tokenizer::TokenId(std::string_view token) const {
  const auto it =
      token_to_id_.find(absl::string_view(token.data(), token.size()));
  return it == token_to_id_.end() ? -1 : it->second;
}

}  // namespace ablate::engine
