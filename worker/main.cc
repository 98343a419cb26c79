// Copyright: the ablate authors.
//
// ablate-worker: flags -> options structs -> the ablate_worker library.
//   ablate-worker --server ADDR [--device D] [--dtype T] [--threads N] [--token-file F] ...
//   ablate-worker eval --model DIR --text FILE --n-chunks N --seq-len S --method M --sweep W
//                      [--order FILE] [--verify-top K] [--reference FILE] [--device D]
//                      [--dtype T] [--threads N] [--bos] [--block B] [--ci C] [--bootstrap N]
//                      [--seed S] --out F
//   ablate-worker tokenize --model DIR --text FILE
// Exit codes: 0 ok, 1 runtime error, 2 usage error. Each error is one line on stderr.
#include <CLI/CLI.hpp>
#include <signal.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "proto/analysis/bootstrap.h"
#include "worker/artifact_cache.h"
#include "worker/connection.h"
#include "worker/device_info.h"
#include "worker/engine_executor.h"
#include "worker/model_check.h"
#include "worker/offline.h"
#include "worker/service.h"

namespace {

namespace aw = ablate::worker;
namespace ae = ablate::engine;

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;

struct Flags {
  // Shared.
  std::string device = "cpu";
  std::string dtype;  // Service: restricts the advertised dtypes; eval: default fp32.
  int threads = 0;
  std::string log_level = "info";
  // Service mode.
  std::string server, token_file, name, tls_ca, cache_dir;
  std::vector<std::string> model_roots;  // Issue 10: local checkpoints readable only here.
  std::string tls_cert, tls_key;          // Issue 10: optional client certificate (mTLS).
  double cache_max_gb = 50;
  int lease_wait_ms = 10000, drain_timeout_ms = 60000, masks_per_batch = 0, max_models = 2;
  int test_sleep_per_mask_ms = 0;
  bool test_fail_tasks = false, test_no_heartbeat = false;
  // eval / tokenize.
  std::string model, text, order, out, method, sweep;
  int n_chunks = 0, seq_len = 0, verify_top = 0;
  std::string reference;
  bool bos = false, quiet = false;
  int block = 0, bootstrap = 10000;
  double ci = 0.95;
  uint64_t seed = ablate::analysis::kDefaultSeed;
};

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "ablate-worker: %s\n", message.c_str());
  return code;
}

int FailStatus(const absl::Status& status) {
  bool usage = status.code() == absl::StatusCode::kInvalidArgument;
  return Fail(usage ? kExitUsage : kExitError, std::string(status.message()));
}

void AddEngineFlags(CLI::App* app, Flags* f) {
  app->add_option("--device", f->device, "cpu, cuda, cuda:N or mps")->capture_default_str();
  app->add_option("--dtype", f->dtype, "fp32, bf16 or fp16 (half precision on GPUs only)");
  app->add_option("--threads", f->threads, "CPU intra-op threads (0 = engine default)");
}

absl::StatusOr<ae::EngineOptions> EngineOptionsFrom(const Flags& f) {
  ae::EngineOptions options;
  options.device = f.device;
  options.threads = f.threads;
  auto dtype = ae::ParseDType(f.dtype.empty() ? "fp32" : f.dtype);
  if (!dtype.ok()) return dtype.status();
  options.dtype = *dtype;
  auto kind = aw::ParseDeviceKind(f.device);
  if (!kind.ok()) return kind.status();
  return options;
}

int RunEvalCommand(const Flags& f) {
  aw::EvalOptions options;
  auto engine = EngineOptionsFrom(f);
  if (!engine.ok()) return FailStatus(engine.status());
  auto method = ae::ParseMethod(f.method);
  if (!method.ok()) return FailStatus(method.status());
  auto sweep = aw::ParseSweepKind(f.sweep);
  if (!sweep.ok()) return FailStatus(sweep.status());
  options.engine = *engine;
  options.method = *method;
  options.sweep = *sweep;
  options.model_dir = f.model;
  options.text_file = f.text;
  options.order_file = f.order;
  options.n_chunks = f.n_chunks;
  options.seq_len = f.seq_len;
  options.bos = f.bos;
  options.masks_per_batch = f.masks_per_batch;
  options.progress = !f.quiet;
  options.block_tokens = f.block;
  options.ci = f.ci;
  options.bootstrap = f.bootstrap;
  options.seed = f.seed;
  options.verify_top_k = f.verify_top;
  options.reference_file = f.reference;
  auto result = aw::RunEval(options);
  if (!result.ok()) return FailStatus(result.status());
  absl::Status written = aw::WriteJsonFile(f.out, *result);
  if (!written.ok()) return Fail(kExitError, std::string(written.message()));
  return 0;
}

