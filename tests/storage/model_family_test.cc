// Model families on the service side: accepted families, family-specific shape checks, BOS
// rules, and the worker capability column.
#include "storage/model_family.h"

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "storage/job_spec.h"
#include "storage/store.h"
#include "tests/storage/test_util.h"

namespace ablate::storage {
namespace {

namespace v1 = ::ablate::v1;

// A Llama-shaped spec with grouped-query attention: 8 query heads sharing 2 kv heads.
v1::JobSpec LlamaSpec() {
  v1::JobSpec spec;
  v1::ModelShape* s = spec.mutable_model()->mutable_shape();
  s->set_family("llama");
  s->set_n_layer(2);
  s->set_n_head(8);
  s->set_n_kv_head(2);
  s->set_head_dim(16);
  s->set_n_embd(128);
  s->set_n_positions(256);
  s->set_vocab_size(1000);
  s->set_bos_token_id(1);
  return spec;
}

TEST(ModelFamilyTest, KnownFamiliesAndLegacyGpt2) {
  v1::JobSpec spec = LlamaSpec();
  ASSERT_TRUE(NormalizeModelShape(&spec).ok());
  EXPECT_EQ(spec.model().shape().family(), "llama");
  EXPECT_EQ(spec.model().shape().bos_token_id(), 1);
  // A client older than families: no family, no BOS id -> gpt2 with <|endoftext|>.
  v1::JobSpec old;
  old.mutable_model()->mutable_shape()->set_n_layer(2);
  old.mutable_model()->mutable_shape()->set_n_head(2);
  old.set_bos_per_chunk(true);
  ASSERT_TRUE(NormalizeModelShape(&old).ok());
  EXPECT_EQ(old.model().shape().family(), "gpt2");
  EXPECT_EQ(old.model().shape().bos_token_id(), kGpt2BosTokenId);
  for (const char* f : {"gpt_neox", "mistral", "qwen2"}) {
    v1::JobSpec s = LlamaSpec();
    s.mutable_model()->mutable_shape()->set_family(f);
    if (std::string(f) == "gpt_neox") {
      s.mutable_model()->mutable_shape()->set_n_kv_head(0);
      s.mutable_model()->mutable_shape()->set_head_dim(0);
    }
    EXPECT_TRUE(NormalizeModelShape(&s).ok()) << f << " " << NormalizeModelShape(&s);
  }
}

TEST(ModelFamilyTest, BadShapesNameTheField) {
  struct Case {
    const char* name;
    std::function<void(v1::JobSpec*)> mutate;
    const char* says;
  };
  auto shape = [](v1::JobSpec* s) { return s->mutable_model()->mutable_shape(); };
  const std::vector<Case> cases = {
      {"unknown family", [&](v1::JobSpec* s) { shape(s)->set_family("falcon"); },
       "spec.model.shape.family \"falcon\" is not a supported model family"},
      {"kv heads do not divide", [&](v1::JobSpec* s) { shape(s)->set_n_kv_head(3); },
       "spec.model.shape.n_kv_head must divide n_head = 8"},
      {"negative kv heads", [&](v1::JobSpec* s) { shape(s)->set_n_kv_head(-1); },
       "spec.model.shape.n_kv_head"},
      {"negative head_dim", [&](v1::JobSpec* s) { shape(s)->set_head_dim(-4); },
       "spec.model.shape.head_dim"},
      {"llama without hidden size", [&](v1::JobSpec* s) { shape(s)->set_n_embd(0); },
       "spec.model.shape.n_embd is required for llama"},
      {"llama without vocab", [&](v1::JobSpec* s) { shape(s)->set_vocab_size(0); },
       "spec.model.shape.vocab_size is required for llama"},
      {"head_dim 0 and n_embd not divisible",
       [&](v1::JobSpec* s) {
         shape(s)->set_head_dim(0);
         shape(s)->set_n_embd(100);
       },
       "spec.model.shape.n_embd 100 is not divisible by n_head = 8"},
      {"gpt_neox with GQA",
       [&](v1::JobSpec* s) {
         shape(s)->set_family("gpt_neox");
         shape(s)->set_head_dim(0);
       },
       "must equal n_head = 8 for gpt_neox"},
      {"gpt2 head_dim not n_embd / n_head",
       [&](v1::JobSpec* s) {
         shape(s)->set_family("gpt2");
         shape(s)->set_n_kv_head(0);
         shape(s)->set_head_dim(32);
       },
       "spec.model.shape.head_dim must equal n_embd / n_head = 16 for gpt2, got 32"},
      {"BOS outside the vocabulary", [&](v1::JobSpec* s) { shape(s)->set_bos_token_id(1000); },
       "spec.model.shape.bos_token_id 1000 is outside the vocabulary"},
      {"BOS asked, none known",
       [&](v1::JobSpec* s) {
         shape(s)->set_bos_token_id(-1);
         s->set_bos_per_chunk(true);
       },
       "spec.bos_per_chunk needs spec.model.shape.bos_token_id"},
  };
  for (const Case& c : cases) {
    v1::JobSpec spec = LlamaSpec();
    c.mutate(&spec);
    absl::Status status = NormalizeModelShape(&spec);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(status.message().find(c.says), std::string::npos) << c.name << ": " << status;
  }
  // Without BOS asked, a model with no BOS is fine; Pythia's BOS is token 0.
  v1::JobSpec none = LlamaSpec();
  none.mutable_model()->mutable_shape()->set_bos_token_id(-1);
  EXPECT_TRUE(NormalizeModelShape(&none).ok());
  v1::JobSpec zero = LlamaSpec();
  zero.mutable_model()->mutable_shape()->set_bos_token_id(0);
  zero.set_bos_per_chunk(true);
  EXPECT_TRUE(NormalizeModelShape(&zero).ok());
  EXPECT_EQ(zero.model().shape().bos_token_id(), 0);
}

TEST(ModelFamilyTest, WorkerFamiliesColumn) {
  google::protobuf::RepeatedPtrField<std::string> families;
  EXPECT_EQ(*WorkerFamiliesColumn(families), ",gpt2,");
  families.Add("gpt2");
  families.Add("llama");
  EXPECT_EQ(*WorkerFamiliesColumn(families), ",gpt2,llama,");
  families.Add("Llama,x");
  EXPECT_EQ(WorkerFamiliesColumn(families).status().code(), absl::StatusCode::kInvalidArgument);
}

// The task picker: a llama job goes only to a worker that lists llama; a worker that lists
// no families (older than families) gets gpt2 jobs only.
TEST(ModelFamilyTest, TasksGoOnlyToWorkersRunningTheFamily) {
  ablate::testing::TempDir dir;
  StoreOptions options;
  options.synchronous_full = false;
  auto store = Store::Open(dir.File("queue.db"), options);
  ASSERT_TRUE(store.ok()) << store.status();
  auto reg = [&](std::vector<std::string> families) {
    v1::RegisterRequest request;
    request.set_name("w");
    request.set_device_kind(v1::DEVICE_KIND_CPU);
    for (const std::string& f : families) request.add_model_families(f);
    auto r = (*store)->RegisterWorker(request);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->worker_id() : "";
  };
  const std::string old_worker = reg({});
  const std::string gpt2_worker = reg({"gpt2"});
  const std::string llama_worker = reg({"gpt2", "llama"});
  v1::RegisterRequest bad;
  bad.add_model_families("llama,gpt2");
  EXPECT_EQ((*store)->RegisterWorker(bad).status().code(), absl::StatusCode::kInvalidArgument);

  v1::SubmitJobRequest llama;
  *llama.mutable_spec() = ablate::testing::SmallSpec(1, 2, v1::SWEEP_INDIVIDUAL, 8);
  *llama.mutable_spec()->mutable_model()->mutable_shape() = LlamaSpec().model().shape();
  llama.mutable_spec()->mutable_model()->mutable_shape()->set_n_positions(64);
  auto job = (*store)->SubmitJob(llama);
  ASSERT_TRUE(job.ok()) << job.status();
  for (const std::string& w : {old_worker, gpt2_worker}) {
    auto none = (*store)->LeaseTask(w);
    ASSERT_TRUE(none.ok()) << none.status();
    EXPECT_FALSE(none->has_task()) << w;
  }
  auto got = (*store)->LeaseTask(llama_worker);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_task());
  EXPECT_EQ(got->task().model().shape().family(), "llama");
  EXPECT_EQ(got->task().model().shape().n_kv_head(), 2);

