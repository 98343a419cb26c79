// Copyright: the ablate authors.
#include "worker/engine_executor.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "proto/artifact/digest.h"
#include "worker/chunks.h"
#include "worker/model_check.h"
#include "worker/status_util.h"

namespace ablate::worker {
namespace {

using Clock = std::chrono::steady_clock;

// Moves `key`'s entry to the front of an MRU list; returns its value or nullptr.
template <typename V>
std::shared_ptr<const V> Lookup(std::list<std::pair<std::string, std::shared_ptr<const V>>>* list,
                                const std::string& key) {
  for (auto it = list->begin(); it != list->end(); ++it) {
    if (it->first != key) continue;
    list->splice(list->begin(), *list, it);
    return list->front().second;
  }
  return nullptr;
}

template <typename V>
void Insert(std::list<std::pair<std::string, std::shared_ptr<const V>>>* list,
            const std::string& key, std::shared_ptr<const V> value, int capacity) {
  list->emplace_front(key, std::move(value));
  while (static_cast<int>(list->size()) > std::max(1, capacity)) list->pop_back();
}

// OK when `path`, symlinks resolved, lies inside one of `roots`.
absl::Status CheckModelRoot(const std::string& path, const std::vector<std::string>& roots) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path real = fs::weakly_canonical(fs::path(path), ec);
  for (const std::string& root : roots) {
    const fs::path base = fs::weakly_canonical(fs::path(root), ec);
    auto mismatch = std::mismatch(base.begin(), base.end(), real.begin(), real.end());
    if (!ec && !base.empty() && mismatch.first == base.end()) return absl::OkStatus();
  }
  spdlog::warn("refused to read model path {}: outside --model-root", path);
  return absl::PermissionDeniedError(
      "spec.model.path is not readable on this worker (it reads local checkpoints only under "
      "its --model-root folders); upload the model instead (ablate submit --upload)");
}

// `status` with a message that names only the job's input; the original goes to the log.
// Code and payloads (MarkPermanent) are kept.
absl::Status ForClients(const absl::Status& status, const char* input) {
  spdlog::warn("model {}: {}", input, status.ToString());
  absl::Status out(status.code(),
                   absl::StrCat("cannot use the model named by ", input, " on this worker (",
                                absl::StatusCodeToString(status.code()),
                                "; the worker's log has the details)"));
  status.ForEachPayload([&](absl::string_view url, const absl::Cord& payload) {
    out.SetPayload(url, payload);
  });
  return out;
}

// Sleeps `ms` in short steps; false as soon as the task must stop.
bool SleepUnlessStopped(int ms, TaskControl* control) {
  auto until = Clock::now() + std::chrono::milliseconds(ms);
  while (Clock::now() < until) {
    if (control->ShouldStop()) return false;
    std::this_thread::sleep_for(std::min<Clock::duration>(std::chrono::milliseconds(20),
                                                          until - Clock::now()));
  }
  return !control->ShouldStop();
}

bool IsAttribution(const ablate::v1::Task& task) {
  return task.masks_size() > 0 && task.masks(0).phase() == ablate::v1::PHASE_ATTRIBUTION;
}

// A PHASE_ATTRIBUTION task: the clean run and every head's first-order estimate.
absl::StatusOr<std::vector<engine::MaskNll>> Attribute(const LoadedModel& model,
                                                       const torch::Tensor& chunks,
                                                       engine::Method method,
                                                       int64_t block_tokens,
                                                       TaskControl* control,
                                                       std::vector<double>* estimates) {
  if (control->ShouldStop()) return absl::AbortedError(AbortReasonName(control->reason()));
  absl::StatusOr<engine::Attribution> a =
      model.engine->Attribute(chunks, method, engine::EvalOptions{block_tokens, nullptr});
  if (!a.ok()) return a.status();
  control->AddMasksDone(1);
  *estimates = std::move(a->estimates);
  return std::vector<engine::MaskNll>{std::move(a->clean)};
}

}  // namespace

absl::StatusOr<std::vector<engine::HeadMask>> TaskMasks(const ablate::v1::Task& task,
                                                        const engine::ModelConfig& config) {
  const int total = config.n_heads_total();
  std::vector<engine::HeadMask> masks;
  masks.reserve(task.masks_size());
  for (const ablate::v1::MaskSpec& spec : task.masks()) {
    if (spec.phase() == ablate::v1::PHASE_ATTRIBUTION &&
        (task.masks_size() != 1 || spec.index() != 0 || spec.heads_size() > 0)) {
      return MarkPermanent(absl::InvalidArgumentError(
          "a PHASE_ATTRIBUTION task has exactly one mask: index 0, no heads"));
    }
    std::vector<bool> seen(total, false);
    engine::HeadMask mask;
    for (int head : spec.heads()) {
      if (head < 0 || head >= total || seen[head]) {
        return MarkPermanent(absl::InvalidArgumentError(absl::StrCat(
            "mask (phase ", spec.phase(), ", index ", spec.index(), ") has head ", head,
            head < 0 || head >= total ? " outside [0, " : " twice; model has ", total, ")")));
      }
      seen[head] = true;
      mask.push_back(head);
    }
    masks.push_back(std::move(mask));
  }
  return masks;
}

