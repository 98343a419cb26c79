#include "storage/model_family.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ablate::storage {
namespace {

namespace v1 = ::ablate::v1;

absl::Status Invalid(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat("spec.model.shape.", field, " ", problem));
}

// gpt2 and gpt_neox: plain multi-head attention, head_dim = n_embd / n_head.
bool FullMultiHead(const std::string& family) {
  return family == "gpt2" || family == "gpt_neox";
}

absl::Status CheckHeads(const std::string& family, const v1::ModelShape& s) {
  if (s.n_kv_head() < 0 || (s.n_kv_head() > 0 && s.n_head() % s.n_kv_head() != 0)) {
    return Invalid("n_kv_head", absl::StrCat("must divide n_head = ", s.n_head(), " (0 = n_head), got ",
                                             s.n_kv_head()));
  }
  if (FullMultiHead(family) && s.n_kv_head() != 0 && s.n_kv_head() != s.n_head()) {
    return Invalid("n_kv_head", absl::StrCat("must equal n_head = ", s.n_head(), " for ", family,
                                             " (no grouped-query attention), got ",
                                             s.n_kv_head()));
  }
  if (s.head_dim() < 0) {
    return Invalid("head_dim", absl::StrCat("must be > 0 (0 = n_embd / n_head), got ",
                                            s.head_dim()));
  }
  if (s.n_embd() < 0 || s.vocab_size() < 0) {
    return Invalid(s.n_embd() < 0 ? "n_embd" : "vocab_size", "must not be negative");
  }
  if (!FullMultiHead(family) && (s.n_embd() == 0 || s.vocab_size() == 0)) {
    return Invalid(s.n_embd() == 0 ? "n_embd" : "vocab_size",
                   absl::StrCat("is required for ", family, " (hidden_size / vocab_size)"));
  }
  if ((s.head_dim() == 0 || FullMultiHead(family)) && s.n_embd() % s.n_head() != 0) {
    return Invalid("n_embd", absl::StrCat(s.n_embd(), " is not divisible by n_head = ",
                                          s.n_head(), s.head_dim() == 0 ? " (head_dim 0)" : ""));
  }
  if (FullMultiHead(family) && s.head_dim() != 0 && s.n_embd() > 0 &&
      s.head_dim() != s.n_embd() / s.n_head()) {
    return Invalid("head_dim", absl::StrCat("must equal n_embd / n_head = ",
                                            s.n_embd() / s.n_head(), " for ", family, ", got ",
                                            s.head_dim()));
  }
  return absl::OkStatus();
}

}  // namespace

const std::vector<std::string>& KnownModelFamilies() {
  static const std::vector<std::string> kFamilies = {"gpt2", "gpt_neox", "llama", "mistral",
                                                     "qwen2"};
  return kFamilies;
}

std::string ModelFamily(const v1::ModelShape& shape) {
  return shape.family().empty() ? "gpt2" : shape.family();
}

absl::Status NormalizeModelShape(v1::JobSpec* spec) {
  v1::ModelShape* s = spec->mutable_model()->mutable_shape();
  const std::string family = ModelFamily(*s);
  const std::vector<std::string>& known = KnownModelFamilies();
  if (std::find(known.begin(), known.end(), family) == known.end()) {
    return Invalid("family", absl::StrCat("\"", family, "\" is not a supported model family (",
                                          absl::StrJoin(known, ", "), ")"));
  }
  s->set_family(family);
  if (absl::Status st = CheckHeads(family, *s); !st.ok()) return st;
  if (family == "gpt2" && s->bos_token_id() <= 0) s->set_bos_token_id(kGpt2BosTokenId);
  if (s->vocab_size() > 0 && s->bos_token_id() >= s->vocab_size()) {
    return Invalid("bos_token_id", absl::StrCat(s->bos_token_id(), " is outside the vocabulary (",
                                                s->vocab_size(), ")"));
  }
  if (spec->bos_per_chunk() && s->bos_token_id() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "spec.bos_per_chunk needs spec.model.shape.bos_token_id (this ", family,
        " model names no BOS token; submit without --bos)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> WorkerFamiliesColumn(
    const google::protobuf::RepeatedPtrField<std::string>& families) {
  if (families.empty()) return std::string(",gpt2,");
  std::string out = ",";
  for (const std::string& f : families) {
    const bool plain = !f.empty() && std::all_of(f.begin(), f.end(), [](char c) {
      return absl::ascii_islower(static_cast<unsigned char>(c)) ||
             absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '_';
    });
    if (!plain) {
      return absl::InvalidArgumentError(
          absl::StrCat("model_families: \"", f, "\" is not a model_type ([a-z0-9_]+)"));
    }
    absl::StrAppend(&out, f, ",");
  }
  return out;
}

}  // namespace ablate::storage
