// Store: worker registration and listing, and datasets.
#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/numbers.h"
#include "storage/ids.h"
#include "storage/model_family.h"
#include "storage/secrets.h"
#include "storage/sha256.h"
#include "storage/store.h"
#include "storage/store_internal.h"

namespace ablate::storage {

namespace v1 = ::ablate::v1;

namespace {

// Bounds of what a worker may register (issue 10).
constexpr size_t kMaxWorkerStringBytes = 256;
constexpr int kMaxModelPaths = 64;
constexpr size_t kMaxModelPathBytes = 4096;
constexpr int kMaxDTypes = 16;

absl::Status CheckRegisterSizes(const v1::RegisterRequest& request) {
  for (const auto& [field, value] : {std::pair{"name", &request.name()},
                                     std::pair{"device", &request.device()},
                                     std::pair{"version", &request.version()}}) {
    if (value->size() > kMaxWorkerStringBytes) {
      return absl::InvalidArgumentError(absl::StrCat(field, " is ", value->size(),
                                                     " bytes, the limit is ",
                                                     kMaxWorkerStringBytes));
    }
  }
  if (request.dtypes_size() > kMaxDTypes || request.model_paths_size() > kMaxModelPaths) {
    return absl::InvalidArgumentError(absl::StrCat("dtypes (at most ", kMaxDTypes,
                                                   ") or model_paths (at most ",
                                                   kMaxModelPaths, ") has too many entries"));
  }
  for (const std::string& path : request.model_paths()) {
    if (path.size() > kMaxModelPathBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat("model_paths: an entry is longer than ", kMaxModelPathBytes, " bytes"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Store::CheckWorkerSecret(absl::string_view worker_name, absl::string_view secret) {
  ABLATE_ASSIGN_OR_RETURN(int64_t worker_id, ParseWorkerId(worker_name));
  std::lock_guard<std::mutex> lock(mu_);
  ABLATE_ASSIGN_OR_RETURN(Statement stmt,
                          db_->Prepare("SELECT secret_sha256 FROM workers WHERE id = ?"));
  stmt.Bind(1, worker_id);
  ABLATE_ASSIGN_OR_RETURN(bool found, stmt.Step());
  const std::string stored = found ? stmt.ColumnText(0) : "";
  if (!found || stored.empty()) {  // Unknown, or registered before secrets existed.
    return absl::NotFoundError(absl::StrCat("worker_id: ", WorkerName(worker_id),
                                            " is not registered (call Register again)"));
  }
  if (!ConstantTimeEquals(Sha256Hex(secret), stored)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "worker_secret does not match ", WorkerName(worker_id),
        " (each worker calls with the secret its Register returned)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::RegisterResponse> Store::RegisterWorker(const v1::RegisterRequest& request) {
  if (!v1::DeviceKind_IsValid(request.device_kind())) {
    return absl::InvalidArgumentError(
        absl::StrCat("device_kind ", request.device_kind(), " is unknown"));
  }
  std::string dtypes;  // ",1,3," lists what the worker can run; "" = anything.
  for (int dtype : request.dtypes()) {
    if (!v1::DType_IsValid(dtype)) {
      return absl::InvalidArgumentError(absl::StrCat("dtypes: ", dtype, " is unknown"));
    }
    absl::StrAppend(&dtypes, dtypes.empty() ? "," : "",
                    dtype == v1::DTYPE_UNSPECIFIED ? v1::DTYPE_FP32 : dtype, ",");
  }
  ABLATE_RETURN_IF_ERROR(CheckRegisterSizes(request));
  const std::string secret = RandomSecretHex();
  ABLATE_ASSIGN_OR_RETURN(const std::string families,
                          WorkerFamiliesColumn(request.model_families()));
  std::lock_guard<std::mutex> lock(mu_);
  ABLATE_ASSIGN_OR_RETURN(std::unique_ptr<WriteTransaction> txn,
                          WriteTransaction::Begin(db_.get()));
  ABLATE_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("INSERT INTO workers (name, device_kind, device, dtypes, memory_bytes,"
                   " model_paths, version, registered_ms, last_seen_ms, model_families,"
                   " secret_sha256)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  const int64_t now = Now();
  stmt.BindAll(request.name(), static_cast<int>(request.device_kind()), request.device(), dtypes,
               request.memory_bytes(), absl::StrJoin(request.model_paths(), "\n"),
               request.version(), now, now, families, Sha256Hex(secret));
  ABLATE_RETURN_IF_ERROR(stmt.Run());
  const int64_t id = db_->LastInsertRowId();
  ABLATE_RETURN_IF_ERROR(txn->Commit());
  spdlog::info("{} registered: {} {} ({}), version {}, families {}", WorkerName(id),
               request.name(), request.device(), v1::DeviceKind_Name(request.device_kind()),
               request.version(), families);
  v1::RegisterResponse response;
  response.set_worker_id(WorkerName(id));
  response.set_heartbeat_interval_ms(static_cast<int32_t>(options_.heartbeat_interval_ms));
  response.set_lease_ttl_ms(static_cast<int32_t>(options_.lease_ttl_ms));
  response.set_worker_secret(secret);
  notifier_.TasksAvailable();  // A new worker may run tasks nobody else could.
  return response;
}

absl::StatusOr<v1::ListWorkersResponse> Store::ListWorkers() {
  std::lock_guard<std::mutex> lock(mu_);
  ABLATE_ASSIGN_OR_RETURN(
      Statement stmt,
      db_->Prepare("SELECT w.id, w.name, w.device_kind, w.device, w.dtypes, w.memory_bytes,"
                   " w.version, w.last_seen_ms, w.masks_done, w.busy_seconds,"
                   " (SELECT t.id FROM tasks t WHERE t.state = 2 AND t.worker_id = w.id LIMIT 1),"
                   " (SELECT COUNT(*) FROM worker_job_backoff b JOIN jobs j ON j.id = b.job_id"
                   "  WHERE b.worker_id = w.id AND b.until_ms > ?1 AND j.state IN (1, 2))"
                   " FROM workers w ORDER BY w.id"));
  const int64_t lost_after = 3 * options_.lease_ttl_ms;
  const int64_t now = Now();
  stmt.Bind(1, now);
  v1::ListWorkersResponse response;
  while (true) {
    ABLATE_ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    v1::WorkerInfo* w = response.add_workers();
    w->set_worker_id(WorkerName(stmt.ColumnInt(0)));
    w->set_name(stmt.ColumnText(1));
    w->set_device_kind(static_cast<v1::DeviceKind>(stmt.ColumnInt(2)));
    w->set_device(stmt.ColumnText(3));
    for (absl::string_view part : absl::StrSplit(stmt.ColumnText(4), ',', absl::SkipEmpty())) {
      int dtype = 0;
      if (absl::SimpleAtoi(part, &dtype)) w->add_dtypes(static_cast<v1::DType>(dtype));
    }
    w->set_memory_bytes(stmt.ColumnInt(5));
    w->set_version(stmt.ColumnText(6));
    w->set_last_seen_unix_ms(stmt.ColumnInt(7));
    w->set_masks_done(stmt.ColumnInt(8));
    const double busy = stmt.ColumnDouble(9);
    if (busy > 0) w->set_masks_per_second(static_cast<double>(w->masks_done()) / busy);
    w->set_jobs_backed_off(static_cast<int32_t>(stmt.ColumnInt(11)));
    if (!stmt.ColumnIsNull(10)) {
      w->set_current_task_id(TaskName(stmt.ColumnInt(10)));
      w->set_state("busy");
    } else {
      w->set_state(now - w->last_seen_unix_ms() > lost_after ? "lost" : "idle");
    }
  }
  return response;
}

absl::StatusOr<v1::Dataset> Store::GetDataset(absl::string_view sha256) {
  if (!IsSha256Hex(sha256)) {
    return absl::InvalidArgumentError(absl::StrCat("sha256 \"", sha256, "\" is not 64 hex digits"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  ABLATE_ASSIGN_OR_RETURN(Statement stmt,
                          db_->Prepare("SELECT text, name FROM datasets WHERE sha256 = ?"));
  stmt.Bind(1, LowerHex(sha256));
  ABLATE_ASSIGN_OR_RETURN(bool found, stmt.Step());
  if (!found) return absl::NotFoundError(absl::StrCat("sha256: no dataset ", sha256));
  v1::Dataset dataset;
  dataset.set_text(stmt.ColumnText(0));
  dataset.set_name(stmt.ColumnText(1));
  dataset.set_sha256(LowerHex(sha256));
  return dataset;
}

}  // namespace ablate::storage