EngineExecutor::EngineExecutor(ExecutorOptions options)
    : options_(std::move(options)), models_(options_.max_cached_models) {}

absl::StatusOr<std::shared_ptr<const std::string>> EngineExecutor::GetDataset(
    const std::string& sha256, const DatasetFetcher& fetch) {
  const std::string key = absl::AsciiStrToLower(sha256);
  if (auto hit = Lookup(&datasets_, key)) return hit;
  absl::StatusOr<std::string> text = fetch(key);
  if (!text.ok()) {
    return text.status().code() == absl::StatusCode::kNotFound ? MarkPermanent(text.status())
                                                               : text.status();
  }
  const std::string got = artifact::Sha256Hex(*text);
  if (got != key) {
    return absl::DataLossError(
        absl::StrCat("dataset ", key, ": the server sent text whose SHA-256 is ", got));
  }
  auto value = std::make_shared<const std::string>(std::move(*text));
  Insert(&datasets_, key, value, options_.max_cached_datasets);
  return value;
}

absl::StatusOr<std::shared_ptr<const EngineExecutor::Tokens>> EngineExecutor::GetTokens(
    const LoadedModel& model, const std::string& dataset_sha256, const DatasetFetcher& fetch) {
  const std::string key = absl::StrCat(model.fingerprint.path, "|", model.fingerprint.sha256,
                                       "|", absl::AsciiStrToLower(dataset_sha256));
  if (auto hit = Lookup(&tokens_, key)) return hit;
  absl::StatusOr<std::shared_ptr<const std::string>> text = GetDataset(dataset_sha256, fetch);
  if (!text.ok()) return text.status();
  auto tokens = std::make_shared<const Tokens>(model.tokenizer->Encode(**text));
  Insert(&tokens_, key, tokens, options_.max_cached_datasets);
  return tokens;
}

absl::StatusOr<std::vector<engine::MaskNll>> EngineExecutor::EvaluateMasks(
    const LoadedModel& model, const torch::Tensor& chunks,
    const std::vector<engine::HeadMask>& masks, engine::Method method, int64_t block_tokens,
    TaskControl* control) {
  const int64_t n = static_cast<int64_t>(masks.size());
  const int64_t batch = options_.masks_per_batch > 0 ? options_.masks_per_batch : n;
  std::vector<engine::MaskNll> out;
  out.reserve(n);
  for (int64_t begin = 0; begin < n; begin += batch) {
    if (control->ShouldStop()) return absl::AbortedError(AbortReasonName(control->reason()));
    const int64_t size = std::min(batch, n - begin);
    int64_t reported = 0;
    engine::ProgressFn progress = [&](int64_t done, int64_t) {
      control->AddMasksDone(done - reported);
      reported = done;
    };
    absl::StatusOr<std::vector<engine::MaskNll>> nll = model.engine->Evaluate(
        chunks, absl::MakeConstSpan(masks).subspan(begin, size), method,
        engine::EvalOptions{block_tokens, progress});
    if (!nll.ok()) return nll.status();
    control->AddMasksDone(size - reported);
    out.insert(out.end(), nll->begin(), nll->end());
    // The test hook sleeps after the batch, so the numbers stay those of a normal run.
    if (options_.test_sleep_per_mask_ms > 0 &&
        !SleepUnlessStopped(options_.test_sleep_per_mask_ms * static_cast<int>(size), control)) {
      return absl::AbortedError(AbortReasonName(control->reason()));
    }
  }
  return out;
}

struct EngineExecutor::Prepared {
  std::unique_ptr<ArtifactCache::Handle> artifact;  // Pins a fetched model while in use.
  std::shared_ptr<const LoadedModel> model;
  engine::EngineOptions engine;
  torch::Tensor chunks;
  std::vector<engine::HeadMask> masks;
};

