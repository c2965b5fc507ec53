#include "latency_luts/latency_store.h"

#include <algorithm>
#include <chrono>
#include <ctime>

#include "core/error.h"
#include "core/fs_util.h"

namespace hwnas {

const char* const kLatencyToolVersion = "hwnas-lut 0.1.0";

namespace {

const char* const kFormat = "hwnas-latency";

// Schema version 1 (docs/latency.md describes every column).
const char* const kSchemaV1 = R"SQL(
CREATE TABLE IF NOT EXISTS meta(
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS devices(
  name TEXT PRIMARY KEY,
  kind TEXT NOT NULL CHECK(kind IN ('cpu','gpu','fpga','mobile','asic')),
  description TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS measurements(
  id INTEGER PRIMARY KEY,
  device TEXT NOT NULL REFERENCES devices(name),
  level TEXT NOT NULL CHECK(level IN ('op','block','arch')),
  key TEXT NOT NULL,
  space_id TEXT NOT NULL DEFAULT '',
  arch_hash TEXT NOT NULL DEFAULT '',
  dtype TEXT NOT NULL,
  threads INTEGER NOT NULL CHECK(threads >= 1),
  batch INTEGER NOT NULL CHECK(batch >= 1),
  latency_ms REAL NOT NULL CHECK(latency_ms >= 0),
  min_ms REAL, median_ms REAL, p90_ms REAL, mean_ms REAL, std_ms REAL,
  energy_mj REAL,
  macs INTEGER,
  bytes INTEGER,
  repeats INTEGER NOT NULL DEFAULT 0,
  source TEXT NOT NULL CHECK(source IN ('profiled','imported','model')),
  origin TEXT NOT NULL DEFAULT '',
  tool_version TEXT NOT NULL,
  created_at TEXT NOT NULL,
  UNIQUE(device, level, key, dtype, threads, batch));
CREATE INDEX IF NOT EXISTS measurements_arch ON measurements(device, space_id, arch_hash);
CREATE TABLE IF NOT EXISTS calibration(
  device TEXT NOT NULL REFERENCES devices(name),
  dtype TEXT NOT NULL,
  threads INTEGER NOT NULL,
  batch INTEGER NOT NULL,
  overhead_ms REAL NOT NULL,
  ms_per_mflop REAL NOT NULL,
  networks INTEGER NOT NULL,
  probe_ms REAL,
  origin TEXT NOT NULL DEFAULT '',
  tool_version TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY(device, dtype, threads, batch));
)SQL";

const char* const kColumns =
    "device, level, key, space_id, arch_hash, dtype, threads, batch, latency_ms, min_ms, median_ms, p90_ms, "
    "mean_ms, std_ms, energy_mj, repeats, source, origin, tool_version, created_at, macs, bytes";

void bindOpt(Statement& st, int i, const std::optional<double>& v) {
  if (v)
    st.bind(i, *v);
  else
    st.bindNull(i);
}

std::optional<double> optCol(const Statement& st, int c) {
  if (st.isNull(c)) return std::nullopt;
  return st.getDouble(c);
}

Measurement rowOf(const Statement& st) {
  Measurement m;
  m.device = st.getText(0);
  m.level = parseKeyLevel(st.getText(1));
  m.key = st.getText(2);
  m.spaceId = st.getText(3);
  m.archHash = st.getText(4);
  m.dtype = st.getText(5);
  m.threads = st.getInt(6);
  m.batch = st.getInt(7);
  m.latencyMs = st.getDouble(8);
  m.minMs = optCol(st, 9);
  m.medianMs = optCol(st, 10);
  m.p90Ms = optCol(st, 11);
  m.meanMs = optCol(st, 12);
  m.stdMs = optCol(st, 13);
  m.energyMj = optCol(st, 14);
  m.repeats = st.getInt64(15);
  m.source = parseSource(st.getText(16));
  m.origin = st.getText(17);
  m.toolVersion = st.getText(18);
  m.createdAt = st.getText(19);
  if (!st.isNull(20)) m.macs = st.getInt64(20);
  if (!st.isNull(21)) m.bytes = st.getInt64(21);
  return m;
}

void bindRow(Statement& st, const Measurement& m) {
  st.bind(1, m.device).bind(2, keyLevelName(m.level)).bind(3, m.key).bind(4, m.spaceId).bind(5, m.archHash);
  st.bind(6, m.dtype).bind(7, m.threads).bind(8, m.batch).bind(9, m.latencyMs);
  bindOpt(st, 10, m.minMs);
  bindOpt(st, 11, m.medianMs);
  bindOpt(st, 12, m.p90Ms);
  bindOpt(st, 13, m.meanMs);
  bindOpt(st, 14, m.stdMs);
  bindOpt(st, 15, m.energyMj);
  st.bind(16, m.repeats).bind(17, sourceName(m.source)).bind(18, m.origin);
  st.bind(19, m.toolVersion.empty() ? std::string(kLatencyToolVersion) : m.toolVersion);
  st.bind(20, m.createdAt.empty() ? utcTimestamp() : m.createdAt);
  if (m.macs) st.bind(21, *m.macs); else st.bindNull(21);
  if (m.bytes) st.bind(22, *m.bytes); else st.bindNull(22);
}

Calibration calibrationOf(const Statement& st) {
  Calibration c;
  c.device = st.getText(0);
  c.dtype = st.getText(1);
  c.threads = st.getInt(2);
  c.batch = st.getInt(3);
  c.overheadMs = st.getDouble(4);
  c.msPerMflop = st.getDouble(5);
  c.networks = st.getInt(6);
  c.origin = st.getText(7);
  c.toolVersion = st.getText(8);
  c.createdAt = st.getText(9);
  if (!st.isNull(10)) c.probeMs = st.getDouble(10);
  return c;
}

const char* const kCalColumns =
    "device, dtype, threads, batch, overhead_ms, ms_per_mflop, networks, origin, tool_version, created_at, probe_ms";

// A transaction unless one is already open on this connection (merge() calls the other writers).
class MaybeTx {
 public:
  explicit MaybeTx(Database& db) {
    if (!db.inTransaction()) tx_ = std::make_unique<Transaction>(db);
  }
  void commit() {
    if (tx_) tx_->commit();
  }

 private:
  std::unique_ptr<Transaction> tx_;
};

}  // namespace

const char* keyLevelName(KeyLevel level) {
  switch (level) {
    case KeyLevel::Op: return "op";
    case KeyLevel::Block: return "block";
    case KeyLevel::Arch: return "arch";
  }
  return "?";
}

KeyLevel parseKeyLevel(const std::string& name) {
  if (name == "op") return KeyLevel::Op;
  if (name == "block") return KeyLevel::Block;
  if (name == "arch") return KeyLevel::Arch;
  throw InputError("unknown key level '" + name + "'; use op, block or arch");
}

const char* sourceName(Source s) {
  switch (s) {
    case Source::Profiled: return "profiled";
    case Source::Imported: return "imported";
    case Source::Model: return "model";
  }
  return "?";
}

Source parseSource(const std::string& name) {
  if (name == "profiled") return Source::Profiled;
  if (name == "imported") return Source::Imported;
  if (name == "model") return Source::Model;
  throw InputError("unknown measurement source '" + name + "'; use profiled, imported or model");
}

bool isDeviceKind(const std::string& kind) {
  return kind == "cpu" || kind == "gpu" || kind == "fpga" || kind == "mobile" || kind == "asic";
}

std::string archKey(const std::string& spaceId, const std::string& archHash) { return spaceId + ":" + archHash; }

std::string utcTimestamp() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

LatencyStore::LatencyStore(const std::string& path, bool readOnly) : path_(path) {
  const bool memory = path == ":memory:";
  if (readOnly && !memory && !fileExists(path))
    throw IoError("latency table '" + path + "' does not exist; create it with `nas-lut profile` or `nas-lut import`");
  // First look without writing anything (no WAL switch, no creation), so a foreign file or a
  // newer schema is refused with the file untouched.
  const bool existed = !memory && fileExists(path);
  if (existed) {
    Database::Options o;
    o.readOnly = true;
    o.wal = false;
    Database probe(path, o);
    const int v = probe.userVersion();
    if (v > kLatencySchemaVersion)
      throw DbError("latency table '" + path + "' has schema version " + std::to_string(v) +
                        ", newer than this build understands (" + std::to_string(kLatencySchemaVersion) +
                        "); use a newer hwnas",
                    2);
    const bool hasMeta = probe.tableExists("meta");
    int tables = 0;
    {
      Statement st = probe.prepare("SELECT count(*) FROM sqlite_master");
      st.step();
      tables = st.getInt(0);
    }
    if ((v == 0 && tables > 0) || (v > 0 && !hasMeta))
      throw DbError("'" + path + "' is an SQLite database but not an hwnas latency table; give another file name", 2);
    if (hasMeta) {
      Statement st = probe.prepare("SELECT value FROM meta WHERE key = 'format'");
      if (!st.step() || st.getText(0) != kFormat)
        throw DbError("'" + path + "' is an SQLite database but not an hwnas latency table (meta.format is not '" +
                          std::string(kFormat) + "'); give another file name",
                      2);
    }
  }
  Database::Options o;
  o.readOnly = readOnly;
  o.wal = !readOnly;
  db_ = std::make_unique<Database>(path, o);
  createOrCheck(readOnly);
}

LatencyStore::LatencyStore(LatencyStore&&) noexcept = default;
LatencyStore& LatencyStore::operator=(LatencyStore&&) noexcept = default;
LatencyStore::~LatencyStore() = default;

void LatencyStore::createOrCheck(bool readOnly) {
  if (readOnly) return;  // checked above without writing
  db_->exec("PRAGMA foreign_keys = ON");
  if (db_->userVersion() == kLatencySchemaVersion) return;
  Transaction tx(*db_);
  const int v = db_->userVersion();  // another process may have created it meanwhile
  if (v == 0) {
    db_->exec(kSchemaV1);
    db_->exec(std::string("INSERT OR IGNORE INTO meta(key, value) VALUES ('format', '") + kFormat + "')");
    db_->prepare("INSERT OR IGNORE INTO meta(key, value) VALUES ('created_by', ?)").bind(1, kLatencyToolVersion).run();
    db_->setUserVersion(kLatencySchemaVersion);
  }
  tx.commit();
}

void LatencyStore::addDevice(const DeviceInfo& d) {
  if (d.name.empty()) throw InputError("a device needs a name");
  if (!isDeviceKind(d.kind))
    throw InputError("device '" + d.name + "': unknown kind '" + d.kind + "'; use cpu, gpu, fpga, mobile or asic");
  MaybeTx tx(*db_);
  auto existing = device(d.name);
  if (existing && existing->kind != d.kind)
    throw InputError("device '" + d.name + "' is already in " + path_ + " as kind '" + existing->kind +
                     "', not '" + d.kind + "'");
  if (existing) {
    if (!d.description.empty())
      db_->prepare("UPDATE devices SET description = ? WHERE name = ?").bind(1, d.description).bind(2, d.name).run();
  } else {
    db_->prepare("INSERT INTO devices(name, kind, description) VALUES (?, ?, ?)")
        .bind(1, d.name)
        .bind(2, d.kind)
        .bind(3, d.description)
        .run();
  }
  tx.commit();
}

std::optional<DeviceInfo> LatencyStore::device(const std::string& name) {
  Statement st = db_->prepare("SELECT name, kind, description FROM devices WHERE name = ?");
  st.bind(1, name);
  if (!st.step()) return std::nullopt;
  return DeviceInfo{st.getText(0), st.getText(1), st.getText(2)};
}

std::vector<DeviceInfo> LatencyStore::devices() {
  std::vector<DeviceInfo> out;
  Statement st = db_->prepare("SELECT name, kind, description FROM devices ORDER BY name");
  while (st.step()) out.push_back({st.getText(0), st.getText(1), st.getText(2)});
  return out;
}

DeviceInfo LatencyStore::requireDevice(const std::string& name) {
  if (auto d = device(name)) return *d;
  std::string have;
  for (const auto& d : devices()) have += (have.empty() ? "" : ", ") + d.name;
  throw InputError("unknown device '" + name + "' in " + path_ + "; the latency table has: " +
                   (have.empty() ? std::string("no devices yet") : have));
}

void LatencyStore::put(const std::vector<Measurement>& rows) {
  MaybeTx tx(*db_);
  Statement st = db_->prepare(std::string("INSERT OR REPLACE INTO measurements(") + kColumns +
                              ") VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22)");
  std::map<std::string, bool> known;
  for (const Measurement& m : rows) {
    auto it = known.find(m.device);
    if (it == known.end()) it = known.emplace(m.device, bool(device(m.device))).first;
    if (!it->second) requireDevice(m.device);
    if (m.key.empty()) throw InputError("a measurement on device '" + m.device + "' has an empty key");
    if (!(m.latencyMs >= 0))
      throw InputError("measurement '" + m.key + "' on '" + m.device + "': latency must be >= 0");
    st.reset();
    st.clearBindings();
    bindRow(st, m);
    st.run();
  }
  tx.commit();
}

std::optional<Measurement> LatencyStore::get(const std::string& device, KeyLevel level, const std::string& key,
                                             const std::string& dtype, int threads, int batch) {
  Statement st = db_->prepare(std::string("SELECT ") + kColumns +
                              " FROM measurements WHERE device = ? AND level = ? AND key = ? AND dtype = ? AND "
                              "threads = ? AND batch = ?");
  st.bind(1, device).bind(2, keyLevelName(level)).bind(3, key).bind(4, dtype).bind(5, threads).bind(6, batch);
  if (!st.step()) return std::nullopt;
  return rowOf(st);
}

std::vector<Measurement> LatencyStore::query(const MeasurementFilter& f) {
  std::string sql = std::string("SELECT ") + kColumns + " FROM measurements WHERE 1";
  if (!f.device.empty()) sql += " AND device = :device";
  if (f.level) sql += " AND level = :level";
  if (!f.dtype.empty()) sql += " AND dtype = :dtype";
  if (f.threads > 0) sql += " AND threads = :threads";
  if (f.batch > 0) sql += " AND batch = :batch";
  sql += " ORDER BY device, level, key, dtype, threads, batch";
  Statement st = db_->prepare(sql);
  if (!f.device.empty()) st.bind(":device", f.device);
  if (f.level) st.bind(":level", std::string(keyLevelName(*f.level)));
  if (!f.dtype.empty()) st.bind(":dtype", f.dtype);
  if (f.threads > 0) st.bind(":threads", f.threads);
  if (f.batch > 0) st.bind(":batch", f.batch);
  std::vector<Measurement> out;
  while (st.step()) out.push_back(rowOf(st));
  return out;
}

std::map<std::string, Measurement> LatencyStore::table(const std::string& device, KeyLevel level,
                                                       const std::string& dtype, int threads, int batch) {
  MeasurementFilter f;
  f.device = device;
  f.level = level;
  f.dtype = dtype;
  f.threads = threads;
  f.batch = batch;
  std::map<std::string, Measurement> out;
  for (auto& m : query(f)) out.emplace(m.key, std::move(m));
  return out;
}

int64_t LatencyStore::count(const std::string& device, KeyLevel level) {
  Statement st = db_->prepare("SELECT count(*) FROM measurements WHERE device = ? AND level = ?");
  st.bind(1, device).bind(2, keyLevelName(level));
  st.step();
  return st.getInt64(0);
}

std::vector<std::string> LatencyStore::settings(const std::string& device) {
  Statement st = db_->prepare(
      "SELECT DISTINCT dtype, threads, batch FROM measurements WHERE device = ? ORDER BY dtype, threads, batch");
  st.bind(1, device);
  std::vector<std::string> out;
  while (st.step())
    out.push_back(st.getText(0) + "/t" + std::to_string(st.getInt(1)) + "/b" + std::to_string(st.getInt(2)));
  return out;
}

void LatencyStore::setCalibration(const Calibration& c) {
  MaybeTx tx(*db_);
  requireDevice(c.device);
  Statement st = db_->prepare(std::string("INSERT OR REPLACE INTO calibration(") + kCalColumns + ") VALUES (?,?,?,?,?,?,?,?,?,?,?)");
  st.bind(1, c.device)
      .bind(2, c.dtype)
      .bind(3, c.threads)
      .bind(4, c.batch)
      .bind(5, c.overheadMs)
      .bind(6, c.msPerMflop)
      .bind(7, c.networks)
      .bind(8, c.origin)
      .bind(9, c.toolVersion.empty() ? std::string(kLatencyToolVersion) : c.toolVersion)
      .bind(10, c.createdAt.empty() ? utcTimestamp() : c.createdAt);
  if (c.probeMs)
    st.bind(11, *c.probeMs);
  else
    st.bindNull(11);
  st.run();
  tx.commit();
}

std::optional<Calibration> LatencyStore::calibration(const std::string& device, const std::string& dtype, int threads,
                                                     int batch) {
  Statement st = db_->prepare(std::string("SELECT ") + kCalColumns +
                              " FROM calibration WHERE device = ? AND dtype = ? AND threads = ? AND batch = ?");
  st.bind(1, device).bind(2, dtype).bind(3, threads).bind(4, batch);
  if (!st.step()) return std::nullopt;
  return calibrationOf(st);
}

std::vector<Calibration> LatencyStore::calibrations() {
  Statement st =
      db_->prepare(std::string("SELECT ") + kCalColumns + " FROM calibration ORDER BY device, dtype, threads, batch");
  std::vector<Calibration> out;
  while (st.step()) out.push_back(calibrationOf(st));
  return out;
}

int64_t LatencyStore::merge(LatencyStore& other) {
  const auto devs = other.devices();
  const auto rows = other.query(MeasurementFilter());
  const auto cals = other.calibrations();
  Transaction tx(*db_);
  for (const auto& d : devs) addDevice(d);
  int64_t written = 0;
  Statement ins = db_->prepare(std::string("INSERT OR REPLACE INTO measurements(") + kColumns +
                               ") VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20,?21,?22)");
  for (const auto& m : rows) {
    auto mine = get(m.device, m.level, m.key, m.dtype, m.threads, m.batch);
    if (mine && mine->createdAt >= m.createdAt) continue;
    ins.reset();
    ins.clearBindings();
    bindRow(ins, m);
    ins.run();
    ++written;
  }
  for (const auto& c : cals) {
    auto mine = calibration(c.device, c.dtype, c.threads, c.batch);
    if (mine && mine->createdAt >= c.createdAt) continue;
    setCalibration(c);
  }
  tx.commit();
  return written;
}

}  // namespace hwnas
