// SqliteStore's prepared statements and the helpers its .cpp files share. Private to
// tracker/sqlite_store*.cpp.
#pragma once

#include "tracker/sqlite/statement.hpp"
#include "tracker/sqlite_store.hpp"

#include <string>
#include <string_view>

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

// "YYYY-MM-DDTHH:MM:SSZ" (UTC, whole seconds): fixed width, so it sorts as text.
std::string utc_text(TimePoint t);

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

// Logs a storage failure with its details and returns the error a user may see.
Error storage_error(std::string_view operation, const Error& cause);

}  // namespace gs::tracker
