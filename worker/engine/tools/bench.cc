// Copyright: the ablate authors.
#include "worker/engine/tools/bench.h"

#include <sys/resource.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "absl/strings/str_format.h"
#include "worker/engine/model.h"
#include "worker/engine/model_forward.h"
#include "worker/engine/model_random.h"
#include "worker/engine/sweep.h"
#include "worker/engine/tools/flops.h"
#include "worker/engine/tools/naive.h"
#include "worker/engine/tools/shapes.h"

namespace ablate::engine::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void Sync(const torch::Device& device) {
  if (device.is_cuda()) torch::cuda::synchronize();
}

double CpuSeconds() {  // user + system time of the process so far
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec +
         (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

double PeakRssMb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024.0;  // ru_maxrss is in KiB on Linux
}

// GFLOP/s of a [1024, d] x [d, q + 2 kv] product (the shape's fused q|k|v
// projection on 1024 tokens; GPT-2 small: 1024 x 768 x 2304), per wall second
// and per CPU second of this process (the latter is robust to other processes
// taking the cores, with one thread).
struct Rate {
  double wall = 0;
  double cpu = 0;
};

Rate MatmulGflops(const ModelConfig& config, const torch::Device& device,
                  torch::ScalarType dtype) {
  c10::InferenceMode guard;
  auto opt = torch::dtype(dtype).device(device);
  const int64_t k = config.n_embd, n = config.q_width() + 2 * config.kv_width();
  torch::Tensor a = torch::randn({1024, k}, opt), b = torch::randn({k, n}, opt);
  torch::Tensor c = torch::empty({1024, n}, opt);
  for (int i = 0; i < 3; ++i) torch::matmul_out(c, a, b);
  Sync(device);
  int reps = 0;
  const auto start = Clock::now();
  const double cpu = CpuSeconds();
  while (reps < 5 || Since(start) < 1.0) {
    torch::matmul_out(c, a, b);
    if (device.is_mps()) c.sum().item<float>();
    Sync(device);
    ++reps;
  }
  const double flop = 2.0 * 1024 * k * n * reps / 1e9;
  return Rate{flop / Since(start), flop / (CpuSeconds() - cpu)};
}

std::vector<HeadMask> SweepMasks(const ModelConfig& c, int limit, int sample) {
  std::vector<HeadMask> masks = {{}};
  const int total = c.n_heads_total();
  if (sample > 0) {
    const int n = std::min(sample, total);
    for (int i = 0; i < n; ++i) {
      masks.push_back({static_cast<int>(int64_t{i} * total / n)});
    }
    return masks;
  }
  const int n = limit < 0 ? total : std::min(limit, total);
  for (int h = 0; h < n; ++h) masks.push_back({h});
  return masks;
}

struct Timed {
  double seconds = 0;
  double cpu_seconds = 0;
  std::vector<double> nll;
};

absl::StatusOr<Timed> TimeEngine(const Model& model, const torch::Tensor& chunks,
                                 const std::vector<HeadMask>& masks,
                                 const std::string& profile) {
  auto warm =
      model.Evaluate(chunks.slice(1, 0, std::min<int64_t>(chunks.size(1), 16)),
                     {{0}}, Method::kZero);
  if (!warm.ok()) return warm.status();
  std::unique_ptr<torch::autograd::profiler::RecordProfile> trace;
  if (!profile.empty())
    trace = std::make_unique<torch::autograd::profiler::RecordProfile>(profile);
  const auto start = Clock::now();
  const double cpu = CpuSeconds();
  auto r = model.Evaluate(chunks, masks, Method::kZero);
  if (!r.ok()) return r.status();
  trace.reset();
  Timed t{Since(start), CpuSeconds() - cpu, {}};
  for (const MaskNll& m : *r) t.nll.push_back(m.nll_sum);
  return t;
}

Timed TimeNaive(const ModelWeights& w, const torch::Device& device,
                torch::ScalarType dtype, const torch::Tensor& chunks,
                const std::vector<HeadMask>& masks) {
  const internal::DeviceModel m = internal::ToDevice(w, device, dtype);
  const torch::Tensor tokens = chunks.to(device);
  NaiveZeroSweep(m, tokens.slice(1, 0, std::min<int64_t>(tokens.size(1), 16)),
                 {{0}});  // warm
  const auto start = Clock::now();
  const double cpu = CpuSeconds();
  std::vector<double> nll = NaiveZeroSweep(m, tokens, masks);
  return Timed{Since(start), CpuSeconds() - cpu, nll};
}

// Prints the report; returns the JSON fields for the RESULT line.
std::string Report(const BenchOptions& o, const Rate& matmul,
                   const SweepFlops& flops, size_t n_masks, const Timed& engine,
                   double rss, std::ostream& out) {
  const double gflop = flops.engine / 1e9;
  const double bound = gflop / matmul.wall, cpu_bound = gflop / matmul.cpu;
  out << absl::StrFormat(
      "model: %s shape, random weights; %d x %d tokens; device %s, "
      "%s, %d threads\n"
      "matmul (fused q|k|v on 1024 tokens): %.1f GFLOP/s (%.1f per CPU "
      "second)\n"
      "engine: %d masks in %.3f s (%.3f CPU s) = %.2f masks/s\n"
      "engine: %.1f GFLOP performed (naive count %.1f = %.2fx); %.1f GFLOP/s "
      "achieved\n"
      "engine: time / matmul-rate bound = %.3f / %.3f s = %.2f (CPU time: "
      "%.2f)\n"
      "engine: peak resident memory %.0f MB (process, incl. weights)\n",
      o.shape, o.n_chunks, o.seq_len, o.device, o.dtype,
      torch::get_num_threads(), matmul.wall, matmul.cpu, n_masks, engine.seconds, engine.cpu_seconds,
      n_masks / engine.seconds, gflop, flops.naive / 1e9,
      flops.naive / flops.engine, gflop / engine.seconds, engine.seconds, bound,
      engine.seconds / bound, engine.cpu_seconds / cpu_bound, rss);
  return absl::StrFormat(
      "\"shape\": \"%s\", \"device\": \"%s\", \"dtype\": \"%s\", "
      "\"threads\": %d, \"n_chunks\": "
      "%d, "
      "\"seq_len\": %d, \"masks\": %d, \"seconds\": %.4f, \"cpu_seconds\": "
      "%.3f, "
      "\"masks_per_s\": %.3f, \"gflop_engine\": %.2f, \"gflop_naive_count\": "
      "%.2f, "
      "\"gflops_achieved\": %.2f, \"matmul_gflops\": %.2f, "
      "\"matmul_gflops_per_cpu_s\": %.2f, "
      "\"time_over_bound\": %.3f, \"cpu_time_over_bound\": %.3f, "
      "\"peak_rss_mb\": %.0f",
      o.shape, o.device, o.dtype, torch::get_num_threads(), o.n_chunks,
      o.seq_len, n_masks, engine.seconds, engine.cpu_seconds, n_masks / engine.seconds,
      gflop, flops.naive / 1e9, gflop / engine.seconds, matmul.wall, matmul.cpu,
      engine.seconds / bound, engine.cpu_seconds / cpu_bound, rss);
}

std::string CompareNaive(const Timed& engine, const Timed& naive,
                         const SweepFlops& flops, size_t n_masks,
                         std::ostream& out) {
  double max_rel = 0;
  for (size_t i = 0; i < n_masks; ++i) {
    max_rel = std::max(max_rel, std::abs(engine.nll[i] / naive.nll[i] - 1.0));
  }
  out << absl::StrFormat(
      "naive: %.3f s (%.3f CPU s) = %.2f masks/s, %.1f GFLOP/s; engine speedup "
      "%.2fx "
      "(CPU time %.2fx); max |nll/naive - 1| = %.2g\n",
      naive.seconds, naive.cpu_seconds, n_masks / naive.seconds,
      flops.naive / 1e9 / naive.seconds, naive.seconds / engine.seconds,
      naive.cpu_seconds / engine.cpu_seconds, max_rel);
  return absl::StrFormat(
      ", \"naive_seconds\": %.4f, \"naive_cpu_seconds\": %.3f, \"speedup\": "
      "%.3f, "
      "\"cpu_speedup\": %.3f, \"max_rel_diff\": %.3g",
      naive.seconds, naive.cpu_seconds, naive.seconds / engine.seconds,
      naive.cpu_seconds / engine.cpu_seconds, max_rel);
}

torch::ScalarType Scalar(DType d) {
  return d == DType::kFloat32    ? torch::kFloat
         : d == DType::kBFloat16 ? torch::kBFloat16
                                 : torch::kHalf;
}

}  // namespace

