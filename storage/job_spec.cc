#include "storage/job_spec.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "proto/analysis/tables.h"
#include "storage/model_family.h"
#include "storage/sha256.h"

namespace ablate::storage {
namespace {

namespace v1 = ::ablate::v1;

absl::Status Invalid(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, " ", problem));
}

absl::Status CheckModel(v1::ModelRef* model) {
  if (model->path().empty() && model->artifact_digest().empty()) {
    return Invalid("spec.model.path", "is empty (give a checkpoint folder or an artifact digest)");
  }
  if (!model->artifact_digest().empty()) {
    if (!IsSha256Hex(model->artifact_digest())) {
      return Invalid("spec.model.artifact_digest", "is not 64 hex digits");
    }
    model->set_artifact_digest(LowerHex(model->artifact_digest()));
  }
  if (model->sha256().empty()) {
    return Invalid("spec.model.sha256",
                   "is empty (the weights digest: SHA-256 of model.safetensors, see ModelRef)");
  }
  if (!IsSha256Hex(model->sha256())) {
    return Invalid("spec.model.sha256", absl::StrCat("\"", model->sha256(),
                                                     "\" is not 64 hex digits"));
  }
  model->set_sha256(LowerHex(model->sha256()));
  return absl::OkStatus();
}

absl::Status CheckStrings(const SpecLimits& limits, const v1::JobSpec& spec) {
  const struct {
    const char* field;
    size_t size;
    int max;
  } kStrings[] = {{"spec.name", spec.name().size(), limits.max_name_bytes},
                  {"spec.dataset.name", spec.dataset().name().size(), limits.max_name_bytes},
                  {"spec.model.path", spec.model().path().size(), limits.max_path_bytes}};
  for (const auto& s : kStrings) {
    if (s.size > static_cast<size_t>(s.max)) {
      return Invalid(s.field, absl::StrCat("is ", s.size, " bytes, the limit is ", s.max));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPriority(const SpecLimits& limits, const v1::JobSpec& spec) {
  if (spec.priority() < limits.min_priority || spec.priority() > limits.max_priority) {
    return Invalid("spec.priority", absl::StrCat("must be in ", limits.min_priority, "..",
                                                 limits.max_priority, ", got ",
                                                 spec.priority()));
  }
  return absl::OkStatus();
}

absl::Status CheckShape(const SpecLimits& limits, const v1::ModelShape& shape) {
  if (shape.n_layer() <= 0 || shape.n_layer() > limits.max_layers) {
    return Invalid("spec.model.shape.n_layer",
                   absl::StrCat("must be in 1..", limits.max_layers, ", got ", shape.n_layer()));
  }
  if (shape.n_head() <= 0 || shape.n_head() > limits.max_heads_per_layer) {
    return Invalid("spec.model.shape.n_head", absl::StrCat("must be in 1..",
                                                           limits.max_heads_per_layer, ", got ",
                                                           shape.n_head()));
  }
  if (int64_t{shape.n_layer()} * shape.n_head() > limits.max_heads_total) {
    return Invalid("spec.model.shape", absl::StrCat("has ", shape.n_layer(), " x ",
                                                    shape.n_head(), " heads, over the server's "
                                                    "limit of ", limits.max_heads_total));
  }
  if (shape.n_positions() <= 0) {
    return Invalid("spec.model.shape.n_positions",
                   absl::StrCat("must be > 0 (the model's context), got ", shape.n_positions()));
  }
  return absl::OkStatus();
}

absl::Status CheckSizes(const v1::JobSpec& spec) {
  if (spec.n_chunks() <= 0) {
    return Invalid("spec.n_chunks", absl::StrCat("must be > 0, got ", spec.n_chunks()));
  }
  if (spec.seq_len() < 2) {
    return Invalid("spec.seq_len", absl::StrCat("must be >= 2, got ", spec.seq_len()));
  }
  if (spec.seq_len() > spec.model().shape().n_positions()) {
    return Invalid("spec.seq_len",
                   absl::StrCat(spec.seq_len(), " exceeds the model's context n_positions = ",
                                spec.model().shape().n_positions()));
  }
  return absl::OkStatus();
}

// block_tokens: 0 = the default (64, or seq_len - 1 when chunks are shorter); else 1..seq_len-1.
absl::Status CheckBlockTokens(v1::JobSpec* spec) {
  if (spec->block_tokens() == 0) spec->set_block_tokens(BlockTokensOf(*spec));
  if (spec->block_tokens() < 1 || spec->block_tokens() > spec->seq_len() - 1) {
    return Invalid("spec.block_tokens",
                   absl::StrCat("must be in 1..seq_len - 1 = ", spec->seq_len() - 1,
                                " (0 = default 64), got ", spec->block_tokens()));
  }
  return absl::OkStatus();
}

absl::Status CheckEnums(v1::JobSpec* spec) {
  if (spec->method() == v1::METHOD_UNSPECIFIED || !v1::Method_IsValid(spec->method())) {
    return Invalid("spec.method", absl::StrCat("is unknown or unset (", spec->method(),
                                               "); use zero, zero_folded or mean"));
  }
  if (spec->sweep() == v1::SWEEP_UNSPECIFIED || !v1::Sweep_IsValid(spec->sweep())) {
    return Invalid("spec.sweep", absl::StrCat("is unknown or unset (", spec->sweep(),
                                              "); use individual, cumulative, full or attribution"));
  }
  if (!v1::DType_IsValid(spec->dtype())) {
    return Invalid("spec.dtype", absl::StrCat("is unknown (", spec->dtype(), ")"));
  }
  if (spec->dtype() == v1::DTYPE_UNSPECIFIED) spec->set_dtype(v1::DTYPE_FP32);
  if (!v1::DeviceKind_IsValid(spec->device_kind())) {
    return Invalid("spec.device_kind", absl::StrCat("is unknown (", spec->device_kind(), ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckLimits(const SpecLimits& limits, v1::JobSpec* spec) {
  if (spec->masks_per_task() == 0) {
    if (limits.default_masks_per_task <= 0) {
      const int sized = ChooseMasksPerTask(*spec, limits.task_sizing);
      spec->set_masks_per_task(std::clamp(sized, 1, limits.max_masks_per_task));
    } else {
      spec->set_masks_per_task(limits.default_masks_per_task);
    }
  }
  if (spec->masks_per_task() < 1 || spec->masks_per_task() > limits.max_masks_per_task) {
    return Invalid("spec.masks_per_task", absl::StrCat("must be in 1..", limits.max_masks_per_task,
                                                       " (0 = default), got ",
                                                       spec->masks_per_task()));
  }
  const int64_t tasks = (MasksPerPhase(*spec) + spec->masks_per_task() - 1) /
                        spec->masks_per_task();
  if (tasks > limits.max_tasks_per_job) {
    return Invalid("spec.masks_per_task",
                   absl::StrCat(spec->masks_per_task(), " gives ", tasks,
                                " tasks per phase, over the server's limit of ",
                                limits.max_tasks_per_job, "; ask for more masks per task"));
  }
  if (spec->max_attempts() == 0) spec->set_max_attempts(limits.default_max_attempts);
  if (spec->max_attempts() < 1 || spec->max_attempts() > limits.max_max_attempts) {
    return Invalid("spec.max_attempts", absl::StrCat("must be in 1..", limits.max_max_attempts,
                                                     " (0 = default), got ",
                                                     spec->max_attempts()));
  }
  return absl::OkStatus();
}

absl::Status CheckOrder(const v1::JobSpec& spec) {
  const int n_layer = spec.model().shape().n_layer();
  const int n_head = spec.model().shape().n_head();
  if (spec.sweep() != v1::SWEEP_CUMULATIVE) {
    if (spec.cumulative_order_size() != 0) {
      return Invalid("spec.cumulative_order", "must be empty unless sweep is SWEEP_CUMULATIVE");
    }
    return absl::OkStatus();
  }
  const int n = n_layer * n_head;
  if (spec.cumulative_order_size() != n) {
    return Invalid("spec.cumulative_order",
                   absl::StrCat("is not a permutation of the ", n, " heads: it has ",
                                spec.cumulative_order_size(), " entries"));
  }
  std::vector<bool> seen(n, false);
  for (const v1::HeadRef& ref : spec.cumulative_order()) {
    if (ref.layer() < 0 || ref.layer() >= n_layer || ref.head() < 0 || ref.head() >= n_head) {
      return Invalid("spec.cumulative_order", absl::StrCat("names head (", ref.layer(), ", ",
                                                           ref.head(), ") outside the model"));
    }
    int flat = ref.layer() * n_head + ref.head();
    if (seen[flat]) {
      return Invalid("spec.cumulative_order",
                     absl::StrCat("is not a permutation: head (", ref.layer(), ", ", ref.head(),
                                  ") appears twice"));
    }
    seen[flat] = true;
  }
  return absl::OkStatus();
}

absl::Status CheckVerifyTopK(const v1::JobSpec& spec) {
  const int n = spec.model().shape().n_layer() * spec.model().shape().n_head();
  if (spec.sweep() != v1::SWEEP_ATTRIBUTION) {
    if (spec.verify_top_k() == 0) return absl::OkStatus();
    return Invalid("spec.verify_top_k", "must be 0 unless sweep is SWEEP_ATTRIBUTION");
  }
  if (spec.verify_top_k() < 0 || spec.verify_top_k() > n) {
    return Invalid("spec.verify_top_k", absl::StrCat("must be in 0..", n,
                                                     " (the model's heads), got ",
                                                     spec.verify_top_k()));
  }
  return absl::OkStatus();
}

absl::Status CheckTextLength(const v1::JobSpec& spec, int64_t text_bytes) {
  const int64_t per_chunk = spec.seq_len() - (spec.bos_per_chunk() ? 1 : 0);
  const int64_t needed = int64_t{spec.n_chunks()} * per_chunk;
  // Every token covers at least one byte of the text, except the one space marker a
  // sentencepiece-style tokenizer (Llama 2, Mistral) prepends to the whole text. (A
  // normalizer that expands text, such as NFKC on ligatures, could beat this bound; the
  // worker's exact count is the final word.)
  if (text_bytes + 1 < needed) {
    return Invalid("spec.dataset.text",
                   absl::StrCat("is too short: ", text_bytes, " bytes cannot hold the ", needed,
                                " tokens asked (n_chunks * seq_len; a token is at least 1 byte,"
                                " plus a prepended space marker)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> CheckInlineDataset(const v1::Dataset& dataset,
                                               const SpecLimits& limits) {
  const int64_t bytes = static_cast<int64_t>(dataset.text().size());
  if (bytes > limits.max_dataset_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("spec.dataset.text is ", bytes, " bytes, over the server's limit of ",
                     limits.max_dataset_bytes));
  }
  if (!dataset.sha256().empty() && !IsSha256Hex(dataset.sha256())) {
    return Invalid("spec.dataset.sha256", "is not 64 hex digits");
  }
  std::string actual = Sha256Hex(dataset.text());
  if (!dataset.sha256().empty() && LowerHex(dataset.sha256()) != actual) {
    return Invalid("spec.dataset.sha256",
                   absl::StrCat("does not match the text (the text's SHA-256 is ", actual, ")"));
  }
  return actual;
}

absl::Status NormalizeSpec(const SpecLimits& limits, int64_t text_bytes, v1::JobSpec* spec) {
  if (absl::Status s = CheckStrings(limits, *spec); !s.ok()) return s;
  if (absl::Status s = CheckPriority(limits, *spec); !s.ok()) return s;
  if (absl::Status s = CheckModel(spec->mutable_model()); !s.ok()) return s;
  if (absl::Status s = CheckShape(limits, spec->model().shape()); !s.ok()) return s;
  if (absl::Status s = NormalizeModelShape(spec); !s.ok()) return s;
  if (absl::Status s = CheckSizes(*spec); !s.ok()) return s;
  if (absl::Status s = CheckBlockTokens(spec); !s.ok()) return s;
  if (absl::Status s = CheckEnums(spec); !s.ok()) return s;
  if (absl::Status s = CheckLimits(limits, spec); !s.ok()) return s;
  if (absl::Status s = CheckOrder(*spec); !s.ok()) return s;
  if (absl::Status s = CheckVerifyTopK(*spec); !s.ok()) return s;
  if (!spec->dataset().sha256().empty()) {
    if (!IsSha256Hex(spec->dataset().sha256())) {
      return Invalid("spec.dataset.sha256", "is not 64 hex digits");
    }
    spec->mutable_dataset()->set_sha256(LowerHex(spec->dataset().sha256()));
  }
  return CheckTextLength(*spec, text_bytes);
}

int BlockTokensOf(const v1::JobSpec& spec) {
  if (spec.block_tokens() != 0) return spec.block_tokens();
  return std::max(1, std::min(kDefaultBlockTokens, spec.seq_len() - 1));
}

std::vector<int64_t> JobBlockSizes(const v1::JobSpec& spec) {
  return analysis::BlockSizes(spec.n_chunks(), spec.seq_len(), BlockTokensOf(spec));
}

int64_t MasksPerPhase(const v1::JobSpec& spec) {
  return 1 + int64_t{spec.model().shape().n_layer()} * spec.model().shape().n_head();
}

int64_t MasksTotal(const v1::JobSpec& spec) {
  if (spec.sweep() == v1::SWEEP_ATTRIBUTION) {
    return 1 + (spec.verify_top_k() > 0 ? spec.verify_top_k() + 1 : 0);
  }
  return MasksPerPhase(spec) * (spec.sweep() == v1::SWEEP_FULL ? 2 : 1);
}

std::vector<std::vector<int>> SplitIntoTasks(int first, int last, int per_task) {
  std::vector<std::vector<int>> tasks;
  for (int begin = first; begin <= last; begin += per_task) {
    std::vector<int>& task = tasks.emplace_back();
    for (int i = begin; i <= last && i < begin + per_task; ++i) task.push_back(i);
  }
  return tasks;
}

std::string Truncate(absl::string_view text, size_t max) {
  if (text.size() <= max) return std::string(text);
  constexpr absl::string_view kMark = "...";
  size_t keep = max > kMark.size() ? max - kMark.size() : 0;
  // Back up over UTF-8 continuation bytes (10xxxxxx) so no character is split.
  while (keep > 0 && (static_cast<unsigned char>(text[keep]) & 0xC0) == 0x80) --keep;
  return absl::StrCat(text.substr(0, keep), kMark);
}

std::string JoinIndices(const std::vector<int>& indices) { return absl::StrJoin(indices, ","); }

absl::StatusOr<std::vector<int>> ParseIndices(absl::string_view text) {
  std::vector<int> out;
  if (text.empty()) return out;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int value = 0;
    if (!absl::SimpleAtoi(part, &value)) {
      return absl::DataLossError(absl::StrCat("stored mask list \"", text, "\" is malformed"));
    }
    out.push_back(value);
  }
  return out;
}

std::vector<int> IndividualMaskHeads(int index) {
  if (index <= 0) return {};
  return {index - 1};
}

std::vector<int> CumulativeMaskHeads(const std::vector<int>& order, int k) {
  k = std::clamp(k, 0, static_cast<int>(order.size()));
  return std::vector<int>(order.begin(), order.begin() + k);
}

}  // namespace ablate::storage
