#include "core/log.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace hwnas {

const char* logLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::Debug: return "debug";
    case LogLevel::Info: return "info";
    case LogLevel::Warn: return "warning";
    case LogLevel::Error: return "error";
    case LogLevel::Off: return "off";
  }
  return "?";
}

LogLevel parseLogLevel(const std::string& name) {
  if (name == "debug") return LogLevel::Debug;
  if (name == "info") return LogLevel::Info;
  if (name == "warn" || name == "warning") return LogLevel::Warn;
  if (name == "error") return LogLevel::Error;
  if (name == "off") return LogLevel::Off;
  throw InputError("unknown log level '" + name + "'; use one of: debug, info, warn, error, off");
}

// --- Logger ---

Logger::Logger() = default;

Logger& Logger::instance() {
  static Logger logger;
  return logger;
}

void Logger::setLevel(LogLevel level) { level_.store(level); }
void Logger::setQuiet(bool quiet) { quiet_.store(quiet); }
void Logger::setProgressMode(ProgressMode mode) { progressMode_.store(mode); }

void Logger::setProgramName(const std::string& name) {
  std::lock_guard<std::mutex> lock(mutex_);
  program_ = name;
}

std::string Logger::programName() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return program_;
}

void Logger::setSink(Sink sink) {
  std::lock_guard<std::mutex> lock(mutex_);
  sink_ = std::move(sink);
}

bool Logger::progressEnabled() const {
  if (quiet_.load() || level_.load() > LogLevel::Info) return false;
  switch (progressMode_.load()) {
    case ProgressMode::Always: return true;
    case ProgressMode::Never: return false;
    case ProgressMode::Auto: return ::isatty(STDERR_FILENO) == 1;
  }
  return false;
}

void Logger::writeRaw(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

void Logger::log(LogLevel level, const std::string& message) {
  if (!enabled(level)) return;
  std::lock_guard<std::mutex> lock(mutex_);
  std::string line = program_ + ": ";
  if (level != LogLevel::Info) line += std::string(logLevelName(level)) + ": ";
  line += message;
  if (sink_) {
    sink_(level, line);
    return;
  }
  if (!progressLine_.empty()) writeRaw("\r\x1b[K");
  writeRaw(line + "\n");
  if (!progressLine_.empty()) writeRaw(progressLine_);
}

void Logger::drawProgress(const std::string& line) {
  std::lock_guard<std::mutex> lock(mutex_);
  progressLine_ = line;
  writeRaw("\r\x1b[K" + line);
}

void Logger::endProgress(bool keepLine) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (progressLine_.empty()) return;
  writeRaw(keepLine ? std::string("\n") : std::string("\r\x1b[K"));
  progressLine_.clear();
}

// --- Progress ---

static int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Progress::Progress(std::string label, int64_t total)
    : label_(std::move(label)), total_(total), start_(std::chrono::steady_clock::now()) {
  active_ = Logger::instance().progressEnabled();
}

Progress::Progress(std::string label, int64_t total, bool quiet) : Progress(std::move(label), total) {
  if (quiet) active_ = false;
}

Progress::~Progress() { finish(); }

void Progress::update(int64_t done, const std::string& status) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    status_ = status;
  }
  set(done);
}

void Progress::advance(int64_t n) {
  done_.fetch_add(n);
  maybeDraw(false);
}

void Progress::set(int64_t done) {
  done_.store(done);
  maybeDraw(false);
}

void Progress::setTotal(int64_t total) {
  total_.store(total);
  maybeDraw(false);
}

void Progress::setStatus(const std::string& status) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    status_ = status;
  }
  maybeDraw(false);
}

void Progress::maybeDraw(bool force) {
  if (!active_) return;
  int64_t now = nowNs();
  int64_t last = lastDrawNs_.load();
  if (!force) {
    if (now - last < 100'000'000) return;  // at most ~10 redraws a second
    if (!lastDrawNs_.compare_exchange_strong(last, now)) return;  // another thread draws
  }
  std::string status;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finished_) return;
    status = status_;
  }
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  Logger::instance().drawProgress(formatLine(label_, done_.load(), total_.load(), elapsed, status));
}

void Progress::finish() {
  if (!active_) return;
  maybeDraw(true);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finished_) return;
    finished_ = true;
  }
  Logger::instance().endProgress(true);
}

std::string Progress::formatDuration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  int64_t s = int64_t(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)(s / 3600), (long long)(s / 60 % 60),
                  (long long)(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", (long long)(s / 60), (long long)(s % 60));
  }
  return buf;
}

std::string Progress::formatLine(const std::string& label, int64_t done, int64_t total, double elapsedSeconds,
                                 const std::string& status, int barWidth) {
  std::string out = label;
  double rate = elapsedSeconds > 0 ? double(done) / elapsedSeconds : 0.0;
  char buf[96];
  if (total > 0) {
    double frac = std::min(1.0, std::max(0.0, double(done) / double(total)));
    int filled = int(frac * barWidth);
    out += " [" + std::string(size_t(filled), '#') + std::string(size_t(barWidth - filled), '.') + "]";
    std::snprintf(buf, sizeof buf, " %lld/%lld %d%%", (long long)done, (long long)total, int(frac * 100));
    out += buf;
  } else {
    std::snprintf(buf, sizeof buf, " %lld", (long long)done);
    out += buf;
  }
  if (rate >= 100)
    std::snprintf(buf, sizeof buf, " %.0f/s", rate);
  else
    std::snprintf(buf, sizeof buf, " %.1f/s", rate);
  out += buf;
  if (total > 0) {
    if (done >= total) {
      out += " in " + formatDuration(elapsedSeconds);
    } else {
      double eta = rate > 0 ? double(total - done) / rate : -1.0;
      out += " ETA " + formatDuration(eta);
    }
  }
  if (!status.empty()) out += " " + status;
  return out;
}

}  // namespace hwnas
