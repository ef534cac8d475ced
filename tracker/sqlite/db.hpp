// Db: owns one sqlite3 connection, opened with the settings the tracker relies on (WAL,
// foreign keys, busy timeout, synchronous=FULL). Used by SqliteStore and migrate() on the
// reactor thread only; the connection is opened without SQLite's own mutex.
#pragma once

#include "shared/result.hpp"

#include <chrono>
#include <string>
#include <string_view>

struct sqlite3;

namespace gs::tracker {

inline constexpr std::chrono::milliseconds kBusyTimeout{5000};

class Db {
public:
    // Opens (creating if missing) the database file at `path`. ":memory:" gives a private
    // in-memory database (its journal mode stays "memory"). Errors name the file and say why.
    static Result<Db> open(const std::string& path);

    Db(Db&& other) noexcept;
    Db& operator=(Db&& other) noexcept;
    Db(const Db&) = delete;
    Db& operator=(const Db&) = delete;
    ~Db();

    sqlite3* handle() const { return db_; }
    const std::string& path() const { return path_; }

    // Runs one or more ';'-separated statements that take no parameters (pragmas, schema
    // changes). Errors carry SQLite's message; they are for the log, not for users.
    Status exec(std::string_view sql);

    // SQLite's message for the last failure on this connection.
    std::string last_error() const;

private:
    Db(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}

    sqlite3* db_ = nullptr;
    std::string path_;
};

}  // namespace gs::tracker
