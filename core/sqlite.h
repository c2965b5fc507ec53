// RAII wrapper over SQLite: Database (one connection: WAL, busy timeout, user_version),
// Statement (a prepared statement with typed binds and column reads) and Transaction (BEGIN
// IMMEDIATE; rolls back unless committed). Invariant: every failure is a DbError naming the file.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"

struct sqlite3;
struct sqlite3_stmt;

namespace hwnas {

class Statement;

class Database {
 public:
  struct Options {
    bool readOnly = false;
    bool create = true;        // create the file if missing (ignored when readOnly)
    bool wal = true;           // PRAGMA journal_mode=WAL (files only; ":memory:" has no WAL)
    int busyTimeoutMs = 10000;  // wait this long for another writer's lock before failing
  };

  // Opens (or creates) `path`, or ":memory:". A file that is not an SQLite database gives
  // DbError with exit code 2 ("... is not an SQLite database").
  explicit Database(const std::string& path);
  Database(const std::string& path, const Options& options);
  ~Database();
  Database(Database&& other) noexcept;
  Database& operator=(Database&& other) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  const std::string& path() const { return path_; }
  sqlite3* handle() const { return db_; }

  // Runs one or more statements without results.
  void exec(const std::string& sql);
  Statement prepare(const std::string& sql);

  // PRAGMA user_version: the schema version of the file (0 for a new file).
  int userVersion();
  void setUserVersion(int version);
  // "wal", "memory", "delete", ...
  std::string journalMode();
  void setBusyTimeout(int ms);

  int64_t lastInsertRowId() const;
  int changes() const;
  bool inTransaction() const;
  bool tableExists(const std::string& name);

  // A DbError "sqlite: <path>: <context>: <sqlite message>" for the connection's last error.
  DbError error(const std::string& context, int exitCode = 1) const;

 private:
  void close() noexcept;
  sqlite3* db_ = nullptr;
  std::string path_;
};

class Statement {
 public:
  Statement(Database& db, const std::string& sql);
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Binds by 1-based index (SQLite's convention) or by name (":name", "@name", "$name"; the
  // prefix must be included). Returns *this for chaining.
  Statement& bind(int index, int64_t value);
  Statement& bind(int index, int value) { return bind(index, int64_t(value)); }
  Statement& bind(int index, double value);
  Statement& bind(int index, const std::string& value);
  Statement& bind(int index, const char* value);
  Statement& bindBlob(int index, const void* data, size_t size);
  Statement& bindBlob(int index, const std::vector<uint8_t>& data) { return bindBlob(index, data.data(), data.size()); }
  Statement& bindNull(int index);
  template <class T>
  Statement& bind(const std::string& name, const T& value) {
    return bind(indexOf(name), value);
  }
  Statement& bindBlob(const std::string& name, const std::vector<uint8_t>& data) { return bindBlob(indexOf(name), data); }
  Statement& bindNull(const std::string& name) { return bindNull(indexOf(name)); }
  int indexOf(const std::string& name) const;  // DbError if the statement has no such parameter

  // Advances: true when a row is available, false when done.
  bool step();
  // Steps to completion (for INSERT/UPDATE/DDL); returns the number of rows changed.
  int run();
  // Ready to step again with the same bindings (clearBindings() to drop them).
  void reset();
  void clearBindings();

  int columnCount() const;
  std::string columnName(int col) const;
  bool isNull(int col) const;
  int64_t getInt64(int col) const;
  int getInt(int col) const { return int(getInt64(col)); }
  double getDouble(int col) const;
  std::string getText(int col) const;
  std::vector<uint8_t> getBlob(int col) const;

  const std::string& sql() const { return sql_; }

 private:
  void check(int rc, const std::string& context) const;
  void checkColumn(int col) const;
  Database* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

// BEGIN IMMEDIATE on construction (takes the write lock up front, so two writers queue on the
// busy timeout instead of deadlocking); ROLLBACK on destruction unless commit() ran.
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();
  void rollback();
  bool active() const { return active_; }

 private:
  Database& db_;
  bool active_ = false;
};

}  // namespace hwnas
