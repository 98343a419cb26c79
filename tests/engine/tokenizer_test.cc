// Tests of the GPT-2 tokenizer against the reference implementation (npm
// gpt-3-encoder 1.1.4).
#include "worker/engine/tokenizer.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ablate::engine {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::string kDataDir = ABLATE_TEST_DATA_DIR;

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// Parses a JSON array of non-negative integers (the format make_reference.js
// writes).
std::vector<int> ParseIdArray(const std::string& json) {
  std::vector<int> ids;
  int value = -1;
  for (char c : json) {
    if (c >= '0' && c <= '9') {
      value = (value < 0 ? 0 : value * 10) + (c - '0');
    } else if (value >= 0) {
      ids.push_back(value);
      value = -1;
    }
  }
  return ids;
}

class Gpt2TokenizerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto loaded = Tokenizer::Load(kDataDir + "/gpt2-tokenizer");
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    tokenizer_ = loaded->release();
  }
  static void TearDownTestSuite() {
    delete tokenizer_;
    tokenizer_ = nullptr;
  }
  static const Tokenizer& tok() { return *tokenizer_; }

 private:
  static Tokenizer* tokenizer_;
};

Tokenizer* Gpt2TokenizerTest::tokenizer_ = nullptr;

TEST_F(Gpt2TokenizerTest, LoadsGpt2Vocabulary) {
  EXPECT_EQ(tok().vocab_size(), 50257);
  EXPECT_EQ(tok().eot_id(), Tokenizer::kGpt2EndOfText);
  EXPECT_EQ(tok().TokenId("<|endoftext|>"), 50256);
  EXPECT_EQ(tok().TokenId("\xC4\xA0the"), 262);  // "Ġthe"
  EXPECT_EQ(tok().TokenId("no such token"), -1);
}

// Expected ids for each case come from the reference:
//   node tests/data/tokenizer/make_reference.js --json < strings.json
// One group per alternative of 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+|
// ?[^\s\p{L}\p{N}]+| \s+(?!\S)|\s+ (plus mixtures).
const std::vector<std::pair<std::string, std::vector<int>>>& ReferenceCases() {
  static const auto* cases =
      new std::vector<std::pair<std::string, std::vector<int>>>{
          // Contractions (case-sensitive; the curly apostrophe is punctuation).
          {"'s", {338}},
          {"'t", {470}},
          {"'re", {821}},
          {"'ve", {1053}},
          {"'m", {1101}},
          {"'ll", {1183}},
          {"'d", {1549}},
          {"it's", {270, 338}},
          {"don't", {9099, 470}},
          {"they're", {9930, 821}},
          {"we've", {732, 1053}},
          {"I'm", {40, 1101}},
          {"you'll", {5832, 1183}},
          {"he'd", {258, 1549}},
          {"IT'S", {2043, 6, 50}},
          {"it\u2019s", {270, 447, 247, 82}},
          {"'tis", {470, 271}},
          {"''s", {7061, 82}},
          {"'x", {6, 87}},
          // ` ?\p{L}+`
          {"Hello", {15496}},
          {"Hello world", {15496, 995}},
          {" world", {995}},
          {"h\u00e9llo", {71, 2634, 18798}},
          {" \u041f\u0440\u0438\u0432\u0435\u0442",
           {12466, 253, 21169, 18849, 38857, 16843, 20375}},
          {"\u4e2d\u6587", {40792, 23877, 229}},
          {"cafe\u0301", {66, 8635, 136, 223}},
          // ` ?\p{N}+`
          {"123", {10163}},
          {" 456", {604, 3980}},
          {"abc123", {39305, 10163}},
          {"3.14", {18, 13, 1415}},
          {"1234567890123", {10163, 2231, 3134, 4531, 486, 1954}},
          {"\u00b2\u00b3", {31185, 126, 111}},
          {"\u0663\u0664", {149, 96, 149, 97}},
          // ` ?[^\s\p{L}\p{N}]+`
          {"!!!", {10185}},
          {" ...", {2644}},
          {"--", {438}},
          {" ,\"", {42911}},
          {"@#$", {31, 29953}},
          {"a,b", {64, 11, 65}},
          {"\",\",\",", {2430, 553, 11}},
          // `\s+(?!\S)` and `\s+` (JavaScript \s: NBSP and U+3000 yes, U+0085
          // and U+200B no).
          {"a  b", {64, 220, 275}},
          {"a\n\nb", {64, 198, 198, 65}},
          {"a \n b", {64, 220, 198, 275}},
          {"trailing   ", {9535, 4386, 220, 220, 220}},
          {"\t\tx", {197, 197, 87}},
          {"x \t y", {87, 220, 197, 331}},
          {"   ", {220, 220, 220}},
          {"\n", {198}},
          {"a\u00a0b", {64, 1849, 65}},
          {"a\u3000 b", {64, 5099, 222, 275}},
          {"a\u0085b", {64, 126, 227, 65}},
          {"a\u200bb", {64, 9525, 65}},
          // Astral code points, the end-of-text marker as plain text, a
          // mixture.
          {"\U0001F600", {47249, 222}},
          {" \U0001F600!", {30325, 222, 0}},
          {"<|endoftext|>", {27, 91, 437, 1659, 5239, 91, 29}},
          {"Hello, world! It's 2024.\n\nNew paragraph.  ",
           {15496, 11, 995, 0, 632, 338, 48609, 13, 198, 198, 3791, 7322, 13,
            220, 220}},
      };
  return *cases;
}

