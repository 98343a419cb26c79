// Loading vocab.json and merges.txt into a Tokenizer (see tokenizer.h).
#include <algorithm>
#include <array>
#include <climits>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "worker/engine/pretokenizer.h"
#include "worker/engine/tokenizer.h"

namespace ablate::engine {
namespace {

// Ids must be below this (the id -> bytes table is dense).
constexpr int64_t kMaxTokenId = 1 << 24;

// GPT-2's bytes_to_unicode: the printable Latin-1 bytes ('!'..'~', 0xA1..0xAC,
// 0xAE..0xFF) stand for themselves, the other 68 bytes for U+0100.. in byte
// order.
std::array<char32_t, 256> ByteToCodePoint() {
  std::array<char32_t, 256> table{};
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable =
        (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    table[b] = printable ? static_cast<char32_t>(b) : next++;
  }
  return table;
}

std::string EncodeUtf8(char32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

// Inverse of ByteToCodePoint: code point (< 324) -> byte, or -1.
const std::array<int, 324>& CodePointToByte() {
  static const std::array<int, 324> table = [] {
    std::array<int, 324> t;
    t.fill(-1);
    const std::array<char32_t, 256> alphabet = ByteToCodePoint();
    for (int b = 0; b < 256; ++b) t[alphabet[b]] = b;
    return t;
  }();
  return table;
}

// The raw bytes a vocabulary token stands for: each code point of the byte
// alphabet is its byte; any other code point (e.g. in an added special token)
// stays as its UTF-8 bytes.
std::string TokenBytes(std::string_view token) {
  const std::array<int, 324>& to_byte = CodePointToByte();
  std::string out;
  for (size_t pos = 0; pos < token.size();) {
    const Utf8Unit u = DecodeUtf8(token, pos);
    if (u.valid && u.code_point < to_byte.size() &&
        to_byte[u.code_point] >= 0) {
      out += static_cast<char>(to_byte[u.code_point]);
    } else {
      out.append(token.substr(pos, u.length));
    }
    pos += u.length;
  }
  return out;
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in || in.bad())
    return absl::DataLossError(absl::StrCat(path, ": read failed"));
  return text.str();
}

// "line L, column C" of a byte offset.
std::string Position(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  const std::string_view before = text.substr(0, offset);
  const size_t line = 1 + std::count(before.begin(), before.end(), '\n');
  const size_t line_start = before.rfind('\n');
  const size_t column =
      offset - (line_start == std::string_view::npos ? 0 : line_start + 1);
  return absl::StrFormat("line %d, column %d", line, column + 1);
}

}  // namespace

// Fills a Tokenizer's tables from the two files.
class TokenizerLoader {
 public:
  static absl::Status LoadVocab(const std::string& path, Tokenizer* t);
  static absl::Status LoadMerges(const std::string& path, Tokenizer* t);

 private:
  static absl::Status AddToken(const std::string& path,
                               const std::string& token,
                               const nlohmann::json& value,
                               std::vector<const std::string*>* owners,
                               Tokenizer* t);
  static absl::Status CheckByteSymbols(const std::string& path, Tokenizer* t);
  static void AddMergesOfKey(const std::string& key, int rank, Tokenizer* t);
};

absl::Status TokenizerLoader::AddToken(const std::string& path,
                                       const std::string& token,
                                       const nlohmann::json& value,
                                       std::vector<const std::string*>* owners,
                                       Tokenizer* t) {
  if (!value.is_number_integer() || value.get<int64_t>() < 0 ||
      value.get<int64_t>() >= kMaxTokenId) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: token \"%s\": id must be an integer in [0, %d), got %s", path,
        token, kMaxTokenId, value.dump()));
  }
  const int id = value.get<int>();
  if (id >= static_cast<int>(owners->size())) {
    owners->resize(id + 1, nullptr);
    t->id_to_bytes_.resize(id + 1);
  }
  if ((*owners)[id] != nullptr) {
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: tokens \"%s\" and \"%s\" share id %d", path,
                        *(*owners)[id], token, id));
  }
  (*owners)[id] = &token;
  t->token_to_id_.emplace(token, id);
  t->id_to_bytes_[id] = TokenBytes(token);
  return absl::OkStatus();
}

