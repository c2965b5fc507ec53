// SQLite wrapper: binds and reads, transactions, user_version, foreign files, WAL writers.
#include "core/sqlite.h"

#include <gtest/gtest.h>

#include <thread>

#include "core/fs_util.h"

using namespace hwnas;

TEST(Sqlite, BindAndReadEveryType) {
  Database db(":memory:");
  db.exec("CREATE TABLE t (i INTEGER, d REAL, s TEXT, b BLOB, n TEXT)");
  Statement ins = db.prepare("INSERT INTO t VALUES (:i, :d, :s, :b, :n)");
  ins.bind(":i", int64_t(1) << 40).bind(":d", 2.5).bind(":s", std::string("héllo")).bindNull(":n");
  ins.bindBlob(":b", std::vector<uint8_t>{0, 1, 255});
  EXPECT_EQ(ins.run(), 1);
  EXPECT_EQ(db.lastInsertRowId(), 1);
  ins.reset();
  ins.clearBindings();
  ins.bind(1, 7).bind(2, 0.0).bind(3, "x").bindBlob(4, std::vector<uint8_t>{});
  ins.run();

  Statement q = db.prepare("SELECT i, d, s, b, n FROM t ORDER BY rowid");
  ASSERT_TRUE(q.step());
  EXPECT_EQ(q.columnCount(), 5);
  EXPECT_EQ(q.columnName(2), "s");
  EXPECT_EQ(q.getInt64(0), int64_t(1) << 40);
  EXPECT_DOUBLE_EQ(q.getDouble(1), 2.5);
  EXPECT_EQ(q.getText(2), "héllo");
  EXPECT_EQ(q.getBlob(3), (std::vector<uint8_t>{0, 1, 255}));
  EXPECT_TRUE(q.isNull(4));
  ASSERT_TRUE(q.step());
  EXPECT_EQ(q.getInt(0), 7);
  EXPECT_FALSE(q.isNull(3));  // an empty blob is not NULL
  EXPECT_TRUE(q.getBlob(3).empty());
  EXPECT_TRUE(q.isNull(4));
  EXPECT_FALSE(q.step());
  EXPECT_THROW(q.getInt(9), DbError);
  EXPECT_THROW(ins.indexOf(":nope"), DbError);
  EXPECT_TRUE(db.tableExists("t"));
  EXPECT_FALSE(db.tableExists("u"));
}

TEST(Sqlite, ErrorsNameTheDatabaseAndSql) {
  TempDir dir("hwnas-sqlite-");
  Database db(dir.file("x.db"));
  try {
    db.exec("CREATE TABLE t (a INTEGER PRIMARY KEY); INSERT INTO t VALUES (1); INSERT INTO t VALUES (1)");
    FAIL();
  } catch (const DbError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("x.db"), std::string::npos) << m;
    EXPECT_NE(m.find("UNIQUE"), std::string::npos) << m;
  }
  try {
    db.prepare("SELEKT 1");
    FAIL();
  } catch (const DbError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("x.db"), std::string::npos) << m;
    EXPECT_NE(m.find("SELEKT 1"), std::string::npos) << m;
  }
}

TEST(Sqlite, TransactionRollsBackOnException) {
  Database db(":memory:");
  db.exec("CREATE TABLE t (a INTEGER)");
  try {
    Transaction tx(db);
    db.exec("INSERT INTO t VALUES (1)");
    EXPECT_TRUE(db.inTransaction());
    throw std::runtime_error("boom");
  } catch (const std::runtime_error&) {
  }
  EXPECT_FALSE(db.inTransaction());
  Statement count = db.prepare("SELECT count(*) FROM t");
  ASSERT_TRUE(count.step());
  EXPECT_EQ(count.getInt(0), 0);
  {
    Transaction tx(db);
    db.exec("INSERT INTO t VALUES (2)");
    tx.commit();
    EXPECT_THROW(tx.commit(), DbError);
  }
  count.reset();
  ASSERT_TRUE(count.step());
  EXPECT_EQ(count.getInt(0), 1);
  {
    Transaction tx(db);
    db.exec("INSERT INTO t VALUES (3)");
    tx.rollback();
  }
  count.reset();
  ASSERT_TRUE(count.step());
  EXPECT_EQ(count.getInt(0), 1);
}

TEST(Sqlite, UserVersionRoundTripAndWal) {
  TempDir dir("hwnas-sqlite-");
  std::string path = dir.file("v.db");
  {
    Database db(path);
    EXPECT_EQ(db.userVersion(), 0);
    db.setUserVersion(3);
    EXPECT_EQ(db.userVersion(), 3);
    EXPECT_EQ(db.journalMode(), "wal");
  }
  Database again(path);
  EXPECT_EQ(again.userVersion(), 3);
  Database::Options ro;
  ro.readOnly = true;
  Database reader(path, ro);
  EXPECT_EQ(reader.userVersion(), 3);
  EXPECT_THROW(reader.exec("CREATE TABLE x (a)"), DbError);
}

TEST(Sqlite, NonSqliteFileFailsClearly) {
  TempDir dir("hwnas-sqlite-");
  std::string path = dir.file("notes.db");
  writeFileAtomic(path, std::string("this is a text file, not a database; ") + std::string(200, 'x'));
  try {
    Database db(path);
    FAIL() << "opened a text file as a database";
  } catch (const DbError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("'" + path + "' is not an SQLite database"), std::string::npos) << m;
    EXPECT_EQ(e.exitCode(), 2);
  }
  // The file is left untouched.
  EXPECT_EQ(readFile(path).substr(0, 9), "this is a");
  EXPECT_THROW(Database(dir.file("no/such/dir/x.db")), DbError);
}

TEST(Sqlite, TwoConnectionsWriteConcurrentlyInWal) {
  TempDir dir("hwnas-sqlite-");
  std::string path = dir.file("w.db");
  {
    Database db(path);
    db.exec("CREATE TABLE t (writer INTEGER, i INTEGER)");
  }
  const int kRows = 200;
  auto writer = [&](int id) {
    Database db(path);
    for (int i = 0; i < kRows; ++i) {
      Transaction tx(db);
      Statement st = db.prepare("INSERT INTO t VALUES (?, ?)");
      st.bind(1, id).bind(2, i).run();
      tx.commit();
    }
  };
  std::thread a(writer, 1), b(writer, 2);
  a.join();
  b.join();
  Database db(path);
  Statement q = db.prepare("SELECT writer, count(*), count(DISTINCT i) FROM t GROUP BY writer ORDER BY writer");
  for (int id = 1; id <= 2; ++id) {
    ASSERT_TRUE(q.step());
    EXPECT_EQ(q.getInt(0), id);
    EXPECT_EQ(q.getInt(1), kRows);
    EXPECT_EQ(q.getInt(2), kRows);
  }
  EXPECT_FALSE(q.step());
}
