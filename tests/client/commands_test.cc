// Command logic against the fake AblationService on loopback: every query in every format,
// errors and their exit codes, watch (success, failure, reconnect, server restart), report.
#include "client/commands.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "client/report.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/client/fake_service.h"
#include "tests/client/xml_check.h"

namespace ablate::client {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::FakeAblationService;
using testing::FakeServer;

int Lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

class CommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Start();
    Connect("");
  }
  void Connect(const std::string& token_file) {
    conn_ = *Connection::Create(server_.address(), token_file, "");
    session_ = conn_->session();
    session_.timeout = std::chrono::seconds(5);
  }
  Output Out() {
    out_.str("");
    return {&out_, &err_, false};
  }
  WatchOptions FastWatch() {
    WatchOptions w;
    w.initial_backoff = std::chrono::milliseconds(20);
    w.max_backoff = std::chrono::milliseconds(100);
    w.reconnect_timeout = std::chrono::seconds(5);
    w.line_interval = std::chrono::milliseconds(0);
    return w;
  }

  FakeAblationService service_;
  FakeServer server_{&service_};
  std::unique_ptr<Connection> conn_;
  Session session_;
  std::ostringstream out_, err_;
};

TEST_F(CommandsTest, HeadsTableListsTopAndNegativeHeads) {
  ASSERT_TRUE(RunHeads(session_, "job-1", HeadSort::kDelta, 3, Format::kTable, Out()).ok());
  const std::string s = out_.str();
  EXPECT_NE(s.find("Baseline PPL 20.000"), std::string::npos) << s;
  EXPECT_NE(s.find("|   1 |     2 |    2 | 44.00 | +120.00% |"), std::string::npos) << s;
  EXPECT_NE(s.find("Negative heads (removing one alone lowers PPL): 2"), std::string::npos);
  EXPECT_NE(s.find("-3.00%"), std::string::npos);  // L1H1, negative, outside the top 3.
}

TEST_F(CommandsTest, HeadsCsvAndJson) {
  ASSERT_TRUE(RunHeads(session_, "job-1", HeadSort::kLayer, 0, Format::kCsv, Out()).ok());
  std::string csv = out_.str();
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "rank,layer,head,ppl,delta");
  EXPECT_EQ(Lines(csv), 13);
  EXPECT_NE(csv.find("\n1,0,0,30,0.5\n"), std::string::npos) << csv;
  ASSERT_TRUE(RunHeads(session_, "job-1", HeadSort::kAbs, 2, Format::kJson, Out()).ok());
  const json j = json::parse(out_.str());
  EXPECT_EQ(j["heads"].size(), 2u);
  EXPECT_EQ(j["heads"][0]["delta"], 1.2);
  EXPECT_EQ(j["negative_heads"].size(), 2u);
  EXPECT_EQ(j["negative_heads"][0]["delta"], -0.03);
}

TEST_F(CommandsTest, CurveEveryFormat) {
  ASSERT_TRUE(RunCurve(session_, "job-1", Format::kJson, Out()).ok());
  const json j = json::parse(out_.str());
  ASSERT_EQ(j["points"].size(), 13u);
  EXPECT_TRUE(j["points"][0]["head"].is_null());
  EXPECT_EQ(j["points"][1]["head"]["layer"], 1);  // Most negative delta: L1H1.
  EXPECT_EQ(j["points"][1]["head"]["head"], 1);
  ASSERT_TRUE(RunCurve(session_, "job-1", Format::kCsv, Out()).ok());
  EXPECT_NE(out_.str().find("\n12,2,2,120,6\n"), std::string::npos) << out_.str();
  ASSERT_TRUE(RunCurve(session_, "job-1", Format::kTable, Out()).ok());
  EXPECT_NE(out_.str().find("| heads removed |"), std::string::npos);
}

