// `ablate report` against the fake service: files, sections, figures, criteria.
#include "client/report.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"
#include "tests/client/fake_service.h"
#include "tests/client/xml_check.h"

namespace ablate::client {
namespace {

namespace fs = std::filesystem;
using testing::Count;
using testing::FakeAblationService;
using testing::FakeServer;
using testing::XmlProblem;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The line of `text` that starts with `prefix`, or "".
std::string Line(const std::string& text, const std::string& prefix) {
  const size_t at = text.find("\n" + prefix);
  if (at == std::string::npos) return "";
  return text.substr(at + 1, text.find('\n', at + 1) - at - 1);
}

class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Start();
    conn_ = *Connection::Create(server_.address(), "", "");
    dir_ = fs::temp_directory_path() / ("ablate_report_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  absl::Status Run(const ReportOptions& o) {
    return RunReport(conn_->session(), o, {&out_, &err_, false});
  }

  FakeAblationService service_;
  FakeServer server_{&service_};
  std::unique_ptr<Connection> conn_;
  fs::path dir_;
  std::ostringstream out_, err_;
};

TEST_F(ReportTest, FullJobWithSeriesAndCriteria) {
  std::ofstream(dir_ / "series.txt") << "3\n1\n2\n";
  std::ofstream(dir_ / "criteria.json") << R"([
    {"metric": "max_heads@1.5", "op": ">=", "value": 8, "name": "two thirds removable at 1.5x"},
    {"metric": "max_heads@1.25", "op": ">=", "value": 8},
    {"metric": "improved", "op": "==", "value": 2},
    {"metric": "spearman_rho", "op": ">", "value": 0.9}])";
  const fs::path out = dir_ / "out";
  const absl::Status st = Run({"job-1", (dir_ / "series.txt").string(),
                               (dir_ / "criteria.json").string(), out.string()});
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_NE(out_.str().find((out / "report.md").string()), std::string::npos);
  const std::string md = Slurp(out / "report.md");
  for (const char* section :
       {"# Attention-head ablation: tiny study", "## Setup", "## Baseline", "Top 10 heads",
        "Negative heads (removing one alone lowers PPL): 2", "## Distribution of effects",
        "Zipf fit over the 11 heads", "## Cumulative ablation", "## Layers", "Spearman rho",
        "## Success criteria", "## Runtime", "![dPPL heatmap](heatmap.svg)", "brown.txt",
        "aaaaaaaaaaaaaaaa", "13.0s"}) {
    EXPECT_NE(md.find(section), std::string::npos) << section << "\n" << md;
  }
  // 1.5x -> 8 heads (met); 1.25x -> 7 (k=7 has ratio 1.25 exactly; 1.4 at k=8): not met;
  // improved == 2: met; rho = 0.5: not met.
  EXPECT_NE(Line(md, "| two thirds removable at 1.5x").find("| 8 "), std::string::npos) << md;
  EXPECT_NE(Line(md, "| two thirds removable at 1.5x").find("PASS"), std::string::npos);
  EXPECT_NE(Line(md, "| max_heads@1.25 >= 8").find("| 7 "), std::string::npos) << md;
  EXPECT_NE(Line(md, "| max_heads@1.25 >= 8").find("FAIL"), std::string::npos);
  EXPECT_NE(Line(md, "| improved == 2").find("PASS"), std::string::npos);
  EXPECT_NE(md.find("2 of 4 criteria met."), std::string::npos) << md;
  for (const char* f : {"heatmap.svg", "curve.svg", "layers.svg"}) {
    EXPECT_EQ(XmlProblem(Slurp(out / f)), "") << f;
  }
  EXPECT_EQ(Count(Slurp(out / "heatmap.svg"), "class=\"cell\""), 12);
  EXPECT_EQ(Count(Slurp(out / "curve.svg"), "class=\"point\""), 13);
  EXPECT_EQ(Count(Slurp(out / "curve.svg"), "class=\"threshold\""), 4);  // 1.1 1.25 1.5 2.
  EXPECT_EQ(Count(Slurp(out / "layers.svg"), "class=\"bar\""), 3);
  EXPECT_TRUE(fs::exists(out / "heads.csv"));
  EXPECT_TRUE(fs::exists(out / "curve.csv"));
}

TEST_F(ReportTest, IndividualOnlyJobHasNoCurve) {
  const fs::path out = dir_ / "ind";
  ASSERT_TRUE(Run({"job-ind", "", "", out.string()}).ok());
  const std::string md = Slurp(out / "report.md");
  EXPECT_NE(md.find("Not available: the job ran the individual sweep only."), std::string::npos);
  EXPECT_NE(md.find("No criteria file given"), std::string::npos);
  EXPECT_FALSE(fs::exists(out / "curve.svg"));
  EXPECT_TRUE(fs::exists(out / "heatmap.svg"));
}

TEST_F(ReportTest, Errors) {
  EXPECT_EQ(ExitCodeFor(Run({"nope", "", "", (dir_ / "x").string()})), kExitNotFound);
  EXPECT_EQ(ExitCodeFor(Run({"job-1", "", "", ""})), kExitUsage);
  EXPECT_EQ(ExitCodeFor(Run({"job-1", "", (dir_ / "missing.json").string(), (dir_ / "x").string()})),
            kExitUsage);
  std::ofstream(dir_ / "bad.json") << R"([{"metric": "speed", "op": ">", "value": 1}])";
  EXPECT_EQ(ExitCodeFor(Run({"job-1", "", (dir_ / "bad.json").string(), (dir_ / "x").string()})),
            kExitUsage);
  EXPECT_EQ(ExitCodeFor(Run({"job-run", "", "", (dir_ / "x").string()})), kExitOther);
}

}  // namespace
}  // namespace ablate::client
