// The `ablate` binary (ABLATE_CLI) against the fake service: --help everywhere, bad usage,
// exit codes, env fallbacks, every command and format, submit from flags and spec files.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/client/fake_service.h"

namespace ablate::client {
namespace {

namespace fs = std::filesystem;
using testing::FakeAblationService;
using testing::FakeServer;

struct Result {
  int code = -1;
  std::string out, err;
};

std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Runs ablate with `args`; `env` entries "K=V" are added to a clean environment.
Result RunCli(const std::vector<std::string>& args, const std::vector<std::string>& env = {}) {
  const fs::path dir = fs::temp_directory_path();
  const std::string tag = std::to_string(getpid());
  const fs::path out = dir / ("ablate_cli_out_" + tag), err = dir / ("ablate_cli_err_" + tag);
  const pid_t pid = fork();
  if (pid == 0) {
    const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    std::vector<std::string> all = {ABLATE_CLI};
    all.insert(all.end(), args.begin(), args.end());
    std::vector<char*> argv, envp;
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_copy = env;
    env_copy.push_back("PATH=/usr/bin:/bin");
    for (std::string& v : env_copy) envp.push_back(v.data());
    envp.push_back(nullptr);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  Result r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = Slurp(out);
  r.err = Slurp(err);
  fs::remove(out);
  fs::remove(err);
  return r;
}

std::string LastWord(const std::string& s) {
  std::vector<std::string> words = absl::StrSplit(s, absl::ByAnyChar(" \n"), absl::SkipEmpty());
  return words.empty() ? "" : words.back();
}

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Start();
    dir_ = fs::temp_directory_path() / ("ablate_cli_" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result Run(std::vector<std::string> args) {
    args.insert(args.begin(), {"--server", server_.address()});
    return RunCli(args);
  }
  // A checkpoint folder whose model.safetensors holds "hello".
  fs::path Model() {
    const fs::path m = dir_ / "model";
    fs::create_directories(m);
    std::ofstream(m / "config.json")
        << R"({"n_layer": 2, "n_head": 3, "n_embd": 48, "n_positions": 64, "vocab_size": 50257})";
    std::ofstream(m / "model.safetensors") << "hello";
    std::ofstream(dir_ / "text.txt") << "some text";
    return m;
  }

  FakeAblationService service_;
  FakeServer server_{&service_};
  fs::path dir_;
};

TEST_F(CliTest, HelpOnEveryCommand) {
  Result r = RunCli({"--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("Subcommands:"), std::string::npos);
  for (const char* cmd : {"submit", "watch", "status", "list", "cancel", "heads", "curve",
                          "thresholds", "stats", "layers", "report"}) {
    r = RunCli({cmd, "--help"});
    EXPECT_EQ(r.code, 0) << cmd;
    EXPECT_NE(r.out.find("Usage:"), std::string::npos) << cmd;
  }
}

TEST_F(CliTest, BadUsageIsExitTwoWithOneLine) {
  const std::vector<std::vector<std::string>> cases = {
      {},
      {"frobnicate"},
      {"heads"},
      {"heads", "job-1", "--format", "xml"},
      {"heads", "job-1", "--sort", "size"},
      {"heads", "job-1", "--top", "-1"},
      {"heads", "job-1", "--bogus"},
      {"thresholds", "job-1", "--ratios", "0.5"},
      {"list", "--state", "sleeping"},
      {"report", "job-1"},
      {"submit", "--text", "t.txt"},
  };
  for (const auto& args : cases) {
    const Result r = Run(args);
    EXPECT_EQ(r.code, 2) << args.size() << " " << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.rfind("ablate: ", 0), 0u) << r.err;
  }
}

TEST_F(CliTest, NotFoundUnreachableAndToken) {
  Result r = Run({"status", "nope"});
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.err.find("not found"), std::string::npos);
  r = RunCli({"--server", "127.0.0.1:1", "stats", "job-1"});
  EXPECT_EQ(r.code, 4);
  EXPECT_NE(r.err.find("unreachable"), std::string::npos);
  service_.set_token("t0ken");
  r = Run({"stats", "job-1"});
  EXPECT_EQ(r.code, 4);
  EXPECT_NE(r.err.find("token"), std::string::npos);
  std::ofstream(dir_ / "tok") << "t0ken\n";
  EXPECT_EQ(Run({"--token-file", (dir_ / "tok").string(), "stats", "job-1"}).code, 0);
  r = RunCli({"stats", "job-1"},
             {"ABLATE_SERVER=" + server_.address(), "ABLATE_TOKEN_FILE=" + (dir_ / "tok").string()});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(Run({"--token-file", (dir_ / "none").string(), "stats", "job-1"}).code, 2);
}

TEST_F(CliTest, EveryQueryInEveryFormat) {
  for (const char* cmd : {"heads", "curve", "thresholds", "stats", "layers", "status"}) {
    for (const char* format : {"table", "csv", "json"}) {
      const Result r = Run({cmd, "job-1", "--format", format});
      EXPECT_EQ(r.code, 0) << cmd << " " << format << ": " << r.err;
      EXPECT_TRUE(r.err.empty()) << r.err;
      if (std::string(format) == "json") {
        EXPECT_FALSE(nlohmann::json::parse(r.out, nullptr, false).is_discarded()) << cmd;
      } else if (std::string(format) == "table") {
        EXPECT_NE(r.out.find("| ---"), std::string::npos) << cmd;
      }
    }
  }
  Result r = Run({"heads", "job-1", "--top", "2", "--sort", "abs", "--format", "csv"});
  EXPECT_EQ(r.out, "rank,layer,head,ppl,delta\n1,2,2,44,1.2\n2,0,0,30,0.5\n");
  r = Run({"thresholds", "job-1", "--ratios", "1.1,4", "--format", "csv"});
  EXPECT_NE(r.out.find("\n4,11,"), std::string::npos) << r.out;
  std::ofstream(dir_ / "series.txt") << "3\n1\n2\n";
  r = Run({"layers", "job-1", "--series", (dir_ / "series.txt").string()});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("Pearson r"), std::string::npos);
}

TEST_F(CliTest, CompareInEveryFormat) {
  // job-ind's deltas are job-1's reversed: head i of A meets head 11 - i's delta in B.
  Result r = Run({"compare", "job-1", "job-ind", "--format", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["job_a"], "job-1");
  EXPECT_EQ(j["n_layer"], 3);
  ASSERT_EQ(j["rows"].size(), 12u);
  int previous = 1 << 20;
  for (const nlohmann::json& row : j["rows"]) {  // Default sort: largest |rank shift| first.
    EXPECT_LE(std::abs(row["rank_shift"].get<int>()), previous);
    previous = std::abs(row["rank_shift"].get<int>());
    EXPECT_EQ(row["rank_shift"], row["rank_b"].get<int>() - row["rank_a"].get<int>());
  }
  EXPECT_TRUE(j["correlation"].contains("spearman_rho"));
  r = Run({"compare", "job-1", "job-ind", "--sort", "layer", "--top", "2", "--format", "csv"});
  ASSERT_EQ(r.code, 0) << r.err;
  // Head (0,0): delta 0.5 is rank 2 in A (1.2 is first); in B it has 0.003, rank 9.
  EXPECT_EQ(r.out.substr(0, r.out.find('\n')),
            "layer,head,delta_a,delta_b,rank_a,rank_b,rank_shift");
  EXPECT_NE(r.out.find("\n0,0,0.5,0.003,2,9,7\n"), std::string::npos) << r.out;
  r = Run({"compare", "job-1", "job-1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Spearman rho 1.0000"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("| rank shift |"), std::string::npos) << r.out;
  r = Run({"compare", "job-1", "job-fail"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("different shapes"), std::string::npos) << r.err;
  EXPECT_EQ(Run({"compare", "job-1", "nope"}).code, 3);
  EXPECT_EQ(Run({"compare", "job-1"}).code, 2);
}

TEST_F(CliTest, ListAndCancel) {
  Result r = Run({"list", "--state", "failed", "--format", "csv"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("\njob-fail,failed,"), std::string::npos) << r.out;
  r = Run({"cancel", "job-run"});
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(r.code, 0);
  EXPECT_EQ(Run({"cancel", "job-1"}).code, 1);
}

TEST_F(CliTest, SubmitFromFlagsSendsFingerprints) {
  const fs::path m = Model();
  const Result r = Run({"submit", "--model", m.string(), "--text", (dir_ / "text.txt").string(),
                        "--n-chunks", "3", "--seq-len", "32", "--method", "zero_folded",
                        "--sweep", "individual", "--priority", "7", "--request-id", "r-1"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(LastWord(r.out), "job-new");
  const v1::SubmitJobRequest req = service_.last_submit();
  EXPECT_EQ(req.request_id(), "r-1");
  const v1::JobSpec& s = req.spec();
  // SHA-256("hello").
  EXPECT_EQ(s.model().sha256(), "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
  EXPECT_EQ(s.model().path(), m.string());
  EXPECT_EQ(s.model().shape().n_head(), 3);
  EXPECT_EQ(s.model().shape().n_positions(), 64);
  EXPECT_EQ(s.dataset().text(), "some text");
  EXPECT_EQ(s.dataset().name(), "text.txt");
  EXPECT_EQ(s.n_chunks(), 3);
  EXPECT_EQ(s.seq_len(), 32);
  EXPECT_EQ(s.method(), v1::METHOD_ZERO_FOLDED);
  EXPECT_EQ(s.sweep(), v1::SWEEP_INDIVIDUAL);
  EXPECT_EQ(s.priority(), 7);
}

TEST_F(CliTest, SubmitFromSpecWithWait) {
  Model();
  std::ofstream(dir_ / "job.yaml") << "model: model\ntext: text.txt\nmethod: mean\nseq_len: 16\n";
  Result r = Run({"submit", "--spec", (dir_ / "job.yaml").string(), "--seq-len", "24", "--wait"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(LastWord(r.out), "job-new");
  EXPECT_NE(r.out.find("succeeded"), std::string::npos);
  const v1::JobSpec s = service_.last_submit().spec();
  EXPECT_EQ(s.method(), v1::METHOD_MEAN);
  EXPECT_EQ(s.seq_len(), 24);  // The flag wins over the file.
  EXPECT_EQ(s.n_chunks(), 2);  // Default.
  EXPECT_EQ(s.sweep(), v1::SWEEP_FULL);
  EXPECT_EQ(service_.last_submit().request_id().size(), 32u);  // Random.
  r = Run({"submit", "--spec", (dir_ / "job.yaml").string(), "--n-chunks", "5000"});
  EXPECT_EQ(r.code, 2) << r.err;  // INVALID_ARGUMENT from the server.
  r = Run({"submit", "--model", (dir_ / "nope").string(), "--text", "x"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("config.json"), std::string::npos) << r.err;
}

TEST_F(CliTest, SubmitBosFlagsAndFamilyDefault) {
  const fs::path m = dir_ / "llama";
  fs::create_directories(m);
  std::ofstream(m / "config.json")
      << R"({"model_type": "llama", "num_hidden_layers": 2, "num_attention_heads": 4,
             "num_key_value_heads": 2, "hidden_size": 32, "max_position_embeddings": 64,
             "vocab_size": 300, "bos_token_id": 1})";
  std::ofstream(m / "model.safetensors") << "w";
  std::ofstream(dir_ / "text.txt") << "some text";
  const std::string text = (dir_ / "text.txt").string();
  ASSERT_EQ(Run({"submit", "--model", m.string(), "--text", text}).code, 0);
  EXPECT_TRUE(service_.last_submit().spec().bos_per_chunk());  // Llama: on by default.
  EXPECT_EQ(service_.last_submit().spec().model().shape().bos_token_id(), 1);
  EXPECT_EQ(service_.last_submit().spec().model().shape().n_kv_head(), 2);
  ASSERT_EQ(Run({"submit", "--model", m.string(), "--text", text, "--no-bos"}).code, 0);
  EXPECT_FALSE(service_.last_submit().spec().bos_per_chunk());
  const fs::path g = Model();  // GPT-2: off by default, --bos turns it on.
  ASSERT_EQ(Run({"submit", "--model", g.string(), "--text", text}).code, 0);
  EXPECT_FALSE(service_.last_submit().spec().bos_per_chunk());
  ASSERT_EQ(Run({"submit", "--model", g.string(), "--text", text, "--bos"}).code, 0);
  EXPECT_TRUE(service_.last_submit().spec().bos_per_chunk());
  EXPECT_EQ(service_.last_submit().spec().model().shape().bos_token_id(), 50256);
}

TEST_F(CliTest, WatchExitCodes) {
  Result r = Run({"watch", "job-run"});
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("job job-run: "), std::string::npos);  // Plain lines: not a terminal.
  r = Run({"watch", "job-fail"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("out of memory"), std::string::npos);
  EXPECT_EQ(Run({"watch", "nope"}).code, 3);
}

TEST_F(CliTest, ReportWritesFiles) {
  const Result r = Run({"report", "job-1", "--out", (dir_ / "rep").string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(LastWord(r.out), (dir_ / "rep" / "report.md").string());
  for (const char* f : {"report.md", "heatmap.svg", "curve.svg", "layers.svg"}) {
    EXPECT_TRUE(fs::exists(dir_ / "rep" / f)) << f;
  }
}

}  // namespace
}  // namespace ablate::client
