#include "tracker/migrate.hpp"

#include "tracker/sqlite/statement.hpp"
#include "tracker/sqlite_store.hpp"

#include "tests/unit/temp_dir.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

namespace gs::tracker {
namespace {

using ::testing::HasSubstr;

class MigrateTest : public ::testing::Test {
protected:
    Db open() {
        auto db = Db::open(dir_.file("tracker.db"));
        EXPECT_TRUE(db.ok()) << db.error().message;
        return std::move(db).value();
    }

    static std::set<std::string> tables(Db& db) {
        auto q = Statement::prepare(db, "SELECT name FROM sqlite_master WHERE type = 'table'");
        EXPECT_TRUE(q.ok());
        std::set<std::string> names;
        while (*q->step()) names.insert(q->column_text(0));
        return names;
    }

    static std::vector<std::pair<int, std::string>> recorded(Db& db) {
        auto q =
            Statement::prepare(db, "SELECT version, name FROM schema_version ORDER BY version");
        EXPECT_TRUE(q.ok());
        std::vector<std::pair<int, std::string>> rows;
        while (*q->step()) rows.emplace_back(static_cast<int>(q->column_int(0)), q->column_text(1));
        return rows;
    }

    // The error migrate() gives for `migrations` ("", with a failure recorded, when it succeeds).
    static std::string refusal(Db& db, const std::vector<Migration>& migrations) {
        auto r = migrate(db, migrations);
        EXPECT_FALSE(r.ok()) << "migrate() should have refused";
        return r.ok() ? "" : r.error().message;
    }

    static std::vector<Migration> first(std::size_t n) {
        const auto& all = embedded_migrations();
        return std::vector<Migration>(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n));
    }

