#include "worker/engine/hf_tokenizer.h"

#include <algorithm>
#include <queue>
#include <tuple>
#include <utility>

#include "absl/strings/str_join.h"
#include "worker/engine/pretokenizer.h"

namespace ablate::engine {
namespace {

constexpr size_t kMaxCachedPieceBytes = 256;
constexpr size_t kMaxCacheSize = 1 << 18;

// One symbol of a word being merged: bytes [begin, end) of the piece.
struct Node {
  int symbol;  // -1: a character no merge or token knows
  size_t begin;
  size_t end;
  int prev;
  int next;
  bool alive;
};

// A queued merge of the node at `left` with its right neighbour. Lower rank
// first, then the leftmost position (the reference's rank + position/length).
struct Candidate {
  int rank;
  int left;
  int left_symbol;
  int right_symbol;
  int merged;
  bool operator>(const Candidate& o) const {
    return std::tie(rank, left) > std::tie(o.rank, o.left);
  }
};

}  // namespace

void HfTokenizer::Splitter::Add(std::string content) {
  if (content.empty()) return;
  auto& bucket = by_first_byte_[static_cast<unsigned char>(content[0])];
  bucket.push_back(std::move(content));
  std::stable_sort(bucket.begin(), bucket.end(),
                   [](const std::string& a, const std::string& b) {
                     return a.size() > b.size();
                   });
}

std::vector<std::string> HfTokenizer::Splitter::Split(std::string_view text) const {
  std::vector<std::string> out;
  size_t start = 0;
  size_t i = 0;
  while (i < text.size()) {
    const std::string* match = nullptr;
    for (const std::string& c : by_first_byte_[static_cast<unsigned char>(text[i])]) {
      if (text.compare(i, c.size(), c) == 0) {
        match = &c;
        break;
      }
    }
    if (match == nullptr) {
      ++i;
      continue;
    }
    if (i > start) out.emplace_back(text.substr(start, i - start));
    out.push_back(*match);
    i += match->size();
    start = i;
  }
  if (start < text.size()) out.emplace_back(text.substr(start));
  return out;
}

int HfTokenizer::Symbol(std::string_view s) const {
  const auto it = symbol_of_.find(absl::string_view(s.data(), s.size()));
  return it == symbol_of_.end() ? -1 : it->second;
}

const HfTokenizer::AddedToken* HfTokenizer::FindAdded(std::string_view s) const {
  const auto it = added_.find(absl::string_view(s.data(), s.size()));
  return it == added_.end() ? nullptr : &it->second;
}

int HfTokenizer::TokenId(std::string_view token) const {
  const int symbol = Symbol(token);
  return symbol < 0 ? -1 : symbol_model_id_[symbol];
}

void HfTokenizer::StripAroundAdded(std::vector<std::string>* sections) const {
  std::vector<std::string>& s = *sections;
  for (size_t i = 0; i < s.size(); ++i) {
    const AddedToken* token = FindAdded(s[i]);
    if (token == nullptr) continue;
    if (token->lstrip && i > 0) s[i - 1] = std::string(TrimJsEnd(s[i - 1]));
    if (token->rstrip && i + 1 < s.size()) s[i + 1] = std::string(TrimJsStart(s[i + 1]));
  }
}

void HfTokenizer::AppendSymbolIds(int symbol, std::string_view text,
                                  std::vector<int>* ids) const {
  if (symbol >= 0 && symbol_model_id_[symbol] >= 0) {
    ids->push_back(symbol_out_id_[symbol]);
    return;
  }
  if (byte_fallback_) {
    const bool all = std::all_of(text.begin(), text.end(), [this](char c) {
      return byte_ids_[static_cast<unsigned char>(c)] >= 0;
    });
    if (all) {
      for (char c : text) ids->push_back(byte_ids_[static_cast<unsigned char>(c)]);
      return;
    }
  }
  if (has_unk_) ids->push_back(unk_out_id_);
}

std::vector<int> HfTokenizer::EncodePiece(std::string_view piece) const {
  std::vector<int> ids;
  if (ignore_merges_) {
    const int symbol = Symbol(piece);
    if (symbol >= 0 && symbol_model_id_[symbol] >= 0) return {symbol_out_id_[symbol]};
  }
  std::vector<Node> nodes;
  for (size_t pos = 0; pos < piece.size();) {
    const size_t n = DecodeUtf8(piece, pos).length;
    const int count = static_cast<int>(nodes.size());
    nodes.push_back({Symbol(piece.substr(pos, n)), pos, pos + n, count - 1, count + 1, true});
    pos += n;
  }
  if (nodes.empty()) return ids;
  nodes.back().next = -1;
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto push = [&](int left) {
    if (left < 0) return;
    const int right = nodes[left].next;
    if (right < 0 || nodes[left].symbol < 0 || nodes[right].symbol < 0) return;
    const auto it = merges_.find(PairKey(nodes[left].symbol, nodes[right].symbol));
    if (it == merges_.end()) return;
    queue.push({it->second.rank, left, nodes[left].symbol, nodes[right].symbol,
                it->second.merged});
  };
  for (int i = 0; i + 1 < static_cast<int>(nodes.size()); ++i) push(i);
  while (!queue.empty()) {
    const Candidate c = queue.top();
    queue.pop();
    Node& left = nodes[c.left];
    if (!left.alive || left.symbol != c.left_symbol || left.next < 0 ||
        nodes[left.next].symbol != c.right_symbol)
      continue;
    Node& right = nodes[left.next];
    left.symbol = c.merged;
    left.end = right.end;
    left.next = right.next;
    right.alive = false;
    if (right.next >= 0) nodes[right.next].prev = c.left;
    push(left.prev);
    push(c.left);
  }
  for (int i = 0; i >= 0; i = nodes[i].next) {
    AppendSymbolIds(nodes[i].symbol, piece.substr(nodes[i].begin, nodes[i].end - nodes[i].begin),
                    &ids);
  }
  return ids;
}

void HfTokenizer::AppendPiece(std::string_view piece, std::vector<int>* ids) const {
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

void HfTokenizer::EncodeSection(std::string_view section, int section_index,
                                std::vector<int>* ids) const {
  const std::string normalized =
      normalizer_ ? normalizer_->Normalize(section) : std::string(section);
  if (normalized.empty()) return;
  std::vector<std::string> subsections = normalized_splitter_.Split(normalized);
  StripAroundAdded(&subsections);
  for (std::string& sub : subsections) {
    if (sub.empty()) continue;
    if (const AddedToken* token = FindAdded(sub)) {
      ids->push_back(token->id);
      continue;
    }
    std::vector<std::string> pieces{std::move(sub)};
    if (pre_tokenizer_) pre_tokenizer_->PreTokenize(&pieces, section_index);
    const size_t first = ids->size();
    for (const std::string& piece : pieces) {
      if (!piece.empty()) AppendPiece(piece, ids);
    }
    if (fuse_unk_ && has_unk_) {  // runs of unk become one
      auto end = std::unique(ids->begin() + first, ids->end(), [this](int a, int b) {
        return a == unk_out_id_ && b == unk_out_id_;
      });
      ids->erase(end, ids->end());
    }
  }
}

std::vector<int> HfTokenizer::Encode(std::string_view raw) const {
  const std::string text = SanitizeUtf8(raw);
  std::vector<int> ids;
  ids.reserve(text.size() / 3 + 1);
  std::vector<std::string> sections = unnormalized_splitter_.Split(text);
  StripAroundAdded(&sections);
  for (size_t i = 0; i < sections.size(); ++i) {
    if (sections[i].empty()) continue;
    if (const AddedToken* token = FindAdded(sections[i])) {
      ids.push_back(token->id);
      continue;
    }
    EncodeSection(sections[i], static_cast<int>(i), &ids);
  }
  return ids;
}

std::string HfTokenizer::Decode(absl::Span<const int> ids) const {
  std::vector<std::string> tokens;
  std::vector<bool> added;
  for (int id : ids) {
    if (id < 0 || id >= vocab_size() || id_to_token_[id].empty()) continue;
    tokens.push_back(id_to_token_[id]);
    added.push_back(id_is_added_[id]);
  }
  if (!decoder_) return absl::StrJoin(tokens, " ");
  return absl::StrJoin(decoder_->DecodeChain(std::move(tokens), added), "");
}

}  // namespace ablate::engine
