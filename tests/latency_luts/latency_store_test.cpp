// LatencyStore: schema and version, round trips of every column, replacement on the unique
// key, refusal of foreign/corrupt/newer files without touching them, two processes writing at
// once, merge.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "core/fs_util.h"
#include "core/sqlite.h"
#include "latency_luts/latency_store.h"

using namespace hwnas;

namespace {

Measurement opRow(const std::string& device, const std::string& key, double ms, int threads = 1) {
  Measurement m;
  m.device = device;
  m.level = KeyLevel::Op;
  m.key = key;
  m.threads = threads;
  m.latencyMs = ms;
  m.medianMs = ms;
  m.minMs = ms * 0.9;
  m.p90Ms = ms * 1.2;
  m.repeats = 20;
  m.macs = 1000;
  m.bytes = 4096;
  return m;
}

}  // namespace

TEST(LatencyStore, NewFileHasSchemaVersionAndWal) {
  TempDir dir;
  const std::string path = dir.file("lut.db");
  { LatencyStore s(path); }
  Database db(path);
  EXPECT_EQ(db.userVersion(), kLatencySchemaVersion);
  EXPECT_EQ(db.journalMode(), "wal");
  for (const char* t : {"meta", "devices", "measurements", "calibration"}) EXPECT_TRUE(db.tableExists(t)) << t;
  Statement st = db.prepare("SELECT value FROM meta WHERE key = 'format'");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.getText(0), "hwnas-latency");
}

TEST(LatencyStore, RoundTripsEveryColumnAndReplacesOnTheUniqueKey) {
  LatencyStore s(":memory:");
  s.addDevice({"host-cpu", "cpu", "this machine"});
  Measurement m = opRow("host-cpu", "conv2d:in=1x16x28x28:out=32:k=3:s=1:g=1:act=relu6:f32", 0.125);
  m.meanMs = 0.13;
  m.stdMs = 0.01;
  m.energyMj = 0.002;
  m.origin = "test";
  s.put(m);
  auto got = s.get("host-cpu", KeyLevel::Op, m.key, "f32", 1, 1);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->latencyMs, 0.125);
  EXPECT_EQ(*got->medianMs, 0.125);
  EXPECT_EQ(*got->minMs, 0.125 * 0.9);
  EXPECT_EQ(*got->p90Ms, 0.125 * 1.2);
  EXPECT_EQ(*got->meanMs, 0.13);
  EXPECT_EQ(*got->stdMs, 0.01);
  EXPECT_EQ(*got->energyMj, 0.002);
  EXPECT_EQ(*got->macs, 1000);
  EXPECT_EQ(*got->bytes, 4096);
  EXPECT_EQ(got->repeats, 20);
  EXPECT_EQ(got->source, Source::Profiled);
  EXPECT_EQ(got->toolVersion, kLatencyToolVersion);
  EXPECT_EQ(got->createdAt.size(), 20u);  // 2026-12-01T19:47:38Z
  EXPECT_EQ(got->origin, "test");

  // Same (device, level, key, dtype, threads, batch): replaced. Other threads: a second row.
  s.put(opRow("host-cpu", m.key, 0.25));
  s.put(opRow("host-cpu", m.key, 0.5, 2));
  EXPECT_EQ(s.get("host-cpu", KeyLevel::Op, m.key, "f32", 1, 1)->latencyMs, 0.25);
  EXPECT_EQ(s.get("host-cpu", KeyLevel::Op, m.key, "f32", 2, 1)->latencyMs, 0.5);
  EXPECT_EQ(s.count("host-cpu", KeyLevel::Op), 2);
  EXPECT_FALSE(s.get("host-cpu", KeyLevel::Op, m.key, "i8", 1, 1));
  EXPECT_EQ(s.settings("host-cpu"), (std::vector<std::string>{"f32/t1/b1", "f32/t2/b1"}));
  // Optional columns stay NULL.
  Measurement bare;
  bare.device = "host-cpu";
  bare.level = KeyLevel::Block;
  bare.key = "blk";
  bare.latencyMs = 1;
  bare.source = Source::Imported;
  s.put(bare);
  auto b = s.get("host-cpu", KeyLevel::Block, "blk", "f32", 1, 1);
  ASSERT_TRUE(b);
  EXPECT_FALSE(b->minMs || b->medianMs || b->energyMj || b->macs);
  EXPECT_EQ(b->source, Source::Imported);
}

