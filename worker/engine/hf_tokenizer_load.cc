// Loading a tokenizer.json (and tokenizer_config.json) into an HfTokenizer.
#include <filesystem>
#include <utility>

#include "absl/strings/str_format.h"
#include "worker/engine/hf_json.h"
#include "worker/engine/hf_tokenizer.h"

namespace ablate::engine {
namespace {

constexpr int64_t kMaxTokenId = 1 << 24;

}  // namespace

// Fills an HfTokenizer from the parsed files.
class HfTokenizerLoader {
 public:
  HfTokenizerLoader(const Fields& f, HfTokenizer* t) : f_(f), t_(t) {}
  absl::Status Load(const Json& root, const Json& config);

 private:
  int Intern(const std::string& s) {
    auto [it, inserted] = t_->symbol_of_.emplace(s, static_cast<int>(t_->symbol_model_id_.size()));
    if (inserted) t_->symbol_model_id_.push_back(-1);
    return it->second;
  }
  void SetId(const std::string& token, int id) {
    t_->symbol_model_id_[Intern(token)] = id;
    if (id >= static_cast<int>(t_->id_to_token_.size())) {
      t_->id_to_token_.resize(id + 1);
      t_->id_is_added_.resize(id + 1, false);
    }
    t_->id_to_token_[id] = token;
  }
  absl::Status LoadModelOptions(const Json& model);
  absl::Status LoadVocab(const Json& model);
  absl::Status LoadMerges(const Json& model);
  absl::Status LoadAdded(const Json& root);
  absl::Status Finish(const Json& model);

  const Fields& f_;
  HfTokenizer* t_;
  std::string unk_token_;
};

absl::Status HfTokenizerLoader::LoadModelOptions(const Json& model) {
  if (model.contains("dropout") && !model["dropout"].is_null() &&
      !(model["dropout"].is_number() && model["dropout"].get<double>() == 0.0))
    return f_.Unsupported("model.dropout", model["dropout"]);
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix",
                          "continuing_subword_suffix"}) {
    auto value = f_.String(model, "model", key, "");
    if (!value.ok()) return value.status();
    if (!value->empty()) return f_.Unsupported(absl::StrCat("model.", key), *value);
  }
  auto byte_fallback = f_.Bool(model, "model", "byte_fallback", false);
  auto ignore_merges = f_.Bool(model, "model", "ignore_merges", false);
  auto fuse_unk = f_.Bool(model, "model", "fuse_unk", false);
  for (const auto* s : {&byte_fallback, &ignore_merges, &fuse_unk}) {
    if (!s->ok()) return s->status();
  }
  t_->byte_fallback_ = *byte_fallback;
  t_->ignore_merges_ = *ignore_merges;
  t_->fuse_unk_ = *fuse_unk;
  if (model.contains("unk_token") && !model["unk_token"].is_null()) {
    if (!model["unk_token"].is_string()) return f_.Error("model.unk_token", "must be a string");
    t_->has_unk_ = true;
    unk_token_ = model["unk_token"].get<std::string>();
  }
  return absl::OkStatus();
}

absl::Status HfTokenizerLoader::LoadVocab(const Json& model) {
  if (!model.contains("vocab") || !model["vocab"].is_object())
    return f_.Error("model.vocab", "must be an object {token: id}");
  const Json& vocab = model["vocab"];
  t_->symbol_of_.reserve(vocab.size() * 2);
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    const Json& v = it.value();
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= kMaxTokenId)
      return f_.Error(absl::StrCat("model.vocab[\"", it.key(), "\"]"),
                      absl::StrFormat("id must be an integer in [0, %d)", kMaxTokenId));
    SetId(it.key(), v.get<int>());
  }
  return absl::OkStatus();
}

absl::Status HfTokenizerLoader::LoadMerges(const Json& model) {
  if (!model.contains("merges") || !model["merges"].is_array())
    return f_.Error("model.merges", "must be an array");
  const Json& merges = model["merges"];
  t_->merges_.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const Json& m = merges[i];
    std::string left, right;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      if (space == std::string::npos || space == 0 || space + 1 == s.size() ||
          s.find(' ', space + 1) != std::string::npos)
        return f_.Error(absl::StrCat("model.merges[", i, "]"),
                        absl::StrCat("\"", s, "\" is not two tokens separated by one space"));
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get<std::string>();
      right = m[1].get<std::string>();
    } else {
      return f_.Error(absl::StrCat("model.merges[", i, "]"),
                      "must be \"A B\" or [\"A\", \"B\"]");
    }
    const int l = Intern(left);
    const int r = Intern(right);
    const int merged = Intern(left + right);
    // A repeated pair keeps its last rank, as in the reference's Map.
    t_->merges_[HfTokenizer::PairKey(l, r)] = {static_cast<int>(i), merged};
  }
  return absl::OkStatus();
}

