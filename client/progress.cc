#include "client/progress.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "client/format.h"
#include "client/views.h"

namespace ablate::client {

std::string ProgressText(const v1::Job& job, double rate, int bar_width) {
  const v1::Progress& p = job.progress();
  const int64_t total = std::max<int64_t>(p.masks_total(), 0);
  const int64_t done = std::clamp<int64_t>(p.masks_done(), 0, std::max<int64_t>(total, 0));
  const double frac = total > 0 ? static_cast<double>(done) / total : 0.0;
  std::string text;
  if (bar_width > 0) {
    const int filled = static_cast<int>(frac * bar_width);
    absl::StrAppend(&text, "[", std::string(filled, '#'), std::string(bar_width - filled, '.'),
                    "]  ");
  }
  absl::StrAppend(&text, p.masks_done(), "/", total, " masks  ", Fixed(100 * frac, 1), "%");
  if (rate > 0) {
    absl::StrAppend(&text, "  ", Fixed(rate, rate < 10 ? 2 : 1), " masks/s");
    if (total > done) absl::StrAppend(&text, "  ETA ", Duration((total - done) / rate));
  }
  absl::StrAppend(&text, "  ", p.workers_busy(), p.workers_busy() == 1 ? " worker" : " workers",
                  " busy  ", StateName(job.state()));
  return text;
}

ProgressView::ProgressView(std::ostream* out, bool tty, std::chrono::milliseconds line_interval,
                           Clock clock)
    : out_(out), tty_(tty), line_interval_(line_interval), clock_(std::move(clock)) {
  if (!clock_) clock_ = [] { return std::chrono::steady_clock::now(); };
}

double ProgressView::Rate(const v1::Job& job) {
  if (job.progress().masks_per_second() > 0) return job.progress().masks_per_second();
  const auto now = clock_();
  const int64_t done = job.progress().masks_done();
  if (!first_.has_value() || done < first_->second) first_ = {now, done};
  const double secs = std::chrono::duration<double>(now - first_->first).count();
  return secs > 0.5 ? (done - first_->second) / secs : 0.0;
}

void ProgressView::Update(const v1::Job& job) {
  const double rate = Rate(job);
  const auto now = clock_();
  if (tty_) {
    *out_ << "\r\033[K" << ProgressText(job, rate, 30) << std::flush;
    bar_shown_ = true;
  } else {
    const bool changed = job.state() != last_state_;
    const bool due = !last_line_.has_value() || now - *last_line_ >= line_interval_;
    if (changed || (due && job.progress().masks_done() != last_done_)) {
      *out_ << "job " << job.id() << ": " << ProgressText(job, rate, 0) << "\n" << std::flush;
      last_line_ = now;
      last_done_ = job.progress().masks_done();
    }
  }
  last_state_ = job.state();
}

void ProgressView::Message(const std::string& line) {
  if (tty_ && bar_shown_) *out_ << "\r\033[K";
  *out_ << line << "\n" << std::flush;
  bar_shown_ = false;
}

void ProgressView::Done() {
  if (tty_ && bar_shown_) *out_ << "\n" << std::flush;
  bar_shown_ = false;
}

}  // namespace ablate::client
