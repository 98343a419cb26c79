// A fake AblationService serving canned results, for client tests on loopback.
//
// Jobs: "job-1" (succeeded, full sweep, 3 layers x 4 heads, baseline PPL 20), "job-ind"
// (succeeded, individual sweep: no curve; its deltas are job-1's reversed in CompareJobs), "job-fail" (failed), "job-run" (running; WatchJob
// streams progress, then success). Unknown ids: NOT_FOUND. Derived tables are computed from
// the canned deltas and curve with ablate_analysis, as the real server does.
#ifndef ABLATE_TESTS_CLIENT_FAKE_SERVICE_H_
#define ABLATE_TESTS_CLIENT_FAKE_SERVICE_H_

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "ablate/v1/ablate.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace ablate::client::testing {

// Canned data, public so tests can derive expected values.
inline constexpr double kBaseline = 20.0;
// Individual deltas in flat order (layer * 4 + head).
inline const std::vector<double> kDeltas = {0.50, 0.02, -0.01, 0.005, 0.10, -0.03,
                                            0.0,  0.25, 0.01,  0.04,  1.20, 0.003};
// Cumulative curve ratios for k = 0..12.
inline const std::vector<double> kCurveRatios = {1.0,  0.98, 0.975, 0.99, 1.02, 1.06, 1.12,
                                                 1.25, 1.4,  1.7,   2.3,  3.5,  6.0};

class FakeAblationService final : public v1::AblationService::Service {
 public:
  FakeAblationService();

  // Required bearer token; empty = none.
  void set_token(const std::string& token) { token_ = token; }
  // The next `n` WatchJob calls fail with UNAVAILABLE before sending anything.
  void FailWatches(int n) { fail_watches_ = n; }
  // WatchJob of "job-run" sends `n` progress events, then (when `end` is false) returns
  // UNAVAILABLE instead of finishing: a server going away mid-stream.
  void set_watch_progress(int n, bool end) {
    watch_progress_ = n;
    watch_end_ = end;
  }
  v1::SubmitJobRequest last_submit() const;
  int watch_calls() const { return watch_calls_; }

  grpc::Status SubmitJob(grpc::ServerContext*, const v1::SubmitJobRequest*, v1::Job*) override;
  grpc::Status GetJob(grpc::ServerContext*, const v1::GetJobRequest*, v1::Job*) override;
  grpc::Status ListJobs(grpc::ServerContext*, const v1::ListJobsRequest*,
                        v1::ListJobsResponse*) override;
  grpc::Status CancelJob(grpc::ServerContext*, const v1::CancelJobRequest*, v1::Job*) override;
  grpc::Status WatchJob(grpc::ServerContext*, const v1::WatchJobRequest*,
                        grpc::ServerWriter<v1::JobEvent>*) override;
  grpc::Status GetHeadTable(grpc::ServerContext*, const v1::JobQuery*, v1::HeadTable*) override;
  grpc::Status GetCumulativeCurve(grpc::ServerContext*, const v1::JobQuery*,
                                  v1::CumulativeCurve*) override;
  grpc::Status GetThresholds(grpc::ServerContext*, const v1::ThresholdsRequest*,
                             v1::ThresholdTable*) override;
  grpc::Status GetDistribution(grpc::ServerContext*, const v1::JobQuery*,
                               v1::DistributionStats*) override;
  grpc::Status GetLayerTable(grpc::ServerContext*, const v1::JobQuery*, v1::LayerTable*) override;
  grpc::Status GetCorrelation(grpc::ServerContext*, const v1::CorrelationRequest*,
                              v1::Correlation*) override;
  // "job-1" vs "job-ind": the canned deltas against them reversed (ranks and correlation from
  // ablate_analysis); "job-fail" on either side: INVALID_ARGUMENT (a different shape).
  grpc::Status CompareJobs(grpc::ServerContext*, const v1::CompareRequest*,
                           v1::Comparison*) override;

 private:
  grpc::Status Check(grpc::ServerContext* ctx) const;
  grpc::Status Find(const std::string& id, v1::Job* job) const;

  std::string token_;
  mutable std::mutex mu_;
  std::map<std::string, v1::Job> jobs_;
  v1::SubmitJobRequest last_submit_;
  std::atomic<int> fail_watches_{0};
  std::atomic<int> watch_calls_{0};
  std::atomic<int> watch_progress_{3};
  std::atomic<bool> watch_end_{true};
};

// The fake on 127.0.0.1 (port 0 = pick one), started and stopped by the test.
class FakeServer {
 public:
  explicit FakeServer(FakeAblationService* service) : service_(service) {}
  ~FakeServer() { Stop(); }
  void Start(int port = 0);
  void Stop();
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  FakeAblationService* service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace ablate::client::testing

#endif  // ABLATE_TESTS_CLIENT_FAKE_SERVICE_H_
