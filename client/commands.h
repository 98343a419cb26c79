// The `ablate` commands as library calls: each takes a Session (an AblationService stub plus
// the token), its options, and where to write; it returns a Status whose code picks the exit
// code (rpc.h). main.cc only parses flags into these options. Thread-compatible.
#ifndef ABLATE_CLIENT_COMMANDS_H_
#define ABLATE_CLIENT_COMMANDS_H_

#include <chrono>
#include <functional>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "client/format.h"
#include "client/rpc.h"
#include "client/spec.h"
#include "client/views.h"

namespace ablate::client {

// Where output goes. `tty` selects the live progress bar in watch.
struct Output {
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
  bool tty = false;
};

struct WatchOptions {
  // Give up reconnecting after this long without reaching the server (exit code 4).
  std::chrono::milliseconds reconnect_timeout{std::chrono::minutes(5)};
  std::chrono::milliseconds initial_backoff{200};
  std::chrono::milliseconds max_backoff{5000};
  // Plain-line mode prints at most one progress line per interval (plus state changes).
  std::chrono::milliseconds line_interval{std::chrono::seconds(5)};
};

// Submits the job; prints "submitted job <id>" (or "job <id> already submitted" on an
// idempotent retry) so the id is the last word. With `wait`, then watches it and prints a
// last line ending with the id.
absl::Status RunSubmit(const Session& s, const SubmitOptions& options, bool wait,
                       const WatchOptions& watch, const Output& out);

// Follows the job until it ends: OK if it succeeded; Aborted (exit 1) with the job's error if
// it failed; Cancelled (exit 1) if it was cancelled. Reconnects with backoff when the server
// goes away, up to watch.reconnect_timeout.
absl::Status RunWatch(const Session& s, const std::string& job_id, const WatchOptions& watch,
                      const Output& out);

absl::Status RunStatus(const Session& s, const std::string& job_id, Format format,
                       const Output& out);
// All pages, or the first `limit` jobs when limit > 0; state UNSPECIFIED = all.
absl::Status RunList(const Session& s, v1::JobState state, int limit, Format format,
                     const Output& out);
absl::Status RunCancel(const Session& s, const std::string& job_id, const Output& out);
// Deletes a finished job and its results (DeleteJob; a queued or running job: cancel first).
absl::Status RunDelete(const Session& s, const std::string& job_id, const Output& out);

// Texts above this go up as text artifacts before a submit (the server's default inline
// limit is 1 MiB).
inline constexpr size_t kMaxInlineTextBytes = size_t{1} << 20;

// heads / curve / thresholds / stats show the server's bootstrap intervals when the job has
// per-block results; `uncertainty` sets level, resamples and seed (default: the server's
// defaults; bootstrap -1 = none). The per-block NLL itself is not fetched.
absl::Status RunHeads(const Session& s, const std::string& job_id, HeadSort sort, int top,
                      Format format, const Output& out,
                      const v1::Uncertainty& uncertainty = v1::Uncertainty());
absl::Status RunCurve(const Session& s, const std::string& job_id, Format format,
                      const Output& out, const v1::Uncertainty& uncertainty = v1::Uncertainty());
absl::Status RunThresholds(const Session& s, const std::string& job_id,
                           const std::vector<double>& ratios, Format format, const Output& out,
                           const v1::Uncertainty& uncertainty = v1::Uncertainty());
absl::Status RunStats(const Session& s, const std::string& job_id, Format format,
                      const Output& out, const v1::Uncertainty& uncertainty = v1::Uncertainty());
// With a series file, adds the series column and the correlation (Pearson / Spearman).
absl::Status RunLayers(const Session& s, const std::string& job_id,
                       const std::string& series_file, Format format, const Output& out,
                       const v1::Uncertainty& uncertainty = v1::Uncertainty());

// `ablate compare A B`: the two jobs' per-head deltas and ranks side by side (sorted, the
// first `top` rows when top > 0) and their correlation. Errors: CompareJobs's (different
// shapes: INVALID_ARGUMENT, exit 2).
absl::Status RunCompare(const Session& s, const std::string& job_a, const std::string& job_b,
                        CompareSort sort, int top, Format format, const Output& out);

// `ablate upload`: uploads a checkpoint folder (or, with `text`, one text file) as a
// content-addressed artifact, resuming an interrupted upload; prints the digest last.
absl::Status RunUpload(const Session& s, const std::string& path, bool text, const Output& out);

// Uploads a checkpoint folder for `submit --upload` (a message on out.err) and returns its
// artifact digest.
// Uploads a text file as a text artifact for a submit; returns its digest.
absl::StatusOr<std::string> UploadTextForSubmit(const Session& s, const std::string& path,
                                                const Output& out);
absl::StatusOr<std::string> UploadModelForSubmit(const Session& s, const std::string& dir,
                                                 const Output& out);

// `ablate workers`: every registered worker with its device, state and throughput.
absl::Status RunWorkers(const Session& s, Format format, const Output& out);

// A per-layer series file: a JSON array of numbers, a JSON object {"name": ..., "values":
// [...]}, or text with one number per line or comma-separated ('#' starts a comment; a
// "layer,value" CSV uses the last column). Its name defaults to the file's stem.
struct Series {
  std::string name;
  std::vector<double> values;
};
absl::StatusOr<Series> LoadSeries(const std::string& path);

// "1.1,1.5,2" -> {1.1, 1.5, 2}.
absl::StatusOr<std::vector<double>> ParseRatios(const std::string& text);

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_COMMANDS_H_
