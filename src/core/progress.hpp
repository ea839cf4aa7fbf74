// Progress of long loops (epochs, evaluation, conversion). On a terminal one line is redrawn in
// place; in batch jobs and CI logs, where \r redraws turn into megabytes of garbage, a plain line
// is printed every few seconds instead. Only rank 0 shows progress, as every rank does the same
// loop. A Progress is used from one thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>

namespace win {

class Progress {
 public:
  using Clock = std::function<double()>;  // monotonic seconds

  // stdout, terminal mode from isatty, steady clock; silent on ranks other than 0.
  Progress(std::string label, int64_t total, std::string unit = "it");
  // Injected output, terminal mode and clock (for tests); shows on every rank. total <= 0 means
  // unknown: no bar, percentage or ETA.
  Progress(std::string label, int64_t total, std::string unit, std::FILE* out, bool is_tty,
           Clock clock);
  // Ends a half-drawn terminal line (e.g. when an exception unwinds) without claiming completion.
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Period of the plain lines when not on a terminal (default 10 s).
  void set_interval(double seconds) { interval_ = seconds; }
  // Units already done when counting starts (a resumed loop): not counted in the rate.
  void set_start(int64_t done) { start_n_ = sample_n_ = done_ = done; }

  // done: units completed since construction; extra: shown at the end, e.g. "loss 0.4231".
  void update(int64_t done, std::string_view extra = "");
  // Prints the final count, average rate and elapsed time, then a newline; later calls and
  // updates do nothing.
  void finish();

  // Smoothed recent rate in units per second (0 until it can be measured).
  double rate() const { return rate_ > 0 ? rate_ : 0; }

 private:
  std::string line(double now, bool final) const;
  void emit(const std::string& text);

  std::string label_, unit_, extra_;
  int64_t total_;
  std::FILE* out_;
  bool is_tty_;
  bool enabled_;
  Clock clock_;
  double interval_ = 10.0;
  int width_ = 0;  // terminal columns, 0 if unknown

  double start_t_;
  int64_t start_n_ = 0;
  double sample_t_;
  int64_t sample_n_ = 0;
  double rate_ = -1;     // < 0: not measured yet
  double first_t_ = 0;   // the first update: the rate counts from it (the interval before it
  int64_t first_n_ = 0;  // holds start-up: the first step's allocations, a pipeline filling)
  double last_out_;      // time of the last redraw (terminal) or line (plain)
  int64_t done_ = 0;
  size_t drawn_len_ = 0;  // length of the line now on the terminal, to blank its tail
  bool updated_ = false;
  bool drawn_ = false;
  bool finished_ = false;
};

// "mm:ss" below an hour, "h:mm:ss" above; for ETAs and elapsed times.
std::string format_duration(double seconds);

}  // namespace win
