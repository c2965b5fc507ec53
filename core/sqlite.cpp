#include "core/sqlite.h"

#include <sqlite3.h>

#include <utility>

namespace hwnas {

namespace {

std::string describe(const std::string& path) { return path.empty() ? std::string("<db>") : path; }

bool isNotADatabase(int rc) { return (rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT; }

}  // namespace

// --- Database ---

Database::Database(const std::string& path) : Database(path, Options()) {}

Database::Database(const std::string& path, const Options& options) : path_(path) {
  int flags = options.readOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
  if (!options.readOnly && options.create) flags |= SQLITE_OPEN_CREATE;
  flags |= SQLITE_OPEN_NOMUTEX;  // one connection per thread; statements are not shared across threads
  int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    close();
    throw DbError("sqlite: cannot open '" + describe(path) + "': " + msg +
                      "; check that the directory exists and is writable",
                  2);
  }
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, options.busyTimeoutMs);
  // SQLite reads the header lazily: touch the schema now so a foreign file fails here, clearly.
  rc = sqlite3_exec(db_, "SELECT count(*) FROM sqlite_master", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = sqlite3_errmsg(db_);
    bool foreign = isNotADatabase(rc);
    close();
    if (foreign) {
      throw DbError("sqlite: '" + describe(path) + "' is not an SQLite database (" + msg +
                        "); give the path of a database made by hwnas, or a new file name",
                    2);
    }
    throw DbError("sqlite: cannot read '" + describe(path) + "': " + msg, 2);
  }
  if (options.wal && !options.readOnly && path != ":memory:" && !path.empty()) {
    std::string mode;
    Statement st(*this, "PRAGMA journal_mode=WAL");
    if (st.step()) mode = st.getText(0);
    if (mode != "wal") throw DbError("sqlite: '" + describe(path) + "': cannot switch to WAL mode (got '" + mode + "')");
  }
}

Database::~Database() { close(); }

Database::Database(Database&& other) noexcept : db_(other.db_), path_(std::move(other.path_)) { other.db_ = nullptr; }

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    close();
    db_ = other.db_;
    path_ = std::move(other.path_);
    other.db_ = nullptr;
  }
  return *this;
}

void Database::close() noexcept {
  if (db_) {
    sqlite3_close_v2(db_);  // defers the close if statements are still alive
    db_ = nullptr;
  }
}

DbError Database::error(const std::string& context, int exitCode) const {
  std::string msg = db_ ? sqlite3_errmsg(db_) : "no open connection";
  return DbError("sqlite: " + describe(path_) + ": " + context + ": " + msg, exitCode);
}

void Database::exec(const std::string& sql) {
  if (!db_) throw error("exec");
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    std::string shown = sql.size() > 200 ? sql.substr(0, 200) + "..." : sql;
    throw DbError("sqlite: " + describe(path_) + ": " + msg + " (in: " + shown + ")", isNotADatabase(rc) ? 2 : 1);
  }
}

Statement Database::prepare(const std::string& sql) { return Statement(*this, sql); }

int Database::userVersion() {
  Statement st(*this, "PRAGMA user_version");
  st.step();
  return st.getInt(0);
}

void Database::setUserVersion(int version) { exec("PRAGMA user_version = " + std::to_string(version)); }

std::string Database::journalMode() {
  Statement st(*this, "PRAGMA journal_mode");
  st.step();
  return st.getText(0);
}

void Database::setBusyTimeout(int ms) { sqlite3_busy_timeout(db_, ms); }

int64_t Database::lastInsertRowId() const { return sqlite3_last_insert_rowid(db_); }
int Database::changes() const { return sqlite3_changes(db_); }
bool Database::inTransaction() const { return db_ && sqlite3_get_autocommit(db_) == 0; }

bool Database::tableExists(const std::string& name) {
  Statement st(*this, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?");
  st.bind(1, name);
  return st.step();
}

// --- Statement ---

Statement::Statement(Database& db, const std::string& sql) : db_(&db), sql_(sql) {
  if (!db.handle()) throw db.error("prepare on a closed database");
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v2(db.handle(), sql.c_str(), int(sql.size()), &stmt_, &tail);
  if (rc != SQLITE_OK) {
    stmt_ = nullptr;
    throw db.error("cannot prepare '" + sql + "'", isNotADatabase(rc) ? 2 : 1);
  }
  if (!stmt_) throw DbError("sqlite: " + describe(db.path()) + ": empty statement '" + sql + "'");
}

Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement::Statement(Statement&& other) noexcept : db_(other.db_), stmt_(other.stmt_), sql_(std::move(other.sql_)) {
  other.stmt_ = nullptr;
}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    if (stmt_) sqlite3_finalize(stmt_);
    db_ = other.db_;
    stmt_ = other.stmt_;
    sql_ = std::move(other.sql_);
    other.stmt_ = nullptr;
  }
  return *this;
}

