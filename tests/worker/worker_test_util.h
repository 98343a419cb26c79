// Copyright: the ablate authors.
//
// Helpers shared by the worker and integration tests: temp dirs, tiny random GPT-2
// checkpoints written with the engine's SaveCheckpoint (plus the GPT-2 tokenizer files), a
// test text, child processes (posix_spawn, output to a log file), and polling.
//
// Thread-safety: none of these objects is shared between threads by the tests.
#ifndef ABLATE_TESTS_WORKER_WORKER_TEST_UTIL_H_
#define ABLATE_TESTS_WORKER_WORKER_TEST_UTIL_H_

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/engine/model_weights.h"

namespace ablate::testing {

// A fresh directory under $TMPDIR, removed (recursively) by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// 3 layers x 4 heads, n_embd 16, 64 positions, GPT-2's vocabulary (50257).
engine::ModelConfig TinyConfig();

// Weights drawn from a seeded normal distribution, scaled so that heads matter.
engine::ModelWeights RandomWeights(const engine::ModelConfig& config, uint64_t seed);

// Writes a random checkpoint + vocab.json/merges.txt to `dir`; returns the hex SHA-256 of
// its model.safetensors.
absl::StatusOr<std::string> WriteRandomModel(const std::string& dir, uint64_t seed,
                                             const engine::ModelConfig& config = TinyConfig());

// English prose (from tests/data/tokenizer/reference.txt), at least `min_bytes` long.
std::string TestText(size_t min_bytes = 4000);

// The whole file at `path` ("" if it cannot be read).
std::string ReadAll(const std::string& path);

// Writes `contents` to `path`; aborts the test binary on failure.
void WriteFileOrDie(const std::string& path, const std::string& contents);

// Calls `done` every `poll` until it returns true (true) or `timeout` passes (false).
bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout,
             std::chrono::milliseconds poll = std::chrono::milliseconds(50));

// A child process started with posix_spawn; stdout and stderr go to `log_path`.
// The destructor SIGKILLs and reaps it if it still runs.
class ChildProcess {
 public:
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(const std::vector<std::string>& argv,
                                                             const std::string& log_path);
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  bool running();
  void Signal(int sig);
  // The exit code, or -signal if killed by a signal; nullopt if still running at `timeout`.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  // The log so far.
  std::string Log() const;

 private:
  ChildProcess(pid_t pid, std::string log_path) : pid_(pid), log_path_(std::move(log_path)) {}
  pid_t pid_;
  std::string log_path_;
  std::optional<int> exit_;
};

}  // namespace ablate::testing

#endif  // ABLATE_TESTS_WORKER_WORKER_TEST_UTIL_H_