int RunTokenizeCommand(const Flags& f) {
  auto ids = aw::TokenizeFile(f.model, f.text);
  if (!ids.ok()) return Fail(kExitError, std::string(ids.status().message()));
  std::string out = "[";
  for (size_t i = 0; i < ids->size(); ++i) {
    if (i > 0) out += ",";
    out += std::to_string((*ids)[i]);
  }
  out += "]\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : kExitError;
}

// SIGTERM / SIGINT: the handler writes the signal number to a pipe (async-signal-safe, and
// whichever thread the kernel picks, including threads LibTorch or gRPC started before main);
// the signal thread reads it: the first stops the loop gracefully, a second one immediately.
// A 0 byte (written by main) ends the signal thread.
int g_signal_pipe[2] = {-1, -1};

extern "C" void OnStopSignal(int sig) {
  const char byte = static_cast<char>(sig);
  ssize_t ignored = write(g_signal_pipe[1], &byte, 1);
  (void)ignored;
}

bool InstallSignalHandlers() {
  if (pipe(g_signal_pipe) != 0) return false;
  struct sigaction action = {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  return sigaction(SIGTERM, &action, nullptr) == 0 && sigaction(SIGINT, &action, nullptr) == 0;
}

void WaitForSignals(aw::WorkerLoop* loop) {
  int received = 0;
  char byte = 0;
  while (read(g_signal_pipe[0], &byte, 1) == 1 && byte != 0) {
    spdlog::info("worker: signal {}: {}", static_cast<int>(byte),
                 received == 0 ? "finishing the current task" : "handing the task back now");
    loop->Stop(/*immediate=*/received++ > 0);
  }
}

absl::StatusOr<aw::ServiceOptions> ServiceOptionsFrom(const Flags& f) {
  aw::ServiceOptions options;
  ablate::v1::DType only = ablate::v1::DTYPE_UNSPECIFIED;
  if (!f.dtype.empty()) {
    auto dtype = ae::ParseDType(f.dtype);
    if (!dtype.ok()) return dtype.status();
    only = static_cast<ablate::v1::DType>(*dtype);
  }
  auto device = aw::DescribeDevice(f.device, only);
  if (!device.ok()) return device.status();
  absl::Status available = aw::CheckDeviceAvailable(f.device);
  if (!available.ok()) return available;
  options.device = *device;
  options.model_families = aw::ModelFamilies();
  options.name = f.name;
  options.lease_wait_ms = f.lease_wait_ms;
  options.drain_timeout_ms = f.drain_timeout_ms;
  options.test_disable_heartbeat = f.test_no_heartbeat;
  return options;
}

// --cache-dir, else $ABLATE_CACHE_DIR, else $XDG_CACHE_HOME/ablate, else ~/.cache/ablate.
std::string CacheDir(const Flags& f) {
  if (!f.cache_dir.empty()) return f.cache_dir;
  if (const char* env = std::getenv("ABLATE_CACHE_DIR"); env && *env) return env;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/ablate";
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : "/tmp") + "/.cache/ablate";
}

int RunService(const Flags& f) {
  auto options = ServiceOptionsFrom(f);
  if (!options.ok()) return FailStatus(options.status());
  auto connection =
      aw::Connection::Create({f.server, f.token_file, f.tls_ca, f.tls_cert, f.tls_key});
  if (!connection.ok()) return Fail(kExitError, std::string(connection.status().message()));
  aw::ExecutorOptions exec;
  auto cache = aw::ArtifactCache::Open({CacheDir(f), static_cast<int64_t>(f.cache_max_gb * 1e9)},
                                       aw::MakeArtifactSource(connection->get()));
  if (!cache.ok()) return Fail(kExitError, std::string(cache.status().message()));
  exec.artifacts = std::move(*cache);
  exec.engine.device = f.device;
  exec.engine.threads = f.threads;
  exec.max_cached_models = f.max_models;
  exec.masks_per_batch = f.masks_per_batch;
  exec.test_sleep_per_mask_ms = f.test_sleep_per_mask_ms;
  exec.test_fail_tasks = f.test_fail_tasks;
  exec.model_roots = f.model_roots;
  aw::WorkerLoop loop(*options, std::move(*connection),
                      std::make_unique<aw::EngineExecutor>(exec));
  std::thread signals(WaitForSignals, &loop);
  absl::Status status = loop.Run();
  const char end = 0;
  if (write(g_signal_pipe[1], &end, 1) == 1) signals.join();
  else signals.detach();
  if (!status.ok()) return Fail(kExitError, status.ToString());
  return 0;
}

