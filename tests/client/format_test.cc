// Formatting, views, spec files, series files and criteria: pure client functions.
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "client/commands.h"
#include "client/criteria.h"
#include "client/format.h"
#include "client/spec.h"
#include "client/views.h"
#include "gtest/gtest.h"

namespace ablate::client {
namespace {

namespace fs = std::filesystem;

std::string TempFile(const std::string& name, const std::string& text) {
  const fs::path dir = fs::temp_directory_path() / ("ablate_client_format_" +
                                                    std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / name) << text;
  return (dir / name).string();
}

TEST(FormatTest, NumbersAndPercents) {
  EXPECT_EQ(ExactNumber(0.1), "0.1");
  EXPECT_EQ(ExactNumber(24.27), "24.27");
  EXPECT_EQ(ExactNumber(1.0 / 3.0), "0.3333333333333333");
  EXPECT_EQ(ExactNumber(2), "2");
  EXPECT_EQ(Fixed(-0.0001, 2), "0.00");
  EXPECT_EQ(SignedPercent(0.1234, 2), "+12.34%");
  EXPECT_EQ(SignedPercent(-0.005, 2), "-0.50%");
  EXPECT_EQ(SignedPercent(0.0, 1), "+0.0%");
  EXPECT_EQ(Duration(12.34), "12.3s");
  EXPECT_EQ(Duration(245), "4m05s");
  EXPECT_EQ(Duration(3723), "1h02m03s");
  EXPECT_FALSE(ParseFormat("xml").ok());
  EXPECT_EQ(*ParseFormat("csv"), Format::kCsv);
}

TEST(FormatTest, MarkdownIsAlignedAndNumericColumnsRight) {
  Table t;
  t.keys = {"name", "value"};
  t.titles = {"name", "value"};
  t.AddRow({TextCell("a|b"), NumCell(1.5, 2)});
  t.AddRow({TextCell("longer"), NumCell(-12.25, 2)});
  const std::string md = RenderMarkdown(t);
  EXPECT_EQ(md,
            "| name   |  value |\n"
            "| ------ | -----: |\n"
            "| a\\|b   |   1.50 |\n"
            "| longer | -12.25 |\n");
}

TEST(FormatTest, CsvQuotesAndRawValues) {
  Table t;
  t.keys = {"k", "v"};
  t.AddRow({TextCell("x,\"y\""), PercentCell(0.125, 1)});
  EXPECT_EQ(RenderCsv(t), "k,v\n\"x,\"\"y\"\"\",0.125\n");
}

v1::HeadTable SampleHeads() {
  v1::HeadTable t;
  const double deltas[] = {0.2, -0.3, 0.2, -0.1};
  for (int i = 0; i < 4; ++i) {
    v1::HeadRow* r = t.add_rows();
    r->set_layer(i / 2);
    r->set_head(i % 2);
    r->set_delta(deltas[i]);
  }
  return t;
}

std::vector<std::string> Names(const std::vector<v1::HeadRow>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(HeadName(r.layer(), r.head()));
  return out;
}

TEST(ViewsTest, SortHeadsAndNegatives) {
  const v1::HeadTable t = SampleHeads();
  EXPECT_EQ(Names(SortHeads(t, HeadSort::kDelta, 0)),
            (std::vector<std::string>{"L0H0", "L1H0", "L1H1", "L0H1"}));
  EXPECT_EQ(Names(SortHeads(t, HeadSort::kAbs, 3)),
            (std::vector<std::string>{"L0H1", "L0H0", "L1H0"}));
  EXPECT_EQ(Names(SortHeads(t, HeadSort::kLayer, 0)),
            (std::vector<std::string>{"L0H0", "L0H1", "L1H0", "L1H1"}));
  EXPECT_EQ(Names(NegativeHeads(t)), (std::vector<std::string>{"L0H1", "L1H1"}));
  EXPECT_FALSE(ParseHeadSort("size").ok());
}

TEST(ViewsTest, EnumNamesRoundTrip) {
  EXPECT_EQ(*ParseMethod("zero_folded"), v1::METHOD_ZERO_FOLDED);
  EXPECT_EQ(MethodName(v1::METHOD_MEAN), "mean");
  EXPECT_EQ(*ParseSweep("full"), v1::SWEEP_FULL);
  EXPECT_EQ(*ParseDType("bf16"), v1::DTYPE_BF16);
  EXPECT_EQ(*ParseState("cancelled"), v1::JOB_STATE_CANCELLED);
  absl::StatusOr<v1::Method> bad = ParseMethod("zeros");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("zero, zero_folded, mean"), std::string::npos);
  EXPECT_EQ(TimeString(0), "-");
  EXPECT_EQ(TimeString(1700000000000), "2023-11-14 22:13:20 UTC");
}

TEST(SpecTest, JsonSpecWithRelativePathsAndOrder) {
  const std::string path = TempFile(
      "spec.json",
      R"({"model": "m", "text": "/abs/t.txt", "n-chunks": 3, "method": "mean",
          "bos_per_chunk": true, "cumulative_order": [[0, 1], "2.3"]})");
  absl::StatusOr<SubmitOptions> o = LoadSpecFile(path);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(*o->model, (fs::path(path).parent_path() / "m").string());
  EXPECT_EQ(*o->text, "/abs/t.txt");
  EXPECT_EQ(*o->n_chunks, 3);
  EXPECT_EQ(*o->method, "mean");
  EXPECT_TRUE(*o->bos_per_chunk);
  EXPECT_EQ(o->cumulative_order, (std::vector<std::pair<int, int>>{{0, 1}, {2, 3}}));
}

