// ablate submit / watch / status / list / cancel (declared in commands.h).
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/call.h"
#include "client/commands.h"
#include "client/progress.h"

namespace ablate::client {
namespace {

using Millis = std::chrono::milliseconds;

bool Terminal(v1::JobState s) {
  return s == v1::JOB_STATE_SUCCEEDED || s == v1::JOB_STATE_FAILED ||
         s == v1::JOB_STATE_CANCELLED;
}

// Errors that a retry cannot fix.
bool Permanent(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kPermissionDenied:
    case absl::StatusCode::kUnimplemented:
      return true;
    default:
      return false;
  }
}

absl::Status Outcome(const v1::Job& job) {
  switch (job.state()) {
    case v1::JOB_STATE_SUCCEEDED:
      return absl::OkStatus();
    case v1::JOB_STATE_CANCELLED:
      return absl::CancelledError(absl::StrCat("job ", job.id(), " was cancelled"));
    default:
      return absl::AbortedError(absl::StrCat("job ", job.id(), " failed: ",
                                             job.error().empty() ? "no error given" : job.error()));
  }
}

// One WatchJob stream until it ends. Sets *finished when the job reached a final state;
// *got_events when anything arrived.
absl::Status WatchOnce(const Session& s, const std::string& job_id, ProgressView* view,
                       std::optional<v1::Job>* finished, bool* got_events) {
  v1::WatchJobRequest req;
  req.set_job_id(job_id);
  std::unique_ptr<grpc::ClientContext> ctx = s.Context(/*stream=*/true);
  std::unique_ptr<grpc::ClientReaderInterface<v1::JobEvent>> reader =
      s.stub->WatchJob(ctx.get(), req);
  v1::JobEvent event;
  while (reader->Read(&event)) {
    *got_events = true;
    if (event.kind() == v1::JobEvent::KIND_PHASE) {
      view->Message(event.message().empty() ? "cumulative phase enqueued" : event.message());
    }
    view->Update(event.job());
    if (Terminal(event.job().state())) {
      *finished = event.job();
      ctx->TryCancel();
      break;
    }
  }
  const absl::Status st = FromGrpc(reader->Finish(), "WatchJob");
  return finished->has_value() ? absl::OkStatus() : st;
}

}  // namespace

absl::Status RunWatch(const Session& s, const std::string& job_id, const WatchOptions& watch,
                      const Output& out) {
  ProgressView view(out.out, out.tty, watch.line_interval);
  Millis backoff = watch.initial_backoff;
  std::optional<std::chrono::steady_clock::time_point> lost_since;
  bool announced = false;
  for (;;) {
    std::optional<v1::Job> finished;
    bool got_events = false;
    const absl::Status st = WatchOnce(s, job_id, &view, &finished, &got_events);
    if (finished.has_value()) {
      view.Done();
      return Outcome(*finished);
    }
    if (Permanent(st)) {
      view.Done();
      return st;
    }
    const auto now = std::chrono::steady_clock::now();
    if (got_events) {
      lost_since.reset();
      backoff = watch.initial_backoff;
      announced = false;
    }
    if (!lost_since.has_value()) lost_since = now;
    if (now - *lost_since > watch.reconnect_timeout) {
      view.Done();
      return absl::UnavailableError(absl::StrCat("gave up reconnecting to ", s.server, " after ",
                                                 Duration(std::chrono::duration<double>(
                                                     now - *lost_since).count()),
                                                 ": ", st.message()));
    }
    if (!announced) {
      view.Message(absl::StrCat("connection to ", s.server, " lost (", st.message(),
                                "); reconnecting"));
      announced = true;
    }
    std::this_thread::sleep_for(backoff);
    backoff = std::min(watch.max_backoff, backoff * 2);
  }
}

