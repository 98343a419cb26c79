// Unit tests of the tokenizer.json pieces (regex translation, UTF-8 repair, normalizers,
// pre-tokenizers, decoders, BPE rules, added tokens, the factory) and of every load error.
// Expected values follow the reference's code (npm @huggingface/tokenizers 0.2.0) by hand;
// hf_reference_test.cc compares whole files against the reference itself.
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "worker/engine/hf_components.h"
#include "worker/engine/hf_regex.h"
#include "worker/engine/hf_tokenizer.h"
#include "worker/engine/text_tokenizer.h"
#include "worker/engine/tokenizer.h"

namespace ablate::engine {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using Json = nlohmann::json;

const std::string kLlama3Pattern =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

std::vector<std::string> Matches(const HfRegex& re, std::string_view text) {
  std::vector<std::string> out;
  re.ForEachMatch(text, [&](size_t b, size_t e) { out.emplace_back(text.substr(b, e - b)); });
  return out;
}

TEST(HfRegexTest, TranslatesAsTheReference) {
  auto t = TranslateOniguruma("(?i:'s|x)\\s.$\\d{2}+a{,3}b++");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(*t, HasSubstr("(?:\\x{27}[sS]|[xX])"));
  EXPECT_THAT(*t, HasSubstr("\\x{85}"));           // \s is White_Space
  EXPECT_THAT(*t, HasSubstr("[^\\n]"));            // .
  EXPECT_THAT(*t, HasSubstr("(?:(?=\\n)|(?![\\s\\S]))"));  // $
  EXPECT_THAT(*t, HasSubstr("(?:\\p{Nd}{2})+"));  // X{n}+ repeats
  EXPECT_THAT(*t, HasSubstr("a{0,3}"));
  EXPECT_THAT(*t, HasSubstr("b+"));
  EXPECT_THAT(std::string(*t), ::testing::Not(HasSubstr("b++")));
  auto hex = TranslateOniguruma("\\x41}\\x{1F600}\\u00e9[\\x{41}-\\x5A]");
  ASSERT_TRUE(hex.ok()) << hex.status();
  EXPECT_EQ(*hex, "\\x{41}\\}\\x{1F600}\\x{E9}[\\x{41}-\\x{5A}]");
}

TEST(HfRegexTest, UnsupportedConstructsAreNamedErrors) {
  for (const char* p : {"\\w+", "\\bx", "[[:alpha:]]", "[a-z&&[^m]]", "(?x)a", "(a)\\1", "\\G",
                        "(?i:[a-z])", "(a"}) {
    auto t = TranslateOniguruma(p);
    EXPECT_FALSE(t.ok()) << p;
    EXPECT_THAT(std::string(t.status().message()), HasSubstr("not supported")) << p;
  }
}

TEST(HfRegexTest, Llama3PatternSplitsLikeTheReference) {
  auto re = HfRegex::FromOniguruma(kLlama3Pattern);
  ASSERT_TRUE(re.ok()) << re.status();
  EXPECT_THAT(Matches(**re, "I'M 12345 ok!!\r\n\n  x  "),
              ElementsAre("I", "'M", " ", "123", "45", " ok", "!!\r\n\n", " ", " x", "  "));
  // ASCII-only case folding: the long s is a letter, not 'S.
  EXPECT_THAT(Matches(**re, "'\xC5\xBF"), ElementsAre("'\xC5\xBF"));
  // \s is White_Space: U+0085 is a space, U+FEFF is not.
  EXPECT_THAT(Matches(**re, "a\xC2\x85\xC2\x85" "b"), ElementsAre("a", "\xC2\x85", "\xC2\x85" "b"));
  EXPECT_THAT(Matches(**re, "a\xEF\xBB\xBF" "b"), ElementsAre("a", "\xEF\xBB\xBF" "b"));
}

TEST(HfRegexTest, EmptyMatchesAdvanceOneCodePoint) {
  auto re = HfRegex::FromOniguruma("x*");
  ASSERT_TRUE(re.ok());
  EXPECT_THAT(Matches(**re, "\xC3\xA9xx"), ElementsAre("", "xx", ""));
  auto lit = HfRegex::FromLiteral("a.b");
  ASSERT_TRUE(lit.ok());
  EXPECT_THAT(Matches(**lit, "a.b axb a.b"), ElementsAre("a.b", "a.b"));
  EXPECT_FALSE(HfRegex::FromLiteral("").ok());
}

TEST(HfComponentsTest, SanitizeUtf8ReplacesMaximalSubpartsAsNode) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(SanitizeUtf8("ok \xC3\xA9"), "ok \xC3\xA9");
  EXPECT_EQ(SanitizeUtf8("\xFF"), r);
  EXPECT_EQ(SanitizeUtf8("\xE2\x82 "), r + " ");
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80"), r + r + r);
  EXPECT_EQ(SanitizeUtf8("\xF0\x9F\x98"), r);
  EXPECT_EQ(SanitizeUtf8("\xC0\xAF"), r + r);
  EXPECT_EQ(SanitizeUtf8("\xF4\x90\x80\x80"), r + r + r + r);
  EXPECT_EQ(SanitizeUtf8("\xE0\x80\x80"), r + r + r);
}