TEST(SpecTest, FlatYamlAndFlagsWin) {
  const std::string path = TempFile("spec.yaml",
                                    "# a study\nmodel: /m\ntext: \"/t # not a comment\"\n"
                                    "seq_len: 64   # tokens\nsweep: individual\n"
                                    "cumulative_order: [0.0, 1.2]\n");
  absl::StatusOr<SubmitOptions> file = LoadSpecFile(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(*file->text, "/t # not a comment");
  EXPECT_EQ(*file->seq_len, 64);
  SubmitOptions flags;
  flags.sweep = "full";
  flags.FillFrom(*file);
  EXPECT_EQ(*flags.sweep, "full");
  EXPECT_EQ(*flags.model, "/m");
  EXPECT_EQ(flags.cumulative_order.size(), 2u);
}

TEST(SpecTest, BadSpecFiles) {
  EXPECT_FALSE(LoadSpecFile(TempFile("a.yaml", "model /m\n")).ok());
  EXPECT_FALSE(LoadSpecFile(TempFile("b.yaml", "colour: red\n")).ok());
  EXPECT_FALSE(LoadSpecFile(TempFile("c.json", "{\"n_chunks\": \"two\"}")).ok());
  EXPECT_FALSE(LoadSpecFile(TempFile("d.json", "[1, 2]")).ok());
  EXPECT_FALSE(LoadSpecFile("/nonexistent/spec.json").ok());
  EXPECT_FALSE(ParseHeadList("1.2, x").ok());
}

TEST(SpecTest, Sha256OfKnownInputs) {
  // FIPS 180-2 test vector.
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(*Sha256File(TempFile("e.bin", "")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(RandomRequestId().size(), 32u);
}

TEST(SeriesTest, Formats) {
  absl::StatusOr<Series> s = LoadSeries(TempFile("depth.txt", "# per layer\n1\n2.5\n\n-3e-1\n"));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->name, "depth");
  EXPECT_EQ(s->values, (std::vector<double>{1, 2.5, -0.3}));
  s = LoadSeries(TempFile("s.csv", "layer,value\n0,4\n1,5\n"));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->values, (std::vector<double>{4, 5}));
  s = LoadSeries(TempFile("s.json", R"({"name": "probe acc", "values": [0.5, 0.7]})"));
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->name, "probe acc");
  EXPECT_FALSE(LoadSeries(TempFile("bad.txt", "1\nabc\n")).ok());
  EXPECT_FALSE(LoadSeries(TempFile("empty.txt", "# nothing\n")).ok());
}

TEST(RatiosTest, Parse) {
  EXPECT_EQ(*ParseRatios("1.1, 1.5,2"), (std::vector<double>{1.1, 1.5, 2}));
  EXPECT_FALSE(ParseRatios("0.5").ok());
  EXPECT_FALSE(ParseRatios("1.1,abc").ok());
  EXPECT_FALSE(ParseRatios("").ok());
}

TEST(CriteriaTest, ParseAndEvaluate) {
  absl::StatusOr<std::vector<Criterion>> c = ParseCriteria(
      R"([{"metric": "max_heads@1.5", "op": ">=", "value": 25},
          {"metric": "zipf_alpha", "op": "<", "value": 2, "name": "heavy tail"},
          {"metric": "pearson_r", "op": ">", "value": 0}])",
      "c.json");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)[0].name, "max_heads@1.5 >= 25");
  EXPECT_EQ(CriteriaRatios(*c), (std::vector<double>{1.5}));
  const std::map<std::string, double> metrics = {{"max_heads@1.5", 25}, {"zipf_alpha", 2.0}};
  const std::vector<CriterionResult> r = EvaluateCriteria(*c, metrics);
  EXPECT_TRUE(r[0].met);
  EXPECT_FALSE(r[1].met);  // 2 < 2 is false.
  EXPECT_FALSE(r[2].met);  // Not available.
  EXPECT_FALSE(r[2].measured.has_value());
}

TEST(CriteriaTest, Errors) {
  EXPECT_FALSE(ParseCriteria(R"([{"metric": "speed", "op": ">", "value": 1}])", "x").ok());
  EXPECT_FALSE(ParseCriteria(R"([{"metric": "max_heads@0.5", "op": ">", "value": 1}])", "x").ok());
  EXPECT_FALSE(ParseCriteria(R"([{"metric": "n_heads", "op": "=>", "value": 1}])", "x").ok());
  EXPECT_FALSE(ParseCriteria(R"([{"metric": "n_heads", "op": ">"}])", "x").ok());
  EXPECT_FALSE(ParseCriteria("{}", "x").ok());
  EXPECT_TRUE(ParseCriteria(R"({"criteria": []})", "x").ok());
}

}  // namespace
}  // namespace ablate::client
