#include "tracker/sqlite/db.hpp"

#include "tracker/sqlite/statement.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <utility>

namespace gs::tracker {
namespace {

// Runs a pragma that answers with one row and returns the answer as text.
Result<std::string> pragma_value(Db& db, std::string_view sql) {
    auto stmt = Statement::prepare(db, sql);
    if (!stmt) return stmt.error();
    auto row = stmt->step();
    if (!row) return row.error();
    if (!*row) return make_error(Errc::Internal, fmt::format("'{}' returned no row", sql));
    return stmt->column_text(0);
}

Status configure(Db& db) {
    // WAL lets readers (the sqlite3 shell, a backup) run beside the tracker. FULL syncs the
    // WAL at every commit, so an acknowledged write survives a power loss and not only a
    // killed process.
    if (sqlite3_extended_result_codes(db.handle(), 1) != SQLITE_OK ||
        sqlite3_busy_timeout(db.handle(), static_cast<int>(kBusyTimeout.count())) != SQLITE_OK) {
        return make_error(Errc::Internal, db.last_error());
    }
    auto mode = pragma_value(db, "PRAGMA journal_mode = WAL");
    if (!mode) return mode.error();
    if (*mode != "wal" && !(db.path() == ":memory:" && *mode == "memory")) {
        return make_error(Errc::Internal, fmt::format("cannot switch to WAL (got '{}')", *mode));
    }
    if (auto s = db.exec("PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;"); !s) return s;
    auto fk = pragma_value(db, "PRAGMA foreign_keys");
    if (!fk) return fk.error();
    if (*fk != "1") return make_error(Errc::Internal, "this SQLite cannot enforce foreign keys");
    return {};
}

}  // namespace

Result<Db> Db::open(const std::string& path) {
    sqlite3* raw = nullptr;
    int rc =
        sqlite3_open_v2(path.c_str(), &raw,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    Db db(raw, path);  // owns `raw` even when opening failed, so it is closed
    if (rc != SQLITE_OK) {
        std::string why = raw != nullptr ? db.last_error() : sqlite3_errstr(rc);
        return make_error(Errc::Io, fmt::format("cannot open database '{}': {}", path, why));
    }
    if (auto s = configure(db); !s) {
        return make_error(Errc::Io,
                          fmt::format("cannot set up database '{}': {}", path, s.error().message));
    }
    return db;
}

Db::Db(Db&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), path_(std::move(other.path_)) {}

Db& Db::operator=(Db&& other) noexcept {
    if (this != &other) {
        if (db_ != nullptr) sqlite3_close_v2(db_);
        db_ = std::exchange(other.db_, nullptr);
        path_ = std::move(other.path_);
    }
    return *this;
}

Db::~Db() {
    // close_v2 defers the close until every statement is finalized, so a stray statement
    // cannot keep the file half-closed.
    if (db_ != nullptr) sqlite3_close_v2(db_);
}

Status Db::exec(std::string_view sql) {
    std::string text(sql);  // sqlite3_exec wants a NUL-terminated string
    char* message = nullptr;
    int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
    if (rc == SQLITE_OK) return {};
    std::string why = message != nullptr ? message : sqlite3_errstr(rc);
    sqlite3_free(message);
    return make_error(Errc::Internal, std::move(why));
}

std::string Db::last_error() const {
    return db_ != nullptr ? sqlite3_errmsg(db_) : "no database connection";
}

}  // namespace gs::tracker