TEST_F(Gpt2TokenizerTest, MatchesReferenceOnEachRegexAlternative) {
  for (const auto& [text, ids] : ReferenceCases()) {
    EXPECT_EQ(tok().Encode(text), ids) << "text: \"" << text << "\"";
    EXPECT_EQ(tok().Decode(ids), text);
  }
}

TEST_F(Gpt2TokenizerTest, MatchesReferenceOnRealText) {
  const std::string text = ReadFileOrDie(kDataDir + "/tokenizer/reference.txt");
  const std::vector<int> expected =
      ParseIdArray(ReadFileOrDie(kDataDir + "/tokenizer/reference_ids.json"));
  ASSERT_GE(text.size(), 50000u);
  ASSERT_EQ(expected.size(), 14758u);
  const std::vector<int> ids = tok().Encode(text);
  ASSERT_EQ(ids.size(), expected.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_EQ(ids[i], expected[i]) << "first difference at token " << i;
  }
  EXPECT_EQ(tok().Decode(ids), text);
}

TEST_F(Gpt2TokenizerTest, InvalidUtf8BytesAreOwnSymbolsAndRoundTrip) {
  const int ff = tok().TokenId("\xC3\xBF");  // the byte symbol of 0xFF, "ÿ"
  ASSERT_GE(ff, 0);
  EXPECT_THAT(tok().Encode("\xFF"), ElementsAre(ff));
  // Invalid bytes join a punctuation run ("\xFF!" is one piece, like "\uFFFD!"
  // in Node).
  EXPECT_EQ(tok().Encode("a\xFF!"), (std::vector<int>{64, ff, 0}));
  for (const std::string& s :
       {std::string("ab\xFF\xFE cd \xC3"), std::string("\xED\xA0\x80x"),
        std::string("\xE2\x82 \x80\x80 \xF4\x90\x80\x80 \xC0\xAF")}) {
    EXPECT_EQ(tok().Decode(tok().Encode(s)), s);
  }
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::string s(rng() % 64, '\0');
    for (char& c : s) c = static_cast<char>(rng() % 256);
    ASSERT_EQ(tok().Decode(tok().Encode(s)), s) << "trial " << trial;
  }
}

TEST_F(Gpt2TokenizerTest, DecodeSkipsUnknownIdsAndKeepsRawBytes) {
  EXPECT_EQ(tok().Decode({15496, -1, 50257, 1 << 30, 995}), "Hello world");
  // "😀" is [47249, 222]; the first token alone is a cut UTF-8 sequence, kept as
  // raw bytes.
  EXPECT_EQ(tok().Decode({47249}) + tok().Decode({222}), "\U0001F600");
  EXPECT_EQ(tok().Decode({}), "");
  EXPECT_TRUE(tok().Encode("").empty());
}

