// tokenizer.json support against the reference JavaScript port (npm @huggingface/tokenizers):
// every id of a >= 50 kB corpus and of each edge case, for every tokenizer file the fixture
// (tests/engine/js/make_reference.sh) wrote, loaded through the LoadTokenizer factory.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "worker/engine/text_tokenizer.h"
#include "worker/engine/tokenizer.h"

namespace ablate::engine {
namespace {

const std::string kRefDir = ABLATE_HF_REFERENCE_DIR;
const std::string kDataDir = ABLATE_TEST_DATA_DIR;

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string Show(const std::string& s) { return nlohmann::json(s).dump(); }

class HfReferenceTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    dir_ = kRefDir + "/" + GetParam();
    auto t = LoadTokenizer(dir_);
    ASSERT_TRUE(t.ok()) << t.status();
    owned_ = *std::move(t);
    tok_ = owned_.get();
  }
  void CheckCorpus();
  void CheckCases();
  void CheckRoundTrip();

  std::string dir_;
  std::unique_ptr<TextTokenizer> owned_;
  const TextTokenizer* tok_ = nullptr;
};

void HfReferenceTest::CheckCorpus() {
  const std::string text = ReadFileOrDie(kRefDir + "/corpus.txt");
  ASSERT_GE(text.size(), 50000u);
  const std::vector<int> expected =
      nlohmann::json::parse(ReadFileOrDie(dir_ + "/corpus_ids.json")).get<std::vector<int>>();
  // The first encode of the file in this process: the piece cache starts empty.
  const auto start = std::chrono::steady_clock::now();
  const std::vector<int> ids = tok_->Encode(text);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const auto again = std::chrono::steady_clock::now();
  EXPECT_EQ(tok_->Encode(text), ids);
  const double warm =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - again).count();
  std::printf("%s: %zu bytes -> %zu ids: %.2f MB/s cold cache, %.2f MB/s warm\n",
              GetParam().c_str(), text.size(), ids.size(), text.size() / seconds / 1e6,
              text.size() / warm / 1e6);
  const size_t n = std::min(ids.size(), expected.size());
  for (size_t i = 0; i < n; ++i) {
    if (ids[i] != expected[i]) {
      const size_t from = i < 8 ? 0 : i - 8;
      const std::vector<int> around(expected.begin() + from,
                                    expected.begin() + std::min(n, i + 8));
      FAIL() << "first difference at id " << i << ": got " << ids[i] << ", reference "
             << expected[i] << "; reference text around it: "
             << Show(tok_->Decode(around));
    }
  }
  ASSERT_EQ(ids.size(), expected.size());
}

void HfReferenceTest::CheckCases() {
  const auto cases = nlohmann::json::parse(ReadFileOrDie(kDataDir + "/tokenizer/hf_cases.json"))
                         .get<std::vector<std::string>>();
  const auto expected = nlohmann::json::parse(ReadFileOrDie(dir_ + "/cases_ids.json"))
                            .get<std::vector<std::vector<int>>>();
  ASSERT_EQ(cases.size(), expected.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(tok_->Encode(cases[i]), expected[i]) << "case " << i << ": " << Show(cases[i]);
  }
}

// Decode inverts Encode on text that normalization leaves alone (these files' decoders).
void HfReferenceTest::CheckRoundTrip() {
  for (const std::string text :
       {"Hello world", "It's 2024.\n\nNew  paragraph\twith tabs ", "caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87",
        "emoji \xF0\x9F\x98\x80!"}) {
    EXPECT_EQ(tok_->Decode(tok_->Encode(text)), text) << Show(text);
  }
}

// One test per file (each CTest case is a process that loads the file).
TEST_P(HfReferenceTest, IdsEqualReference) {
  CheckCorpus();
  CheckCases();
  CheckRoundTrip();
}

INSTANTIATE_TEST_SUITE_P(Files, HfReferenceTest,
                         ::testing::Values("llama3", "qwen3", "mistral", "llama2",
                                           "mistral-metaspace", "gpt2", "gpt2-neox"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) c = (c == '-') ? '_' : c;
                           return name;
                         });

// GPT-2's vocab.json + merges.txt (OpenAI's encoder, whose pair ranks key on "a,b") and the same
// vocabulary as tokenizer.json (Hugging Face) agree on the corpus except where the text holds
// "<|endoftext|>" (a special token only for Hugging Face) or a comma-key twin.
TEST(HfVersusGpt2Files, SameIdsOnProse) {
  auto legacy = Tokenizer::Load(kDataDir + "/gpt2-tokenizer");
  auto hf = LoadTokenizer(kRefDir + "/gpt2");
  ASSERT_TRUE(legacy.ok() && hf.ok());
  const std::string text = ReadFileOrDie(kDataDir + "/tokenizer/reference.txt").substr(0, 20000);
  EXPECT_EQ((*legacy)->Encode(text), (*hf)->Encode(text));
  EXPECT_EQ((*hf)->eot_id(), 50256);
  EXPECT_EQ((*hf)->Encode("a<|endoftext|>b"), (std::vector<int>{64, 50256, 65}));
  EXPECT_GT((*legacy)->Encode("a<|endoftext|>b").size(), 3u);
}

}  // namespace
}  // namespace ablate::engine