void Statement::check(int rc, const std::string& context) const {
  if (rc != SQLITE_OK) throw db_->error(context + " in '" + sql_ + "'", isNotADatabase(rc) ? 2 : 1);
}

int Statement::indexOf(const std::string& name) const {
  int idx = sqlite3_bind_parameter_index(stmt_, name.c_str());
  if (idx == 0) {
    throw DbError("sqlite: " + describe(db_->path()) + ": no parameter '" + name + "' in '" + sql_ + "'");
  }
  return idx;
}

Statement& Statement::bind(int index, int64_t value) {
  check(sqlite3_bind_int64(stmt_, index, value), "bind #" + std::to_string(index));
  return *this;
}
Statement& Statement::bind(int index, double value) {
  check(sqlite3_bind_double(stmt_, index, value), "bind #" + std::to_string(index));
  return *this;
}
Statement& Statement::bind(int index, const std::string& value) {
  check(sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
        "bind #" + std::to_string(index));
  return *this;
}
Statement& Statement::bind(int index, const char* value) {
  return value ? bind(index, std::string(value)) : bindNull(index);
}
Statement& Statement::bindBlob(int index, const void* data, size_t size) {
  // A zero-length blob is still a blob, not NULL: use zeroblob for it.
  int rc = size == 0 ? sqlite3_bind_zeroblob(stmt_, index, 0)
                     : sqlite3_bind_blob64(stmt_, index, data, size, SQLITE_TRANSIENT);
  check(rc, "bind #" + std::to_string(index));
  return *this;
}
Statement& Statement::bindNull(int index) {
  check(sqlite3_bind_null(stmt_, index), "bind #" + std::to_string(index));
  return *this;
}

bool Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  // The step failed; reset so the statement can be reused, and report the connection's error.
  DbError e = db_->error("step '" + sql_ + "'", isNotADatabase(rc) ? 2 : 1);
  sqlite3_reset(stmt_);
  throw e;
}

int Statement::run() {
  while (step()) {
  }
  int n = sqlite3_changes(db_->handle());
  sqlite3_reset(stmt_);
  return n;
}

void Statement::reset() { sqlite3_reset(stmt_); }
void Statement::clearBindings() { sqlite3_clear_bindings(stmt_); }

int Statement::columnCount() const { return sqlite3_column_count(stmt_); }

void Statement::checkColumn(int col) const {
  if (col < 0 || col >= columnCount()) {
    throw DbError("sqlite: " + describe(db_->path()) + ": column " + std::to_string(col) + " out of range in '" + sql_ + "'");
  }
}

std::string Statement::columnName(int col) const {
  checkColumn(col);
  return sqlite3_column_name(stmt_, col);
}
bool Statement::isNull(int col) const {
  checkColumn(col);
  return sqlite3_column_type(stmt_, col) == SQLITE_NULL;
}
int64_t Statement::getInt64(int col) const {
  checkColumn(col);
  return sqlite3_column_int64(stmt_, col);
}
double Statement::getDouble(int col) const {
  checkColumn(col);
  return sqlite3_column_double(stmt_, col);
}
std::string Statement::getText(int col) const {
  checkColumn(col);
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  return p ? std::string(reinterpret_cast<const char*>(p), size_t(n)) : std::string();
}
std::vector<uint8_t> Statement::getBlob(int col) const {
  checkColumn(col);
  const void* p = sqlite3_column_blob(stmt_, col);
  int n = sqlite3_column_bytes(stmt_, col);
  if (!p || n <= 0) return {};
  const uint8_t* b = static_cast<const uint8_t*>(p);
  return std::vector<uint8_t>(b, b + n);
}

// --- Transaction ---

Transaction::Transaction(Database& db) : db_(db) {
  db_.exec("BEGIN IMMEDIATE");
  active_ = true;
}

Transaction::~Transaction() {
  if (active_) {
    // Never throw from a destructor: a failed ROLLBACK leaves SQLite to roll back on close.
    sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
}

void Transaction::commit() {
  if (!active_) throw DbError("sqlite: " + db_.path() + ": commit of a transaction that is not active");
  db_.exec("COMMIT");
  active_ = false;
}

void Transaction::rollback() {
  if (!active_) return;
  active_ = false;
  db_.exec("ROLLBACK");
}

}  // namespace hwnas
