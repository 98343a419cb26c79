// Copyright: the ablate authors.
//
// ablate-attribution-bench: the cost of attribution (Model::Attribute: one forward and one
// backward pass) as a multiple of one clean forward pass (Model::Evaluate of the empty
// mask, LM head included) on a GPT-2-small-shaped model with random weights (12 x 12 x 768,
// vocab 50257). Each is timed `repeats` times after one warm-up; medians are reported, as
// text and as a final "RESULT {json}" line. Engine-only (LibTorch + abseil). Not a test.
//   ablate-attribution-bench --n_chunks=2 --seq_len=128
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "worker/engine/model.h"
#include "worker/engine/model_random.h"

ABSL_FLAG(int64_t, n_chunks, 2, "chunks of random tokens");
ABSL_FLAG(int64_t, seq_len, 128, "tokens per chunk (<= 1024)");
ABSL_FLAG(std::string, device, "cpu", "cpu, cuda, cuda:N or mps");
ABSL_FLAG(std::string, dtype, "fp32", "fp32, bf16 or fp16 (half types on GPUs only)");
ABSL_FLAG(int, threads, 0, "CPU intra-op threads; 0 = engine default");
ABSL_FLAG(int, repeats, 5, "timed runs of each (after one warm-up)");
ABSL_FLAG(std::string, method, "zero", "zero, zero_folded or mean");

namespace {

namespace ae = ::ablate::engine;

// Median seconds of `repeats` calls of fn (after one untimed call); false if fn fails.
bool MedianSeconds(int repeats, const std::function<bool()>& fn, double* median) {
  if (!fn()) return false;
  std::vector<double> s;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    if (!fn()) return false;
    s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(s.begin(), s.end());
  *median = s[s.size() / 2];
  return true;
}

int Run() {
  ae::EngineOptions o;
  o.device = absl::GetFlag(FLAGS_device);
  o.threads = absl::GetFlag(FLAGS_threads);
  auto dtype = ae::ParseDType(absl::GetFlag(FLAGS_dtype));
  auto method = ae::ParseMethod(absl::GetFlag(FLAGS_method));
  if (!dtype.ok() || !method.ok()) {
    std::fprintf(stderr, "bad --dtype or --method\n");
    return 2;
  }
  o.dtype = *dtype;
  const ae::ModelConfig config;  // GPT-2 small
  auto model = ae::Model::Create(ae::RandomWeights(config, 1), o);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
    return 1;
  }
  torch::manual_seed(2);
  const torch::Tensor chunks = torch::randint(
      0, config.vocab_size, {absl::GetFlag(FLAGS_n_chunks), absl::GetFlag(FLAGS_seq_len)},
      torch::kLong);
  const int repeats = std::max(1, absl::GetFlag(FLAGS_repeats));
  double forward = 0, attribution = 0;
  const std::vector<ae::HeadMask> clean = {{}};
  if (!MedianSeconds(repeats, [&] { return (*model)->Evaluate(chunks, clean, *method).ok(); },
                     &forward) ||
      !MedianSeconds(repeats, [&] { return (*model)->Attribute(chunks, *method).ok(); },
                     &attribution)) {
    std::fprintf(stderr, "engine call failed\n");
    return 1;
  }
  std::printf("GPT-2 small shape, %lld x %lld tokens, %s %s, %d threads, method %s\n",
              static_cast<long long>(chunks.size(0)), static_cast<long long>(chunks.size(1)),
              o.device.c_str(), ae::DTypeName(o.dtype).c_str(), torch::get_num_threads(),
              ae::MethodName(*method).c_str());
  std::printf("clean forward: %.3f s; attribution (forward + backward): %.3f s; ratio %.2fx\n",
              forward, attribution, attribution / forward);
  std::printf("RESULT {\"n_chunks\": %lld, \"seq_len\": %lld, \"device\": \"%s\", \"dtype\": "
              "\"%s\", \"forward_s\": %.6f, \"attribution_s\": %.6f, \"ratio\": %.4f}\n",
              static_cast<long long>(chunks.size(0)), static_cast<long long>(chunks.size(1)),
              o.device.c_str(), ae::DTypeName(o.dtype).c_str(), forward, attribution,
              attribution / forward);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return Run();
}
