// Copyright: the ablate authors.
#include "tests/integration/cluster.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <sstream>

#include "worker/connection.h"
#include "worker/device_info.h"

namespace ablate::testing {
namespace {

namespace v1 = ::ablate::v1;
using nlohmann::json;

std::unique_ptr<grpc::ClientContext> Ctx(std::chrono::milliseconds timeout =
                                             std::chrono::seconds(10),
                                         const std::string& token = "") {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + timeout);
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
  return context;
}

void ExpectRelEq(double a, double b, const std::string& what) {
  EXPECT_LE(std::abs(a - b), 1e-12 * std::max(std::abs(a), std::abs(b)))
      << what << ": " << a << " vs " << b;
}

bool Terminal(v1::JobState s) {
  return s == v1::JOB_STATE_SUCCEEDED || s == v1::JOB_STATE_FAILED ||
         s == v1::JOB_STATE_CANCELLED;
}

}  // namespace

const Inputs& SharedInputs() {
  static Inputs* inputs = [] {
    auto* in = new Inputs();
    in->model_dir = in->dir.File("model");
    auto sha = WriteRandomModel(in->model_dir, 2024);
    if (!sha.ok()) std::abort();
    in->model_sha = *sha;
    in->text = TestText(1500);
    in->text_file = in->dir.File("text.txt");
    WriteFileOrDie(in->text_file, in->text);
    return in;
  }();
  return *inputs;
}

v1::JobSpec MakeSpec(v1::Sweep sweep, v1::Method method, int masks_per_task, int max_attempts) {
  const Inputs& in = SharedInputs();
  const engine::ModelConfig c = TinyConfig();
  v1::JobSpec spec;
  spec.mutable_model()->set_path(in.model_dir);
  spec.mutable_model()->set_sha256(in.model_sha);
  v1::ModelShape* shape = spec.mutable_model()->mutable_shape();
  shape->set_n_layer(c.n_layer);
  shape->set_n_head(c.n_head);
  shape->set_n_embd(c.n_embd);
  shape->set_n_positions(c.n_positions);
  shape->set_vocab_size(c.vocab_size);
  spec.mutable_dataset()->set_text(in.text);
  spec.mutable_dataset()->set_name("reference prose");
  spec.set_n_chunks(kChunks);
  spec.set_seq_len(kSeqLen);
  spec.set_method(method);
  spec.set_sweep(sweep);
  spec.set_dtype(v1::DTYPE_FP32);
  spec.set_masks_per_task(masks_per_task);
  spec.set_max_attempts(max_attempts);
  return spec;
}

json OfflineReference(const v1::JobSpec& spec, const std::string& model_dir) {
  const Inputs& in = SharedInputs();
  worker::EvalOptions o;
  o.model_dir = model_dir.empty() ? spec.model().path() : model_dir;
  o.text_file = in.text_file;
  o.n_chunks = spec.n_chunks();
  o.seq_len = spec.seq_len();
  o.method = static_cast<engine::Method>(spec.method());
  o.sweep = static_cast<worker::SweepKind>(spec.sweep());
  o.bos = spec.bos_per_chunk();
  o.masks_per_batch = spec.masks_per_task();
  o.block_tokens = spec.block_tokens();
  o.progress = false;
  TempDir dir;
  if (spec.sweep() == v1::SWEEP_CUMULATIVE) {
    json order = json::array();
    for (const v1::HeadRef& h : spec.cumulative_order()) order.push_back({h.layer(), h.head()});
    o.order_file = dir.File("order.json");
    WriteFileOrDie(o.order_file, order.dump());
  }
  auto out = worker::RunEval(o);
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : json();
}

