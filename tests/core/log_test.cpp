// Logger levels/quiet through a sink, and Progress formatting and silence rules.
#include "core/log.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/error.h"

using namespace hwnas;

namespace {
// Restores the process logger after each test.
struct LoggerGuard {
  ~LoggerGuard() {
    Logger& l = Logger::instance();
    l.setSink(nullptr);
    l.setLevel(LogLevel::Info);
    l.setQuiet(false);
    l.setProgressMode(Logger::ProgressMode::Auto);
    l.setProgramName("hwnas");
  }
};
}  // namespace

TEST(Log, LevelsQuietAndFormat) {
  LoggerGuard guard;
  Logger& l = Logger::instance();
  std::vector<std::string> lines;
  l.setSink([&](LogLevel, const std::string& line) { lines.push_back(line); });
  l.setProgramName("nas-test");
  logDebug("hidden");
  logInfo("trained ", 3, " steps");
  logWarn("careful");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "nas-test: trained 3 steps");
  EXPECT_EQ(lines[1], "nas-test: warning: careful");
  l.setLevel(LogLevel::Debug);
  logDebug("shown");
  EXPECT_EQ(lines.back(), "nas-test: debug: shown");
  l.setQuiet(true);
  lines.clear();
  logInfo("quiet drops info");
  logError("but not errors");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "nas-test: error: but not errors");
  EXPECT_EQ(parseLogLevel("warn"), LogLevel::Warn);
  EXPECT_THROW(parseLogLevel("loud"), InputError);
}

TEST(Log, ProgressSilentWhenQuietOrNotTty) {
  LoggerGuard guard;
  Logger& l = Logger::instance();
  l.setProgressMode(Logger::ProgressMode::Always);
  EXPECT_TRUE(l.progressEnabled());
  l.setQuiet(true);
  EXPECT_FALSE(l.progressEnabled());
  Progress p("train", 10);
  EXPECT_FALSE(p.active());
  p.advance(3);
  EXPECT_EQ(p.done(), 3);
  l.setQuiet(false);
  l.setProgressMode(Logger::ProgressMode::Never);
  EXPECT_FALSE(Progress("x", 1).active());
  l.setProgressMode(Logger::ProgressMode::Always);
  EXPECT_FALSE(Progress("x", 1, /*quiet=*/true).active());
  {
    Progress shown("x", 4, false);
    EXPECT_TRUE(shown.active());
    shown.update(2, "loss 0.5");
    EXPECT_EQ(shown.done(), 2);
    l.setProgressMode(Logger::ProgressMode::Never);
  }
}

TEST(Log, ProgressLineShowsCountsRateEtaAndStatus) {
  EXPECT_EQ(Progress::formatLine("train", 50, 200, 10.0, "loss 0.43", 10),
            "train [##........] 50/200 25% 5.0/s ETA 0:30 loss 0.43");
  EXPECT_EQ(Progress::formatLine("train", 200, 200, 3725.0, "", 4), "train [####] 200/200 100% 0.1/s in 1:02:05");
  EXPECT_EQ(Progress::formatLine("scan", 1500, 0, 2.0, ""), "scan 1500 750/s");
  EXPECT_EQ(Progress::formatLine("x", 0, 10, 0.0, ""), "x [....................] 0/10 0% 0.0/s ETA ?");
  EXPECT_EQ(Progress::formatDuration(59.6), "1:00");
  EXPECT_EQ(Progress::formatDuration(-1), "?");
}