absl::Status TokenizerLoader::CheckByteSymbols(const std::string& path,
                                               Tokenizer* t) {
  const std::array<char32_t, 256> alphabet = ByteToCodePoint();
  for (int b = 0; b < 256; ++b) {
    const std::string symbol = EncodeUtf8(alphabet[b]);
    const int id = t->TokenId(symbol);
    if (id < 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: no token for byte 0x%02X (\"%s\"): the "
                          "vocabulary must contain all 256 byte "
                          "symbols",
                          path, b, symbol));
    }
    t->byte_to_id_[b] = id;
  }
  return absl::OkStatus();
}

absl::Status TokenizerLoader::LoadVocab(const std::string& path, Tokenizer* t) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  nlohmann::json vocab;
  try {
    vocab = nlohmann::json::parse(*text);
  } catch (const nlohmann::json::parse_error& e) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: %s: invalid JSON: %s", path,
        Position(*text, e.byte > 0 ? e.byte - 1 : 0), e.what()));
  } catch (const nlohmann::json::exception& e) {  // e.g. a number beyond a double
    return absl::InvalidArgumentError(
        absl::StrFormat("%s: invalid JSON: %s", path, e.what()));
  }
  if (!vocab.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": line 1: expected a JSON object {token: id}"));
  }
  t->token_to_id_.reserve(vocab.size());
  std::vector<const std::string*> owners;  // id -> its token in `vocab`
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (absl::Status s = AddToken(path, it.key(), it.value(), &owners, t);
        !s.ok())
      return s;
  }
  t->eot_id_ = t->TokenId("<|endoftext|>");
  return CheckByteSymbols(path, t);
}

// The reference ranks a pair (a, b) by the string a + "," + b. Every split of a
// merge's key at a comma into two tokens whose concatenation is a token is
// therefore a pair with that rank.
void TokenizerLoader::AddMergesOfKey(const std::string& key, int rank,
                                     Tokenizer* t) {
  for (size_t comma = key.find(','); comma != std::string::npos;
       comma = key.find(',', comma + 1)) {
    const std::string left = key.substr(0, comma);
    const std::string right = key.substr(comma + 1);
    const int left_id = t->TokenId(left);
    const int right_id = t->TokenId(right);
    const int merged_id = t->TokenId(left + right);
    if (left_id < 0 || right_id < 0 || merged_id < 0) continue;
    t->merges_[Tokenizer::PairKey(left_id, right_id)] =
        Tokenizer::Merge{rank, merged_id};
  }
}

absl::Status TokenizerLoader::LoadMerges(const std::string& path,
                                         Tokenizer* t) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  const std::vector<absl::string_view> lines = absl::StrSplit(*text, '\n');
  if (lines[0].substr(0, 8) != "#version") {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":1: expected a \"#version\" header line"));
  }
  // Key a + "," + b -> rank; a repeated key keeps its last rank, as in the
  // reference.
  absl::flat_hash_map<std::string, int> key_rank;
  int rank = 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::vector<absl::string_view> parts = absl::StrSplit(
        lines[i], absl::ByAnyChar(" \t\r\v\f"), absl::SkipEmpty());
    if (parts.empty()) continue;
    if (parts.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrFormat("%s:%d: expected a merge \"A B\", got %d fields",
                          path, i + 1, parts.size()));
    }
    const std::string merged = absl::StrCat(parts[0], parts[1]);
    for (absl::string_view token :
         {parts[0], parts[1], absl::string_view(merged)}) {
      if (t->TokenId(std::string_view(token.data(), token.size())) < 0) {
        return absl::InvalidArgumentError(
            absl::StrFormat("%s:%d: token \"%s\" is not in the vocabulary",
                            path, i + 1, token));
      }
    }
    key_rank[absl::StrCat(parts[0], ",", parts[1])] = rank++;
  }
  t->merges_.reserve(key_rank.size());
  for (const auto& [key, key_rank_value] : key_rank)
    AddMergesOfKey(key, key_rank_value, t);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::LoadFiles(
    const std::string& vocab_path, const std::string& merges_path) {
  std::unique_ptr<Tokenizer> t(new Tokenizer());
  if (absl::Status s = TokenizerLoader::LoadVocab(vocab_path, t.get()); !s.ok())
    return s;
  if (absl::Status s = TokenizerLoader::LoadMerges(merges_path, t.get());
      !s.ok())
    return s;
  return t;
}

absl::StatusOr<std::unique_ptr<Tokenizer>> Tokenizer::Load(
    const std::string& dir) {
  const std::filesystem::path base(dir);
  return LoadFiles((base / "vocab.json").string(),
                   (base / "merges.txt").string());
}

}  // namespace ablate::engine
