// The thin libpq wrapper PgStore runs on:
// - Rows owns one PGresult (text format) and reads its cells.
// - Conn owns one PGconn, opened from a libpq URI with the settings the tracker relies on
//   (connect timeout, TCP keepalives and user timeout, statement timeout), prepares each
//   statement once per connection, and passes every value as a parameter, never in the SQL.
// Synchronous: a Conn is used by one thread at a time. A lost connection fails the call at once
// (Errc::Io); the next call resets it (the same URI, so every host of a multi-host URI).
// Error messages carry PostgreSQL's words: they are for the log, not for users.
#pragma once

#include "shared/result.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

struct pg_conn;
struct pg_result;

namespace gs::tracker::pg {

// SQLSTATEs the store acts on.
inline constexpr std::string_view kUniqueViolation = "23505";
inline constexpr std::string_view kSerializationFailure = "40001";
inline constexpr std::string_view kDeadlockDetected = "40P01";

// How long one statement may run on the server before it is cancelled.
inline constexpr int kStatementTimeoutMs = 5000;

class Rows {
public:
    explicit Rows(pg_result* result);

    int size() const;
    bool empty() const { return size() == 0; }
    bool is_null(int row, int col) const;
    std::string text(int row, int col) const;
    std::int64_t integer(int row, int col) const;
    bool boolean(int row, int col) const;       // 't' / 'f'
    std::string bytes(int row, int col) const;  // a bytea column, decoded
    // How many rows an INSERT, UPDATE or DELETE changed.
    int affected() const;

private:
    struct Clear {
        void operator()(pg_result* r) const;
    };
    std::unique_ptr<pg_result, Clear> result_;
};

// One parameter, in text format, or binary for a bytea value.
struct Param {
    std::string value;
    bool binary = false;
};
struct Bytes {
    std::string_view data;
};
inline Param to_param(std::string_view v) {
    return Param{std::string(v)};
}
inline Param to_param(const std::string& v) {
    return Param{v};
}
inline Param to_param(const char* v) {
    return Param{v};
}
inline Param to_param(std::int64_t v) {
    return Param{std::to_string(v)};
}
inline Param to_param(int v) {
    return Param{std::to_string(v)};
}
inline Param to_param(bool v) {
    return Param{v ? "t" : "f"};
}
inline Param to_param(Bytes v) {
    return Param{std::string(v.data), true};
}

// The status of a call whose rows do not matter.
inline Status done(const Result<Rows>& r) {
    if (!r) return r.error();
    return {};
}

class Conn {
public:
    // Remembers the URI; connect() or the first query opens the connection.
    explicit Conn(std::string uri);
    Conn(Conn&&) noexcept;
    Conn& operator=(Conn&&) noexcept;
    Conn(const Conn&) = delete;
    Conn& operator=(const Conn&) = delete;
    ~Conn();

    // Opens the connection, or resets one that went bad; nothing when it is good.
    Status connect();
    // Whether the connection is open and good as far as libpq knows.
    bool good() const;

    // Runs `sql` (one statement, $1..$N) with `args`, prepared once per connection.
    template <class... Args>
    Result<Rows> query(std::string_view sql, const Args&... args) {
        std::vector<Param> params{to_param(args)...};
        return run_prepared(sql, params);
    }
    // Runs one or more ';'-separated statements without parameters (BEGIN, migrations).
    Status exec(std::string_view sql);

    // The SQLSTATE of the last failure ("" when there was none or the connection failed).
    const std::string& last_state() const { return last_state_; }

private:
    Result<Rows> run_prepared(std::string_view sql, const std::vector<Param>& params);
    Error failure(std::string_view what, pg_result* result);
    // Whether a good connection with no transaction open was closed by the server meanwhile (a
    // restart, an administrator): its socket has something to read, and reading it tells libpq.
    // Then it is marked broken, so the call about to go out resets it rather than fail on it
    // (the server had ended the session: nothing of that call was done). Inside a transaction
    // it is not looked at: a reset there would run the rest of the transaction outside it.
    bool dropped_while_idle();
    Status set_up_session();

    std::string uri_;
    pg_conn* conn_ = nullptr;
    std::unordered_map<std::string, std::string> prepared_;  // SQL -> statement name
    std::string last_state_;
    bool broken_ = false;  // a call found the connection lost: the next one resets it
};

// The URI with libpq options the tracker relies on added when it sets none of them:
// connect_timeout=3, TCP keepalives and tcp_user_timeout (so a vanished server fails a call in
// seconds). Keyword/value pairs for PQconnectdbParams; the URI itself comes first
// (expand_dbname), so whatever it says wins.
std::vector<std::pair<std::string, std::string>> connection_options(const std::string& uri);

}  // namespace gs::tracker::pg