TEST(HfComponentsTest, JsTrimKnowsJsWhitespace) {
  // U+FEFF and U+3000 are JavaScript whitespace, U+0085 is not.
  EXPECT_EQ(TrimJsStart(" \xEF\xBB\xBF\xE3\x80\x80\xC2\x85x "), "\xC2\x85x ");
  EXPECT_EQ(TrimJsEnd(" x\xC2\x85\xE3\x80\x80\n"), " x\xC2\x85");
}

TEST(HfComponentsTest, Normalizers) {
  EXPECT_EQ(MakeUnicodeNormalizer(UnicodeForm::kNfc)->Normalize("cafe\xCC\x81"), "caf\xC3\xA9");
  EXPECT_EQ(MakeUnicodeNormalizer(UnicodeForm::kNfd)->Normalize("\xC3\xA9"), "e\xCC\x81");
  EXPECT_EQ(MakeUnicodeNormalizer(UnicodeForm::kNfkc)->Normalize("\xEF\xAC\x81"), "fi");
  std::vector<std::unique_ptr<HfNormalizer>> parts;
  parts.push_back(MakePrependNormalizer("\xE2\x96\x81"));
  parts.push_back(MakeReplaceNormalizer(*HfRegex::FromLiteral(" "), "\xE2\x96\x81"));
  EXPECT_EQ(MakeSequenceNormalizer(std::move(parts))->Normalize("a b"),
            "\xE2\x96\x81" "a\xE2\x96\x81" "b");
}

TEST(HfComponentsTest, PreTokenizers) {
  std::vector<std::string> pieces{"Hi  you", "x"};
  MakeByteLevelPreTokenizer(true, true)->PreTokenize(&pieces, 0);
  EXPECT_THAT(pieces, ElementsAre("\xC4\xA0Hi", "\xC4\xA0", "\xC4\xA0you", "\xC4\xA0x"));
  pieces = {"a b\n"};
  MakeByteLevelPreTokenizer(false, false)->PreTokenize(&pieces, 0);
  EXPECT_THAT(pieces, ElementsAre("a\xC4\xA0" "b\xC4\x8A"));
  pieces = {"ab12cd"};
  MakeSplitPreTokenizer(*HfRegex::FromOniguruma("\\d+"))->PreTokenize(&pieces, 0);
  EXPECT_THAT(pieces, ElementsAre("ab", "12", "cd"));
  const std::string m = "\xE2\x96\x81";
  auto first = MakeMetaspacePreTokenizer(m, PrependScheme::kFirst);
  pieces = {"a b"};
  first->PreTokenize(&pieces, 0);
  EXPECT_THAT(pieces, ElementsAre(m + "a" + m + "b"));
  pieces = {"a b"};
  first->PreTokenize(&pieces, 1);
  EXPECT_THAT(pieces, ElementsAre("a" + m + "b"));
  pieces = {" a"};
  MakeMetaspacePreTokenizer(m, PrependScheme::kAlways)->PreTokenize(&pieces, 3);
  EXPECT_THAT(pieces, ElementsAre(m + "a"));
}

