// Copyright: the ablate authors.
//
// EngineExecutor without a server: results equal direct engine calls, the ResultMeta, the
// dataset fetched once and verified, which errors are permanent, and stopping mid-task.
// Also the chunking rules (chunks.h) and device descriptions (device_info.h).
#include "worker/engine_executor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <thread>

#include "proto/artifact/digest.h"
#include "tests/worker/worker_test_util.h"
#include "worker/chunks.h"
#include "worker/device_info.h"
#include "worker/status_util.h"

namespace ablate::worker {
namespace {

// Executor options that let tasks name checkpoints anywhere (the tests' temp folders).
ExecutorOptions Local() {
  ExecutorOptions options;
  options.model_roots = {"/"};
  return options;
}


namespace v1 = ::ablate::v1;
using ::ablate::testing::TempDir;
using ::testing::HasSubstr;

class ExecutorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    auto sha = ablate::testing::WriteRandomModel(dir_->File("model"), 5);
    ASSERT_TRUE(sha.ok()) << sha.status();
    sha_ = new std::string(*sha);
    text_ = new std::string(ablate::testing::TestText(1500));
  }
  static void TearDownTestSuite() {
    delete dir_;
    delete sha_;
    delete text_;
  }

  v1::Task MakeTask() const {
    v1::Task task;
    task.set_task_id("task-1");
    task.set_job_id("job-1");
    task.mutable_model()->set_path(dir_->File("model"));
    task.mutable_model()->set_sha256(*sha_);
    task.set_dataset_sha256(artifact::Sha256Hex(*text_));
    task.set_n_chunks(2);
    task.set_seq_len(16);
    task.set_method(v1::METHOD_ZERO_FOLDED);
    for (int i = 0; i < 3; ++i) {
      v1::MaskSpec* m = task.add_masks();
      m->set_phase(v1::PHASE_INDIVIDUAL);
      m->set_index(i);
      if (i > 0) m->add_heads(i * 3);
    }
    return task;
  }

  DatasetFetcher Fetcher(std::string text) {
    return [this, text](const std::string&) -> absl::StatusOr<std::string> {
      ++fetches_;
      return text;
    };
  }

  static TempDir* dir_;
  static std::string* sha_;
  static std::string* text_;
  int fetches_ = 0;
};

TempDir* ExecutorTest::dir_ = nullptr;
std::string* ExecutorTest::sha_ = nullptr;
std::string* ExecutorTest::text_ = nullptr;

TEST_F(ExecutorTest, ResultsAndMetaMatchTheEngine) {
  EngineExecutor executor(Local());
  TaskControl control;
  const v1::Task task = MakeTask();
  auto out = executor.Execute(task, Fetcher(*text_), &control);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->results.size(), 3u);
  EXPECT_EQ(control.masks_done(), 3);
  // The same masks through LoadModel + Model::Evaluate in one call give the same bits.
  auto model = LoadModel(dir_->File("model"), *sha_, {});
  ASSERT_TRUE(model.ok());
  auto chunks = MakeChunks((*model)->tokenizer->Encode(*text_), 2, 16, false, 50256);
  std::vector<engine::HeadMask> masks = {{}, {3}, {6}};
  auto nll = (*model)->engine->Evaluate(*chunks, masks, engine::Method::kZeroFolded);
  ASSERT_TRUE(nll.ok());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(out->results[i].phase(), v1::PHASE_INDIVIDUAL);
    EXPECT_EQ(out->results[i].index(), i);
    EXPECT_EQ(out->results[i].nll_sum(), (*nll)[i].nll_sum);
    EXPECT_EQ(out->results[i].n_tokens(), 30);
  }
  EXPECT_NE(out->results[0].nll_sum(), out->results[1].nll_sum());
  EXPECT_EQ(out->meta.model_sha256(), *sha_);
  EXPECT_EQ(out->meta.dataset_sha256(), task.dataset_sha256());
  EXPECT_EQ(out->meta.tokens_scored(), 30);
  EXPECT_EQ(out->meta.device(), "cpu");
  EXPECT_EQ(out->meta.dtype(), v1::DTYPE_FP32);
  EXPECT_EQ(out->meta.software_version(), ABLATE_VERSION);
  EXPECT_GT(out->meta.seconds(), 0);
  // A second task reuses the cached model and dataset.
  ASSERT_TRUE(executor.Execute(task, Fetcher(*text_), &control).ok());
  EXPECT_EQ(fetches_, 1);
}

