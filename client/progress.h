// Progress display of `ablate watch`: a one-line bar redrawn in place on a terminal, or plain
// lines (rate-limited) when the output is a file or a pipe. Thread-compatible.
#ifndef ABLATE_CLIENT_PROGRESS_H_
#define ABLATE_CLIENT_PROGRESS_H_

#include <chrono>
#include <functional>
#include <optional>
#include <ostream>
#include <string>

#include "ablate/v1/ablate.pb.h"

namespace ablate::client {

// The bar's text: "[#####.....]  72/145 masks  49.7%  3.1 masks/s  ETA 23.0s  2 workers busy
// running". `rate` <= 0 means unknown (no ETA). `bar_width` 0 drops the bracketed bar.
std::string ProgressText(const v1::Job& job, double rate, int bar_width);

class ProgressView {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;

  // `clock` defaults to steady_clock::now.
  ProgressView(std::ostream* out, bool tty, std::chrono::milliseconds line_interval,
               Clock clock = nullptr);

  // Shows the job's progress: redraws the bar on a terminal; otherwise prints a line when
  // the state changed or `line_interval` passed since the last line.
  void Update(const v1::Job& job);
  // Prints a line of its own (clearing the bar first on a terminal).
  void Message(const std::string& line);
  // Ends the bar's line on a terminal.
  void Done();

  // Masks per second: the server's figure when it gives one, else measured here.
  double Rate(const v1::Job& job);

 private:
  std::ostream* out_;
  bool tty_;
  std::chrono::milliseconds line_interval_;
  Clock clock_;
  bool bar_shown_ = false;
  std::optional<std::chrono::steady_clock::time_point> last_line_;
  v1::JobState last_state_ = v1::JOB_STATE_UNSPECIFIED;
  int64_t last_done_ = -1;
  std::optional<std::pair<std::chrono::steady_clock::time_point, int64_t>> first_;
};

}  // namespace ablate::client

#endif  // ABLATE_CLIENT_PROGRESS_H_
