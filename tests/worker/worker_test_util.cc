// Copyright: the ablate authors.
#include "tests/worker/worker_test_util.h"

#include <ATen/CPUGeneratorImpl.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "proto/artifact/digest.h"
#include "worker/engine/checkpoint.h"

extern char** environ;

namespace ablate::testing {
namespace {

torch::Tensor Normal(std::vector<int64_t> shape, double scale, torch::Generator& gen) {
  return (torch::randn(shape, gen, torch::kFloat32) * scale).contiguous();
}

}  // namespace

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/ablate_wtest_XXXXXX";
  char* made = mkdtemp(tmpl.data());
  if (made == nullptr) std::abort();
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

engine::ModelConfig TinyConfig() {
  engine::ModelConfig c;
  c.n_layer = 3;
  c.n_head = 4;
  c.n_embd = 16;
  c.n_positions = 64;
  c.vocab_size = 50257;
  return c;
}

engine::ModelWeights RandomWeights(const engine::ModelConfig& c, uint64_t seed) {
  torch::NoGradGuard no_grad;
  torch::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const int64_t d = c.n_embd;
  engine::ModelWeights w;
  w.config = c;
  w.wte = Normal({c.vocab_size, d}, 0.5, gen);
  w.wpe = Normal({c.n_positions, d}, 0.1, gen);
  for (int l = 0; l < c.n_layer; ++l) {
    engine::BlockWeights b;
    b.ln_1_weight = (1 + Normal({d}, 0.1, gen)).contiguous();
    b.ln_1_bias = Normal({d}, 0.1, gen);
    b.attn_c_attn_weight = Normal({d, 3 * d}, 0.3, gen);
    b.attn_c_attn_bias = Normal({3 * d}, 0.2, gen);
    b.attn_c_proj_weight = Normal({d, d}, 0.3, gen);
    b.attn_c_proj_bias = Normal({d}, 0.1, gen);
    b.ln_2_weight = (1 + Normal({d}, 0.1, gen)).contiguous();
    b.ln_2_bias = Normal({d}, 0.1, gen);
    b.mlp_c_fc_weight = Normal({d, 4 * d}, 0.2, gen);
    b.mlp_c_fc_bias = Normal({4 * d}, 0.1, gen);
    b.mlp_c_proj_weight = Normal({4 * d, d}, 0.2, gen);
    b.mlp_c_proj_bias = Normal({d}, 0.1, gen);
    w.blocks.push_back(std::move(b));
  }
  w.ln_f_weight = (1 + Normal({d}, 0.1, gen)).contiguous();
  w.ln_f_bias = Normal({d}, 0.1, gen);
  return w;
}

absl::StatusOr<std::string> WriteRandomModel(const std::string& dir, uint64_t seed,
                                             const engine::ModelConfig& config) {
  engine::SaveOptions options;
  options.tokenizer_dir = std::string(ABLATE_TEST_DATA_DIR) + "/gpt2-tokenizer";
  absl::Status saved = engine::SaveCheckpoint(dir, RandomWeights(config, seed), options);
  if (!saved.ok()) return saved;
  return artifact::Sha256OfFile(dir + "/" + engine::kWeightsFile);
}

std::string TestText(size_t min_bytes) {
  static const std::string* text =
      new std::string(ReadAll(std::string(ABLATE_TEST_DATA_DIR) + "/tokenizer/reference.txt"));
  if (text->empty()) std::abort();
  std::string out;
  while (out.size() < min_bytes) out += *text;
  // Cut at a line end near min_bytes so the text stays small (tokenizing is not free).
  size_t cut = out.find('\n', min_bytes);
  return cut == std::string::npos ? out : out.substr(0, cut + 1);
}

void WriteFileOrDie(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  if (!out.flush()) std::abort();
}

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds timeout,
             std::chrono::milliseconds poll) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (true) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(poll);
  }
}

absl::StatusOr<std::unique_ptr<ChildProcess>> ChildProcess::Start(
    const std::vector<std::string>& argv, const std::string& log_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) return absl::InternalError("posix_spawn " + argv[0] + " failed");
  return std::unique_ptr<ChildProcess>(new ChildProcess(pid, log_path));
}

ChildProcess::~ChildProcess() {
  if (running()) {
    Signal(SIGKILL);
    Wait(std::chrono::seconds(10));
  }
}

bool ChildProcess::running() {
  if (exit_.has_value()) return false;
  return !Wait(std::chrono::milliseconds(0)).has_value();
}

void ChildProcess::Signal(int sig) {
  if (!exit_.has_value()) kill(pid_, sig);
}

std::optional<int> ChildProcess::Wait(std::chrono::milliseconds timeout) {
  if (exit_.has_value()) return exit_;
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (true) {
    int status = 0;
    pid_t got = waitpid(pid_, &status, WNOHANG);
    if (got == pid_) {
      exit_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
      return exit_;
    }
    if (std::chrono::steady_clock::now() >= until) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string ChildProcess::Log() const { return ReadAll(log_path_); }

}  // namespace ablate::testing