TEST(LatencyStore, UnknownDeviceNamesTheDevicesItHas) {
  LatencyStore s(":memory:");
  s.addDevice({"pixel3", "mobile", ""});
  s.addDevice({"raspi4", "cpu", ""});
  try {
    s.put(opRow("pixel4", "k", 1));
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown device 'pixel4'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("pixel3, raspi4"), std::string::npos) << e.what();
    EXPECT_EQ(e.exitCode(), 2);
  }
  EXPECT_EQ(s.count("pixel3", KeyLevel::Op), 0);
  EXPECT_THROW(s.addDevice({"pixel3", "gpu", ""}), InputError);  // kind differs
  EXPECT_THROW(s.addDevice({"x", "toaster", ""}), InputError);
}

TEST(LatencyStore, RefusesForeignCorruptAndNewerFilesWithoutChangingThem) {
  TempDir dir;
  // Not SQLite at all.
  const std::string garbage = dir.file("garbage.db");
  writeFileAtomic(garbage, std::string(4096, 'x'));
  // Another program's SQLite database.
  const std::string foreign = dir.file("foreign.db");
  {
    Database::Options o;
    o.wal = false;
    Database db(foreign, o);
    db.exec("CREATE TABLE people(name TEXT)");
  }
  // A latency table from a newer hwnas.
  const std::string newer = dir.file("newer.db");
  {
    LatencyStore s(newer);
  }
  {
    Database db(newer);
    db.setUserVersion(kLatencySchemaVersion + 1);
  }
  for (const auto& path : {garbage, foreign, newer}) {
    const std::string before = readFile(path);
    try {
      LatencyStore s(path);
      FAIL() << path << " opened";
    } catch (const DbError& e) {
      EXPECT_EQ(e.exitCode(), 2) << e.what();
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    }
    EXPECT_THROW(LatencyStore(path, true), DbError);
    EXPECT_EQ(readFile(path), before) << path;
  }
  try {
    LatencyStore s(newer);
  } catch (const DbError& e) {
    EXPECT_NE(std::string(e.what()).find("newer"), std::string::npos) << e.what();
  }
  EXPECT_THROW(LatencyStore(dir.file("missing.db"), true), IoError);
  EXPECT_FALSE(fileExists(dir.file("missing.db")));
}

TEST(LatencyStore, TwoProcessesWritingAtOnceLoseNothing) {
  TempDir dir;
  const std::string path = dir.file("lut.db");
  {
    LatencyStore s(path);
    s.addDevice({"host-cpu", "cpu", ""});
  }
  constexpr int kRows = 150;
  pid_t kids[2];
  for (int k = 0; k < 2; ++k) {
    kids[k] = fork();
    ASSERT_GE(kids[k], 0);
    if (kids[k] == 0) {
      int code = 0;
      try {
        LatencyStore s(path);
        // Many small transactions so the two writers really interleave.
        for (int i = 0; i < kRows; ++i)
          s.put(opRow("host-cpu", "p" + std::to_string(k) + "-" + std::to_string(i), 0.001 * (i + 1)));
      } catch (...) {
        code = 3;
      }
      _exit(code);
    }
  }
  for (pid_t pid : kids) {
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
  }
  LatencyStore s(path, true);
  EXPECT_EQ(s.count("host-cpu", KeyLevel::Op), 2 * kRows);
  EXPECT_EQ(s.get("host-cpu", KeyLevel::Op, "p1-149", "f32", 1, 1)->latencyMs, 0.001 * 150);
}

TEST(LatencyStore, CalibrationAndMergeKeepTheNewerRow) {
  LatencyStore a(":memory:"), b(":memory:");
  a.addDevice({"host-cpu", "cpu", ""});
  b.addDevice({"host-cpu", "cpu", ""});
  b.addDevice({"pi4", "cpu", ""});
  Measurement old = opRow("host-cpu", "k1", 1.0);
  old.createdAt = "2026-01-01T00:00:00Z";
  Measurement fresh = opRow("host-cpu", "k1", 2.0);
  fresh.createdAt = "2026-06-01T00:00:00Z";
  a.put(fresh);
  b.put(old);                          // older than a's: not taken
  b.put(opRow("pi4", "k2", 3.0));      // new: taken
  Calibration c;
  c.device = "pi4";
  c.overheadMs = 0.05;
  c.msPerMflop = 0.01;
  c.networks = 7;
  c.probeMs = 0.3;
  b.setCalibration(c);
  EXPECT_EQ(a.merge(b), 1);
  EXPECT_EQ(a.get("host-cpu", KeyLevel::Op, "k1", "f32", 1, 1)->latencyMs, 2.0);
  EXPECT_EQ(a.get("pi4", KeyLevel::Op, "k2", "f32", 1, 1)->latencyMs, 3.0);
  auto got = a.calibration("pi4", "f32", 1, 1);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->overheadMs, 0.05);
  EXPECT_EQ(got->networks, 7);
  EXPECT_EQ(*got->probeMs, 0.3);
  EXPECT_FALSE(a.calibration("pi4", "f32", 2, 1));
}
