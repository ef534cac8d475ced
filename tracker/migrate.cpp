#include "tracker/migrate.hpp"

#include "shared/log.hpp"
#include "tracker/sqlite/statement.hpp"
#include "tracker/sqlite/transaction.hpp"
#include "tracker/store.hpp"

#include <fmt/format.h>

#include <chrono>
#include <set>

namespace gs::tracker {
namespace {

constexpr std::string_view kCreateSchemaVersion =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    " version INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " applied_at TEXT NOT NULL)";

Result<int> read_version(Db& db) {
    auto stmt = Statement::prepare(db, "SELECT coalesce(max(version), 0) FROM schema_version");
    if (!stmt) return stmt.error();
    auto row = stmt->step();
    if (!row) return row.error();
    return static_cast<int>(stmt->column_int(0));
}

Status apply(Db& db, const Migration& m) {
    auto tx = Transaction::begin(db);
    if (!tx) return tx.error();
    // Read again under the write lock: another process may have applied it meanwhile.
    auto current = read_version(db);
    if (!current) return current.error();
    if (*current >= m.version) return {};
    if (auto s = db.exec(m.sql); !s) return s;
    auto insert = Statement::prepare(
        db, "INSERT INTO schema_version (version, name, applied_at) VALUES (?1, ?2, ?3)");
    if (!insert) return insert.error();
    insert->bind_all(m.version, m.name, utc_text(std::chrono::system_clock::now()));
    if (auto s = insert->run(); !s) return s;
    return tx->commit();
}

}  // namespace

Status check_numbering(const std::vector<Migration>& migrations) {
    std::set<int> seen;
    int expected = 1;
    for (const auto& m : migrations) {
        if (!seen.insert(m.version).second) {
            return make_error(Errc::Internal, fmt::format("duplicate migration number {:04}: {}",
                                                          m.version, m.name));
        }
        if (m.version != expected) {
            return make_error(Errc::Internal,
                              fmt::format("gap in migration numbers: expected {:04} but found {}",
                                          expected, m.name));
        }
        ++expected;
    }
    return {};
}

Result<int> schema_version(Db& db) {
    auto exists = Statement::prepare(
        db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'");
    if (!exists) return exists.error();
    auto row = exists->step();
    if (!row) return row.error();
    if (!*row) return 0;
    return read_version(db);
}

Result<int> migrate(Db& db, const std::vector<Migration>& migrations) {
    if (auto s = check_numbering(migrations); !s) return s.error();
    if (auto s = db.exec(kCreateSchemaVersion); !s) {
        return make_error(Errc::Internal,
                          fmt::format("cannot create schema_version: {}", s.error().message));
    }
    auto current = read_version(db);
    if (!current) return current.error();
    return apply_pending(*current, migrations, fmt::format("database '{}'", db.path()),
                         [&](const Migration& m) { return apply(db, m); });
}

Result<int> apply_pending(int current, const std::vector<Migration>& migrations,
                          std::string_view database,
                          const std::function<Status(const Migration&)>& apply_one) {
    int known = static_cast<int>(migrations.size());
    if (current > known) {
        return make_error(Errc::Internal,
                          fmt::format("the database is at schema version {} but this tracker "
                                      "knows only up to {}; use a newer tracker",
                                      current, known));
    }
    for (const auto& m : migrations) {
        if (m.version <= current) continue;
        if (auto s = apply_one(m); !s) {
            return make_error(Errc::Internal,
                              fmt::format("migration {} failed: {}; the database stays at "
                                          "schema version {}",
                                          m.name, s.error().message, m.version - 1));
        }
        log::info("{}: applied migration {}", database, m.name);
    }
    return known;
}

}  // namespace gs::tracker
