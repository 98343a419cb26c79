// CompareJobs over the wire: two finished jobs of the same shape paired head by head (ranks
// and correlation checked against a direct computation here), and the errors for jobs of
// different shapes, unknown ids and jobs without an individual phase.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "tests/server/server_test_util.h"

namespace ablate::server {
namespace {

namespace v1 = ::ablate::v1;
using ::ablate::testing::Ctx;
using ::ablate::testing::FakePpl;
using ::ablate::testing::FakeWorker;
using ::ablate::testing::SmallSpec;
using ::ablate::testing::TestServer;
using ::testing::HasSubstr;

// A second PPL pattern: head index i gets 20 * (1 + ((7 * i) % 11) / 50).
double OtherPpl(v1::Phase phase, int index) {
  if (index == 0) return 20.0;
  if (phase == v1::PHASE_INDIVIDUAL) return 20.0 * (1.0 + ((7 * index) % 11) / 50.0);
  return 20.0 * (1.0 + 0.05 * index);
}

std::string RunJob(TestServer& ts, const v1::JobSpec& spec,
                   std::function<double(v1::Phase, int)> ppl) {
  v1::SubmitJobRequest request;
  *request.mutable_spec() = spec;
  v1::Job job;
  EXPECT_TRUE(ts.client->SubmitJob(Ctx().get(), request, &job).ok());
  FakeWorker::Options options;
  options.ppl = std::move(ppl);
  FakeWorker worker(ts.channel, options);
  worker.Start();
  v1::GetJobRequest get;
  get.set_job_id(job.id());
  for (int i = 0; i < 400 && job.state() != v1::JOB_STATE_SUCCEEDED; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    ts.client->GetJob(Ctx().get(), get, &job);
  }
  worker.Stop();
  EXPECT_EQ(job.state(), v1::JOB_STATE_SUCCEEDED);
  return job.id();
}

// Ranks written independently of the server: count the heads that beat each head.
std::vector<int> Ranks(const std::vector<double>& d) {
  std::vector<int> r(d.size());
  for (size_t i = 0; i < d.size(); ++i) {
    int better = 0;
    for (size_t j = 0; j < d.size(); ++j) better += d[j] > d[i] || (d[j] == d[i] && j < i);
    r[i] = better + 1;
  }
  return r;
}

double PearsonOf(const std::vector<double>& x, const std::vector<double>& y) {
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / x.size();
  const double my = std::accumulate(y.begin(), y.end(), 0.0) / y.size();
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxy / std::sqrt(sxx * syy);
}

TEST(CompareTest, PairsHeadsRanksAndCorrelation) {
  TestServer ts;
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  const std::string a = RunJob(ts, SmallSpec(3, 4, v1::SWEEP_INDIVIDUAL), FakePpl);
  const std::string b = RunJob(ts, SmallSpec(3, 4, v1::SWEEP_FULL), OtherPpl);
  v1::CompareRequest request;
  request.set_job_a(a);
  request.set_job_b(b);
  v1::Comparison cmp;
  grpc::Status status = ts.client->CompareJobs(Ctx().get(), request, &cmp);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(cmp.job_a(), a);
  EXPECT_EQ(cmp.job_b(), b);
  EXPECT_EQ(cmp.n_layer(), 3);
  EXPECT_EQ(cmp.n_head(), 4);
  ASSERT_EQ(cmp.rows_size(), 12);
  std::vector<double> da, db;
  for (int i = 0; i < 12; ++i) {
    da.push_back(FakePpl(v1::PHASE_INDIVIDUAL, i + 1) / 20.0 - 1.0);
    db.push_back(OtherPpl(v1::PHASE_INDIVIDUAL, i + 1) / 20.0 - 1.0);
  }
  const std::vector<int> ra = Ranks(da), rb = Ranks(db);
  for (int i = 0; i < 12; ++i) {
    const v1::CompareRow& row = cmp.rows(i);
    EXPECT_EQ(row.layer(), i / 4);
    EXPECT_EQ(row.head(), i % 4);
    EXPECT_NEAR(row.delta_a(), da[i], 1e-12);
    EXPECT_NEAR(row.delta_b(), db[i], 1e-12);
    EXPECT_EQ(row.rank_a(), ra[i]) << i;
    EXPECT_EQ(row.rank_b(), rb[i]) << i;
    EXPECT_EQ(row.rank_shift(), rb[i] - ra[i]);
  }
  ASSERT_TRUE(cmp.has_correlation());
  EXPECT_EQ(cmp.correlation().n(), 12);
  EXPECT_NEAR(cmp.correlation().pearson_r(), PearsonOf(da, db), 1e-9);
  // Ties in da (FakePpl repeats every 5 heads) make Spearman use average ranks: compare with
  // Pearson of average ranks computed here.
  auto average_ranks = [](const std::vector<double>& v) {
    std::vector<double> r(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
      double less = 0, equal = 0;
      for (double w : v) less += w < v[i], equal += w == v[i];
      r[i] = less + (equal + 1) / 2;
    }
    return r;
  };
  EXPECT_NEAR(cmp.correlation().spearman_rho(), PearsonOf(average_ranks(da), average_ranks(db)),
              1e-9);

  request.set_job_b(a);  // A job against itself: identical ranks, rho 1.
  ASSERT_TRUE(ts.client->CompareJobs(Ctx().get(), request, &cmp).ok());
  for (const v1::CompareRow& row : cmp.rows()) EXPECT_EQ(row.rank_shift(), 0);
  EXPECT_NEAR(cmp.correlation().spearman_rho(), 1.0, 1e-12);
}

TEST(CompareTest, ClearErrors) {
  TestServer ts;
  ASSERT_TRUE(ts.status.ok()) << ts.status;
  const std::string a = RunJob(ts, SmallSpec(3, 4, v1::SWEEP_INDIVIDUAL), FakePpl);
  const std::string other = RunJob(ts, SmallSpec(2, 4, v1::SWEEP_INDIVIDUAL), FakePpl);
  const std::string curve = RunJob(ts, SmallSpec(3, 4, v1::SWEEP_CUMULATIVE), FakePpl);
  v1::CompareRequest request;
  v1::Comparison cmp;
  request.set_job_a(a);
  request.set_job_b(other);
  grpc::Status status = ts.client->CompareJobs(Ctx().get(), request, &cmp);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("different shapes"));
  EXPECT_THAT(status.error_message(), HasSubstr("3 layers x 4 heads"));
  EXPECT_THAT(status.error_message(), HasSubstr("2 layers x 4 heads"));

  request.set_job_b("job-999");
  status = ts.client->CompareJobs(Ctx().get(), request, &cmp);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("job_b job-999"));

  request.set_job_b(curve);
  status = ts.client->CompareJobs(Ctx().get(), request, &cmp);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("job_b " + curve));

  request.set_job_a("");
  status = ts.client->CompareJobs(Ctx().get(), request, &cmp);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("job_a is empty"));
}

}  // namespace
}  // namespace ablate::server