void AddServiceFlags(CLI::App* app, Flags* f) {
  app->add_option("--server", f->server, "Server address host:port (service mode)");
  app->add_option("--token-file", f->token_file, "File holding the worker token");
  app->add_option("--name", f->name, "Worker name shown by `ablate workers` (default: host name)");
  app->add_option("--tls-ca", f->tls_ca, "PEM CA certificates: connect with TLS");
  app->add_option("--lease-wait-ms", f->lease_wait_ms, "Long-poll length")->capture_default_str();
  app->add_option("--drain-timeout-ms", f->drain_timeout_ms,
                  "On SIGTERM, how long the current task may still run")->capture_default_str();
  app->add_option("--masks-per-batch", f->masks_per_batch,
                  "Masks per engine call, the cancel granularity (0 = whole task)");
  app->add_option("--max-cached-models", f->max_models, "Models kept loaded")->capture_default_str();
  app->add_option("--cache-dir", f->cache_dir,
                  "Artifact cache (models fetched by digest; default $ABLATE_CACHE_DIR or "
                  "~/.cache/ablate)");
  app->add_option("--cache-max-gb", f->cache_max_gb, "Artifact cache size bound")
      ->capture_default_str();
  app->add_option("--tls-cert", f->tls_cert, "PEM client certificate (mTLS; with --tls-key)");
  app->add_option("--tls-key", f->tls_key, "PEM key of --tls-cert");
  app->add_option("--model-root", f->model_roots,
                  "Folder whose checkpoints jobs may name by path (repeatable; default: none, "
                  "only models uploaded as artifacts)");
  app->add_option("--test-sleep-per-mask-ms", f->test_sleep_per_mask_ms)->group("");
  app->add_flag("--test-fail-tasks", f->test_fail_tasks)->group("");
  app->add_flag("--test-no-heartbeat", f->test_no_heartbeat)->group("");
}

void AddEvalFlags(CLI::App* eval, Flags* f) {
  eval->add_option("--model", f->model, "Checkpoint folder")->required();
  eval->add_option("--text", f->text, "Text file to score")->required();
  eval->add_option("--n-chunks", f->n_chunks, "Number of chunks")->required();
  eval->add_option("--seq-len", f->seq_len, "Tokens per chunk")->required();
  eval->add_option("--method", f->method, "zero, zero_folded or mean")->required();
  eval->add_option("--sweep", f->sweep, "individual, cumulative, full or attribution")
      ->required();
  eval->add_option("--verify-top", f->verify_top,
                   "attribution: verify the K heads with the largest estimates exactly");
  eval->add_option("--reference", f->reference,
                   "attribution: individual/full eval output of the same run (recall of top K)");
  eval->add_option("--order", f->order, "Cumulative order (JSON) for --sweep cumulative");
  eval->add_flag("--bos", f->bos,
                 "Start every chunk with the model's BOS (config.json bos_token_id; GPT-2: "
                 "<|endoftext|>)");
  eval->add_option("--masks-per-batch", f->masks_per_batch,
                   "Masks per engine call, grouped like a server job's masks_per_task "
                   "(0 = a whole phase)");
  eval->add_flag("--quiet", f->quiet, "No progress line on stderr");
  eval->add_option("--block", f->block,
                   "Scored tokens per block of the per-block NLL (0 = 64, at most seq-len - 1)")
      ->capture_default_str();
  eval->add_option("--ci", f->ci, "Bootstrap interval level")->capture_default_str();
  eval->add_option("--bootstrap", f->bootstrap, "Bootstrap resamples (-1 = no intervals)")
      ->capture_default_str();
  eval->add_option("--seed", f->seed, "Bootstrap seed")->capture_default_str();
  eval->add_option("--out", f->out, "Output JSON file")->required();
  AddEngineFlags(eval, f);
}

}  // namespace

int main(int argc, char** argv) {
  Flags f;
  CLI::App app{"ablate worker: leases head-ablation tasks from a server, or runs them offline"};
  app.add_option("--log-level", f.log_level, "trace, debug, info, warn, error");
  AddServiceFlags(&app, &f);
  AddEngineFlags(&app, &f);
  CLI::App* eval = app.add_subcommand("eval", "Run a sweep locally and write JSON");
  AddEvalFlags(eval, &f);
  CLI::App* tokenize = app.add_subcommand("tokenize", "Print a text's token ids as JSON");
  tokenize->add_option("--model", f.model, "Checkpoint folder (tokenizer.json, else vocab.json + merges.txt)")->required();
  tokenize->add_option("--text", f.text, "Text file")->required();
  app.require_subcommand(0, 1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return Fail(kExitUsage, std::string(e.what()) + " (see --help)");
  }
  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] [worker] %v");
  spdlog::set_level(spdlog::level::from_str(f.log_level));
  if (*eval) return RunEvalCommand(f);
  if (*tokenize) return RunTokenizeCommand(f);
  if (f.server.empty()) return Fail(kExitUsage, "--server is required (or use eval / tokenize; see --help)");
  if (!InstallSignalHandlers()) return Fail(kExitError, "cannot install signal handlers");
  return RunService(f);
}