absl::Status RunSubmit(const Session& s, const SubmitOptions& options, bool wait,
                       const WatchOptions& watch, const Output& out) {
  absl::StatusOr<v1::SubmitJobRequest> req = BuildSubmitRequest(options);
  if (!req.ok()) return req.status();
  if (options.upload.value_or(false)) {  // Workers fetch the model by digest, not by path.
    absl::StatusOr<std::string> digest = UploadModelForSubmit(s, *options.model, out);
    if (!digest.ok()) return digest.status();
    req->mutable_spec()->mutable_model()->set_artifact_digest(*digest);
    req->mutable_spec()->mutable_model()->clear_path();
  }
  v1::Dataset* dataset = req->mutable_spec()->mutable_dataset();
  if (dataset->text().size() > kMaxInlineTextBytes) {  // Large texts go up as artifacts.
    absl::StatusOr<std::string> digest = UploadTextForSubmit(s, *options.text, out);
    if (!digest.ok()) return digest.status();
    dataset->clear_text();
    dataset->set_artifact_digest(*digest);
  }
  v1::Job job;
  if (absl::Status st = Call(s, &Stub::SubmitJob, *req, &job, "SubmitJob"); !st.ok()) return st;
  *out.out << "submitted job " << job.id() << "\n" << std::flush;
  if (!wait) return absl::OkStatus();
  const absl::Status st = RunWatch(s, job.id(), watch, out);
  *out.out << (st.ok() ? "job succeeded: " : "job did not succeed: ") << job.id() << "\n";
  return st;
}

absl::Status RunStatus(const Session& s, const std::string& job_id, Format format,
                       const Output& out) {
  v1::GetJobRequest req;
  req.set_job_id(job_id);
  v1::Job job;
  if (absl::Status st = Call(s, &Stub::GetJob, req, &job, "GetJob"); !st.ok()) return st;
  if (format == Format::kJson) {
    *out.out << JobJson(job).dump(2) << "\n";
  } else {
    *out.out << (format == Format::kCsv ? RenderCsv(JobTable(job)) : RenderMarkdown(JobTable(job)));
  }
  return absl::OkStatus();
}

absl::Status RunList(const Session& s, v1::JobState state, int limit, Format format,
                     const Output& out) {
  std::vector<v1::Job> jobs;
  v1::ListJobsRequest req;
  req.set_state(state);
  req.set_page_size(limit > 0 && limit < 200 ? limit : 200);
  for (;;) {
    v1::ListJobsResponse resp;
    if (absl::Status st = Call(s, &Stub::ListJobs, req, &resp, "ListJobs"); !st.ok()) return st;
    jobs.insert(jobs.end(), resp.jobs().begin(), resp.jobs().end());
    if (resp.next_page_token().empty() || (limit > 0 && static_cast<int>(jobs.size()) >= limit)) {
      break;
    }
    req.set_page_token(resp.next_page_token());
  }
  if (limit > 0 && static_cast<int>(jobs.size()) > limit) jobs.resize(limit);
  if (format == Format::kJson) {
    nlohmann::json j = nlohmann::json::array();
    for (const v1::Job& job : jobs) j.push_back(JobJson(job));
    *out.out << j.dump(2) << "\n";
  } else {
    *out.out << (format == Format::kCsv ? RenderCsv(JobsTable(jobs))
                                        : RenderMarkdown(JobsTable(jobs)));
  }
  return absl::OkStatus();
}

absl::Status RunCancel(const Session& s, const std::string& job_id, const Output& out) {
  v1::CancelJobRequest req;
  req.set_job_id(job_id);
  v1::Job job;
  if (absl::Status st = Call(s, &Stub::CancelJob, req, &job, "CancelJob"); !st.ok()) return st;
  *out.out << "job " << job.id() << " is " << StateName(job.state()) << "\n";
  return absl::OkStatus();
}

absl::Status RunDelete(const Session& s, const std::string& job_id, const Output& out) {
  v1::DeleteJobRequest req;
  req.set_job_id(job_id);
  v1::DeleteJobResponse resp;
  if (absl::Status st = Call(s, &Stub::DeleteJob, req, &resp, "DeleteJob"); !st.ok()) return st;
  *out.out << "job " << resp.job_id() << " deleted"
           << (resp.dataset_deleted() ? " (and its dataset)" : "") << "\n";
  return absl::OkStatus();
}

}  // namespace ablate::client