void ExpectMatchesOffline(v1::AblationService::Stub& client, const std::string& job_id,
                          const json& offline) {
  v1::JobQuery query;
  query.set_job_id(job_id);
  if (!offline["heads"].empty()) {
    v1::HeadTable table;
    ASSERT_TRUE(client.GetHeadTable(Ctx().get(), query, &table).ok());
    ExpectRelEq(table.baseline_ppl(), offline["baseline_ppl"].get<double>(), "baseline");
    EXPECT_EQ(table.n_tokens_scored(), offline["n_tokens_scored"].get<int64_t>());
    ASSERT_EQ(table.rows_size(), static_cast<int>(offline["heads"].size()));
    for (int i = 0; i < table.rows_size(); ++i) {
      const json& row = offline["heads"][i];
      EXPECT_EQ(table.rows(i).layer(), row["layer"].get<int>());
      EXPECT_EQ(table.rows(i).head(), row["head"].get<int>());
      ExpectRelEq(table.rows(i).ppl(), row["ppl"].get<double>(), "head ppl");
      ExpectRelEq(table.rows(i).delta(), row["delta"].get<double>(), "head delta");
      // Per-block NLL and the bootstrap interval (same blocks, default seed and resamples).
      ASSERT_EQ(table.rows(i).block_nll_size(), static_cast<int>(row["block_nll"].size()));
      for (int b = 0; b < table.rows(i).block_nll_size(); ++b) {
        ExpectRelEq(table.rows(i).block_nll(b), row["block_nll"][b].get<double>(), "block nll");
      }
      ASSERT_TRUE(table.rows(i).has_delta_lo());
      EXPECT_NEAR(table.rows(i).delta_lo(), row["delta_ci"][0].get<double>(), 1e-9);
      EXPECT_NEAR(table.rows(i).delta_hi(), row["delta_ci"][1].get<double>(), 1e-9);
    }
    EXPECT_EQ(json(std::vector<int64_t>(table.block_tokens().begin(), table.block_tokens().end())),
              offline["block_tokens"]);
  }
  if (offline.contains("cumulative")) {
    v1::CumulativeCurve curve;
    ASSERT_TRUE(client.GetCumulativeCurve(Ctx().get(), query, &curve).ok());
    ASSERT_EQ(curve.points_size(), static_cast<int>(offline["cumulative"].size()));
    for (int k = 0; k < curve.points_size(); ++k) {
      const json& point = offline["cumulative"][k];
      EXPECT_EQ(curve.points(k).removed(), point["removed"].get<int>());
      ExpectRelEq(curve.points(k).ppl(), point["ppl"].get<double>(), "curve ppl");
      if (point["head"].is_null()) {
        EXPECT_FALSE(curve.points(k).has_head());
      } else {
        EXPECT_EQ(curve.points(k).head().layer(), point["head"][0].get<int>());
        EXPECT_EQ(curve.points(k).head().head(), point["head"][1].get<int>());
      }
      ASSERT_TRUE(curve.points(k).has_ratio_lo());
      EXPECT_NEAR(curve.points(k).ratio_lo(), point["ratio_ci"][0].get<double>(), 1e-9);
      EXPECT_NEAR(curve.points(k).ratio_hi(), point["ratio_ci"][1].get<double>(), 1e-9);
    }
  }
}

Client::Client(const std::string& address, const std::string& token) : token(token) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  channel = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  stub = v1::AblationService::NewStub(channel);
}