absl::Status RunBench(const BenchOptions& o, std::ostream& out) {
  absl::StatusOr<DType> dtype = ParseDType(o.dtype);
  if (!dtype.ok()) return dtype.status();
  absl::StatusOr<ModelConfig> shape = ShapeConfig(o.shape);
  if (!shape.ok()) return shape.status();
  const ModelConfig config = *shape;
  const ModelWeights weights = RandomWeights(config, o.seed);
  EngineOptions eo;
  eo.device = o.device;
  eo.dtype = *dtype;
  eo.threads = o.threads;
  eo.max_batch_rows = o.max_batch_rows;
  eo.vocab_slice = o.vocab_slice;
  eo.allow_tf32 = o.allow_tf32;
  absl::StatusOr<std::unique_ptr<Model>> model = Model::Create(weights, eo);
  if (!model.ok()) return model.status();
  torch::manual_seed(o.seed);
  const torch::Tensor chunks = torch::randint(
      0, config.vocab_size, {o.n_chunks, o.seq_len}, torch::kLong);
  const torch::Device device =
      o.device == "cpu" ? torch::Device(torch::kCPU) : torch::Device(o.device);
  const Rate before = MatmulGflops(config, device, Scalar(*dtype));
  if (o.sample_heads > 0 && o.limit_heads >= 0) {
    return absl::InvalidArgumentError(
        "--sample-heads and --limit-heads exclude each other");
  }
  const std::vector<HeadMask> masks =
      SweepMasks(config, o.limit_heads, o.sample_heads);
  const SweepFlops flops = CountFlops(config, o.n_chunks, o.seq_len, masks);
  absl::StatusOr<Timed> engine = TimeEngine(**model, chunks, masks, o.profile);
  if (!engine.ok()) return engine.status();
  const double rss = PeakRssMb();
  const Rate after = MatmulGflops(config, device, Scalar(*dtype));
  const Rate matmul{(before.wall + after.wall) / 2,
                    (before.cpu + after.cpu) / 2};
  std::string json = Report(o, matmul, flops, masks.size(), *engine, rss, out);
  if (o.compare_naive) {
    const Timed naive =
        TimeNaive(weights, device, Scalar(*dtype), chunks, masks);
    json += CompareNaive(*engine, naive, flops, masks.size(), out);
  }
  out << "RESULT {" << json << "}\n";
  return absl::OkStatus();
}

}  // namespace ablate::engine::bench
