// Copyright: the ablate authors.
//
// `ablate upload`, the upload step of `ablate submit --upload`, and `ablate workers`.
#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/call.h"
#include "client/commands.h"
#include "client/upload.h"
#include "client/views.h"
#include "nlohmann/json.hpp"

namespace ablate::client {
namespace {

UploadOptions OptionsFor(const Session& s, const Output& out) {
  UploadOptions options;
  const std::string token = s.token;
  options.prepare = [token](grpc::ClientContext* c) {
    if (!token.empty()) c->AddMetadata("authorization", absl::StrCat("Bearer ", token));
  };
  if (out.tty && out.err != nullptr) {
    std::ostream* err = out.err;
    options.progress = [err, last = -1](int64_t done, int64_t total) mutable {
      const int pct = total > 0 ? static_cast<int>(100 * done / total) : 100;
      if (pct == last) return;
      last = pct;
      *err << "\ruploading " << pct << "% of " << total << " bytes" << std::flush;
      if (done == total) *err << "\n";
    };
  }
  return options;
}

std::string Describe(const UploadResult& r) {
  if (r.already_present) return "already on the server, nothing sent";
  std::string text = absl::StrCat(r.bytes_sent, " bytes sent");
  if (r.resumed_from > 0) absl::StrAppend(&text, ", resumed at byte ", r.resumed_from);
  if (r.attempts > 1) absl::StrAppend(&text, ", ", r.attempts, " attempts");
  return text;
}

absl::Status Prefixed(const absl::Status& status, const std::string& path) {
  return absl::Status(status.code(), absl::StrCat("upload ", path, ": ", status.message()));
}

absl::Status NoArtifactStub(const Session& s) {
  if (s.artifacts != nullptr) return absl::OkStatus();
  return absl::FailedPreconditionError("upload: no ArtifactService connection");
}

}  // namespace

absl::Status RunUpload(const Session& s, const std::string& path, bool text, const Output& out) {
  if (absl::Status st = NoArtifactStub(s); !st.ok()) return st;
  absl::StatusOr<UploadResult> r =
      text ? UploadTextFile(s.artifacts, path, OptionsFor(s, out))
           : UploadModelFolder(s.artifacts, path, OptionsFor(s, out));
  if (!r.ok()) return Prefixed(r.status(), path);
  std::vector<std::string> files;
  for (const auto& f : r->artifact.files()) files.push_back(absl::StrCat(f.name(), " ", f.size()));
  *out.out << (text ? "text " : "model ") << path << ": " << r->artifact.size() << " bytes";
  if (!files.empty()) *out.out << " (" << absl::StrJoin(files, ", ") << ")";
  *out.out << "; " << Describe(*r) << "\n";
  *out.out << "artifact " << r->artifact.digest() << "\n" << std::flush;
  return absl::OkStatus();
}

absl::StatusOr<std::string> UploadTextForSubmit(const Session& s, const std::string& path,
                                                const Output& out) {
  if (absl::Status st = NoArtifactStub(s); !st.ok()) return st;
  absl::StatusOr<UploadResult> r = UploadTextFile(s.artifacts, path, OptionsFor(s, out));
  if (!r.ok()) return Prefixed(r.status(), path);
  if (out.err != nullptr) {
    *out.err << "text " << path << " is artifact " << r->artifact.digest() << " ("
             << Describe(*r) << ")\n";
  }
  return r->artifact.digest();
}

absl::StatusOr<std::string> UploadModelForSubmit(const Session& s, const std::string& dir,
                                                 const Output& out) {
  if (absl::Status st = NoArtifactStub(s); !st.ok()) return st;
  absl::StatusOr<UploadResult> r = UploadModelFolder(s.artifacts, dir, OptionsFor(s, out));
  if (!r.ok()) return Prefixed(r.status(), dir);
  if (out.err != nullptr) {
    *out.err << "model " << dir << " is artifact " << r->artifact.digest() << " ("
             << Describe(*r) << ")\n";
  }
  return r->artifact.digest();
}

absl::Status RunWorkers(const Session& s, Format format, const Output& out) {
  v1::ListWorkersResponse resp;
  if (absl::Status st = Call(s, &Stub::ListWorkers, v1::ListWorkersRequest(), &resp,
                             "ListWorkers");
      !st.ok()) {
    return st;
  }
  if (format == Format::kJson) {
    *out.out << WorkersJson(resp).dump(2) << "\n";
    return absl::OkStatus();
  }
  Table t;
  t.keys = {"worker_id", "name", "device", "dtypes", "memory_gib", "state", "task",
            "masks_done", "masks_per_second", "jobs_backed_off", "last_seen", "version"};
  t.titles = {"worker", "name", "device", "dtypes", "memory GiB", "state", "task",
              "masks done", "masks/s", "backed off", "last seen", "version"};
  for (const v1::WorkerInfo& w : resp.workers()) {
    std::vector<std::string> dtypes;
    for (int d : w.dtypes()) dtypes.push_back(DTypeName(static_cast<v1::DType>(d)));
    t.AddRow({TextCell(w.worker_id()), TextCell(w.name()), TextCell(w.device()),
              TextCell(absl::StrJoin(dtypes, ",")),
              NumCell(static_cast<double>(w.memory_bytes()) / (1 << 30), 1), TextCell(w.state()),
              TextCell(w.current_task_id()), IntCell(w.masks_done()),
              w.masks_done() == 0 || w.masks_per_second() <= 0 ? Cell{"-", "", true} : NumCell(w.masks_per_second(), 2),
              IntCell(w.jobs_backed_off()), TextCell(TimeString(w.last_seen_unix_ms())),
              TextCell(w.version())});
  }
  *out.out << (format == Format::kCsv ? RenderCsv(t) : RenderMarkdown(t));
  return absl::OkStatus();
}

}  // namespace ablate::client