TEST(HfComponentsTest, Decoders) {
  std::vector<std::unique_ptr<HfDecoder>> parts;
  parts.push_back(MakeReplaceDecoder(*HfRegex::FromLiteral("\xE2\x96\x81"), " "));
  parts.push_back(MakeByteFallbackDecoder());
  parts.push_back(MakeFuseDecoder());
  parts.push_back(MakeStripDecoder(" ", 1, 0));
  auto llama = MakeSequenceDecoder(std::move(parts));
  EXPECT_THAT(llama->DecodeChain({"\xE2\x96\x81Hi", "<0xE2>", "<0x82>", "<0xAC>", "\xE2\x96\x81x"},
                                 {}),
              ElementsAre("Hi\xE2\x82\xAC x"));
  EXPECT_THAT(MakeMetaspaceDecoder("\xE2\x96\x81")
                  ->DecodeChain({"\xE2\x96\x81" "a", "\xE2\x96\x81" "b"}, {}),
              ElementsAre("a", " b"));
  EXPECT_THAT(MakeByteLevelDecoder()->DecodeChain({"\xC4\xA0" "a", "<x>", "b"},
                                                   {false, true, false}),
              ElementsAre(" a", "<x>", "b"));
}

// A tokenizer.json written to a temp folder.
class TinyHfTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/tiny_hf_" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    root_ = Json{{"version", "1.0"}, {"added_tokens", Json::array()}, {"normalizer", nullptr},
                 {"pre_tokenizer", nullptr}, {"post_processor", nullptr}, {"decoder", nullptr},
                 {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr},
                            {"byte_fallback", false}, {"fuse_unk", false},
                            {"vocab", {{"a", 0}, {"b", 1}, {"ab", 2}, {"ba", 3}, {"c", 4}}},
                            {"merges", {"a b", "b a"}}}}};
  }
  absl::StatusOr<std::unique_ptr<TextTokenizer>> Load(const std::string& config = "") {
    std::ofstream(dir_ + "/tokenizer.json") << root_.dump();
    if (!config.empty()) std::ofstream(dir_ + "/tokenizer_config.json") << config;
    return LoadTokenizer(dir_);
  }
  std::vector<int> Encode(const std::string& text) {
    auto t = Load();
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? (*t)->Encode(text) : std::vector<int>{-99};
  }
  void AddToken(int id, const std::string& content, Json flags = Json::object()) {
    Json t = {{"id", id}, {"content", content}, {"single_word", false}, {"lstrip", false},
              {"rstrip", false}, {"normalized", false}, {"special", true}};
    t.update(flags);
    root_["added_tokens"].push_back(t);
  }
  std::string dir_;
  Json root_;
};

TEST_F(TinyHfTest, MergesByRankThenLeftmost) {
  EXPECT_THAT(Encode("aba"), ElementsAre(2, 0));        // "a b" ranks first
  root_["model"]["merges"] = {"b a", "a b"};
  EXPECT_THAT(Encode("aba"), ElementsAre(0, 3));
  EXPECT_THAT(Encode("abab"), ElementsAre(0, 3, 1));   // leftmost "b a" first
  root_["model"]["merges"] = Json::array({Json::array({"a", "b"})});  // pair form
  EXPECT_THAT(Encode("abab"), ElementsAre(2, 2));
}

