#include "tracker/sqlite/db.hpp"
#include "tracker/sqlite/statement.hpp"
#include "tracker/sqlite/transaction.hpp"

#include "tests/unit/temp_dir.hpp"

#include <gtest/gtest.h>

namespace gs::tracker {
namespace {

class SqliteTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto opened = Db::open(dir_.file("t.db"));
        ASSERT_TRUE(opened.ok()) << opened.error().message;
        db_.emplace(std::move(opened).value());
        ASSERT_TRUE(db_->exec("CREATE TABLE t (k TEXT PRIMARY KEY, v BLOB)").ok());
    }

    std::int64_t count_rows() {
        auto q = Statement::prepare(*db_, "SELECT count(*) FROM t");
        EXPECT_TRUE(q.ok());
        auto row = q->step();
        EXPECT_TRUE(row.ok() && *row);
        return q->column_int(0);
    }

    Status insert(std::string_view key) {
        auto q = Statement::prepare(*db_, "INSERT INTO t (k, v) VALUES (?1, ?2)");
        if (!q) return q.error();
        q->bind_all(key, Blob{"x"});
        return q->run();
    }

    // Inserts `key` into the empty table inside a transaction that ends as `end` says: committed,
    // or dropped unfinished. Call it with ASSERT_NO_FATAL_FAILURE.
    enum class End { Commit, Drop };
    void insert_in_transaction(std::string_view key, End end) {
        auto tx = Transaction::begin(*db_);
        ASSERT_TRUE(tx.ok());
        ASSERT_TRUE(insert(key).ok());
        EXPECT_EQ(count_rows(), 1);
        if (end == End::Drop) return;
        ASSERT_TRUE(tx->commit().ok());
        EXPECT_FALSE(tx->is_open());
    }

    std::string pragma(const char* sql) {
        auto q = Statement::prepare(*db_, sql);
        EXPECT_TRUE(q.ok());
        auto row = q->step();
        EXPECT_TRUE(row.ok() && *row);
        return q->column_text(0);
    }

    test::TempDir dir_;
    std::optional<Db> db_;
};

TEST_F(SqliteTest, OpensInWalModeWithForeignKeysAndFullSync) {
    EXPECT_EQ(pragma("PRAGMA journal_mode"), "wal");
    EXPECT_EQ(pragma("PRAGMA foreign_keys"), "1");
    EXPECT_EQ(pragma("PRAGMA synchronous"), "2");  // FULL
    EXPECT_NE(pragma("PRAGMA busy_timeout"), "0");
}

TEST_F(SqliteTest, OpeningAFileInAMissingDirectoryNamesTheFile) {
    auto db = Db::open(dir_.file("missing/dir/t.db"));
    ASSERT_FALSE(db.ok());
    EXPECT_NE(db.error().message.find("missing/dir/t.db"), std::string::npos);
}

TEST_F(SqliteTest, TransactionRollsBackUnlessCommitted) {
    ASSERT_NO_FATAL_FAILURE(insert_in_transaction("a", End::Drop));
    EXPECT_EQ(count_rows(), 0);
}

TEST_F(SqliteTest, CommittedTransactionStays) {
    ASSERT_NO_FATAL_FAILURE(insert_in_transaction("a", End::Commit));
    EXPECT_EQ(count_rows(), 1);
}

TEST_F(SqliteTest, CommittedWriteIsVisibleToASecondConnection) {
    ASSERT_NO_FATAL_FAILURE(insert_in_transaction("a", End::Commit));
    auto other = Db::open(dir_.file("t.db"));
    ASSERT_TRUE(other.ok());
    auto q = Statement::prepare(*other, "SELECT k FROM t");
    ASSERT_TRUE(q.ok());
    auto row = q->step();
    ASSERT_TRUE(row.ok() && *row);
    EXPECT_EQ(q->column_text(0), "a");
}

TEST_F(SqliteTest, SecondWriterWaitsThenFailsWhileATransactionIsOpen) {
    auto tx = Transaction::begin(*db_);
    ASSERT_TRUE(tx.ok());
    auto other = Db::open(dir_.file("t.db"));
    ASSERT_TRUE(other.ok());
    ASSERT_TRUE(other->exec("PRAGMA busy_timeout = 10").ok());
    EXPECT_FALSE(Transaction::begin(*other).ok());
}

TEST_F(SqliteTest, UniqueViolationIsAlreadyExists) {
    ASSERT_TRUE(insert("a").ok());
    auto again = insert("a");
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code, Errc::AlreadyExists);
}

TEST_F(SqliteTest, StatementIsReusableAfterUse) {
    auto q = Statement::prepare(*db_, "INSERT INTO t (k, v) VALUES (:key, ?2)");
    ASSERT_TRUE(q.ok());
    for (const char* key : {"a", "b", "c"}) {
        auto use = q->use();
        q->bind(":key", key);
        q->bind(2, std::nullopt);
        ASSERT_TRUE(q->run().ok());
        EXPECT_EQ(q->changes(), 1);
    }
    EXPECT_EQ(count_rows(), 3);
}

TEST_F(SqliteTest, ResetAfterAnUnfinishedSelectLetsTheStatementRunAgain) {
    ASSERT_TRUE(insert("a").ok());
    ASSERT_TRUE(insert("b").ok());
    auto q = Statement::prepare(*db_, "SELECT k FROM t ORDER BY k");
    ASSERT_TRUE(q.ok());
    for (int round = 0; round < 2; ++round) {
        auto use = q->use();
        auto row = q->step();
        ASSERT_TRUE(row.ok() && *row);
        EXPECT_EQ(q->column_text(0), "a");  // starts over each time
    }
}

TEST_F(SqliteTest, BlobsKeepEveryByte) {
    std::string bytes("a\0b\xff", 4);
    auto ins = Statement::prepare(*db_, "INSERT INTO t (k, v) VALUES ('k', ?1)");
    ASSERT_TRUE(ins.ok());
    ins->bind(1, Blob{bytes});
    ASSERT_TRUE(ins->run().ok());
    auto sel = Statement::prepare(*db_, "SELECT v, typeof(v) FROM t");
    ASSERT_TRUE(sel.ok());
    ASSERT_TRUE(*sel->step());
    EXPECT_EQ(sel->column_blob(0), bytes);
    EXPECT_EQ(sel->column_text(1), "blob");
}

TEST_F(SqliteTest, PreparingTwoStatementsAtOnceIsRefused) {
    auto q = Statement::prepare(*db_, "SELECT 1; SELECT 2");
    ASSERT_FALSE(q.ok());
    auto ok = Statement::prepare(*db_, "SELECT 1;  ");
    EXPECT_TRUE(ok.ok());
}

TEST_F(SqliteTest, ForeignKeysAreEnforced) {
    ASSERT_TRUE(db_->exec("CREATE TABLE parent (id INTEGER PRIMARY KEY);"
                          "CREATE TABLE child (p INTEGER NOT NULL REFERENCES parent(id))")
                    .ok());
    EXPECT_FALSE(db_->exec("INSERT INTO child (p) VALUES (42)").ok());
}

}  // namespace
}  // namespace gs::tracker