absl::StatusOr<EngineExecutor::Prepared> EngineExecutor::Prepare(const ablate::v1::Task& task,
                                                                 const DatasetFetcher& fetch) {
  Prepared p;
  if (task.method() < 1 || task.method() > 3) {
    return MarkPermanent(absl::InvalidArgumentError(
        absl::StrCat("task has no valid method (", task.method(), ")")));
  }
  std::string path = task.model().path();
  const bool by_digest = !task.model().artifact_digest().empty();
  if (by_digest) {  // The digest wins over a path: nothing local is read for it.
    if (options_.artifacts == nullptr) {
      return absl::FailedPreconditionError("model given by artifact digest, but this worker has no artifact cache");
    }
    auto handle = options_.artifacts->Acquire(task.model().artifact_digest());
    if (!handle.ok()) return handle.status();
    p.artifact = std::move(*handle);
    path = p.artifact->path();
  } else if (!path.empty()) {
    absl::Status allowed = CheckModelRoot(path, options_.model_roots);
    if (!allowed.ok()) return allowed;
  }
  if (path.empty()) return MarkPermanent(absl::InvalidArgumentError("task names no model"));
  p.engine = options_.engine;
  p.engine.dtype = task.dtype() == ablate::v1::DTYPE_UNSPECIFIED
                       ? engine::DType::kFloat32
                       : static_cast<engine::DType>(task.dtype());
  const char* input = by_digest ? "spec.model.artifact_digest" : "spec.model.path";
  auto model = models_.Get(path, task.model().sha256(), p.engine);
  if (!model.ok()) return ForClients(model.status(), input);
  p.model = *std::move(model);
  const ModelFingerprint& f = p.model->fingerprint;
  absl::Status shape = CheckModelShape(task.model().shape(), f.config, f.path);
  if (!shape.ok()) return ForClients(shape, input);
  int bos_id = -1;
  if (task.bos_per_chunk()) {
    absl::StatusOr<int> id =
        TaskBosId(task.model().shape(), f.config, p.model->tokenizer->eot_id());
    if (!id.ok()) return id.status();
    bos_id = *id;
  }
  auto tokens = GetTokens(*p.model, task.dataset_sha256(), fetch);
  if (!tokens.ok()) return tokens.status();
  auto chunks =
      MakeChunks(**tokens, task.n_chunks(), task.seq_len(), task.bos_per_chunk(), bos_id);
  if (!chunks.ok()) return MarkPermanent(chunks.status());
  p.chunks = *std::move(chunks);
  auto masks = TaskMasks(task, f.config);
  if (!masks.ok()) return masks.status();
  p.masks = *std::move(masks);
  return p;
}

absl::StatusOr<TaskOutput> EngineExecutor::Execute(const ablate::v1::Task& task,
                                                   const DatasetFetcher& fetch_dataset,
                                                   TaskControl* control) {
  if (options_.test_fail_tasks) return absl::InternalError("injected failure (--test-fail-tasks)");
  auto p = Prepare(task, fetch_dataset);
  if (!p.ok()) return p.status();
  // Evaluation only: a first task's model load, fetch and tokenization would make the
  // worker's masks/s depend on how many tasks it happened to run.
  const auto start = Clock::now();
  const auto method = static_cast<engine::Method>(task.method());
  const int64_t block =
      task.block_tokens() > 0 ? task.block_tokens() : engine::kDefaultBlockTokens;
  std::vector<double> estimates;  // PHASE_ATTRIBUTION only
  auto nll = IsAttribution(task)
                 ? Attribute(*p->model, p->chunks, method, block, control, &estimates)
                 : EvaluateMasks(*p->model, p->chunks, p->masks, method, block, control);
  if (!nll.ok()) return nll.status();
  TaskOutput output;
  for (int i = 0; i < task.masks_size(); ++i) {
    ablate::v1::MaskResult* r = &output.results.emplace_back();
    r->set_phase(task.masks(i).phase());
    r->set_index(task.masks(i).index());
    r->set_nll_sum((*nll)[i].nll_sum);
    r->set_n_tokens((*nll)[i].n_tokens);
    for (double b : (*nll)[i].block_nll) r->add_block_nll(b);
    for (double e : estimates) r->add_head_estimates(e);
  }
  ablate::v1::ResultMeta& meta = output.meta;
  meta.set_model_sha256(p->model->fingerprint.sha256);
  meta.set_dataset_sha256(absl::AsciiStrToLower(task.dataset_sha256()));
  meta.set_tokens_scored(nll->empty() ? 0 : nll->front().n_tokens);
  meta.set_device(p->engine.device);
  meta.set_dtype(static_cast<ablate::v1::DType>(p->engine.dtype));
  meta.set_software_version(ABLATE_VERSION);
  meta.set_seconds(std::chrono::duration<double>(Clock::now() - start).count());
  return output;
}

}  // namespace ablate::worker
