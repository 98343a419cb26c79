// Copyright: the ablate authors.
#include "worker/model_check.h"

#include "absl/strings/str_cat.h"
#include "worker/status_util.h"

namespace ablate::worker {
namespace {

std::string Describe(const std::string& family, int layers, int heads, int kv, int head_dim,
                     int embd, int positions, int vocab) {
  return absl::StrCat(family, " ", layers, "x", heads, " (", kv, " kv heads, head_dim ",
                      head_dim, ", d_model ", embd, ", n_positions ", positions, ", vocab ",
                      vocab, ")");
}

// A shape field matches when the shape leaves it unset (0) or gives the checkpoint's value.
bool Same(int want, int have) { return want == 0 || want == have; }

}  // namespace

std::vector<std::string> ModelFamilies() {
  std::vector<std::string> out;
  for (engine::Family f : {engine::Family::kGpt2, engine::Family::kGptNeox,
                           engine::Family::kLlama, engine::Family::kMistral,
                           engine::Family::kQwen2}) {
    out.push_back(engine::FamilyName(f));
  }
  return out;
}

std::string ModelFamilyOf(const engine::ModelConfig& config) {
  return engine::FamilyName(config.family);
}

int ModelConfigBosId(const engine::ModelConfig& config) { return config.bos_token_id; }

absl::Status CheckModelShape(const ablate::v1::ModelShape& want, const engine::ModelConfig& have,
                             const std::string& path) {
  if (want.n_layer() == 0 && want.n_head() == 0 && want.n_embd() == 0) return absl::OkStatus();
  const std::string family = want.family().empty() ? "gpt2" : want.family();
  const std::string have_family = ModelFamilyOf(have);
  const int have_bos = ModelConfigBosId(have);
  const bool bos_ok = family == "gpt2" || want.bos_token_id() < 0 || have_bos < 0 ||
                      want.bos_token_id() == have_bos;
  if (family == have_family && want.n_layer() == have.n_layer && want.n_head() == have.n_head &&
      want.n_embd() == have.n_embd && Same(want.n_positions(), have.n_positions) &&
      Same(want.vocab_size(), have.vocab_size) && Same(want.n_kv_head(), have.kv_heads()) &&
      Same(want.head_dim(), have.d_head()) && bos_ok) {
    return absl::OkStatus();
  }
  return MarkPermanent(absl::FailedPreconditionError(absl::StrCat(
      "model ", path, " is ",
      Describe(have_family, have.n_layer, have.n_head, have.kv_heads(), have.d_head(),
               have.n_embd, have.n_positions, have.vocab_size),
      bos_ok ? "" : absl::StrCat(" with bos_token_id ", have_bos),
      ", the job names ",
      Describe(family, want.n_layer(), want.n_head(), want.n_kv_head(), want.head_dim(),
               want.n_embd(), want.n_positions(), want.vocab_size()),
      bos_ok ? "" : absl::StrCat(" with bos_token_id ", want.bos_token_id()))));
}

absl::StatusOr<int> TaskBosId(const ablate::v1::ModelShape& shape,
                              const engine::ModelConfig& config, int eot_id) {
  const bool gpt2 = shape.family().empty() || shape.family() == "gpt2";
  if (shape.bos_token_id() > 0 || (!gpt2 && shape.bos_token_id() == 0)) {
    return shape.bos_token_id();
  }
  if (gpt2) {
    absl::StatusOr<int> id = ModelBosId(config, eot_id, "the task's model");
    if (!id.ok()) return MarkPermanent(id.status());
    return id;
  }
  return MarkPermanent(absl::InvalidArgumentError(
      "the task asks for a BOS per chunk but its model shape names no bos_token_id"));
}

absl::StatusOr<int> ModelBosId(const engine::ModelConfig& config, int eot_id,
                               const std::string& path) {
  if (ModelConfigBosId(config) >= 0) return ModelConfigBosId(config);
  const bool gpt2 = ModelFamilyOf(config) == "gpt2";
  if (gpt2 && eot_id >= 0) return eot_id;
  return absl::InvalidArgumentError(
      absl::StrCat("--bos: ", path, " names no bos_token_id in config.json",
                   gpt2 ? " and its vocabulary has no <|endoftext|>" : ""));
}

}  // namespace ablate::worker