// meta.seconds (the server's masks/s per worker) times the evaluation only: a slow dataset
// fetch on a worker's first task must not count.
TEST_F(ExecutorTest, SecondsExcludeFetchAndModelLoad) {
  EngineExecutor executor(Local());
  TaskControl control;
  const std::string text = *text_;
  const auto slow_fetch = [text](const std::string&) -> absl::StatusOr<std::string> {
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    return text;
  };
  const auto start = std::chrono::steady_clock::now();
  auto out = executor.Execute(MakeTask(), slow_fetch, &control);
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_GE(wall, 1.5);
  EXPECT_GT(out->meta.seconds(), 0);
  EXPECT_LT(out->meta.seconds(), wall - 1.4);
}

TEST_F(ExecutorTest, BatchedTaskEqualsWholeTaskToRounding) {
  ExecutorOptions options = Local();
  options.masks_per_batch = 1;
  EngineExecutor one_by_one(options);
  EngineExecutor whole(Local());
  TaskControl c1, c2;
  auto a = one_by_one.Execute(MakeTask(), Fetcher(*text_), &c1);
  auto b = whole.Execute(MakeTask(), Fetcher(*text_), &c2);
  ASSERT_TRUE(a.ok() && b.ok());
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(a->results[i].nll_sum(), b->results[i].nll_sum(),
                1e-5 * std::abs(b->results[i].nll_sum()));
  }
}

TEST_F(ExecutorTest, PermanentAndTransientErrors) {
  EngineExecutor executor(Local());
  TaskControl control;
  v1::Task task = MakeTask();
  task.mutable_model()->set_sha256(std::string(64, '0'));
  auto mismatch = executor.Execute(task, Fetcher(*text_), &control);
  EXPECT_TRUE(IsPermanent(mismatch.status())) << mismatch.status();
  // Clients learn which input failed, not the worker's folders (issue 10).
  EXPECT_THAT(mismatch.status().message(), HasSubstr("spec.model.path"));
  EXPECT_THAT(mismatch.status().message(), ::testing::Not(HasSubstr(dir_->File(""))));

  task = MakeTask();
  task.mutable_model()->set_path(dir_->File("missing"));
  auto missing = executor.Execute(task, Fetcher(*text_), &control);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(IsPermanent(missing.status()));

  auto corrupt = executor.Execute(MakeTask(), Fetcher("other text"), &control);
  EXPECT_EQ(corrupt.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(IsPermanent(corrupt.status()));

  task = MakeTask();
  task.set_n_chunks(500);
  auto too_short = executor.Execute(task, Fetcher(*text_), &control);
  EXPECT_TRUE(IsPermanent(too_short.status()));
  EXPECT_THAT(too_short.status().message(), HasSubstr("text too short"));

  task = MakeTask();
  task.mutable_masks(1)->add_heads(12);
  auto out_of_range = executor.Execute(task, Fetcher(*text_), &control);
  EXPECT_TRUE(IsPermanent(out_of_range.status()));
  EXPECT_THAT(out_of_range.status().message(), HasSubstr("head 12"));

  task = MakeTask();
  task.mutable_model()->mutable_shape()->set_n_layer(12);
  task.mutable_model()->mutable_shape()->set_n_head(12);
  task.mutable_model()->mutable_shape()->set_n_embd(768);
  auto shape = executor.Execute(task, Fetcher(*text_), &control);
  EXPECT_TRUE(IsPermanent(shape.status()));
  EXPECT_THAT(shape.status().message(), HasSubstr("spec.model.path"));

  ExecutorOptions failing = Local();
  failing.test_fail_tasks = true;
  auto injected = EngineExecutor(failing).Execute(MakeTask(), Fetcher(*text_), &control);
  EXPECT_FALSE(injected.ok());
  EXPECT_FALSE(IsPermanent(injected.status()));
}

TEST_F(ExecutorTest, StopsBetweenBatchesWhenAborted) {
  ExecutorOptions options = Local();
  options.masks_per_batch = 1;
  options.test_sleep_per_mask_ms = 2000;
  EngineExecutor executor(options);
  TaskControl control;
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    control.Abort(AbortReason::kCancelled);
  });
  const auto start = std::chrono::steady_clock::now();
  auto out = executor.Execute(MakeTask(), Fetcher(*text_), &control);
  canceller.join();
  EXPECT_EQ(out.status().code(), absl::StatusCode::kAborted);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_LT(control.masks_done(), 3);
}