TEST_F(CommandsTest, ThresholdsDefaultAndCustomRatios) {
  // Curve ratios 1, .98, .975, .99, 1.02, 1.06, 1.12, 1.25, 1.4, 1.7, 2.3, 3.5, 6:
  // 1.1 -> 5, 1.5 -> 8, 2 -> 9, 4 -> 11.
  ASSERT_TRUE(RunThresholds(session_, "job-1", {1.1, 1.5, 2.0, 4.0}, Format::kJson, Out()).ok());
  const json j = json::parse(out_.str());
  ASSERT_EQ(j["rows"].size(), 4u);
  EXPECT_EQ(j["rows"][0]["max_heads"], 5);
  EXPECT_EQ(j["rows"][1]["max_heads"], 8);
  EXPECT_EQ(j["rows"][2]["max_heads"], 9);
  EXPECT_EQ(j["rows"][3]["max_heads"], 11);
  ASSERT_TRUE(RunThresholds(session_, "job-1", {1.5}, Format::kTable, Out()).ok());
  EXPECT_NE(out_.str().find("66.7% of 12"), std::string::npos) << out_.str();
  ASSERT_TRUE(RunThresholds(session_, "job-1", {1.5}, Format::kCsv, Out()).ok());
  EXPECT_EQ(out_.str().rfind("ratio,max_heads,fraction,ppl_at_max\n1.5,8,0.6666666666666666,28", 0),
            0u)
      << out_.str();
}

TEST_F(CommandsTest, StatsEveryFormat) {
  ASSERT_TRUE(RunStats(session_, "job-1", Format::kJson, Out()).ok());
  const json j = json::parse(out_.str());
  // |delta| < 1%: -0.01? no (not < 0.01); 0.005, 0.0, 0.003 -> 3. < 10%: + 0.02, -0.01, -0.03,
  // 0.01, 0.04 -> 8. Improved: -0.01, -0.03 -> 2.
  EXPECT_EQ(j["under_1pct"], 3);
  EXPECT_EQ(j["under_10pct"], 8);
  EXPECT_EQ(j["improved"], 2);
  EXPECT_EQ(j["max_head"]["layer"], 2);
  EXPECT_EQ(j["zipf"]["n_points"], 11);
  ASSERT_TRUE(RunStats(session_, "job-1", Format::kTable, Out()).ok());
  EXPECT_NE(out_.str().find("| under_1pct     |"), std::string::npos) << out_.str();
  ASSERT_TRUE(RunStats(session_, "job-1", Format::kCsv, Out()).ok());
  EXPECT_NE(out_.str().find("\nmax_head,L2H2\n"), std::string::npos) << out_.str();
}

TEST_F(CommandsTest, LayersWithAndWithoutSeries) {
  ASSERT_TRUE(RunLayers(session_, "job-1", "", Format::kCsv, Out()).ok());
  EXPECT_EQ(out_.str().substr(0, out_.str().find('\n')), "layer,mean_delta,max_delta,max_head");
  const fs::path series = fs::temp_directory_path() / ("series_" + std::to_string(getpid()));
  std::ofstream(series) << "3\n1\n2\n";
  ASSERT_TRUE(RunLayers(session_, "job-1", series.string(), Format::kJson, Out()).ok());
  json j = json::parse(out_.str());
  // Layer means: 0.12875, 0.08, 0.31325 -> ranks 2, 1, 3 vs series ranks 3, 1, 2: rho = 0.5.
  EXPECT_NEAR(j["correlation"]["spearman_rho"].get<double>(), 0.5, 1e-12) << j.dump();
  EXPECT_EQ(j["correlation"]["n"], 3);
  ASSERT_TRUE(RunLayers(session_, "job-1", series.string(), Format::kTable, Out()).ok());
  EXPECT_NE(out_.str().find("Spearman rho"), std::string::npos);
  std::ofstream(series) << "1\n2\n";
  EXPECT_EQ(ExitCodeFor(RunLayers(session_, "job-1", series.string(), Format::kTable, Out())),
            kExitUsage);
  fs::remove(series);
}

TEST_F(CommandsTest, StatusListCancel) {
  ASSERT_TRUE(RunStatus(session_, "job-fail", Format::kTable, Out()).ok());
  EXPECT_NE(out_.str().find("out of memory"), std::string::npos);
  ASSERT_TRUE(RunStatus(session_, "job-1", Format::kJson, Out()).ok());
  EXPECT_EQ(json::parse(out_.str())["state"], "succeeded");
  ASSERT_TRUE(RunList(session_, v1::JOB_STATE_UNSPECIFIED, 0, Format::kJson, Out()).ok());
  EXPECT_EQ(json::parse(out_.str()).size(), 4u);  // Two pages of 2.
  ASSERT_TRUE(RunList(session_, v1::JOB_STATE_SUCCEEDED, 0, Format::kCsv, Out()).ok());
  EXPECT_EQ(Lines(out_.str()), 3);
  ASSERT_TRUE(RunList(session_, v1::JOB_STATE_UNSPECIFIED, 1, Format::kTable, Out()).ok());
  EXPECT_EQ(Lines(out_.str()), 3);
  ASSERT_TRUE(RunCancel(session_, "job-run", Out()).ok());
  EXPECT_EQ(out_.str(), "job job-run is cancelled\n");
  EXPECT_EQ(ExitCodeFor(RunCancel(session_, "job-1", Out())), kExitOther);
}