absl::Status HfTokenizerLoader::LoadAdded(const Json& root) {
  if (!root.contains("added_tokens") || root["added_tokens"].is_null()) return absl::OkStatus();
  const Json& added = root["added_tokens"];
  if (!added.is_array()) return f_.Error("added_tokens", "must be an array");
  for (size_t i = 0; i < added.size(); ++i) {
    const Json& a = added[i];
    const std::string field = absl::StrCat("added_tokens[", i, "]");
    if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() ||
        a["id"].get<int64_t>() < 0 || a["id"].get<int64_t>() >= kMaxTokenId ||
        !a.contains("content") || !a["content"].is_string())
      return f_.Error(field, "must have an integer \"id\" and a string \"content\"");
    const std::string content = a["content"].get<std::string>();
    auto lstrip = f_.Bool(a, field, "lstrip", false);
    auto rstrip = f_.Bool(a, field, "rstrip", false);
    auto special = f_.Bool(a, field, "special", false);
    if (!lstrip.ok() || !rstrip.ok() || !special.ok())
      return !lstrip.ok() ? lstrip.status() : !rstrip.ok() ? rstrip.status() : special.status();
    auto normalized = f_.Bool(a, field, "normalized", !*special);
    if (!normalized.ok()) return normalized.status();
    const int id = a["id"].get<int>();
    SetId(content, id);
    t_->id_is_added_[id] = true;
    const HfTokenizer::AddedToken token{id, *lstrip, *rstrip};
    t_->added_[content] = token;
    if (*normalized && t_->normalizer_) {
      const std::string norm = t_->normalizer_->Normalize(SanitizeUtf8(content));
      t_->added_[norm] = token;
      t_->normalized_splitter_.Add(norm);
    } else {
      t_->unnormalized_splitter_.Add(content);
    }
  }
  return absl::OkStatus();
}

absl::Status HfTokenizerLoader::Finish(const Json& model) {
  const size_t n = t_->symbol_model_id_.size();
  t_->symbol_out_id_.resize(n);
  for (const auto& [s, symbol] : t_->symbol_of_) {
    const HfTokenizer::AddedToken* added = t_->FindAdded(s);
    t_->symbol_out_id_[symbol] = added ? added->id : t_->symbol_model_id_[symbol];
  }
  // Added tokens' normalized contents that are not symbols still map by added_.
  for (int b = 0; b < 256; ++b) {
    const int symbol = t_->Symbol(absl::StrFormat("<0x%02X>", b));
    t_->byte_ids_[b] =
        symbol >= 0 && t_->symbol_model_id_[symbol] >= 0 ? t_->symbol_out_id_[symbol] : -1;
  }
  if (t_->has_unk_) {
    const HfTokenizer::AddedToken* added = t_->FindAdded(unk_token_);
    t_->unk_model_id_ = t_->TokenId(unk_token_);
    t_->unk_out_id_ = added ? added->id : t_->unk_model_id_;
    if (t_->unk_out_id_ < 0)
      return f_.Error("model.unk_token", absl::StrCat("\"", unk_token_,
                                                      "\" is not in the vocabulary"));
  }
  t_->eot_id_ = t_->TokenId("<|endoftext|>");
  (void)model;
  return absl::OkStatus();
}

absl::Status HfTokenizerLoader::Load(const Json& root, const Json& config) {
  (void)config;
  if (!root.contains("model")) return f_.Error("model", "missing");
  const Json& model = root["model"];
  absl::StatusOr<std::string> type =
      model.is_object() && model.contains("type") && model["type"].is_string()
          ? absl::StatusOr<std::string>(model["type"].get<std::string>())
          : f_.Error("model.type", "missing (only \"BPE\" is supported)");
  if (!type.ok()) return type.status();
  if (*type != "BPE")
    return f_.Error("model.type", absl::StrCat("\"", *type, "\" is not supported (only \"BPE\")"));
  if (absl::Status s = LoadModelOptions(model); !s.ok()) return s;
  auto normalizer = BuildNormalizer(f_, root.value("normalizer", Json()), "normalizer");
  if (!normalizer.ok()) return normalizer.status();
  t_->normalizer_ = *std::move(normalizer);
  auto pre = BuildPreTokenizer(f_, root.value("pre_tokenizer", Json()), "pre_tokenizer");
  if (!pre.ok()) return pre.status();
  t_->pre_tokenizer_ = *std::move(pre);
  auto decoder = BuildDecoder(f_, root.value("decoder", Json()), "decoder");
  if (!decoder.ok()) return decoder.status();
  t_->decoder_ = *std::move(decoder);
  if (absl::Status s = LoadVocab(model); !s.ok()) return s;
  if (absl::Status s = LoadMerges(model); !s.ok()) return s;
  if (absl::Status s = LoadAdded(root); !s.ok()) return s;
  return Finish(model);
}

absl::StatusOr<std::unique_ptr<HfTokenizer>> HfTokenizer::Load(
    const std::string& tokenizer_json_path, const std::string& config_path) {
  absl::StatusOr<Json> root = ReadJson(tokenizer_json_path);
  if (!root.ok()) return root.status();
  Json config = Json::object();
  std::error_code ec;
  if (!config_path.empty() && std::filesystem::exists(config_path, ec)) {
    absl::StatusOr<Json> c = ReadJson(config_path);
    if (!c.ok()) return c.status();
    config = *std::move(c);
  }
  std::unique_ptr<HfTokenizer> t(new HfTokenizer());
  const Fields f(tokenizer_json_path);
  if (!root->is_object()) return f.Error("(top level)", "must be a JSON object");
  if (absl::Status s = HfTokenizerLoader(f, t.get()).Load(*root, config); !s.ok()) return s;
  const Fields cf(config_path.empty() ? "tokenizer_config.json" : config_path);
  for (const char* key : {"remove_space", "do_lowercase_and_remove_accent"}) {
    if (config.is_object() && config.contains(key) && config[key] == true)
      return cf.Unsupported(key, true);
  }
  return t;
}

}  // namespace ablate::engine