TEST_F(ExecutorTest, ShutdownDeadlineAbortsWithShutdown) {
  TaskControl control;
  control.SetShutdownDeadline(TaskControl::Clock::now());
  EXPECT_TRUE(control.ShouldStop());
  EXPECT_EQ(control.reason(), AbortReason::kShutdown);
  control.Abort(AbortReason::kCancelled);  // The first reason wins.
  EXPECT_EQ(control.reason(), AbortReason::kShutdown);
}

TEST(Chunks, CutsWithAndWithoutBos) {
  std::vector<int> tokens(20);
  for (int i = 0; i < 20; ++i) tokens[i] = 100 + i;
  auto plain = MakeChunks(tokens, 2, 5, false, 50256);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->sizes(), (std::vector<int64_t>{2, 5}));
  EXPECT_EQ((*plain)[1][0].item<int64_t>(), 105);
  auto bos = MakeChunks(tokens, 2, 5, true, 50256);
  ASSERT_TRUE(bos.ok());
  EXPECT_EQ((*bos)[0][0].item<int64_t>(), 50256);
  EXPECT_EQ((*bos)[0][1].item<int64_t>(), 100);
  EXPECT_EQ((*bos)[1][0].item<int64_t>(), 50256);
  EXPECT_EQ((*bos)[1][1].item<int64_t>(), 104);  // 4 text tokens per row.
  auto short_text = MakeChunks(tokens, 5, 5, false, 50256);
  EXPECT_THAT(short_text.status().message(), HasSubstr("20 tokens"));
  EXPECT_FALSE(MakeChunks(tokens, 1, 1, false, 50256).ok());
  EXPECT_FALSE(MakeChunks(tokens, 1, 5, true, -1).ok());
}

TEST(DeviceInfo, KindsAndDtypes) {
  auto cpu = DescribeDevice("cpu", v1::DTYPE_UNSPECIFIED);
  ASSERT_TRUE(cpu.ok());
  EXPECT_EQ(cpu->kind, v1::DEVICE_KIND_CPU);
  EXPECT_EQ(cpu->dtypes, std::vector<v1::DType>{v1::DTYPE_FP32});
  EXPECT_GT(cpu->memory_bytes, 0);
  EXPECT_FALSE(DescribeDevice("cpu", v1::DTYPE_BF16).ok());
  auto cuda = DescribeDevice("cuda:1", v1::DTYPE_BF16);
  ASSERT_TRUE(cuda.ok());
  EXPECT_EQ(cuda->kind, v1::DEVICE_KIND_CUDA);
  EXPECT_EQ(cuda->dtypes, std::vector<v1::DType>{v1::DTYPE_BF16});
  EXPECT_EQ(*ParseDeviceKind("mps"), v1::DEVICE_KIND_MPS);
  EXPECT_FALSE(ParseDeviceKind("cuda:x").ok());
  EXPECT_FALSE(ParseDeviceKind("tpu").ok());
  EXPECT_TRUE(CheckDeviceAvailable("cpu").ok());
  if (!torch::cuda::is_available()) {
    EXPECT_THAT(CheckDeviceAvailable("cuda:0").message(), HasSubstr("not available"));
  }
}

