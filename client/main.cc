// ablate: the command-line client of an ablate server. Flags only; the commands live in
// ablate_client (commands.h, report.h). Exit codes: 0 ok, 1 other, 2 bad usage, 3 not found,
// 4 server unreachable or token refused.
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "client/commands.h"
#include "client/report.h"

namespace {

namespace ac = ablate::client;
using Action = std::function<absl::Status(const ac::Session&, const ac::Output&)>;

// Sets *target only when the flag is given, so spec-file values are not overridden.
template <typename T>
void Optional(CLI::App* app, const std::string& name, std::optional<T>* target,
              const std::string& help) {
  app->add_option_function<T>(name, [target](const T& v) { *target = v; }, help);
}

std::string* AddFormat(CLI::App* app, std::string* format) {
  app->add_option("--format", *format, "Output: table (aligned Markdown), csv or json")
      ->check(CLI::IsMember({"table", "csv", "json"}))
      ->capture_default_str();
  return format;
}

ac::Format FormatOf(const std::string& s) { return ac::ParseFormat(s).value_or(ac::Format::kTable); }

void AddSubmit(CLI::App& app, Action* action, ac::SubmitOptions* o, std::string* spec,
               bool* wait, ac::WatchOptions* watch) {
  CLI::App* c = app.add_subcommand("submit", "Submit an ablation job; prints its id last");
  Optional(c, "--model", &o->model, "Checkpoint folder (config.json, weights, tokenizer)");
  Optional(c, "--text", &o->text, "Text file to score (sent inline with the job)");
  Optional(c, "--n-chunks", &o->n_chunks, "Number of chunks (default 2)");
  Optional(c, "--seq-len", &o->seq_len, "Tokens per chunk (default min(1024, n_positions))");
  Optional(c, "--method", &o->method, "zero | zero_folded | mean (default zero)");
  Optional(c, "--sweep", &o->sweep,
           "individual | cumulative | full | attribution (default full)");
  Optional(c, "--verify-top", &o->verify_top_k,
           "attribution: verify the K heads with the largest estimates exactly (default 0)");
  Optional(c, "--dtype", &o->dtype, "fp32 | bf16 | fp16 (default fp32)");
  Optional(c, "--device-kind", &o->device_kind, "any | cpu | cuda | mps (default any)");
  Optional(c, "--priority", &o->priority, "Higher runs first (default 0)");
  Optional(c, "--masks-per-task", &o->masks_per_task, "Masks per task (default: server's)");
  Optional(c, "--max-attempts", &o->max_attempts, "Attempts per task (default: server's)");
  Optional(c, "--request-id", &o->request_id, "Idempotency key (default random)");
  Optional(c, "--name", &o->name, "Job name");
  Optional(c, "--dataset-name", &o->dataset_name, "Dataset label (default: text file name)");
  c->add_flag_function("--bos,--bos-per-chunk,!--no-bos",
                       [o](int64_t n) { o->bos_per_chunk = n > 0; },
                       "Put the model's BOS token (bos_token_id) in slot 0 of each chunk "
                       "(default: on for llama and mistral, off for gpt2, gpt_neox, qwen2)");
  c->add_flag_function("--upload", [o](int64_t n) { o->upload = n > 0; },
                       "Upload the model folder (resumable, once per content); workers fetch it");
  c->add_option("--spec", *spec, "Job spec file, JSON or YAML (flags override it)");
  c->add_flag("--wait", *wait, "Watch the job until it ends");
  c->callback([=] {
    *action = [=](const ac::Session& s, const ac::Output& out) {
      ac::SubmitOptions merged = *o;
      if (!spec->empty()) {
        absl::StatusOr<ac::SubmitOptions> file = ac::LoadSpecFile(*spec);
        if (!file.ok()) return file.status();
        merged.FillFrom(*file);
      }
      return ac::RunSubmit(s, merged, *wait, *watch, out);
    };
  });
}

struct Flags {
  std::string server = "127.0.0.1:50051";
  std::string token_file, tls_ca, job, format = "table", state, sort = "delta";
  std::string ratios = "1.1,1.5,2.0", series, criteria, out_dir, spec;
  int top = 0, limit = 0;
  double timeout_s = 30, reconnect_s = 300;
  bool wait = false, upload_text = false;
  std::string upload_path, job_b, compare_sort = "shift";
  double ci = 0;  // Bootstrap intervals: 0 = the server's defaults (0.95, 10000, fixed seed).
  int bootstrap = 0;
  uint64_t seed = 0;
  ac::SubmitOptions submit;
  ac::WatchOptions watch;
};

CLI::App* JobCommand(CLI::App& app, const char* name, const char* help, Flags* f) {
  CLI::App* c = app.add_subcommand(name, help);
  c->add_option("job", f->job, "Job id")->required();
  return c;
}

void AddJobCommands(CLI::App& app, Flags* f, Action* action) {
  AddSubmit(app, action, &f->submit, &f->spec, &f->wait, &f->watch);
  CLI::App* c = JobCommand(app, "watch", "Follow a job until it ends (exit 0 if it succeeded)", f);
  c->add_option("--reconnect-timeout", f->reconnect_s, "Seconds to keep reconnecting")
      ->capture_default_str();
  c->callback([=] { *action = [=](auto& s, auto& o) { return ac::RunWatch(s, f->job, f->watch, o); }; });
  c = JobCommand(app, "status", "Show one job", f);
  AddFormat(c, &f->format);
  c->callback([=] { *action = [=](auto& s, auto& o) { return ac::RunStatus(s, f->job, FormatOf(f->format), o); }; });
  c = app.add_subcommand("list", "List jobs (all pages)");
  c->add_option("--state", f->state, "Only jobs in this state")
      ->check(CLI::IsMember({"queued", "running", "succeeded", "failed", "cancelled"}));
  c->add_option("--limit", f->limit, "At most this many jobs (0 = all)")->check(CLI::NonNegativeNumber);
  AddFormat(c, &f->format);
  c->callback([=] {
    *action = [=](auto& s, auto& o) {
      const ablate::v1::JobState st = f->state.empty() ? ablate::v1::JOB_STATE_UNSPECIFIED : *ac::ParseState(f->state);
      return ac::RunList(s, st, f->limit, FormatOf(f->format), o);
    };
  });
  c = JobCommand(app, "cancel", "Cancel a job", f);
  c->callback([=] { *action = [=](auto& s, auto& o) { return ac::RunCancel(s, f->job, o); }; });
  c = JobCommand(app, "delete", "Delete a finished job and its results", f);
  c->callback([=] { *action = [=](auto& s, auto& o) { return ac::RunDelete(s, f->job, o); }; });
  c = app.add_subcommand("upload", "Upload a checkpoint folder (or --text FILE); prints the digest");
  c->add_option("path", f->upload_path, "Checkpoint folder, or a text file with --text")->required();
  c->add_flag("--text", f->upload_text, "Upload one text file instead of a model folder");
  c->callback([=] {
    *action = [=](auto& s, auto& o) { return ac::RunUpload(s, f->upload_path, f->upload_text, o); };
  });
  c = app.add_subcommand("workers", "List workers: device, state, throughput");
  AddFormat(c, &f->format);
  c->callback([=] { *action = [=](auto& s, auto& o) { return ac::RunWorkers(s, FormatOf(f->format), o); }; });
}

void AddUncertainty(CLI::App* c, Flags* f) {
  c->add_option("--ci", f->ci, "Bootstrap interval level (0 = 0.95)");
  c->add_option("--bootstrap", f->bootstrap, "Bootstrap resamples (0 = 10000, -1 = no intervals)");
  c->add_option("--seed", f->seed, "Bootstrap seed (0 = the documented default)");
}

ablate::v1::Uncertainty UncertaintyOf(const Flags& f) {
  ablate::v1::Uncertainty u;
  u.set_ci(f.ci);
  u.set_bootstrap(f.bootstrap);
  u.set_seed(f.seed);
  return u;
}

void AddQueryCommands(CLI::App& app, Flags* f, Action* action) {
  CLI::App* c = JobCommand(app, "heads", "Per-head table: PPL and dPPL of each head ablated alone", f);
  c->add_option("--top", f->top, "Only the first N rows (0 = all)")->check(CLI::NonNegativeNumber);
  c->add_option("--sort", f->sort, "delta (most harmful first) | abs (largest |dPPL|) | layer")
      ->check(CLI::IsMember({"delta", "abs", "layer"}))
      ->capture_default_str();
  AddFormat(c, &f->format);
  AddUncertainty(c, f);
  c->callback([=] {
    *action = [=](auto& s, auto& o) {
      return ac::RunHeads(s, f->job, *ac::ParseHeadSort(f->sort), f->top, FormatOf(f->format), o,
                          UncertaintyOf(*f));
    };
  });
  c = JobCommand(app, "curve", "Cumulative curve: PPL with the first k heads removed, every k", f);
  AddFormat(c, &f->format);
  AddUncertainty(c, f);
  c->callback([=] {
    *action = [=](auto& s, auto& o) {
      return ac::RunCurve(s, f->job, FormatOf(f->format), o, UncertaintyOf(*f));
    };
  });
  c = JobCommand(app, "thresholds", "Max heads removable within PPL ratios of the baseline", f);
  c->add_option("--ratios", f->ratios, "Comma-separated ratios >= 1")->capture_default_str();
  AddFormat(c, &f->format);
  AddUncertainty(c, f);
  c->callback([=] {
    *action = [=](auto& s, auto& o) -> absl::Status {
      absl::StatusOr<std::vector<double>> r = ac::ParseRatios(f->ratios);
      if (!r.ok()) return r.status();
      return ac::RunThresholds(s, f->job, *r, FormatOf(f->format), o, UncertaintyOf(*f));
    };
  });
  c = JobCommand(app, "stats", "Distribution of dPPL: counts, mean, median, max, Zipf fit", f);
  AddFormat(c, &f->format);
  AddUncertainty(c, f);
  c->callback([=] {
    *action = [=](auto& s, auto& o) {
      return ac::RunStats(s, f->job, FormatOf(f->format), o, UncertaintyOf(*f));
    };
  });
  c = JobCommand(app, "layers", "Per-layer mean / max dPPL; with --series, correlations", f);
  c->add_option("--series", f->series, "Per-layer series file (JSON array or one number per line)");
  AddFormat(c, &f->format);
  AddUncertainty(c, f);
  c->callback([=] {
    *action = [=](auto& s, auto& o) {
      return ac::RunLayers(s, f->job, f->series, FormatOf(f->format), o, UncertaintyOf(*f));
    };
  });
}

void AddCompareCommand(CLI::App& app, Flags* f, Action* action) {
  CLI::App* c = app.add_subcommand(
      "compare", "Two jobs of the same shape head by head: dPPL, ranks, rank shift, Spearman");
  c->add_option("job_a", f->job, "Job A")->required();
  c->add_option("job_b", f->job_b, "Job B")->required();
  c->add_option("--top", f->top, "Only the first N rows (0 = all)")->check(CLI::NonNegativeNumber);
  c->add_option("--sort", f->compare_sort,
                "shift (largest |rank shift| first) | a | b (by rank in that job) | layer")
      ->check(CLI::IsMember({"shift", "a", "b", "layer"}))
      ->capture_default_str();
  AddFormat(c, &f->format);
  c->callback([=] {
    *action = [=](auto& s, auto& o) {
      return ac::RunCompare(s, f->job, f->job_b, *ac::ParseCompareSort(f->compare_sort), f->top,
                            FormatOf(f->format), o);
    };
  });
}

void AddReportCommand(CLI::App& app, Flags* f, Action* action) {
  CLI::App* c = JobCommand(app, "report", "Markdown report + SVG figures of a finished job", f);
  c->add_option("--series", f->series, "Per-layer series file for the correlation");
  c->add_option("--criteria", f->criteria,
                "Success criteria, JSON: [{\"metric\":\"max_heads@1.5\",\"op\":\">=\",\"value\":25}]");
  c->add_option("--out", f->out_dir, "Output folder")->required();
  AddUncertainty(c, f);
  c->callback([=] {
    *action = [=](auto& s, auto& o) {
      return ac::RunReport(s, {f->job, f->series, f->criteria, f->out_dir, UncertaintyOf(*f)}, o);
    };
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ablate: submit attention-head ablation jobs and read their results"};
  app.require_subcommand(1);
  app.fallthrough();
  Flags f;
  app.add_option("--server", f.server, "Server address (env ABLATE_SERVER)")
      ->envname("ABLATE_SERVER")
      ->capture_default_str();
  app.add_option("--token-file", f.token_file, "Client token file (env ABLATE_TOKEN_FILE)")
      ->envname("ABLATE_TOKEN_FILE");
  app.add_option("--tls-ca", f.tls_ca, "Root CA file: use TLS (env ABLATE_TLS_CA)")
      ->envname("ABLATE_TLS_CA");
  app.add_option("--timeout", f.timeout_s, "Seconds per request")->capture_default_str();
  Action action;
  AddJobCommands(app, &f, &action);
  AddQueryCommands(app, &f, &action);
  AddCompareCommand(app, &f, &action);
  AddReportCommand(app, &f, &action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help.
    std::cerr << "ablate: " << e.what() << " (see ablate --help)\n";
    return ac::kExitUsage;
  }
  f.watch.reconnect_timeout = std::chrono::milliseconds(static_cast<int64_t>(f.reconnect_s * 1000));
  absl::StatusOr<std::unique_ptr<ac::Connection>> conn =
      ac::Connection::Create(f.server, f.token_file, f.tls_ca);
  absl::Status status = conn.status();
  if (status.ok()) {
    ac::Session session = (*conn)->session();
    session.timeout = std::chrono::milliseconds(static_cast<int64_t>(f.timeout_s * 1000));
    const ac::Output out{&std::cout, &std::cerr, isatty(fileno(stdout)) == 1};
    status = action(session, out);
  }
  std::cout.flush();
  if (!status.ok()) std::cerr << ac::ErrorLine(status) << "\n";
  return ac::ExitCodeFor(status);
}
