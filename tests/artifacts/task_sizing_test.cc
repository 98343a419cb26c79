// Copyright: the ablate authors.
//
// Task sizing: the cost model's arithmetic and the masks-per-task choice.
#include "storage/task_sizing.h"

#include "gtest/gtest.h"

namespace ablate::storage {
namespace {

v1::JobSpec Spec(int n_layer, int n_head, int d, int vocab, int n_chunks, int seq_len,
                 v1::Sweep sweep) {
  v1::JobSpec spec;
  auto* shape = spec.mutable_model()->mutable_shape();
  shape->set_n_layer(n_layer);
  shape->set_n_head(n_head);
  shape->set_n_embd(d);
  shape->set_n_positions(1024);
  shape->set_vocab_size(vocab);
  spec.set_n_chunks(n_chunks);
  spec.set_seq_len(seq_len);
  spec.set_sweep(sweep);
  return spec;
}

TEST(TaskSizingTest, CostModelArithmetic) {
  // One layer, d = 10, V = 100, 1 chunk of 5 tokens: block = (2400 + 200) * 5, head = 2000 * 5.
  MaskCost cost = EstimateMaskCost(Spec(1, 1, 10, 100, 1, 5, v1::SWEEP_INDIVIDUAL));
  EXPECT_DOUBLE_EQ(cost.clean_flops, 13000);
  EXPECT_DOUBLE_EQ(cost.individual_flops, 13000 + 10000);
  EXPECT_DOUBLE_EQ(cost.cumulative_flops, 13000 + 10000);
  // GPT-2 small on 2 x 1024: about 0.35 TFLOP of blocks and 0.16 of LM head (DESIGN.md 3).
  cost = EstimateMaskCost(Spec(12, 12, 768, 50257, 2, 1024, v1::SWEEP_FULL));
  EXPECT_NEAR(cost.clean_flops / 1e12, 0.42, 0.01);
  EXPECT_NEAR((cost.cumulative_flops - cost.clean_flops) / 1e12, 0.158, 0.001);
}

TEST(TaskSizingTest, TasksFitTheTargetOnTheSlowestWorker) {
  TaskSizing sizing;  // 10 s at 30 GFLOP/s.
  // GPT-2 small on 2 x 1024 cannot do better than one mask per task on such a CPU.
  EXPECT_EQ(ChooseMasksPerTask(Spec(12, 12, 768, 50257, 2, 1024, v1::SWEEP_FULL), sizing), 1);
  // GPT-2 small on 2 x 128: clean 44.7 GFLOP, cumulative mask 64.5 GFLOP -> 3 masks in 300.
  EXPECT_EQ(ChooseMasksPerTask(Spec(12, 12, 768, 50257, 2, 128, v1::SWEEP_FULL), sizing), 3);
  // Individual masks (44.0 GFLOP on average) are cheaper than cumulative ones: more fit.
  EXPECT_EQ(ChooseMasksPerTask(Spec(12, 12, 768, 50257, 2, 128, v1::SWEEP_INDIVIDUAL), sizing),
            5);
  // A tiny test model: capped.
  EXPECT_EQ(ChooseMasksPerTask(Spec(2, 4, 64, 512, 2, 32, v1::SWEEP_FULL), sizing), 256);
  // A faster slowest worker gets bigger tasks.
  sizing.slowest_worker_gflops = 300;
  EXPECT_GT(ChooseMasksPerTask(Spec(12, 12, 768, 50257, 2, 128, v1::SWEEP_FULL), sizing), 40);
}

}  // namespace
}  // namespace ablate::storage
