// Shared helpers for the storage and server tests: a temporary directory, a controllable
// clock, small valid job specs and fake mask results (nll_sum chosen so that the PPL is exact).
#ifndef ABLATE_TESTS_STORAGE_TEST_UTIL_H_
#define ABLATE_TESTS_STORAGE_TEST_UTIL_H_

#include <stdlib.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "ablate/v1/ablate.pb.h"

namespace ablate::testing {

// A fresh directory under $TMPDIR, removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "ablate-test-XXXXXX").string();
    path_ = mkdtemp(pattern.data()) != nullptr ? pattern : "";
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Unix milliseconds that only move when told to.
class FakeClock {
 public:
  int64_t Now() const { return now_.load(); }
  void Advance(int64_t ms) { now_ += ms; }
  std::function<int64_t()> AsFunction() {
    return [this] { return Now(); };
  }

 private:
  std::atomic<int64_t> now_{1'700'000'000'000};
};

inline const char* kModelSha = "aa00000000000000000000000000000000000000000000000000000000000001";

// A valid spec for an n_layer x n_head model: 2 chunks of 8 tokens of a 64-byte text.
inline ablate::v1::JobSpec SmallSpec(int n_layer, int n_head, ablate::v1::Sweep sweep,
                                     int masks_per_task = 4) {
  ablate::v1::JobSpec spec;
  spec.mutable_model()->set_path("/models/tiny");
  spec.mutable_model()->set_sha256(kModelSha);
  spec.mutable_model()->mutable_shape()->set_n_layer(n_layer);
  spec.mutable_model()->mutable_shape()->set_n_head(n_head);
  spec.mutable_model()->mutable_shape()->set_n_positions(64);
  spec.mutable_dataset()->set_text(std::string(64, 'x'));
  spec.set_n_chunks(2);
  spec.set_seq_len(8);
  spec.set_method(ablate::v1::METHOD_ZERO);
  spec.set_sweep(sweep);
  spec.set_masks_per_task(masks_per_task);
  if (sweep == ablate::v1::SWEEP_CUMULATIVE) {
    for (int l = n_layer - 1; l >= 0; --l) {
      for (int h = 0; h < n_head; ++h) {
        ablate::v1::HeadRef* ref = spec.add_cumulative_order();
        ref->set_layer(l);
        ref->set_head(h);
      }
    }
  }
  return spec;
}

// Tokens scored per mask by SmallSpec: n_chunks * (seq_len - 1).
inline int64_t SmallSpecTokens() { return 2 * 7; }

// A made-up PPL per mask: baseline 20, head masks 20 * (1 + (index % 5 - 1) / 20), cumulative
// points rising with k. Deterministic, so tests can recompute expectations.
inline double FakePpl(ablate::v1::Phase phase, int index) {
  if (index == 0) return 20.0;
  if (phase == ablate::v1::PHASE_INDIVIDUAL) return 20.0 * (1.0 + (index % 5 - 1) / 20.0);
  return 20.0 * (1.0 + 0.05 * index);
}

// Fills `request` with fake results for every mask of `task` (as the worker would).
inline void FillFakeResults(const ablate::v1::Task& task, const std::string& worker_id,
                            ablate::v1::CompleteTaskRequest* request,
                            const std::function<double(ablate::v1::Phase, int)>& ppl = FakePpl) {
  request->set_worker_id(worker_id);
  request->set_task_id(task.task_id());
  request->set_lease_token(task.lease_token());
  const int64_t tokens = int64_t{task.n_chunks()} * (task.seq_len() - 1);
  for (const ablate::v1::MaskSpec& mask : task.masks()) {
    ablate::v1::MaskResult* r = request->add_results();
    r->set_phase(mask.phase());
    r->set_index(mask.index());
    r->set_n_tokens(tokens);
    r->set_nll_sum(std::log(ppl(mask.phase(), mask.index())) * static_cast<double>(tokens));
  }
  ablate::v1::ResultMeta* meta = request->mutable_meta();
  meta->set_model_sha256(task.model().sha256());
  meta->set_dataset_sha256(task.dataset_sha256());
  meta->set_tokens_scored(tokens);
  meta->set_device("cpu");
  meta->set_dtype(task.dtype());
  meta->set_software_version("test");
  meta->set_seconds(0.01);
}

}  // namespace ablate::testing

#endif  // ABLATE_TESTS_STORAGE_TEST_UTIL_H_