TEST_F(TinyHfTest, UnknownSymbolsAreDroppedUnkOrBytes) {
  EXPECT_THAT(Encode("axc"), ElementsAre(0, 4));  // no unk_token: dropped
  root_["model"]["vocab"]["<unk>"] = 5;
  root_["model"]["unk_token"] = "<unk>";
  EXPECT_THAT(Encode("axyc"), ElementsAre(0, 5, 5, 4));
  root_["model"]["fuse_unk"] = true;
  EXPECT_THAT(Encode("axyc"), ElementsAre(0, 5, 4));
  root_["model"]["byte_fallback"] = true;
  root_["model"]["vocab"]["<0x78>"] = 6;
  EXPECT_THAT(Encode("axyc"), ElementsAre(0, 6, 5, 4));  // no <0x79>: unk
}

// Bytes that are not UTF-8 are U+FFFD (EF BF BD) by the time the model sees them, as in Node.
TEST_F(TinyHfTest, InvalidUtf8BecomesReplacementCharacter) {
  root_["model"]["byte_fallback"] = true;
  root_["model"]["vocab"]["<0xEF>"] = 10;
  root_["model"]["vocab"]["<0xBF>"] = 11;
  root_["model"]["vocab"]["<0xBD>"] = 12;
  EXPECT_THAT(Encode("a\xFF" "b"), ElementsAre(0, 10, 11, 12, 1));
  EXPECT_THAT(Encode("a\xE2\x82" "b"), ElementsAre(0, 10, 11, 12, 1));
}

TEST_F(TinyHfTest, IgnoreMergesTakesWholeVocabularyPieces) {
  root_["model"]["vocab"]["abc"] = 5;
  root_["model"]["merges"] = {"b c", "a b"};
  root_["model"]["vocab"]["bc"] = 6;
  EXPECT_THAT(Encode("abc"), ElementsAre(0, 6));
  root_["model"]["ignore_merges"] = true;
  EXPECT_THAT(Encode("abc"), ElementsAre(5));
}

TEST_F(TinyHfTest, AddedTokensSplitFirstWithStrip) {
  AddToken(7, "<x>");
  AddToken(8, "<xx>", {{"lstrip", true}, {"rstrip", true}});
  EXPECT_THAT(Encode("a<x>b<xx>c"), ElementsAre(0, 7, 1, 8, 4));
  EXPECT_THAT(Encode("a \t<xx>\n c"), ElementsAre(0, 8, 4));
  // The reference drops the spaces, which no token covers here, either way.
  EXPECT_THAT(Encode("a <x> b"), ElementsAre(0, 7, 1));
}

TEST_F(TinyHfTest, NormalizedAddedTokensMatchAfterNormalizing) {
  root_["normalizer"] = {{"type", "NFC"}};
  AddToken(9, "\xC3\xA9", {{"normalized", true}, {"special", false}});
  EXPECT_THAT(Encode("ae\xCC\x81" "b"), ElementsAre(0, 9, 1));
}

TEST_F(TinyHfTest, FactoryPrefersTokenizerJsonThenGpt2Files) {
  std::filesystem::copy(std::string(ABLATE_TEST_DATA_DIR) + "/gpt2-tokenizer", dir_,
                        std::filesystem::copy_options::recursive);
  auto gpt2 = LoadTokenizer(dir_);
  ASSERT_TRUE(gpt2.ok()) << gpt2.status();
  EXPECT_EQ((*gpt2)->vocab_size(), 50257);
  EXPECT_NE(dynamic_cast<Tokenizer*>(gpt2->get()), nullptr);
  auto hf = Load();
  ASSERT_TRUE(hf.ok()) << hf.status();
  EXPECT_EQ((*hf)->vocab_size(), 5);
  EXPECT_NE(dynamic_cast<HfTokenizer*>(hf->get()), nullptr);
  auto none = LoadTokenizer(dir_ + "/nowhere");
  EXPECT_EQ(none.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(none.status().message()), HasSubstr("vocab.json"));
}

