// Statement: one prepared SQLite statement, prepared once and reused. SqliteStore keeps one per
// query; `use()` guarantees the statement is reset and its bindings cleared after each use, even
// on an early return. Reactor thread only, like the Db it belongs to.
#pragma once

#include "shared/result.hpp"
#include "tracker/sqlite/db.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct sqlite3_stmt;

namespace gs::tracker {

// Bytes to bind as a BLOB rather than TEXT.
struct Blob {
    std::string_view bytes;
};

class Statement {
public:
    // Resets the statement and clears its bindings when it goes out of scope.
    class [[nodiscard]] Use {
    public:
        explicit Use(Statement& s) : s_(&s) {}
        Use(const Use&) = delete;
        Use& operator=(const Use&) = delete;
        ~Use() { s_->reset(); }

    private:
        Statement* s_;
    };

    Statement() = default;  // holds nothing until assigned a prepared statement
    static Result<Statement> prepare(Db& db, std::string_view sql);

    Statement(Statement&& other) noexcept;
    Statement& operator=(Statement&& other) noexcept;
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;
    ~Statement();

    bool is_prepared() const { return stmt_ != nullptr; }
    Use use() { return Use(*this); }

    // Parameters count from 1 (?1, ?2, ...). Binding is a programming step, not input
    // handling: a bad index or a failed bind aborts.
    void bind(int index, std::int64_t value);
    void bind(int index, int value) { bind(index, std::int64_t{value}); }
    void bind(int index, std::string_view text);
    void bind(int index, const std::string& text) { bind(index, std::string_view(text)); }
    void bind(int index, const char* text) { bind(index, std::string_view(text)); }
    void bind(int index, Blob blob);
    void bind(int index, std::nullopt_t);
    // Named parameters (":name", "@name", "$name").
    template <class T>
    void bind(std::string_view name, const T& value) {
        bind(parameter_index(name), value);
    }
    int parameter_index(std::string_view name) const;

    // Binds ?1, ?2, ... in order.
    template <class... Args>
    void bind_all(const Args&... args) {
        int index = 0;
        (bind(++index, args), ...);
    }

    // Advances one row: true when a row is ready, false when the statement is done. A UNIQUE or
    // PRIMARY KEY violation is Errc::AlreadyExists; any other failure is Errc::Internal. Error
    // messages carry SQLite's words for the log.
    Result<bool> step();
    // Steps to the end, for statements that return no rows (INSERT, UPDATE, DELETE).
    Status run();
    // Rows changed by the last INSERT, UPDATE or DELETE on this connection.
    int changes() const;
    std::int64_t last_insert_rowid() const;

    std::int64_t column_int(int column) const;
    std::string column_text(int column) const;
    std::string column_blob(int column) const;
    bool column_is_null(int column) const;

    void reset();
    std::string_view sql() const;

private:
    explicit Statement(sqlite3_stmt* stmt) : stmt_(stmt) {}
    void check_bind(int rc, int index) const;

    sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace gs::tracker