// A PHASE_ATTRIBUTION task runs Model::Attribute: the clean run and every head's estimate.
TEST_F(ExecutorTest, AttributionTaskReturnsCleanRunAndEstimates) {
  EngineExecutor executor(Local());
  TaskControl control;
  v1::Task task = MakeTask();
  task.clear_masks();
  v1::MaskSpec* m = task.add_masks();
  m->set_phase(v1::PHASE_ATTRIBUTION);
  auto out = executor.Execute(task, Fetcher(*text_), &control);
  ASSERT_TRUE(out.ok()) << out.status();
  ASSERT_EQ(out->results.size(), 1u);
  EXPECT_EQ(control.masks_done(), 1);
  const v1::MaskResult& r = out->results[0];
  EXPECT_EQ(r.phase(), v1::PHASE_ATTRIBUTION);
  EXPECT_EQ(r.index(), 0);
  auto model = LoadModel(dir_->File("model"), *sha_, {});
  ASSERT_TRUE(model.ok());
  auto chunks = MakeChunks((*model)->tokenizer->Encode(*text_), 2, 16, false, 50256);
  auto want = (*model)->engine->Attribute(*chunks, engine::Method::kZeroFolded);
  ASSERT_TRUE(want.ok()) << want.status();
  EXPECT_EQ(r.nll_sum(), want->clean.nll_sum);
  EXPECT_EQ(r.n_tokens(), 30);
  EXPECT_EQ(r.block_nll_size(), static_cast<int>(want->clean.block_nll.size()));
  ASSERT_EQ(r.head_estimates_size(), static_cast<int>(want->estimates.size()));
  for (int h = 0; h < r.head_estimates_size(); ++h) {
    EXPECT_EQ(r.head_estimates(h), want->estimates[h]) << h;
  }
  // An attribution mask must be the task's only mask.
  v1::MaskSpec* extra = task.add_masks();
  extra->set_phase(v1::PHASE_INDIVIDUAL);
  extra->set_index(1);
  extra->add_heads(0);
  auto bad = executor.Execute(task, Fetcher(*text_), &control);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(IsPermanent(bad.status()));
}

// Issue 10: a path outside every --model-root is refused before anything is read, and the
// refusal does not tell whether the folder exists; a model named by digest never reads the
// path.
TEST_F(ExecutorTest, LocalPathsOnlyUnderModelRoots) {
  TaskControl control;
  ExecutorOptions none;
  auto refused = EngineExecutor(none).Execute(MakeTask(), Fetcher(*text_), &control);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kPermissionDenied) << refused.status();
  EXPECT_FALSE(IsPermanent(refused.status()));
  EXPECT_THAT(refused.status().message(), ::testing::Not(HasSubstr(dir_->File(""))));
  ExecutorOptions elsewhere;
  elsewhere.model_roots = {dir_->File("other")};
  v1::Task escape = MakeTask();
  escape.mutable_model()->set_path(dir_->File("other") + "/../model");
  auto escaped = EngineExecutor(elsewhere).Execute(escape, Fetcher(*text_), &control);
  EXPECT_EQ(escaped.status().code(), absl::StatusCode::kPermissionDenied);
  ExecutorOptions inside;
  inside.model_roots = {dir_->File("")};
  EXPECT_TRUE(EngineExecutor(inside).Execute(MakeTask(), Fetcher(*text_), &control).ok());
}

}  // namespace
}  // namespace ablate::worker