TEST_F(Gpt2TokenizerTest, ConcurrentEncodesAgree) {
  const std::string text = ReadFileOrDie(kDataDir + "/tokenizer/reference.txt");
  const std::vector<int> expected = tok().Encode(text);
  std::vector<std::vector<int>> results(4);
  std::vector<std::thread> threads;
  for (auto& result : results) {
    threads.emplace_back([&text, &result] { result = tok().Encode(text); });
  }
  for (auto& t : threads) t.join();
  for (const auto& result : results) EXPECT_EQ(result, expected);
}

// Not a benchmark: prints the speed on 1 MB of random lowercase words (almost
// every piece is new, so this is the slow, uncached path), and fails only if it
// is absurdly slow.
TEST_F(Gpt2TokenizerTest, EncodesOneMegabyteOfNewWordsQuickly) {
  std::mt19937 rng(11);
  std::string text;
  while (text.size() < (1u << 20)) {
    const int length = 1 + rng() % 10;
    for (int i = 0; i < length; ++i)
      text += static_cast<char>('a' + rng() % 26);
    text += (rng() % 8 == 0) ? ". " : " ";
  }
  const auto start = std::chrono::steady_clock::now();
  const std::vector<int> ids = tok().Encode(text);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  std::printf("encoded %zu bytes into %zu ids in %.3f s (%.2f MB/s)\n",
              text.size(), ids.size(), seconds, text.size() / seconds / 1e6);
  EXPECT_EQ(tok().Decode(ids), text);
  EXPECT_LT(seconds, 20.0);
}

