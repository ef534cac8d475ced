#include "tracker/sqlite/statement.hpp"

#include <fmt/format.h>
#include <sqlite3.h>

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace gs::tracker {

Result<Statement> Statement::prepare(Db& db, std::string_view sql) {
    sqlite3_stmt* stmt = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v3(db.handle(), sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
    if (rc != SQLITE_OK) {
        return make_error(Errc::Internal,
                          fmt::format("cannot prepare '{}': {}", sql, db.last_error()));
    }
    Statement s(stmt);
    if (stmt == nullptr) {
        return make_error(Errc::Internal, fmt::format("no statement in '{}'", sql));
    }
    // One statement per object: trailing SQL would be silently ignored otherwise.
    std::string_view rest(tail, static_cast<std::size_t>(sql.data() + sql.size() - tail));
    if (rest.find_first_not_of(" \t\r\n;") != std::string_view::npos) {
        return make_error(Errc::Internal, fmt::format("more than one statement in '{}'", sql));
    }
    return s;
}

Statement::Statement(Statement&& other) noexcept : stmt_(std::exchange(other.stmt_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
    if (this != &other) {
        sqlite3_finalize(stmt_);
        stmt_ = std::exchange(other.stmt_, nullptr);
    }
    return *this;
}

Statement::~Statement() {
    sqlite3_finalize(stmt_);
}

void Statement::check_bind(int rc, int index) const {
    if (rc == SQLITE_OK) return;
    std::fprintf(stderr, "bug: cannot bind parameter %d of '%s': %s\n", index,
                 stmt_ != nullptr ? sqlite3_sql(stmt_) : "(no statement)", sqlite3_errstr(rc));
    std::abort();
}

void Statement::bind(int index, std::int64_t value) {
    assert(stmt_ != nullptr);
    check_bind(sqlite3_bind_int64(stmt_, index, value), index);
}

void Statement::bind(int index, std::string_view text) {
    assert(stmt_ != nullptr);
    check_bind(
        sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8),
        index);
}

void Statement::bind(int index, Blob blob) {
    assert(stmt_ != nullptr);
    // A zero-length blob with a null pointer would bind NULL; keep it an empty blob.
    const char* data = blob.bytes.data() != nullptr ? blob.bytes.data() : "";
    check_bind(sqlite3_bind_blob64(stmt_, index, data, blob.bytes.size(), SQLITE_TRANSIENT), index);
}

void Statement::bind(int index, std::nullopt_t) {
    assert(stmt_ != nullptr);
    check_bind(sqlite3_bind_null(stmt_, index), index);
}

int Statement::parameter_index(std::string_view name) const {
    assert(stmt_ != nullptr);
    std::string key(name);
    int index = sqlite3_bind_parameter_index(stmt_, key.c_str());
    if (index == 0) {
        std::fprintf(stderr, "bug: no parameter '%s' in '%s'\n", key.c_str(), sqlite3_sql(stmt_));
        std::abort();
    }
    return index;
}

Result<bool> Statement::step() {
    assert(stmt_ != nullptr);
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    sqlite3* db = sqlite3_db_handle(stmt_);
    std::string why = fmt::format("'{}': {}", sqlite3_sql(stmt_), sqlite3_errmsg(db));
    if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY) {
        return make_error(Errc::AlreadyExists, std::move(why));
    }
    return make_error(Errc::Internal, std::move(why));
}

Status Statement::run() {
    while (true) {
        auto r = step();
        if (!r) return r.error();
        if (!*r) return {};
    }
}

int Statement::changes() const {
    assert(stmt_ != nullptr);
    return sqlite3_changes(sqlite3_db_handle(stmt_));
}

std::int64_t Statement::last_insert_rowid() const {
    assert(stmt_ != nullptr);
    return sqlite3_last_insert_rowid(sqlite3_db_handle(stmt_));
}

std::int64_t Statement::column_int(int column) const {
    return sqlite3_column_int64(stmt_, column);
}

std::string Statement::column_text(int column) const {
    const auto* text = sqlite3_column_text(stmt_, column);
    int size = sqlite3_column_bytes(stmt_, column);  // after _text, as SQLite asks
    if (text == nullptr) return {};
    return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size));
}

std::string Statement::column_blob(int column) const {
    const void* data = sqlite3_column_blob(stmt_, column);
    int size = sqlite3_column_bytes(stmt_, column);
    if (data == nullptr) return {};
    return std::string(static_cast<const char*>(data), static_cast<std::size_t>(size));
}

bool Statement::column_is_null(int column) const {
    return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

void Statement::reset() {
    if (stmt_ == nullptr) return;
    // The return value repeats the last step's error, which the caller has already seen.
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

std::string_view Statement::sql() const {
    return stmt_ != nullptr ? std::string_view(sqlite3_sql(stmt_)) : std::string_view();
}

}  // namespace gs::tracker
