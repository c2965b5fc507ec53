// Atomic writes, readFile errors and TempDir staging.
#include "core/fs_util.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/error.h"

using namespace hwnas;
namespace fs = std::filesystem;

static size_t countEntries(const std::string& dir) {
  size_t n = 0;
  for (auto& e : fs::directory_iterator(dir)) {
    (void)e;
    ++n;
  }
  return n;
}

TEST(FsUtil, AtomicWriteReplacesWholeFile) {
  TempDir dir("hwnas-fs-");
  std::string p = dir.file("a.txt");
  writeFileAtomic(p, "first");
  EXPECT_EQ(readFile(p), "first");
  writeFileAtomic(p, std::string("sec\0ond", 7));
  EXPECT_EQ(readFile(p), std::string("sec\0ond", 7));
  EXPECT_EQ(countEntries(dir.path()), 1u);  // no temp files left
}

TEST(FsUtil, FailedWriteLeavesNoPartialFile) {
  TempDir dir("hwnas-fs-");
  std::string p = dir.file("out.json");
  auto failing = [](std::ostream& os) {
    os << "{\"half\": ";
    throw std::runtime_error("writer failed");
  };
  EXPECT_THROW(writeFileAtomic(p, failing), std::runtime_error);
  EXPECT_FALSE(fileExists(p));
  EXPECT_EQ(countEntries(dir.path()), 0u);

  writeFileAtomic(p, "old");
  EXPECT_THROW(writeFileAtomic(p, failing), std::runtime_error);
  EXPECT_EQ(readFile(p), "old");  // the old content survives
  EXPECT_EQ(countEntries(dir.path()), 1u);

  // A target in a directory that does not exist: IoError, nothing created.
  EXPECT_THROW(writeFileAtomic(dir.file("missing/x.txt"), "x"), IoError);
}

TEST(FsUtil, ReadFileNamesTheFile) {
  try {
    readFile("/nonexistent/dir/data.bin");
    FAIL();
  } catch (const IoError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/data.bin"), std::string::npos);
    EXPECT_EQ(e.exitCode(), 2);
  }
  TempDir dir("hwnas-fs-");
  EXPECT_THROW(readFile(dir.path()), IoError);
}

TEST(FsUtil, TempDirCleansUpAndStagingCommits) {
  std::string kept;
  {
    TempDir t("hwnas-fs-");
    kept = t.path();
    writeFileAtomic(t.file("x"), "1");
    EXPECT_TRUE(fs::is_directory(kept));
  }
  EXPECT_FALSE(fs::exists(kept));

  TempDir root("hwnas-fs-");
  std::string out = root.file("run");
  {
    TempDir stage = TempDir::stagingFor(out);
    EXPECT_EQ(fs::path(stage.path()).parent_path(), fs::path(root.path()));
    writeFileAtomic(stage.file("metrics.json"), "{}");
    EXPECT_FALSE(fs::exists(out));  // nothing visible before commit
    stage.commit(out);
    EXPECT_TRUE(stage.path().empty());
  }
  EXPECT_EQ(readFile(out + "/metrics.json"), "{}");
  {
    TempDir stage = TempDir::stagingFor(out);
    writeFileAtomic(stage.file("metrics.json"), "{\"v\":2}");
    EXPECT_THROW(stage.commit(out), IoError);  // exists, no replace
    stage.commit(out, true);
  }
  EXPECT_EQ(readFile(out + "/metrics.json"), "{\"v\":2}");
  {
    TempDir abandoned = TempDir::stagingFor(out);  // e.g. a run that failed half way
    writeFileAtomic(abandoned.file("partial"), "x");
  }
  EXPECT_EQ(countEntries(root.path()), 1u);  // only "run": the staging dir is gone
  EXPECT_THROW(TempDir::stagingFor(root.file("no/such/out")), IoError);
}