// A tiny tokenizer written to a temp dir: the 256 byte symbols (id = byte
// value) plus extras.
class TinyTokenizerTest : public ::testing::Test {
 protected:
  static std::string ByteSymbol(int b) {
    const bool printable =
        (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    int cp = b;
    if (!printable) {
      cp = 256;
      for (int c = 0; c < b; ++c) {
        if (!((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || c >= 0xAE))
          ++cp;
      }
    }
    std::string s;
    if (cp < 0x80) return std::string(1, static_cast<char>(cp));
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
    return s;
  }

  // vocab.json with the byte symbols except `skip_byte`, then `extra` tokens.
  static std::string VocabJson(const std::vector<std::string>& extra,
                               int skip_byte = -1) {
    std::string json = "{";
    auto add = [&json](const std::string& token, int id) {
      std::string escaped;
      for (char c : token)
        escaped +=
            (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
      json += (json.size() > 1 ? ",\n\"" : "\"") + escaped +
              "\": " + std::to_string(id);
    };
    for (int b = 0; b < 256; ++b) {
      if (b != skip_byte) add(ByteSymbol(b), b);
    }
    for (size_t i = 0; i < extra.size(); ++i)
      add(extra[i], 256 + static_cast<int>(i));
    return json + "}\n";
  }

  void Write(const std::string& name, const std::string& content) {
    std::ofstream(dir_ + "/" + name, std::ios::binary) << content;
  }

  absl::StatusOr<std::unique_ptr<Tokenizer>> LoadWith(
      const std::string& vocab, const std::string& merges) {
    Write("vocab.json", vocab);
    Write("merges.txt", merges);
    return Tokenizer::Load(dir_);
  }

  void SetUp() override {
    dir_ = ::testing::TempDir() + "/tiny_tokenizer_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }

  std::string dir_;
};

// The reference ranks the pair (".,", "!") by the string ".,,!", which is also
// the key of the merge (".", ",!"). Expected ids from running gpt-3-encoder's
// Encoder.js on these two files.
TEST_F(TinyTokenizerTest, ReproducesCommaKeyedRanksOfReference) {
  auto tok =
      LoadWith(VocabJson({".,", ",!", ".,!"}), "#version: 0.2\n. ,\n. ,!\n");
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_THAT((*tok)->Encode(".,!"),
              ElementsAre(258));  // plain BPE would give [256, 33]
  EXPECT_THAT((*tok)->Encode("!.,!"), ElementsAre(33, 258));
  EXPECT_THAT((*tok)->Encode(".,!.,!"), ElementsAre(258, 258));
  EXPECT_THAT((*tok)->Encode(". ,!"), ElementsAre(46, 32, 44, 33));
  EXPECT_EQ((*tok)->vocab_size(), 259);
  EXPECT_EQ((*tok)->eot_id(), -1);
}

TEST_F(TinyTokenizerTest, AcceptsCrlfAndBlankLinesInMerges) {
  auto tok = LoadWith(VocabJson({"ab", "abc"}),
                      "#version: 0.2\r\na b\r\n\r\nab c\r\n\n");
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_THAT((*tok)->Encode("abcab"), ElementsAre(257, 256));
}

TEST_F(TinyTokenizerTest, ErrorsNameFileAndPlace) {
  struct Case {
    std::string vocab, merges, expected_file, expected_text;
  };
  const std::string good_merges = "#version: 0.2\na b\n";
  const std::vector<Case> cases = {
      {VocabJson({"ab"}) + "x", good_merges, "vocab.json",
       "line 258, column 1: invalid JSON"},
      {"[1, 2]", good_merges, "vocab.json", "expected a JSON object"},
      {"{\"a\": \"one\"}", good_merges, "vocab.json",
       "token \"a\": id must be an integer"},
      {"{\"a\": -3}", good_merges, "vocab.json",
       "token \"a\": id must be an integer"},
      // A number JSON cannot hold (nlohmann throws out_of_range, not parse_error; found
      // by fuzz_tokenizer's sibling fuzz_hf_tokenizer).
      {"{\"a\": 1e999}", good_merges, "vocab.json", "invalid JSON"},
      {VocabJson({"ab", "xy"})
           .replace(VocabJson({"ab", "xy"}).find(": 257"), 5, ": 256"),
       good_merges, "vocab.json", "share id 256"},
      {VocabJson({"ab"}, 0x41), good_merges, "vocab.json",
       "no token for byte 0x41"},
      {VocabJson({"ab"}), "a b\n", "merges.txt",
       "merges.txt:1: expected a \"#version\""},
      {VocabJson({"ab"}), "#version: 0.2\na b\nab c d\n", "merges.txt",
       "merges.txt:3: expected a merge \"A B\", got 3 fields"},
      {VocabJson({"ab"}), "#version: 0.2\n\na b\nb c\n", "merges.txt",
       "merges.txt:4: token \"bc\" is not in the vocabulary"},
      {VocabJson({"ab"}), "#version: 0.2\nq\xC4\xA0 b\n", "merges.txt",
       "merges.txt:2: token \"q\xC4\xA0\" is not in the vocabulary"},
  };
  for (const Case& c : cases) {
    auto tok = LoadWith(c.vocab, c.merges);
    ASSERT_FALSE(tok.ok()) << c.expected_text;
    EXPECT_EQ(tok.status().code(), absl::StatusCode::kInvalidArgument)
        << tok.status();
    EXPECT_THAT(std::string(tok.status().message()),
                AllOf(HasSubstr(dir_ + "/" + c.expected_file),
                      HasSubstr(c.expected_text)));
  }
}

TEST_F(TinyTokenizerTest, MissingFilesAreNotFound) {
  auto tok = Tokenizer::Load(dir_ + "/nowhere");
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(tok.status().message()),
              HasSubstr("nowhere/vocab.json"));
  Write("vocab.json", VocabJson({}));
  tok =
      Tokenizer::LoadFiles(dir_ + "/vocab.json", dir_ + "/missing_merges.txt");
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(tok.status().message()),
              HasSubstr("missing_merges.txt"));
}

}  // namespace
}  // namespace ablate::engine