// Found by fuzz_hf_tokenizer: a number too large for a double made the JSON parser throw
// out_of_range, which nothing caught (the process terminated).
TEST_F(TinyHfTest, UnreadableJsonIsANamedErrorNotACrash) {
  for (const std::string text : {"{\"model\": 1e999}", "{\"model\": ", "[1e400]"}) {
    std::ofstream(dir_ + "/tokenizer.json") << text;
    auto t = LoadTokenizer(dir_);
    ASSERT_FALSE(t.ok()) << text;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << t.status();
    EXPECT_THAT(std::string(t.status().message()),
                AllOf(HasSubstr("tokenizer.json"), HasSubstr("invalid JSON")));
  }
  std::ofstream(dir_ + "/tokenizer.json") << root_.dump();
  std::ofstream(dir_ + "/tokenizer_config.json") << "{\"model_max_length\": 1e999}";
  auto t = LoadTokenizer(dir_);
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("tokenizer_config.json"));
}

TEST_F(TinyHfTest, UnsupportedFieldsAreNamedErrors) {
  struct Case {
    std::string pointer;
    Json value;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"/model/type", "Unigram", "model.type: \"Unigram\" is not supported"},
      {"/model/type", "WordPiece", "model.type: \"WordPiece\""},
      {"/model/dropout", 0.1, "model.dropout"},
      {"/model/continuing_subword_prefix", "##", "model.continuing_subword_prefix"},
      {"/model/end_of_word_suffix", "</w>", "model.end_of_word_suffix"},
      {"/model/unk_token", "<zz>", "model.unk_token: \"<zz>\" is not in the vocabulary"},
      {"/model/merges", {"a b c"}, "model.merges[0]"},
      {"/model/merges", {{"a"}}, "model.merges[0]"},
      {"/model/vocab", {{"a", -1}}, "model.vocab[\"a\"]"},
      {"/normalizer", {{"type", "Lowercase"}}, "normalizer.type: \"Lowercase\""},
      {"/normalizer", {{"type", "Sequence"}, {"normalizers", {{{"type", "NFC"}}, {{"type", "Strip"}}}}},
       "normalizer.normalizers[1].type"},
      {"/pre_tokenizer", {{"type", "Whitespace"}}, "pre_tokenizer.type: \"Whitespace\""},
      {"/pre_tokenizer", {{"type", "Split"}, {"pattern", {{"Regex", "\\w+"}}}, {"behavior", "Isolated"}},
       "pre_tokenizer.pattern: regex \"\\w+\": escape \\w"},
      {"/pre_tokenizer", {{"type", "Split"}, {"pattern", {{"String", " "}}}, {"behavior", "Removed"}},
       "pre_tokenizer.behavior"},
      {"/pre_tokenizer", {{"type", "Split"}, {"pattern", {{"String", " "}}}, {"invert", true}},
       "pre_tokenizer.invert"},
      {"/decoder", {{"type", "WordPiece"}}, "decoder.type: \"WordPiece\""},
  };
  for (const Case& c : cases) {
    SetUp();
    root_[Json::json_pointer(c.pointer)] = c.value;
    auto t = Load();
    ASSERT_FALSE(t.ok()) << c.expected;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << t.status();
    EXPECT_THAT(std::string(t.status().message()),
                ::testing::AllOf(HasSubstr(dir_ + "/tokenizer.json"), HasSubstr(c.expected)));
  }
  SetUp();
  auto t = Load("{\"remove_space\": true}");
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("tokenizer_config.json: remove_space"));
  SetUp();
  std::ofstream(dir_ + "/tokenizer.json") << "{\"model\": ";
  t = LoadTokenizer(dir_);
  ASSERT_FALSE(t.ok());
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("invalid JSON"));
}

}  // namespace
}  // namespace ablate::engine
