// Logging and progress for the whole process: libraries report through Logger (never print
// themselves); tools configure it once (level, --quiet, program name). Progress draws one
// self-updating line with rate and ETA on stderr, only when stderr is a TTY and not quiet.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <sstream>
#include <string>

namespace hwnas {

enum class LogLevel { Debug = 0, Info = 1, Warn = 2, Error = 3, Off = 4 };

const char* logLevelName(LogLevel level);
// "debug", "info", "warn"/"warning", "error", "off"; InputError otherwise.
LogLevel parseLogLevel(const std::string& name);

// The process's logger. Thread-safe. Messages at or above the level go to the sink (stderr
// by default) as "<program>: [level: ]message". quiet drops Info/Debug and all progress bars.
class Logger {
 public:
  using Sink = std::function<void(LogLevel, const std::string& line)>;
  enum class ProgressMode { Auto, Always, Never };  // Auto: only when stderr is a TTY

  static Logger& instance();

  void setLevel(LogLevel level);
  LogLevel level() const { return level_.load(); }
  void setQuiet(bool quiet);
  bool quiet() const { return quiet_.load(); }
  void setProgramName(const std::string& name);
  std::string programName() const;
  // Replaces stderr (for tests or a log file); nullptr restores stderr.
  void setSink(Sink sink);
  void setProgressMode(ProgressMode mode);
  // Whether a progress bar should draw now (mode, quiet, TTY).
  bool progressEnabled() const;

  bool enabled(LogLevel level) const { return level >= level_.load() && !(quiet_.load() && level < LogLevel::Warn); }
  void log(LogLevel level, const std::string& message);

  // Used by Progress: draws `line` in place of the current progress line (stderr only);
  // log() clears it before a message and redraws it after, so lines never interleave.
  void drawProgress(const std::string& line);
  void endProgress(bool keepLine);

 private:
  Logger();
  void writeRaw(const std::string& text);  // caller holds mutex_
  std::atomic<LogLevel> level_{LogLevel::Info};
  std::atomic<bool> quiet_{false};
  std::atomic<ProgressMode> progressMode_{ProgressMode::Auto};
  mutable std::mutex mutex_;
  std::string program_ = "hwnas";
  Sink sink_;
  std::string progressLine_;  // what is on screen now ("" when none)
};

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream ss;
  (ss << ... << args);
  return ss.str();
}
}  // namespace detail

// logInfo("trained ", n, " steps"): the arguments are streamed only if the level is enabled.
template <class... Args>
void logDebug(const Args&... args) {
  Logger& l = Logger::instance();
  if (l.enabled(LogLevel::Debug)) l.log(LogLevel::Debug, detail::concat(args...));
}
template <class... Args>
void logInfo(const Args&... args) {
  Logger& l = Logger::instance();
  if (l.enabled(LogLevel::Info)) l.log(LogLevel::Info, detail::concat(args...));
}
template <class... Args>
void logWarn(const Args&... args) {
  Logger& l = Logger::instance();
  if (l.enabled(LogLevel::Warn)) l.log(LogLevel::Warn, detail::concat(args...));
}
template <class... Args>
void logError(const Args&... args) {
  Logger& l = Logger::instance();
  if (l.enabled(LogLevel::Error)) l.log(LogLevel::Error, detail::concat(args...));
}

// A progress bar: "train [#####.....] 512/1000 51% 120.3/s ETA 0:04 loss 0.43".
// advance() is thread-safe and cheap; the line is redrawn at most every 100 ms, plus once at
// finish(). Silent (no output at all) unless Logger::progressEnabled() when it was created.
class Progress {
 public:
  // total <= 0: unknown total (no bar, no ETA).
  Progress(std::string label, int64_t total);
  // Same, with the tool's --quiet: quiet == true keeps this bar silent whatever the logger says.
  Progress(std::string label, int64_t total, bool quiet);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance(int64_t n = 1);
  void set(int64_t done);
  void setTotal(int64_t total);
  // Free text after the numbers, e.g. "loss 0.43".
  void setStatus(const std::string& status);
  // set(done) and setStatus(status) in one call.
  void update(int64_t done, const std::string& status);
  // Draws the final state and ends the line. Idempotent; the destructor calls it.
  void finish();

  int64_t done() const { return done_.load(); }
  bool active() const { return active_; }

  // The text of one progress line (pure; for tests and custom sinks).
  static std::string formatLine(const std::string& label, int64_t done, int64_t total, double elapsedSeconds,
                                const std::string& status, int barWidth = 20);
  // "0:07", "1:02:03", "?" for negative or non-finite.
  static std::string formatDuration(double seconds);

 private:
  void maybeDraw(bool force);
  std::string label_;
  std::atomic<int64_t> done_{0};
  std::atomic<int64_t> total_{0};
  bool active_ = false;
  bool finished_ = false;
  std::mutex mutex_;
  std::string status_;
  std::chrono::steady_clock::time_point start_;
  std::atomic<int64_t> lastDrawNs_{INT64_MIN / 2};
};

}  // namespace hwnas
