#include "nas/results_store.h"

#include <cmath>
#include <ctime>

namespace hwnas {

namespace {
const char* kSchema = R"SQL(
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY,
  config_hash TEXT NOT NULL,
  config_json TEXT NOT NULL,
  space_id TEXT NOT NULL,
  strategy TEXT NOT NULL,
  seed INTEGER NOT NULL,
  budget INTEGER NOT NULL,
  status TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS queries (
  run_id INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  step INTEGER NOT NULL,
  generation INTEGER NOT NULL,
  arch_hash TEXT NOT NULL,
  arch_json TEXT NOT NULL,
  counted INTEGER NOT NULL,
  queried INTEGER NOT NULL,
  accuracy REAL,
  violation REAL NOT NULL,
  feasible INTEGER NOT NULL,
  metrics_json TEXT NOT NULL,
  PRIMARY KEY (run_id, seq)
);
CREATE INDEX IF NOT EXISTS queries_by_hash ON queries (run_id, arch_hash);
CREATE TABLE IF NOT EXISTS steps (
  run_id INTEGER NOT NULL,
  step INTEGER NOT NULL,
  queries INTEGER NOT NULL,
  state_json TEXT NOT NULL,
  PRIMARY KEY (run_id, step)
);
)SQL";

const char* kStageSchema = R"SQL(
CREATE TABLE IF NOT EXISTS stages (
  name TEXT PRIMARY KEY,
  ord INTEGER NOT NULL,
  status TEXT NOT NULL,
  seconds REAL NOT NULL,
  peak_rss_bytes INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  output_json TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS predictor_samples (
  seq INTEGER PRIMARY KEY,
  arch_hash TEXT NOT NULL,
  arch_json TEXT NOT NULL,
  accuracy REAL NOT NULL,
  held_out INTEGER NOT NULL
);
)SQL";

// Adds a column to an existing table unless it is there (additive: the schema version stays).
void addColumnIfMissing(Database& db, const std::string& table, const std::string& column, const std::string& decl) {
  Statement s = db.prepare("SELECT count(*) FROM pragma_table_info('" + table + "') WHERE name = ?");
  s.bind(1, column);
  if (s.step() && s.getInt64(0) > 0) return;
  db.exec("ALTER TABLE " + table + " ADD COLUMN " + column + " " + decl);
}

std::string nowUtc() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}
}  // namespace

ResultsStore::ResultsStore(const std::string& path) : db_(path) {
  int v = db_.userVersion();
  if (v != 0 && v != kSchemaVersion)
    throw DbError(path + ": search.db schema version " + std::to_string(v) + ", this build reads version " +
                      std::to_string(kSchemaVersion),
                  2);
  if (v == 0) {
    Transaction t(db_);
    db_.exec(kSchema);
    db_.setUserVersion(kSchemaVersion);
    t.commit();
  }
  db_.exec(kStageSchema);
  addColumnIfMissing(db_, "queries", "phase", "TEXT NOT NULL DEFAULT ''");
  addColumnIfMissing(db_, "steps", "phase", "TEXT NOT NULL DEFAULT ''");
}

std::optional<StageRow> ResultsStore::stage(const std::string& name) {
  Statement s = db_.prepare("SELECT name, status, seconds, peak_rss_bytes, attempts, output_json FROM stages WHERE name = ?");
  s.bind(1, name);
  if (!s.step()) return std::nullopt;
  StageRow r;
  r.name = s.getText(0);
  r.status = s.getText(1);
  r.seconds = s.getDouble(2);
  r.peakRssBytes = s.getInt64(3);
  r.attempts = int(s.getInt64(4));
  r.output = parseJson(s.getText(5), db_.path());
  return r;
}

std::vector<StageRow> ResultsStore::stages() {
  std::vector<StageRow> out;
  Statement s = db_.prepare("SELECT name FROM stages ORDER BY ord");
  std::vector<std::string> names;
  while (s.step()) names.push_back(s.getText(0));
  for (const auto& n : names) out.push_back(*stage(n));
  return out;
}

void ResultsStore::putStage(const StageRow& r) {
  Transaction t(db_);
  Statement s = db_.prepare(
      "INSERT INTO stages (name, ord, status, seconds, peak_rss_bytes, attempts, output_json, updated_at) "
      "VALUES (?, (SELECT COALESCE(MAX(ord), 0) + 1 FROM stages), ?, ?, ?, ?, ?, ?) "
      "ON CONFLICT(name) DO UPDATE SET status = excluded.status, seconds = excluded.seconds, "
      "peak_rss_bytes = excluded.peak_rss_bytes, attempts = excluded.attempts, output_json = excluded.output_json, "
      "updated_at = excluded.updated_at");
  s.bind(1, r.name).bind(2, r.status).bind(3, r.seconds).bind(4, r.peakRssBytes).bind(5, int64_t(r.attempts));
  s.bind(6, r.output.dump()).bind(7, nowUtc());
  s.run();
  t.commit();
}

std::optional<RunInfo> ResultsStore::run() {
  Statement s = db_.prepare("SELECT config_hash, config_json, space_id, strategy, seed, budget, status FROM runs WHERE id = 1");
  if (!s.step()) return std::nullopt;
  RunInfo r;
  r.configHash = s.getText(0);
  r.config = parseJson(s.getText(1), db_.path());
  r.spaceId = s.getText(2);
  r.strategy = s.getText(3);
  r.seed = uint64_t(s.getInt64(4));
  r.budget = s.getInt64(5);
  r.status = s.getText(6);
  return r;
}

