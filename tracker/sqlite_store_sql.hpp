// SqliteStore's prepared statements and the helpers its .cpp files share. Private to
// tracker/sqlite_store*.cpp.
#pragma once

#include "tracker/sqlite/statement.hpp"
#include "tracker/sqlite/transaction.hpp"
#include "tracker/sqlite_store.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace gs::tracker {

struct SqliteStore::Statements {
    // Accounts and sessions
    Statement insert_user, user_exists, credentials;
    Statement insert_session, session_user, renew_session, delete_session, delete_expired_sessions;
    // Groups and requests
    Statement insert_group, find_group, insert_membership, is_member, list_members, list_groups;
    Statement has_request, insert_request, list_requests, find_request, delete_request;
    Statement delete_membership, earliest_member, set_owner, delete_group;
    Statement bump_epoch, user_pk_of, count_groups_owned, count_pending_requests;
    // Files and seeders
    Statement insert_file, insert_seeder, file_by_name, file_by_hash, file_pk_by_hash, list_files,
        seeders_of;
    Statement delete_user_seeders_of_file, delete_user_seeders_in_group;
    Statement delete_file_if_unseeded, delete_unseeded_files_in_group;
    Statement seeder_exists, count_user_seeders_of_file, delete_oldest_user_seeder_of_file;
    Statement delete_file, info_hash_elsewhere, uploads_by;
    // Sessions of a user (logout --everywhere)
    Statement delete_sessions_of_user;
};

// Prepares every statement in `st`.
Status prepare_statements(Db& db, SqliteStore::Statements& st);

// One use of a statement that returns no rows: bind ?1..?N, run, reset.
template <class... Args>
Status run_once(Statement& q, const Args&... args) {
    auto use = q.use();
    q.bind_all(args...);
    return q.run();
}

// The same, giving how many rows changed.
template <class... Args>
Result<int> count_changes(Statement& q, const Args&... args) {
    auto use = q.use();
    q.bind_all(args...);
    if (auto s = q.run(); !s) return s.error();
    return q.changes();
}

// Whether the query returns at least one row.
template <class... Args>
Result<bool> has_row(Statement& q, const Args&... args) {
    auto use = q.use();
    q.bind_all(args...);
    return q.step();
}

// The first row of the query, read by `read(q)` from the statement's columns; nothing when it
// returns no row.
template <class Read, class... Args>
auto first_row(Statement& q, Read read, const Args&... args)
    -> Result<std::optional<std::invoke_result_t<Read&, Statement&>>> {
    using Row = std::invoke_result_t<Read&, Statement&>;
    auto use = q.use();
    q.bind_all(args...);
    auto row = q.step();
    if (!row) return row.error();
    if (!*row) return std::optional<Row>();
    return std::optional<Row>(read(q));
}

// Calls `on_row(q)` for every row of the query.
template <class OnRow, class... Args>
Status each_row(Statement& q, OnRow on_row, const Args&... args) {
    auto use = q.use();
    q.bind_all(args...);
    while (true) {
        auto row = q.step();
        if (!row) return row.error();
        if (!*row) return {};
        on_row(q);
    }
}

// Every row of the query, each read by `read(q)`.
template <class Read, class... Args>
auto all_rows(Statement& q, Read read, const Args&... args)
    -> Result<std::vector<std::invoke_result_t<Read&, Statement&>>> {
    std::vector<std::invoke_result_t<Read&, Statement&>> out;
    auto use = q.use();
    q.bind_all(args...);
    while (true) {
        auto row = q.step();
        if (!row) return row.error();
        if (!*row) return out;
        out.push_back(read(q));
    }
}

// Row readers the .cpp files share: column 0 as an integer; (pk, user_id) as a User.
inline std::int64_t read_int(Statement& q) {
    return q.column_int(0);
}
inline User read_user(Statement& q) {
    return User{q.column_int(0), q.column_text(1)};
}

// The single integer a count(*) query gives.
template <class... Args>
Result<std::int64_t> count_of(Statement& q, const Args&... args) {
    auto n = first_row(
        q, [](Statement& row) { return row.column_int(0); }, args...);
    if (!n) return n.error();
    return n->value_or(0);
}

// Logs a storage failure with its details and returns the error a user may see.
Error storage_error(std::string_view operation, const Error& cause);

// What a SqliteStore method returns: `r` itself, or on failure storage_error(operation, ...).
template <class T>
Result<T> stored(std::string_view operation, Result<T> r) {
    if (!r) return storage_error(operation, r.error());
    return r;
}

}  // namespace gs::tracker

namespace gs::tracker {

// Runs `work` (returning a Result, with the raw errors of the statements) in a transaction
// that commits when it succeeds. A failure of BEGIN, of `work` or of COMMIT rolls back and
// becomes storage_error(operation, ...).
template <class Work>
auto in_transaction(Db& db, std::string_view operation, Work work) -> decltype(work()) {
    auto tx = Transaction::begin(db);
    if (!tx) return storage_error(operation, tx.error());
    auto result = work();
    if (!result) return storage_error(operation, result.error());
    if (auto s = tx->commit(); !s) return storage_error(operation, s.error());
    return result;
}

}  // namespace gs::tracker