TEST_F(CommandsTest, ErrorCodes) {
  EXPECT_EQ(ExitCodeFor(RunHeads(session_, "nope", HeadSort::kDelta, 0, Format::kTable, Out())),
            kExitNotFound);
  EXPECT_EQ(ExitCodeFor(RunCurve(session_, "job-ind", Format::kTable, Out())), kExitOther);
  EXPECT_EQ(ExitCodeFor(RunThresholds(session_, "job-1", {0.5}, Format::kTable, Out())),
            kExitUsage);
  server_.Stop();
  const absl::Status down = RunStats(session_, "job-1", Format::kTable, Out());
  EXPECT_EQ(ExitCodeFor(down), kExitUnreachable);
  EXPECT_EQ(ErrorLine(down).find('\n'), std::string::npos);
}

TEST_F(CommandsTest, TokenRefused) {
  service_.set_token("s3cret");
  EXPECT_EQ(ExitCodeFor(RunStats(session_, "job-1", Format::kTable, Out())), kExitUnreachable);
  const fs::path tok = fs::temp_directory_path() / ("tok_" + std::to_string(getpid()));
  std::ofstream(tok) << "s3cret\n";
  Connect(tok.string());
  EXPECT_TRUE(RunStats(session_, "job-1", Format::kTable, Out()).ok());
  fs::remove(tok);
}

TEST_F(CommandsTest, WatchSucceedsWithPlainLines) {
  ASSERT_TRUE(RunWatch(session_, "job-run", FastWatch(), Out()).ok());
  const std::string s = out_.str();
  EXPECT_NE(s.find("job job-run: 5/26 masks"), std::string::npos) << s;
  EXPECT_NE(s.find("2.50 masks/s"), std::string::npos) << s;
  EXPECT_NE(s.find("2 workers busy"), std::string::npos) << s;
  EXPECT_NE(s.find("cumulative phase enqueued"), std::string::npos) << s;
  EXPECT_NE(s.find("26/26 masks  100.0%"), std::string::npos) << s;
  EXPECT_EQ(s.find('\r'), std::string::npos);
}

TEST_F(CommandsTest, WatchFailedAndNotFound) {
  const absl::Status failed = RunWatch(session_, "job-fail", FastWatch(), Out());
  EXPECT_EQ(ExitCodeFor(failed), kExitOther);
  EXPECT_NE(failed.message().find("out of memory"), std::string::npos);
  EXPECT_EQ(ExitCodeFor(RunWatch(session_, "nope", FastWatch(), Out())), kExitNotFound);
}

TEST_F(CommandsTest, WatchRetriesUnavailable) {
  service_.FailWatches(2);
  ASSERT_TRUE(RunWatch(session_, "job-run", FastWatch(), Out()).ok());
  EXPECT_EQ(service_.watch_calls(), 3);
  EXPECT_NE(out_.str().find("reconnecting"), std::string::npos);
}

TEST_F(CommandsTest, WatchSurvivesServerRestart) {
  service_.set_watch_progress(3, /*end=*/false);  // Streams progress, then drops.
  const int port = server_.port();
  std::thread restart([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    server_.Stop();
    service_.set_watch_progress(2, /*end=*/true);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    server_.Start(port);
  });
  const absl::Status st = RunWatch(session_, "job-run", FastWatch(), Out());
  restart.join();
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_GE(service_.watch_calls(), 2);
}

TEST_F(CommandsTest, WatchGivesUpWhenServerStaysDown) {
  server_.Stop();
  WatchOptions w = FastWatch();
  w.reconnect_timeout = std::chrono::milliseconds(300);
  const absl::Status st = RunWatch(session_, "job-run", w, Out());
  EXPECT_EQ(ExitCodeFor(st), kExitUnreachable) << st;
}

TEST_F(CommandsTest, ProgressBarOnTerminal) {
  std::ostringstream tty;
  ASSERT_TRUE(RunWatch(session_, "job-run", FastWatch(), {&tty, &err_, true}).ok());
  EXPECT_NE(tty.str().find("\r\033[K["), std::string::npos);
  EXPECT_NE(tty.str().find("[##############################]"), std::string::npos);
}

}  // namespace
}  // namespace ablate::client