void ResultsStore::startRun(const RunInfo& info) {
  Transaction t(db_);
  db_.exec("DELETE FROM runs; DELETE FROM queries; DELETE FROM steps; DELETE FROM stages; DELETE FROM predictor_samples;");
  Statement s = db_.prepare(
      "INSERT INTO runs (id, config_hash, config_json, space_id, strategy, seed, budget, status, created_at) "
      "VALUES (1, ?, ?, ?, ?, ?, ?, 'running', ?)");
  s.bind(1, info.configHash).bind(2, canonicalDump(info.config)).bind(3, info.spaceId).bind(4, info.strategy);
  s.bind(5, int64_t(info.seed)).bind(6, info.budget).bind(7, nowUtc());
  s.run();
  t.commit();
}

void ResultsStore::setStatus(const std::string& status) {
  Transaction t(db_);
  Statement s = db_.prepare("UPDATE runs SET status = ? WHERE id = 1");
  s.bind(1, status).run();
  t.commit();
}

void ResultsStore::commitStep(int64_t step, int64_t queries, const std::vector<QueryRow>& rows, const Json& state,
                              const std::string& phase) {
  Transaction t(db_);
  Statement ins = db_.prepare(
      "INSERT INTO queries (run_id, seq, step, generation, arch_hash, arch_json, counted, queried, accuracy, violation, "
      "feasible, metrics_json, phase) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  for (const auto& r : rows) {
    ins.reset();
    ins.bind(1, r.seq).bind(2, r.step).bind(3, r.generation).bind(4, r.hash).bind(5, r.arch.canonical());
    ins.bind(6, int64_t(r.counted)).bind(7, int64_t(r.queried));
    if (r.queried)
      ins.bind(8, r.accuracy);
    else
      ins.bindNull(8);
    ins.bind(9, r.violation).bind(10, int64_t(r.violation <= 0.0)).bind(11, r.metrics.dump()).bind(12, r.phase);
    ins.run();
  }
  Statement st = db_.prepare("INSERT INTO steps (run_id, step, queries, state_json, phase) VALUES (1, ?, ?, ?, ?)");
  st.bind(1, step).bind(2, queries).bind(3, state.dump()).bind(4, phase);
  st.run();
  t.commit();
}

StepInfo ResultsStore::lastStep() {
  StepInfo info;
  Statement s = db_.prepare("SELECT step, queries, state_json FROM steps WHERE run_id = 1 ORDER BY step DESC LIMIT 1");
  if (!s.step()) return info;
  info.step = s.getInt64(0);
  info.queries = s.getInt64(1);
  info.state = parseJson(s.getText(2), db_.path());
  return info;
}

StepInfo ResultsStore::lastStep(const std::string& phase) {
  StepInfo info;
  Statement s =
      db_.prepare("SELECT step, queries, state_json FROM steps WHERE run_id = 1 AND phase = ? ORDER BY step DESC LIMIT 1");
  s.bind(1, phase);
  if (!s.step()) return info;
  info.step = s.getInt64(0);
  info.queries = s.getInt64(1);
  info.state = parseJson(s.getText(2), db_.path());
  return info;
}

int64_t ResultsStore::nextSeq() {
  Statement s = db_.prepare("SELECT COALESCE(MAX(seq) + 1, 0) FROM queries WHERE run_id = 1");
  s.step();
  return s.getInt64(0);
}

std::vector<QueryRow> ResultsStore::queries() { return readQueries(nullptr); }
std::vector<QueryRow> ResultsStore::queries(const std::string& phase) { return readQueries(&phase); }

std::vector<QueryRow> ResultsStore::readQueries(const std::string* phase) {
  std::vector<QueryRow> out;
  Statement s = db_.prepare(
      "SELECT seq, step, generation, arch_hash, arch_json, counted, queried, accuracy, violation, metrics_json, phase "
      "FROM queries WHERE run_id = 1" + std::string(phase ? " AND phase = ?" : "") + " ORDER BY seq");
  if (phase) s.bind(1, *phase);
  while (s.step()) {
    QueryRow r;
    r.seq = s.getInt64(0);
    r.step = s.getInt64(1);
    r.generation = s.getInt64(2);
    r.hash = s.getText(3);
    r.arch = ArchConfig::parse(s.getText(4), db_.path());
    r.counted = s.getInt64(5) != 0;
    r.queried = s.getInt64(6) != 0;
    r.accuracy = s.isNull(7) ? 0.0 : s.getDouble(7);
    r.violation = s.getDouble(8);
    r.metrics = parseJson(s.getText(9), db_.path());
    r.phase = s.getText(10);
    out.push_back(std::move(r));
  }
  return out;
}

void ResultsStore::addPredictorSamples(const std::vector<PredictorSample>& samples) {
  Transaction t(db_);
  Statement ins =
      db_.prepare("INSERT INTO predictor_samples (seq, arch_hash, arch_json, accuracy, held_out) VALUES (?, ?, ?, ?, ?)");
  for (const auto& p : samples) {
    ins.reset();
    ins.bind(1, p.seq).bind(2, p.hash).bind(3, p.arch.canonical()).bind(4, p.accuracy).bind(5, int64_t(p.heldOut));
    ins.run();
  }
  t.commit();
}

std::vector<PredictorSample> ResultsStore::predictorSamples() {
  std::vector<PredictorSample> out;
  Statement s = db_.prepare("SELECT seq, arch_hash, arch_json, accuracy, held_out FROM predictor_samples ORDER BY seq");
  while (s.step()) {
    PredictorSample p;
    p.seq = s.getInt64(0);
    p.hash = s.getText(1);
    p.arch = ArchConfig::parse(s.getText(2), db_.path());
    p.accuracy = s.getDouble(3);
    p.heldOut = s.getInt64(4) != 0;
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace hwnas