    test::TempDir dir_;
};

TEST_F(MigrateTest, EmbeddedMigrationsAreNumberedFromOneWithoutGaps) {
    const auto& all = embedded_migrations();
    ASSERT_GE(all.size(), 2u);
    EXPECT_TRUE(check_numbering(all).ok());
    EXPECT_EQ(all[0].name, "0001_accounts_groups.sql");
    EXPECT_EQ(all[1].name, "0002_files.sql");
    for (const auto& m : all) EXPECT_FALSE(m.sql.empty()) << m.name;
}

TEST_F(MigrateTest, FreshDatabaseGetsEveryMigration) {
    Db db = open();
    EXPECT_EQ(*schema_version(db), 0);
    auto version = migrate(db);
    ASSERT_TRUE(version.ok()) << version.error().message;
    EXPECT_EQ(*version, static_cast<int>(embedded_migrations().size()));
    EXPECT_EQ(*schema_version(db), *version);
    auto names = tables(db);
    for (const char* t : {"schema_version", "users", "sessions", "groups", "memberships",
                          "join_requests", "files", "seeders"}) {
        EXPECT_TRUE(names.count(t)) << t;
    }
}

TEST_F(MigrateTest, RecordsEachVersionWithItsFileName) {
    Db db = open();
    ASSERT_TRUE(migrate(db).ok());
    auto rows = recorded(db);
    ASSERT_EQ(rows.size(), embedded_migrations().size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
        EXPECT_EQ(rows[i].first, static_cast<int>(i + 1));
        EXPECT_EQ(rows[i].second, embedded_migrations()[i].name);
    }
}

TEST_F(MigrateTest, RunningAgainChangesNothing) {
    Db db = open();
    ASSERT_TRUE(migrate(db).ok());
    auto again = migrate(db);
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_EQ(recorded(db).size(), embedded_migrations().size());
}

TEST_F(MigrateTest, EveryOlderVersionUpgradesInPlaceKeepingItsRows) {
    const std::size_t total = embedded_migrations().size();
    for (std::size_t start = 0; start < total; ++start) {
        SCOPED_TRACE("starting from version " + std::to_string(start));
        test::TempDir dir;
        auto opened = Db::open(dir.file("old.db"));
        ASSERT_TRUE(opened.ok());
        Db db = std::move(opened).value();
        ASSERT_TRUE(migrate(db, first(start)).ok());
        ASSERT_EQ(*schema_version(db), static_cast<int>(start));
        if (start >= 1) {
            ASSERT_TRUE(db.exec("INSERT INTO users (user_id, password_hash, created_at) "
                                "VALUES ('alice', '$argon2id$x', '2026-01-01T00:00:00Z')")
                            .ok());
        }
        auto version = migrate(db);
        ASSERT_TRUE(version.ok()) << version.error().message;
        EXPECT_EQ(*version, static_cast<int>(total));
        if (start >= 1) {
            auto q = Statement::prepare(db, "SELECT user_id FROM users");
            ASSERT_TRUE(q.ok());
            ASSERT_TRUE(*q->step());
            EXPECT_EQ(q->column_text(0), "alice");
        }
        EXPECT_EQ(recorded(db).size(), total);
    }
}

// Migrations numbered other than 1, 2, 3, ...: migrate() refuses them with an error that holds
// `words`, before it touches the database.
struct BadNumbering {
    std::string name;
    std::vector<Migration> migrations;
    std::vector<std::string> words;
};

class MigrateNumberingTest : public MigrateTest,
                             public ::testing::WithParamInterface<BadNumbering> {};

TEST_P(MigrateNumberingTest, IsRejectedBeforeTouchingTheDatabase) {
    Db db = open();
    const std::string why = refusal(db, GetParam().migrations);
    for (const std::string& word : GetParam().words) EXPECT_THAT(why, HasSubstr(word));
    EXPECT_TRUE(tables(db).empty());
}

INSTANTIATE_TEST_SUITE_P(Migrate, MigrateNumberingTest,
                         ::testing::Values(BadNumbering{"GapInNumbers",
                                                        {{1, "0001_a.sql", "CREATE TABLE a (x);"},
                                                         {3, "0003_c.sql", "CREATE TABLE c (x);"}},
                                                        {"gap", "0003_c.sql"}},
                                           BadNumbering{"MissingFirstNumberIsAGap",
                                                        {{2, "0002_b.sql", "CREATE TABLE b (x);"}},
                                                        {"0002_b.sql"}},
                                           BadNumbering{"DuplicateNumber",
                                                        {{1, "0001_a.sql", "CREATE TABLE a (x);"},
                                                         {1, "0001_b.sql", "CREATE TABLE b (x);"}},
                                                        {"duplicate", "0001_b.sql"}}),
                         [](const ::testing::TestParamInfo<BadNumbering>& p) {
                             return p.param.name;
                         });

TEST_F(MigrateTest, BrokenMigrationRollsBackAndNamesTheFile) {
    Db db = open();
    std::vector<Migration> broken = {
        {1, "0001_a.sql", "CREATE TABLE a (x);"},
        {2, "0002_broken.sql", "CREATE TABLE b (x); INSERT INTO b VALUES (1); CREATE TABL oops;"},
    };
    auto r = migrate(db, broken);
    ASSERT_FALSE(r.ok());
    EXPECT_THAT(r.error().message, HasSubstr("0002_broken.sql"));
    EXPECT_THAT(r.error().message, HasSubstr("syntax error"));
    EXPECT_EQ(*schema_version(db), 1);  // the good one stays applied
    auto names = tables(db);
    EXPECT_TRUE(names.count("a"));
    EXPECT_FALSE(names.count("b")) << "the broken migration's first statements were kept";

    // Once fixed, it applies on the next start.
    broken[1].sql = "CREATE TABLE b (x);";
    auto fixed = migrate(db, broken);
    ASSERT_TRUE(fixed.ok()) << fixed.error().message;
    EXPECT_EQ(*fixed, 2);
    EXPECT_TRUE(tables(db).count("b"));
}

TEST_F(MigrateTest, DatabaseNewerThanTheTrackerIsRefused) {
    Db db = open();
    ASSERT_TRUE(migrate(db).ok());
    EXPECT_THAT(refusal(db, first(1)), HasSubstr("newer tracker"));
}

TEST_F(MigrateTest, StoreOpenFailsNamingTheBrokenFile) {
    std::vector<Migration> broken = {{1, "0001_bad.sql", "CREATE TABLE ("}};
    auto store = SqliteStore::open(dir_.file("s.db"), broken);
    ASSERT_FALSE(store.ok());
    EXPECT_THAT(store.error().message, HasSubstr("0001_bad.sql"));
    EXPECT_THAT(store.error().message, HasSubstr("s.db"));
    EXPECT_THROW(SqliteStore(dir_.file("s.db"), broken), std::runtime_error);
}

}  // namespace
}  // namespace gs::tracker
