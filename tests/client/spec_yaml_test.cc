// YAML spec files through LoadSpecFile: what real YAML allows (block lists, nested [L, H]
// pairs, multi-line strings, comments, quotes) and a clear error, naming the file and line,
// for what a spec does not (nested mappings, duplicate keys, lists where one value belongs,
// unknown keys, syntax errors, several documents).
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "client/spec.h"
#include "gtest/gtest.h"

namespace ablate::client {
namespace {

namespace fs = std::filesystem;

std::string TempFile(const std::string& name, const std::string& text) {
  const fs::path dir = fs::temp_directory_path() / ("ablate_spec_yaml_" + std::to_string(getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / name) << text;
  return (dir / name).string();
}

// The error of loading `text` as a YAML spec ("" when it loads).
std::string ErrorOf(const std::string& text) {
  absl::StatusOr<SubmitOptions> o = LoadSpecFile(TempFile("bad.yaml", text));
  if (o.ok()) return "";
  EXPECT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(o.status().message());
}

TEST(SpecYamlTest, RealYaml) {
  const std::string path = TempFile("study.yaml", R"(# zero vs mean, small model
model: models/tiny        # relative to this file
text: '/data/brown.txt'
n-chunks: 4
seq_len: 128
method: mean
bos_per_chunk: yes
name: >
  mean ablation
  of the tiny model
cumulative_order:
  - 0.1
  - [2, 3]
  - "1.0"
)");
  absl::StatusOr<SubmitOptions> o = LoadSpecFile(path);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(*o->model, (fs::path(path).parent_path() / "models/tiny").string());
  EXPECT_EQ(*o->text, "/data/brown.txt");
  EXPECT_EQ(*o->n_chunks, 4);
  EXPECT_EQ(*o->seq_len, 128);
  EXPECT_EQ(*o->method, "mean");
  EXPECT_TRUE(*o->bos_per_chunk);
  EXPECT_EQ(*o->name, "mean ablation of the tiny model\n");
  EXPECT_EQ(o->cumulative_order, (std::vector<std::pair<int, int>>{{0, 1}, {2, 3}, {1, 0}}));
}

TEST(SpecYamlTest, EmptyFileHasNoSettings) {
  absl::StatusOr<SubmitOptions> o = LoadSpecFile(TempFile("empty.yaml", "# nothing yet\n"));
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_FALSE(o->model.has_value());
}

TEST(SpecYamlTest, ClearErrors) {
  std::string e = ErrorOf("model: m\nmodel_opts:\n  dtype: bf16\n");
  EXPECT_NE(e.find("bad.yaml:3:"), std::string::npos) << e;
  EXPECT_NE(e.find("'model_opts' is a nested mapping"), std::string::npos) << e;
  e = ErrorOf("method: zero\nmethod: mean\n");
  EXPECT_NE(e.find("bad.yaml:2:1: 'method' is given twice"), std::string::npos) << e;
  e = ErrorOf("method: [zero, mean]\n");
  EXPECT_NE(e.find("method must be a single value, got a list"), std::string::npos) << e;
  e = ErrorOf("n_chunks: four\n");
  EXPECT_NE(e.find("n_chunks must be an integer, got 'four'"), std::string::npos) << e;
  e = ErrorOf("n_chunks: 2.5\n");
  EXPECT_NE(e.find("must be an integer"), std::string::npos) << e;
  e = ErrorOf("bos_per_chunk: maybe\n");
  EXPECT_NE(e.find("must be true or false, got 'maybe'"), std::string::npos) << e;
  e = ErrorOf("colour: red\n");
  EXPECT_NE(e.find("unknown key 'colour'"), std::string::npos) << e;
  e = ErrorOf("seq_len:\n");
  EXPECT_NE(e.find("'seq_len' has no value"), std::string::npos) << e;
  e = ErrorOf("model: m\ntext: [unclosed\n");
  EXPECT_NE(e.find("bad.yaml:"), std::string::npos) << e;
  e = ErrorOf("model: a\n---\nmodel: b\n");
  EXPECT_NE(e.find("2 YAML documents"), std::string::npos) << e;
  e = ErrorOf("- model: a\n");
  EXPECT_NE(e.find("must be a mapping"), std::string::npos) << e;
  e = ErrorOf("cumulative_order: [[[0, 1]]]\n");
  EXPECT_NE(e.find("nests lists too deeply"), std::string::npos) << e;
  e = ErrorOf("? [a, b]\n: 1\n");
  EXPECT_NE(e.find("a key must be a plain name"), std::string::npos) << e;
}

}  // namespace
}  // namespace ablate::client