  v1::SubmitJobRequest gpt2;  // Legacy spec: no family.
  *gpt2.mutable_spec() = ablate::testing::SmallSpec(1, 2, v1::SWEEP_INDIVIDUAL, 8);
  ASSERT_TRUE((*store)->SubmitJob(gpt2).ok());
  auto old_gets = (*store)->LeaseTask(old_worker);
  ASSERT_TRUE(old_gets.ok()) << old_gets.status();
  ASSERT_TRUE(old_gets->has_task());
  EXPECT_EQ(old_gets->task().model().shape().family(), "gpt2");
  EXPECT_EQ(old_gets->task().model().shape().bos_token_id(), kGpt2BosTokenId);
}

}  // namespace
}  // namespace ablate::storage

namespace ablate::storage {
namespace {

// 2 chunks of 8 tokens need 16 tokens: a sentencepiece-style tokenizer can make them from 15
// bytes (the space marker it prepends is a token of its own), never from 14.
TEST(TextLengthTest, OneTokenMoreThanBytesForThePrependedSpaceMarker) {
  const SpecLimits limits;
  v1::JobSpec spec = testing::SmallSpec(2, 2, v1::SWEEP_INDIVIDUAL);
  EXPECT_TRUE(NormalizeSpec(limits, 16, &spec).ok());
  EXPECT_TRUE(NormalizeSpec(limits, 15, &spec).ok());
  const absl::Status short_text = NormalizeSpec(limits, 14, &spec);
  EXPECT_EQ(short_text.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(short_text.message().find("14 bytes cannot hold the 16 tokens"), std::string::npos)
      << short_text;
  spec.set_bos_per_chunk(true);  // The BOS of each chunk is not from the text: 14 needed.
  EXPECT_TRUE(NormalizeSpec(limits, 13, &spec).ok());
  EXPECT_FALSE(NormalizeSpec(limits, 12, &spec).ok());
}

}  // namespace
}  // namespace ablate::storage