v1::Job Client::Submit(const v1::JobSpec& spec, const std::string& request_id) {
  v1::SubmitJobRequest request;
  *request.mutable_spec() = spec;
  request.set_request_id(request_id);
  v1::Job job;
  grpc::Status status;
  // SubmitJob is idempotent by request id: retry while the server is unreachable.
  WaitFor(
      [&] {
        status = stub->SubmitJob(Ctx(std::chrono::seconds(10), token).get(), request, &job);
        return status.error_code() != grpc::StatusCode::UNAVAILABLE;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(100));
  EXPECT_TRUE(status.ok()) << status.error_message();
  return job;
}

v1::Job Client::Get(const std::string& job_id) {
  v1::GetJobRequest request;
  request.set_job_id(job_id);
  v1::Job job;
  if (!stub->GetJob(Ctx(std::chrono::seconds(2), token).get(), request, &job).ok()) return v1::Job();
  return job;
}

v1::Job Client::WaitDone(const std::string& job_id, std::chrono::milliseconds timeout) {
  v1::Job job;
  WaitFor(
      [&] {
        v1::Job got = Get(job_id);
        if (!got.id().empty()) job = got;
        return Terminal(job.state());
      },
      timeout, std::chrono::milliseconds(100));
  return job;
}

std::vector<v1::WorkerInfo> Client::Workers() {
  v1::ListWorkersResponse response;
  stub->ListWorkers(Ctx(std::chrono::seconds(10), token).get(), v1::ListWorkersRequest(), &response);
  return {response.workers().begin(), response.workers().end()};
}

std::unique_ptr<server::Server> StartServer(const std::string& db_path, int lease_ttl_ms,
                                            int max_attempts, const std::string& worker_token,
                                            const std::string& client_token) {
  server::ServerOptions options;
  options.worker_token = worker_token;
  options.client_token = client_token;
  options.listen = "127.0.0.1:0";
  options.db_path = db_path;
  options.store.synchronous_full = false;
  options.store.lease_ttl_ms = lease_ttl_ms;
  options.store.limits.default_max_attempts = max_attempts;
  options.max_lease_wait = std::chrono::milliseconds(2000);
  auto started = server::Server::Start(std::move(options));
  EXPECT_TRUE(started.ok()) << started.status();
  return started.ok() ? std::move(*started) : nullptr;
}

std::unique_ptr<ChildProcess> StartWorker(const std::string& address, const std::string& name,
                                          const TempDir& logs, std::vector<std::string> extra) {
  std::vector<std::string> args = {ABLATE_WORKER_BIN, "--server", address, "--name", name,
                                   "--lease-wait-ms", "2000", "--cache-dir",
                                   logs.File("cache-" + name), "--model-root", "/"};
  args.insert(args.end(), extra.begin(), extra.end());
  auto child = ChildProcess::Start(args, logs.File(name + ".log"));
  EXPECT_TRUE(child.ok()) << child.status();
  return child.ok() ? std::move(*child) : nullptr;
}

Cluster::Cluster(int lease_ttl_ms, int max_attempts, const std::string& worker_token)
    // The server refuses one token alone (it would leave the other role open): a worker
    // token comes with a client token, which this cluster's client sends.
    : client_token(worker_token.empty() ? "" : "client-of-" + worker_token),
      server(StartServer(dir.File("queue.db"), lease_ttl_ms, max_attempts, worker_token,
                         client_token)),
      // Without a server the client dials a closed port (tests check ok() first).
      address(server != nullptr ? server->dial_address() : "127.0.0.1:1"),
      client(address, client_token) {}

std::unique_ptr<ChildProcess> Cluster::Worker(const std::string& name,
                                              std::vector<std::string> extra) const {
  return StartWorker(address, name, dir, std::move(extra));
}

CliRun RunCli(const std::vector<std::string>& args, const TempDir& dir) {
  static int runs = 0;
  const std::string out = dir.File("cli-" + std::to_string(++runs) + ".out");
  const std::string err = out.substr(0, out.size() - 3) + "err";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> argv = {ABLATE_CLI_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> raw;
  for (std::string& a : argv) raw.push_back(a.data());
  raw.push_back(nullptr);
  CliRun run;
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, raw[0], &actions, nullptr, raw.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(rc, 0) << "posix_spawn " << argv[0];
  int status = 0;
  if (rc != 0 || waitpid(pid, &status, 0) != pid) return run;
  run.code = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
  run.out = ReadAll(out);
  run.err = ReadAll(err);
  return run;
}

InProcessWorker::InProcessWorker(const std::string& address, worker::ExecutorOptions executor,
                                 bool heartbeat) {
  if (executor.model_roots.empty()) executor.model_roots = {"/"};  // Tests' temp folders.
  auto connection = worker::Connection::Create({address, "", ""});
  EXPECT_TRUE(connection.ok());
  worker::ServiceOptions options;
  options.name = "in-process";
  options.device = *worker::DescribeDevice("cpu", v1::DTYPE_UNSPECIFIED);
  options.lease_wait_ms = 1000;
  options.test_disable_heartbeat = !heartbeat;
  loop_ = std::make_unique<worker::WorkerLoop>(
      options, std::move(*connection), std::make_unique<worker::EngineExecutor>(executor));
  thread_ = std::thread([this] { (void)loop_->Run(); });
}

InProcessWorker::~InProcessWorker() { Stop(); }

void InProcessWorker::Stop() {
  loop_->Stop(/*immediate=*/true);
  if (thread_.joinable()) thread_.join();
}

}  // namespace ablate::testing
